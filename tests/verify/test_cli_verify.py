"""``sasl-kit verify``: reports, exit statuses, JSON, and the password never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sasl_kit.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PASSWORD = "tanstaaftanstaaf"


def _verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str, password: str | None = PASSWORD
) -> tuple[int, str, str]:
    extra = []
    if password is not None:
        (tmp_path / "pw").write_text(password + "\n", encoding="utf-8")
        extra = ["--password-file", str(tmp_path / "pw")]
    status = main(["verify", *argv, *extra])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture(autouse=True)
def _no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SASL_KIT_PASSWORD", raising=False)


def test_a_rejected_correct_response_exits_0_and_names_saslauthd(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = _verify(capsys, tmp_path, str(EXAMPLES / "cram-md5-saslauthd.txt"))
    assert status == 0
    assert "erred: server" in out and "saslauthd" in out
    assert PASSWORD not in out


def test_the_seed_transcript_exits_1_naming_the_mistake(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = str(EXAMPLES / "seed-digest-md5.txt")
    status, out, _ = _verify(
        capsys, tmp_path, path, "--service", "smtp", "--host", "mail.example.org"
    )
    assert status == 1 and "mistake: http-method-uri" in out and PASSWORD not in out


def test_json_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = _verify(capsys, tmp_path, str(EXAMPLES / "cram-md5-saslauthd.txt"), "--json")
    report = json.loads(out)
    assert status == 0
    cram, plain = report["exchanges"]
    assert (cram["verdict"], cram["side"], cram["outcome"]["success"]) == (
        "correct",
        "server",
        False,
    )
    assert plain["mechanism"] == "PLAIN" and PASSWORD not in out


def test_without_a_password_the_exchange_is_unverifiable_and_the_status_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = _verify(capsys, tmp_path, str(EXAMPLES / "swaks-cram-md5.txt"), password=None)
    assert status == 1 and "verdict: unverifiable" in out


def test_the_password_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SASL_KIT_PASSWORD", PASSWORD)
    status, out, _ = _verify(capsys, tmp_path, str(EXAMPLES / "swaks-cram-md5.txt"), password=None)
    assert status == 0 and "verdict: correct" in out


@pytest.mark.parametrize("content", [None, "no exchange here\n"])
def test_unreadable_input_or_no_exchange_exits_2(
    content: str | None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "transcript.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    status, out, err = _verify(capsys, tmp_path, str(path))
    assert (status, out) == (2, "") and err.startswith("sasl-kit: error:")
