"""bench/scram.py runs and prints its rows; its timings are never asserted here."""

from __future__ import annotations

import json
import re

from tests.bench_runner import run_bench

CASES = ("cold login", "repeated login")
IMPLEMENTATIONS = ("floor (pbkdf2_hmac)", "sasl-kit", "scramp")


def _bench(*args: str) -> str:
    return run_bench("scram.py", *args)


def test_a_quick_run_prints_the_table_with_every_row() -> None:
    lines = _bench().splitlines()
    assert any(re.match(r"case\s+implementation\s+us/login\s+x floor", line) for line in lines)
    for case in CASES:
        for implementation in IMPLEMENTATIONS:
            row = re.compile(rf"{case}\s+{re.escape(implementation)}\s")
            assert any(row.match(line) for line in lines), (case, implementation)


def test_json_output_has_every_row_and_a_verdict_per_target() -> None:
    report = json.loads(_bench("--json"))
    rows = {(row["case"], row["implementation"]): row for row in report["rows"]}
    assert set(rows) == {(c, i) for c in CASES for i in IMPLEMENTATIONS}
    assert all(rows[(case, "sasl-kit")]["target"] for case in CASES)


def test_both_works_are_measured_with_a_target_each() -> None:
    report = json.loads(_bench("--json"))
    works = {(row["work"], row["case"], row["implementation"]) for row in report["rows"]}
    assert works == {
        (w, c, i) for w in ("steps", "create + steps") for c in CASES for i in IMPLEMENTATIONS
    }
    assert all(row["target"] for row in report["rows"] if row["implementation"] == "sasl-kit")


def test_the_cold_end_to_end_row_is_timed_in_pairs_and_its_verdict_reads_them() -> None:
    report = json.loads(_bench("--json"))
    paired = [
        (row["work"], row["case"], row["implementation"])
        for row in report["rows"]
        if row["paired"] is not None
    ]
    assert paired == [("create + steps", "cold login", "sasl-kit")]
    (row,) = (row for row in report["rows"] if row["paired"] is not None)
    spread = row["paired"]
    assert spread["ratio"] == "sasl-kit/floor"
    assert spread["p25"] <= spread["median"] <= spread["p75"]
    assert row["met"] == (spread["median"] <= 1.05)
    assert "load average" in report["load"]
