"""bench/smtp.py runs and prints every row; its timings are never asserted here."""

from __future__ import annotations

import json
import re

from tests.bench_runner import run_bench

CLIENTS = ("sasl-kit", "sasl-kit send_many", "sasl-kit async", "smtplib", "aiosmtplib")
CONTENDERS = (
    "sasl-kit (DATA)",
    "sasl-kit (BDAT)",
    "smtplib + email",
    "floor (base64 over a socket)",
    "base64 lines only (sasl-kit)",
)


def _bench(*args: str) -> str:
    return run_bench("smtp.py", *args)


def test_a_quick_run_prints_both_tables_with_every_row() -> None:
    lines = _bench().splitlines()
    header = r"server\s+client\s+msg/s\s+x smtplib\s+x of bests\s+target\s+met"
    assert any(re.match(header, x) for x in lines)
    for server in ("sink", "sink-chunking", "aiosmtpd"):
        for client in CLIENTS:
            row = re.compile(rf"{server}\s+{client}\s+\d+\s+\d+\.\d\d\s+\d+\.\d\d")
            assert any(row.match(line) for line in lines), (server, client)
    left_out = r"Left out of msg/s: .* sasl-kit compose \d+ us, EmailMessage \+ as_bytes \d+ us\."
    assert any(re.match(left_out, x) for x in lines)
    header = r"contender\s+seconds\s+peak RSS MiB\s+x floor\s+p25-p75\s+x of bests"
    assert any(re.match(header, x) for x in lines)
    for contender in CONTENDERS:
        row = re.compile(rf"{re.escape(contender)}\s+\d+\.\d\d\s+\d+\s")
        assert any(row.match(line) for line in lines), contender


def test_json_output_has_every_row() -> None:
    report = json.loads(_bench("--json"))
    rates = {(row["server"], row["client"]) for row in report["rates"]}
    assert rates == {(s, c) for s in ("sink", "sink-chunking", "aiosmtpd") for c in CLIENTS}
    assert [row["contender"] for row in report["attachment"]] == list(CONTENDERS)
    assert all(row["peak_rss_mib"] > 0 for row in report["attachment"])
    assert set(report["settings"]["compose_us"]) == {"sasl-kit compose", "EmailMessage + as_bytes"}
