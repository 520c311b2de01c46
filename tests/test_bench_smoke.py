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


def test_create_and_answer_verdicts_read_the_paired_median() -> None:
    report = json.loads(_bench("--json"))
    paired = {
        (row["work"], row["mechanism"], row["implementation"]): row
        for row in report["rows"]
        if row["paired"] is not None
    }
    assert set(paired) == {
        ("create + answer", "CRAM-MD5", "sasl-kit"),
        ("create + answer", "DIGEST-MD5", "sasl-kit"),
    }
    cram = paired[("create + answer", "CRAM-MD5", "sasl-kit")]
    digest = paired[("create + answer", "DIGEST-MD5", "sasl-kit")]
    assert (cram["paired"]["ratio"], digest["paired"]["ratio"]) == (
        "sasl-kit/floor (stdlib)",
        "pure-sasl/sasl-kit",
    )
    for row in (cram, digest):
        ratios = row["paired"]
        assert ratios["p25"] <= ratios["median"] <= ratios["p75"]
    assert cram["met"] == (cram["paired"]["median"] <= 1.5)
    assert digest["met"] == (digest["paired"]["median"] >= 10)
