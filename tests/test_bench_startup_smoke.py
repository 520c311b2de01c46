"""bench/startup.py runs and prints its rows; its timings are never asserted here."""

from __future__ import annotations

import json
import re

from tests.bench_runner import run_bench

PROCESSES = ("bare interpreter", "import sasl_kit", "sasl-kit respond CRAM-MD5")


def test_a_quick_run_prints_every_process_with_its_ratio() -> None:
    lines = run_bench("startup.py").splitlines()
    assert any(re.match(r"process\s+wall ms\s+x floor\s+CPU ms", line) for line in lines)
    for process in PROCESSES:
        row = re.compile(rf"{re.escape(process)}\s+\d+\.\d\s+\d+\.\d\d\s")
        assert any(row.match(line) for line in lines), process


def test_json_output_has_every_process_and_a_verdict_per_target() -> None:
    report = json.loads(run_bench("startup.py", "--json"))
    rows = {row["process"]: row for row in report["rows"]}
    assert set(rows) == set(PROCESSES)
    assert rows["bare interpreter"]["times_floor"] == 1.0
    assert all(rows[p]["target"] and rows[p]["met"] in (True, False) for p in PROCESSES[1:])
