"""bench/server.py runs under load and prints every row; its rates are never asserted here."""

from __future__ import annotations

import json
import re

from tests.bench_runner import run_bench

MECHANISMS = ("SCRAM-SHA-256", "CRAM-MD5")


def test_a_quick_run_has_no_error_and_stores_every_accepted_message() -> None:
    out = run_bench("server.py")
    assert re.search(r"^mechanism\s+handshakes\s+per second\s+median ms\s+p99 ms\s+errors$",
                     out, re.MULTILINE)  # fmt: skip
    for mechanism in (*MECHANISMS, "total"):
        row = rf"^{mechanism}\s+[1-9]\d*\s+\d+\.\d\s.*\s0$"
        assert re.search(row, out, re.MULTILINE), mechanism
    accepted = re.search(r"^messages accepted (\d+), stored (\d+) \(maildir\), envelopes (\d+)$",
                         out, re.MULTILINE)  # fmt: skip
    assert accepted and accepted[1] == accepted[2] == accepted[3]
    assert "failed AUTH in the server's log: 0" in out


def test_json_output_has_every_row() -> None:
    report = json.loads(run_bench("server.py", "--json"))
    assert [row["mechanism"] for row in report["rows"]] == list(MECHANISMS)
    assert report["ok"] and report["errors"] == 0
    assert report["accepted"] == report["stored"] == report["envelopes"] > 0
