"""`sasl-kit demo`: every offered mechanism sends its mail; the maildir reads back right."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import pytest

import sasl_kit
from sasl_kit import demo
from sasl_kit.cli import main
from sasl_kit.smtp_server.store import ReceivedMessage

ROW = re.compile(r"(\S+)\s+(ok|FAILED: .*?)\s+(\d+)\s+\d+\.\d$")


def _rows(out: str) -> dict[str, str]:
    return {m[1]: m[2] for line in out.splitlines() if (m := ROW.match(line))}


def _assert_demo_output(out: str) -> None:
    rows = _rows(out)
    assert rows and set(rows.values()) == {"ok"}, rows
    assert "  Bcc header: absent; bcc@example.test not in the data, in the envelope" in out
    sent = re.search(r"^    sent   sha256 ([0-9a-f]{64})$", out, re.MULTILINE)
    stored = re.search(r"^    stored sha256 ([0-9a-f]{64})$", out, re.MULTILINE)
    assert sent and stored and sent[1] == stored[1]
    assert f"checks passed on {len(rows)} of {len(rows)} stored messages" in out
    assert out.rstrip().endswith("demo: ok")


def test_demo_in_process_sends_through_every_offered_mechanism(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    _assert_demo_output(out)
    offered_kinds = {"password", "token", "none"}  # what the demo's server is given
    expected = [
        info.name
        for info in sasl_kit.default_registry
        if info.server is not None and info.credential in offered_kinds
    ]
    assert list(_rows(out)) == expected


def test_demo_as_a_subprocess_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sasl_kit", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_demo_output(result.stdout)


def test_demo_json_has_every_attempt_ok_and_every_message_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["demo", "--json"])
    report = json.loads(capsys.readouterr().out)
    failed = [a for a in report["attempts"] if not a["ok"]]
    assert not failed, failed  # shows which mechanism failed, and how
    assert status == 0 and report["ok"] and report["attempts"]
    assert len(report["stored"]) == len(report["attempts"])
    for stored in report["stored"]:
        assert not stored["bcc_header"] and stored["bcc_in_envelope"]
        assert stored["filename"] == demo.FILENAME
        assert stored["stored_sha256"] == stored["sent_sha256"]


def test_a_mechanism_the_client_cannot_finish_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = demo._Session.attempt

    def broken_token(
        self: demo._Session, name: str, user: str, password: str, token: str, attachment: bytes
    ) -> demo.Attempt:
        return real(self, name, user, password, token + "-wrong", attachment)

    monkeypatch.setattr(demo._Session, "attempt", broken_token)
    report = demo.run()
    failed = {a.mechanism for a in report.attempts if not a.ok}
    assert failed == {"OAUTHBEARER", "XOAUTH2"}
    assert not report.ok


def _stored(data: bytes) -> ReceivedMessage:
    recipients = (demo.TO, demo.CC, demo.BCC)
    return ReceivedMessage("k", "a@example.test", recipients, "u", "PLAIN", "", 1, data)


def test_a_message_id_ending_in_the_bcc_local_part_is_not_a_leak() -> None:
    # The flake of stop 8: 1 in 4096 Message-IDs end in "...bcc@example.test".
    message = demo._message("u", "PLAIN", b"attachment")
    wire = b"".join(message.chunks())
    wire = re.sub(rb"Message-ID: <[0-9a-f]{32}@", b"Message-ID: <" + b"0" * 29 + b"bcc@", wire)
    sent = hashlib.sha256(b"attachment").hexdigest()
    assert b"bcc@example.test" in wire and demo._read_back(_stored(wire), sent).ok
    leaked = wire.replace(b"Subject:", b"Bcc: bcc@example.test\r\nSubject:", 1)
    readback = demo._read_back(_stored(leaked), sent)
    assert readback.bcc_header and readback.bcc_in_data and not readback.ok
