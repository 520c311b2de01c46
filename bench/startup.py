"""What start-up costs a user: whole processes, next to a bare interpreter.

Run from the repository root: ``python bench/startup.py [--quick] [--json]``.
What the rows measure, the targets and the latest numbers are in docs/bench.md.

Rules of this script:
- A row is one whole process, started and waited for: ``python -c "import
  sasl_kit"``, and the ``sasl-kit`` command answering one CRAM-MD5 challenge
  (RFC 2195 2), as a user types it. The floor is the same interpreter doing
  ``import hashlib, hmac, base64``: what any Python SASL client needs.
- The children run with bytecode caches, as an installed package has them:
  ``PYTHONDONTWRITEBYTECODE`` is dropped from their environment and one
  untimed run of each row writes the caches first.
- The command's answer is checked against RFC 2195's before anything is
  timed; a wrong answer exits 1.
- Rounds run every row once, in an order that rotates from round to round, so
  a busy moment of the machine hits every row alike; a row's number is its
  median over the rounds. Wall time is what the user waits; the CPU time
  (user + system, from the children's rusage) is printed beside it, since it
  moves less when other work shares the cores. Targets are reported, never
  asserted: the exit status says nothing about speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# RFC 2195 section 2: the challenge, the user, the password and the answer, in base64.
CHALLENGE = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
ANSWER = (
    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"  # "tim b913a602c7eda7a495b4e6e7334d3890"
)
RESPOND = ["respond", "CRAM-MD5", "--username", "tim", "--password", "tanstaaftanstaaf", CHALLENGE]
FLOOR, IMPORT, COMMAND = "bare interpreter", "import sasl_kit", "sasl-kit respond CRAM-MD5"
TARGETS = {IMPORT: 1.5, COMMAND: 2.0}  # at most this many times the floor's median
HEADER = ("process", "wall ms", "x floor", "CPU ms", "CPU x floor", "target", "met")


class BenchMismatch(Exception):
    """The command did not give RFC 2195's answer: the row would measure something else."""


@dataclass
class Row:
    """One kind of process; ``argv`` is what is started."""

    name: str
    argv: list[str]
    how: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    times_floor: float | None = None
    cpu_times_floor: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def wall_ms(self) -> float:
        return statistics.median(self.wall) * 1e3

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1e3

    def as_json(self) -> dict[str, Any]:
        return {
            "process": self.name,
            "how": self.how,
            "wall_ms": self.wall_ms,
            "times_floor": self.times_floor,
            "cpu_ms": self.cpu_ms,
            "cpu_times_floor": self.cpu_times_floor,
            "target": self.target or None,
            "met": self.met,
        }


def command() -> tuple[list[str], str]:
    """The installed ``sasl-kit`` script next to this interpreter, else ``python -m sasl_kit``."""
    script = Path(sys.executable).with_name("sasl-kit")
    if script.exists():
        return [str(script)], "sasl-kit"
    return [sys.executable, "-m", "sasl_kit"], "python -m sasl_kit (no sasl-kit script installed)"


def build_rows() -> list[Row]:
    python = sys.executable
    argv, how = command()
    return [
        Row(FLOOR, [python, "-c", "import hashlib, hmac, base64"], 'python -c "import ..."'),
        Row(IMPORT, [python, "-c", "import sasl_kit"], 'python -c "import sasl_kit"'),
        Row(COMMAND, [*argv, *RESPOND], how),
    ]


def child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(row: Row, env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall and CPU seconds of one process of ``row``, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(row.argv, env=env, cwd=ROOT, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def time_rows(rows: list[Row], rounds: int) -> None:
    env = child_environment()
    for row in rows:  # writes the bytecode caches; the command's answer is checked
        out = run(row, env)[2]
        if row.name == COMMAND and out.split() != [ANSWER.encode()]:
            raise BenchMismatch(f"{row.how} answered {out!r}, RFC 2195 says {ANSWER}")
    for n in range(rounds):
        for row in rows[n % len(rows) :] + rows[: n % len(rows)]:
            wall, cpu, _ = run(row, env)
            row.wall.append(wall)
            row.cpu.append(cpu)


def assess(rows: list[Row]) -> None:
    floor = rows[0]
    for row in rows:
        row.times_floor = row.wall_ms / floor.wall_ms
        row.cpu_times_floor = row.cpu_ms / floor.cpu_ms if floor.cpu_ms else None
        if row.name in TARGETS:
            row.target = f"<= {TARGETS[row.name]:g}x floor"
            row.met = row.times_floor <= TARGETS[row.name]


def environment(rounds: int) -> dict[str, str]:
    return {
        "date": datetime.date.today().isoformat(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "load": "load average {:.2f} {:.2f} {:.2f} at the start".format(*os.getloadavg()),
        "timing": f"median of {rounds} rounds, every row once a round, order rotating",
        "measured": "whole processes, started and waited for, bytecode caches written first",
    }


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(rows: list[Row], env: dict[str, str]) -> str:
    table = [list(HEADER)]
    for row in rows:
        verdict = {True: "met", False: "NOT MET", None: "-"}[row.met]
        table.append(
            [
                row.name,
                _cell(row.wall_ms, ".1f"),
                _cell(row.times_floor, ".2f"),
                _cell(row.cpu_ms, ".1f"),
                _cell(row.cpu_times_floor, ".2f"),
                row.target or "-",
                verdict,
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in (1, 2, 3, 4) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    hows = [f"{row.name}: {row.how}" for row in rows]
    return "\n".join([*(f"{k}: {v}" for k, v in env.items()), "", *lines, "", *hows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds")
    parser.add_argument("--rounds", type=int, default=31, help="rounds (default 31)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    env = environment(rounds)
    rows = build_rows()
    try:
        time_rows(rows, rounds)
    except BenchMismatch as exc:
        print(f"bench/startup.py: {exc}", file=sys.stderr)
        return 1
    assess(rows)
    if args.json:
        print(json.dumps({**env, "rows": [row.as_json() for row in rows]}, indent=2))
    else:
        print(render(rows, env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
