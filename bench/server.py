"""Load on ``sasl-kit serve``: many concurrent clients authenticating and sending small messages.

Run from the repository root:
``python bench/server.py [--seconds 10] [--clients 200] [--rounds 3] [--quick] [--json]``.
The latest numbers are in docs/bench.md.

Rules of this script:
- The server is ``python -m sasl_kit serve`` in a process of its own (STARTTLS,
  a fresh self-signed certificate, a maildir in a temporary directory), so the
  load generator never competes with it for the GIL. Its log goes to a file,
  read at the end for failed logins.
- The load generator is sasl-kit's own ``SMTPClient``, one thread per client
  (``--clients``, 200 by default), since SCRAM and CRAM-MD5 run through the
  registry's mechanisms and no asyncio client speaks them. A thread blocks on
  its socket with the GIL released, so 200 threads keep 200 sessions open.
- One session: connect, EHLO, STARTTLS, EHLO, AUTH (the client's mechanisms
  alternate between ``MECHANISMS`` from one session to the next, starting on
  either one), one small message (To, Cc, Bcc), QUIT. A client starts sessions
  until ``--seconds`` have passed; a session begun in time is finished.
- A run is ``--rounds`` such loads (3 by default) against the same server.
  After each, the server's resident set (``VmRSS``) and peak (``VmHWM``) are
  read from /proc/PID/status: memory that keeps growing from round to round
  is a leak. The first round warms up (allocator arenas, TLS caches), so the
  last round's RSS is compared with the second's: more than
  ``RSS_GROWTH`` above it counts as growing. ``--quick`` makes one round:
  small loads climb for a few thousand sessions before the RSS levels off
  (docs/bench.md), which a smoke run cannot wait for.
- A handshake is a successful AUTH; its time is the AUTH exchange alone. An
  error is any session that raised or whose message was not accepted.
  Accepted messages (final 250) are compared with the messages in the maildir
  and with their envelopes: all three must be equal.
- Exit status: 0 no error, every accepted message stored and RSS not
  growing, 1 otherwise, 2 the server did not start. Rates are reported,
  never asserted.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sasl_kit.cli.common import table
from sasl_kit.errors import SASLError
from sasl_kit.mail import OutgoingMessage, compose
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp_server.store import ENVELOPES

MECHANISMS = ("SCRAM-SHA-256", "CRAM-MD5")
USER, PASSWORD = "bench", "load-bench-Paßwort"
TIMEOUT = 60.0
START_TIMEOUT = 30.0
LISTENING = re.compile(r"listening on (\S+):(\d+) ")
RSS_GROWTH = 0.10


@dataclass
class Tally:
    """What one client thread saw."""

    auth_seconds: dict[str, list[float]] = field(
        default_factory=lambda: {m: [] for m in MECHANISMS}
    )
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MECHANISMS, 0))
    accepted: int = 0
    first_error: str | None = None


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    cafile: str
    maildir: Path
    log: Path
    pid: int

    def memory(self, field: str) -> float:
        """A /proc/PID/status memory field (VmRSS, VmHWM) in MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        match = re.search(rf"^{field}:\s+(\d+) kB$", status, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {field} in /proc/{self.pid}/status")
        return int(match[1]) / 1024


@contextmanager
def serve(scratch: Path) -> Iterator[Server]:
    """``sasl-kit serve`` in a subprocess; stopped with SIGTERM when the block ends."""
    users, maildir, log = scratch / "users.txt", scratch / "maildir", scratch / "server.log"
    users.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    command = [sys.executable, "-m", "sasl_kit", "serve", "--listen", "127.0.0.1:0",
               "--users", str(users), "--maildir", str(maildir)]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]  # listening, certificate, maildir
        match = LISTENING.match(lines[0])
        if match is None or not lines[1].startswith("certificate: "):
            raise RuntimeError(f"sasl-kit serve did not start: {log.read_text()[-2000:]}")
        cafile = lines[1].removeprefix("certificate: ").strip()
        yield Server(match[1], int(match[2]), cafile, maildir, log, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def message(n: int) -> OutgoingMessage:
    return compose(
        sender=f"{USER}@example.test",
        to="to@example.test",
        cc="cc@example.test",
        bcc="bcc@example.test",
        subject=f"load {n}",
        text="A small message.\n" * 8,
    )


def client(server: Server, number: int, deadline: float) -> Tally:
    """One client: sessions one after another until ``deadline``."""
    tally = Tally()
    body = message(number)
    sessions = 0
    while time.monotonic() < deadline:
        mechanism = MECHANISMS[(number + sessions) % len(MECHANISMS)]
        sessions += 1
        try:
            with SMTPClient(
                server.host, server.port, cafile=server.cafile, timeout=TIMEOUT
            ) as smtp:
                began = time.perf_counter()
                smtp.login(USER, PASSWORD, mechanisms=[mechanism])
                tally.auth_seconds[mechanism].append(time.perf_counter() - began)
                result = smtp.send(body)
            if result.status is not Status.SENT:
                raise RuntimeError(f"message not accepted: {result.status.value} {result.text}")
            tally.accepted += 1
        except (SASLError, OSError, RuntimeError) as exc:
            tally.errors[mechanism] += 1
            tally.first_error = tally.first_error or f"{mechanism}: {exc}"
    return tally


@dataclass(frozen=True)
class Row:
    mechanism: str
    handshakes: int
    per_second: float
    median_ms: float | None
    p99_ms: float | None
    errors: int


@dataclass(frozen=True)
class Round:
    """One load on the server, and its memory after it (MiB)."""

    number: int
    elapsed: float
    accepted: int
    stored: int
    errors: int
    rss_mib: float
    peak_rss_mib: float


@dataclass(frozen=True)
class Report:
    clients: int
    seconds: float
    elapsed: float
    rounds: tuple[Round, ...]
    python: str
    cpus: int | None
    rows: tuple[Row, ...]
    accepted: int
    stored: int
    envelopes: int
    server_auth_failures: int
    first_error: str | None

    @property
    def errors(self) -> int:
        return sum(row.errors for row in self.rows)

    @property
    def rss_growing(self) -> bool:
        """The last round's RSS more than RSS_GROWTH above the second's (the first warms up)."""
        if len(self.rounds) < 3:
            return False
        return self.rounds[-1].rss_mib > self.rounds[1].rss_mib * (1 + RSS_GROWTH)

    @property
    def ok(self) -> bool:
        return (
            self.errors == 0
            and self.server_auth_failures == 0
            and self.accepted == self.stored == self.envelopes
            and not self.rss_growing
        )


def load(server: Server, seconds: float, clients: int, number: int) -> tuple[Round, list[Tally]]:
    """One round: ``clients`` clients for ``seconds``, then the maildir and the server's memory."""
    stored_before = len(mailbox.Maildir(server.maildir, create=False))
    began = time.monotonic()
    deadline = began + seconds
    with ThreadPoolExecutor(max_workers=clients) as pool:
        tallies = list(pool.map(lambda n: client(server, n, deadline), range(clients)))
    elapsed = time.monotonic() - began
    stored = len(mailbox.Maildir(server.maildir, create=False)) - stored_before
    errors = sum(sum(tally.errors.values()) for tally in tallies)
    accepted = sum(tally.accepted for tally in tallies)
    rss, peak = server.memory("VmRSS"), server.memory("VmHWM")
    return Round(number, elapsed, accepted, stored, errors, rss, peak), tallies


def run(seconds: float, clients: int, rounds: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="sasl-kit-bench-server-") as scratch:
        with serve(Path(scratch)) as server:
            done, tallies = [], []
            for number in range(1, rounds + 1):
                result, round_tallies = load(server, seconds, clients, number)
                done.append(result)
                tallies.extend(round_tallies)
            stored = len(mailbox.Maildir(server.maildir, create=False))
            envelopes = len(list((server.maildir / ENVELOPES).glob("*.json")))
        log = server.log.read_text(encoding="utf-8", errors="replace")
    elapsed = sum(r.elapsed for r in done)
    rows = []
    for mechanism in MECHANISMS:
        times = sorted(t for tally in tallies for t in tally.auth_seconds[mechanism])
        rows.append(
            Row(
                mechanism,
                len(times),
                len(times) / elapsed,
                statistics.median(times) * 1000 if times else None,
                times[int(len(times) * 0.99)] * 1000 if times else None,
                sum(tally.errors[mechanism] for tally in tallies),
            )
        )
    return Report(
        clients=clients,
        seconds=seconds,
        elapsed=elapsed,
        rounds=tuple(done),
        python=platform.python_version(),
        cpus=os.cpu_count(),
        rows=tuple(rows),
        accepted=sum(tally.accepted for tally in tallies),
        stored=stored,
        envelopes=envelopes,
        server_auth_failures=len(re.findall(r": AUTH \S+ failed: ", log)),
        first_error=next((t.first_error for t in tallies if t.first_error), None),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def text(report: Report) -> str:
    header = ["mechanism", "handshakes", "per second", "median ms", "p99 ms", "errors"]
    rows = [
        [r.mechanism, str(r.handshakes), f"{r.per_second:.1f}", _ms(r.median_ms), _ms(r.p99_ms),
         str(r.errors)]
        for r in report.rows
    ]  # fmt: skip
    total = sum(r.handshakes for r in report.rows)
    rows.append(["total", str(total), f"{total / report.elapsed:.1f}", "", "", str(report.errors)])
    rounds = [
        [str(r.number), f"{r.elapsed:.1f}", str(r.accepted), str(r.stored), str(r.errors),
         f"{r.rss_mib:.1f}", f"{r.peak_rss_mib:.1f}"]
        for r in report.rounds
    ]  # fmt: skip
    round_header = ["round", "seconds", "accepted", "stored", "errors", "RSS MiB", "peak RSS MiB"]
    lines = [
        f"{report.clients} clients, {len(report.rounds)} rounds of {report.seconds:g} s "
        f"({report.elapsed:.1f} s in all with the last sessions) against `sasl-kit serve` in a "
        f"subprocess; STARTTLS; Python {report.python}, {report.cpus} CPUs",
        "",
        table(header, rows),
        "",
        table(round_header, rounds),
        "",
        f"messages accepted {report.accepted}, stored {report.stored} (maildir), "
        f"envelopes {report.envelopes}",
        f"failed AUTH in the server's log: {report.server_auth_failures}",
        f"serve's RSS {'keeps growing' if report.rss_growing else 'does not keep growing'} "
        f"(last round against the second, {RSS_GROWTH:.0%} allowed)",
    ]
    if report.first_error:
        lines.append(f"first error: {report.first_error}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration (default 10)")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    parser.add_argument("--rounds", type=int, default=3, help="loads on one server (default 3)")
    parser.add_argument("--quick", action="store_true", help="one 2 s round, 20 clients (smoke)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    # A smoke run is too short for the memory to settle: it makes one round.
    quick = (2.0, 20, 1)
    seconds, clients, rounds = quick if args.quick else (args.seconds, args.clients, args.rounds)
    if seconds <= 0 or clients < 1 or rounds < 1:
        parser.error("--seconds must be positive, --clients and --rounds at least 1")
    try:
        report = run(seconds, clients, rounds)
    except RuntimeError as exc:
        print(f"bench/server.py: {exc}", file=sys.stderr)
        return 2
    out = {
        **asdict(report),
        "errors": report.errors,
        "rss_growing": report.rss_growing,
        "ok": report.ok,
    }
    print(json.dumps(out, indent=2) if args.json else text(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
