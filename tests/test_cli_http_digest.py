"""``sasl-kit http-digest``: the RFC 2617 / 7616 vectors from the command line, exit statuses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sasl_kit import http_digest
from sasl_kit.cli import main
from sasl_kit.vectors import iter_vectors

PASSWORD = "Sëcret-pässword-42"
CHALLENGE = 'Digest realm="r", qop="auth-int", algorithm=SHA-256, nonce="n", opaque="o"'
COMPUTE = ["http-digest", "--username", "alice", "--uri", "/upload", "--method", "PUT"]

RESPOND = [
    pytest.param(v, id=v["id"])
    for _, v in iter_vectors("function")
    if v["function"] == "http_digest_respond"
]
VERIFY = [
    pytest.param(v, id=v["id"])
    for _, v in iter_vectors("function")
    if v["function"] == "http_digest_verify"
]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


@pytest.mark.parametrize("vector", RESPOND)
def test_computes_every_rfc_authorization(
    vector: Mapping[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    given = vector["input"]
    argv = ["http-digest", given["www_authenticate"], "--username", given["username"]]
    argv += ["--password", given["password"], "--method", given["method"]]
    argv += ["--uri", given["uri"], "--cnonce", given["cnonce"]]
    if "algorithm" in given:
        argv += ["--algorithm", given["algorithm"]]
    status, out, err = _run(capsys, *argv)
    assert (status, err) == (0, "")
    sent = http_digest.parse_authorization(out[0])
    assert {"username": sent.username, "response": sent.response} == vector["expected"]


@pytest.mark.parametrize("vector", VERIFY)
def test_checks_every_rfc_authorization(
    vector: Mapping[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    given = vector["input"]
    argv = ["http-digest", "--check", given["authorization"], "--password", given["password"]]
    if "username" in given:
        argv += ["--username", given["username"]]
    status, out, err = _run(capsys, *argv)
    if isinstance(vector["expected"], dict):
        assert status == 1 and vector["expected"]["error"] in err
    else:
        proved = f"ok: the response proves the password of {vector['expected']!r}"
        assert (status, out) == (0, [proved])


def test_auth_int_round_trip_with_the_body_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body"
    body.write_bytes(b"\x00binary\xffbody")
    status, out, _ = _run(
        capsys, *COMPUTE, "--password", PASSWORD, "--body-file", str(body), CHALLENGE
    )
    assert status == 0 and "qop=auth-int" in out[0]
    check = ["http-digest", "--check", out[0], "--password", PASSWORD, "--method", "PUT", CHALLENGE]
    assert _run(capsys, *check, "--body-file", str(body))[0] == 0
    body.write_bytes(b"\x00binary\xffbodY")
    assert _run(capsys, *check, "--body-file", str(body))[0] == 1


def test_check_exits_1_for_a_wrong_password_or_another_user(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = _run(capsys, *COMPUTE, "--password", PASSWORD, CHALLENGE)
    check = ["http-digest", "--check", out[0], "--method", "PUT", CHALLENGE]
    assert _run(capsys, *check, "--password", PASSWORD)[0] == 0
    assert _run(capsys, *check, "--password", "wrong")[0] == 1
    assert _run(capsys, *check, "--password", PASSWORD, "--username", "bob")[0] == 1
    assert _run(capsys, *check, "--password", PASSWORD, "--method", "GET")[0] == 1


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["http-digest", "--check", 'Digest username="a", nc=1'], "Authorization: "),
        (["http-digest", "--check", "Basic QWxhZGRpbg=="], "is not Digest"),
        (["http-digest", "--uri", "/", 'Digest realm="r"'], "'nonce' is missing"),
        (["http-digest", "--uri", "/", "Basic realm=r"], "no Digest challenge"),
        (["http-digest", "--uri", "/", "--algorithm", "MD5", CHALLENGE], "not MD5"),
        (["http-digest", "--uri", "/", "--qop", "auth", CHALLENGE], "offers qop auth-int"),
        (["http-digest", "--uri", "/", "--nc", "0", CHALLENGE], "nc must be from 1"),
        (["http-digest", CHALLENGE], "--uri is required"),
        (["http-digest"], "give WWW-AUTHENTICATE, or --check"),
        (["http-digest", "--uri", "/", "--body-file", "/nonexist/b", CHALLENGE], "/nonexist/b"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, *argv)
    assert (status, out) == (2, [])
    assert err.count("\n") == 1 and named in err


def test_password_from_file_and_environment_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SASL_KIT_PASSWORD", raising=False)
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    _, by_arg, _ = _run(capsys, *COMPUTE, "--password", PASSWORD, "--cnonce", "c", CHALLENGE)
    _, by_file, _ = _run(
        capsys, *COMPUTE, "--password-file", str(tmp_path / "pw"), "--cnonce", "c", CHALLENGE
    )
    monkeypatch.setenv("SASL_KIT_PASSWORD", PASSWORD)
    _, by_env, _ = _run(capsys, *COMPUTE, "--cnonce", "c", CHALLENGE)
    assert by_arg == by_file == by_env
    monkeypatch.setenv("SASL_KIT_PASSWORD", "wrong")
    status, out, err = _run(capsys, "http-digest", "--check", by_arg[0], "--method", "PUT")
    assert (status, out) == (1, []) and PASSWORD not in err and "wrong" not in err
