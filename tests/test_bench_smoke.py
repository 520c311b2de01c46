"""bench/mechanisms.py runs and prints its rows; its timings are never asserted here."""

from __future__ import annotations

import json
import re

from tests.bench_runner import run_bench

IMPLEMENTATIONS = ("floor (stdlib)", "sasl-kit", "pure-sasl")


def _bench(*args: str) -> str:
    return run_bench("mechanisms.py", *args)


def test_a_quick_run_prints_the_table_with_every_row_of_both_mechanisms() -> None:
    lines = _bench().splitlines()
    assert any(re.match(r"mechanism\s+implementation\s+us/response\s+x floor", x) for x in lines)
    for mechanism in ("CRAM-MD5", "DIGEST-MD5"):
        for implementation in IMPLEMENTATIONS:
            row = re.compile(rf"{mechanism}\s+{re.escape(implementation)}\s")
            assert any(row.match(line) for line in lines), (mechanism, implementation)


def test_json_output_has_every_row_of_both_mechanisms() -> None:
    report = json.loads(_bench("--json"))
    rows = {(row["mechanism"], row["implementation"]) for row in report["rows"]}
    assert rows == {(m, i) for m in ("CRAM-MD5", "DIGEST-MD5") for i in IMPLEMENTATIONS}


def test_both_works_are_measured_with_a_target_each() -> None:
    report = json.loads(_bench("--json"))
    works = {(row["work"], row["mechanism"], row["implementation"]) for row in report["rows"]}
    assert works == {
        (w, m, i)
        for w in ("answer", "create + answer")
        for m in ("CRAM-MD5", "DIGEST-MD5")
        for i in IMPLEMENTATIONS
    }
    assert all(row["target"] for row in report["rows"] if row["implementation"] == "sasl-kit")
