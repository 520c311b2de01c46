"""The seed's own server, for real (issue 11): Debian 12's Sendmail 8.17 with Cyrus SASL
2.1.28, in the seed's saslauthd mode and in auxprop mode (``tests/interop/sendmail.py``).

Proofs: probe's diagnosis in saslauthd mode and "all work" in auxprop mode; send
delivers with CRAM-MD5 and DIGEST-MD5 in auxprop mode (the message is in Sendmail's
queue) and fails with the probe hint in saslauthd mode; live transcripts (swaks's and
C:/S:) get the right verdicts from ``sasl-kit verify``, one of them made wrong on
purpose with HTTP's A2; with saslauthd stopped, PLAIN fails too and the diagnosis says so.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sasl_kit.cli import main
from sasl_kit.mechanisms.digest_md5 import h_a1, parse_challenge, user_secret
from sasl_kit.probe import Outcome, Report, Target, probe
from tests.interop.conftest import mail_store, require_programs
from tests.interop.mta import HOST, MailSite
from tests.interop.peers import ALICE
from tests.interop.sendmail import (
    APT_GET,
    DPKG,
    MECHANISMS,
    REALM,
    RELAY_TO,
    SASLAUTHD,
    SASLPASSWD2,
    UNSHARE,
    Mode,
    Sendmail,
    running,
)

__all__ = ["mail_store"]
pytestmark = pytest.mark.interop

SWAKS = "/usr/bin/swaks"
TIMEOUT = 20.0


@pytest.fixture(scope="session")
def seed_server(mail_store: MailSite) -> Iterator[Sendmail]:
    """Sendmail in the seed's mode: Cyrus checks passwords through a private saslauthd."""
    require_programs(APT_GET, DPKG, UNSHARE, SASLAUTHD, SASLPASSWD2)
    with running(mail_store, Mode.SASLAUTHD) as server:
        yield server


@pytest.fixture(scope="session")
def auxprop_server(mail_store: MailSite) -> Iterator[Sendmail]:
    """Sendmail with ``pwcheck_method: auxprop`` over a private sasldb."""
    require_programs(APT_GET, DPKG, UNSHARE, SASLAUTHD, SASLPASSWD2)
    with running(mail_store, Mode.AUXPROP) as server:
        yield server


@pytest.fixture
def password_file(tmp_path: Path) -> str:
    path = tmp_path / "pw"
    path.write_text(ALICE.password + "\n", encoding="utf-8")
    return str(path)


def _probe(server: Sendmail, *, allow_plaintext: bool = True) -> Report:
    return probe(
        Target.from_url(server.url).without_tls(),
        username=ALICE.user,
        password=ALICE.password,
        timeout=TIMEOUT,
        allow_plaintext=allow_plaintext,
    )


def _outcomes(report: Report) -> dict[str, Outcome]:
    return {a.mechanism: a.outcome for a in report.attempts}


# --- probe ----------------------------------------------------------------------------------


def test_seed_mode_probe_says_the_server_cannot_verify_shared_secret_mechanisms(
    seed_server: Sendmail,
) -> None:
    report = _probe(seed_server)
    # PEERS.md: EHLO "250-AUTH DIGEST-MD5 CRAM-MD5 LOGIN PLAIN", no STARTTLS.
    assert (report.before_tls, report.after_tls) == (MECHANISMS, None)
    assert _outcomes(report) == {
        "DIGEST-MD5": Outcome.REJECTED,
        "CRAM-MD5": Outcome.REJECTED,
        "LOGIN": Outcome.OK,
        "PLAIN": Outcome.OK,
    }
    for attempt in report.attempts[:2]:
        assert attempt.detail == "535 5.7.0 authentication failed"
        assert attempt.diagnosis.startswith("advertised but cannot work")
        assert attempt.verified is not None and attempt.verified.verdict == "correct"
    assert report.verdict.startswith(
        "LOGIN, PLAIN work; the server cannot verify shared-secret mechanisms: DIGEST-MD5, "
        "CRAM-MD5 rejected the password PLAIN accepts; likely Cyrus SASL checking passwords "
        "through saslauthd or PAM (pwcheck_method: saslauthd)"
    )
    # Cyrus's own words (PEERS.md): it has no secret to check the response against.
    assert seed_server.logged("AUTH failure (CRAM-MD5): user not found (-20)")
    assert seed_server.logged("Unable to find a callback: 32775")
    assert seed_server.logged("AUTH failure (DIGEST-MD5): user not found (-20)")
    assert seed_server.logged("unable to canonify user and get auxprops")
    assert seed_server.logged("authid=alice, mech=PLAIN")
    assert not seed_server.logged(ALICE.password)


def test_seed_mode_without_allow_plaintext_says_nothing_can_cross_check(
    seed_server: Sendmail, capsys: pytest.CaptureFixture[str], password_file: str
) -> None:
    argv = ["probe", seed_server.url, "--no-tls", "--username", ALICE.user]
    assert main([*argv, "--password-file", password_file, "--timeout", str(TIMEOUT)]) == 1
    out = capsys.readouterr().out
    assert "LOGIN       no     skipped" in out and "PLAIN       no     skipped" in out
    assert "cannot verify shared-secret mechanisms:" not in out
    assert f"next: sasl-kit probe {seed_server.url} --no-tls --allow-plaintext" in out


def test_seed_mode_without_no_tls_exits_3_naming_the_option(
    seed_server: Sendmail, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", seed_server.url, "--timeout", str(TIMEOUT)]) == 3
    assert "does not offer STARTTLS: add --no-tls" in capsys.readouterr().err


def test_saslauthd_not_running_fails_plain_too_and_the_diagnosis_differs(
    seed_server: Sendmail,
) -> None:
    assert seed_server.saslauthd is not None
    with seed_server.saslauthd.stopped():
        report = _probe(seed_server)
    assert set(_outcomes(report).values()) == {Outcome.REJECTED}
    assert report.verdict.startswith(
        "none works; every mechanism tried was rejected, LOGIN, PLAIN included"
    )
    assert "saslauthd not running" in report.verdict
    assert "cannot verify shared-secret" not in report.verdict
    assert seed_server.logged("AUTH failure (PLAIN): generic failure (-1)")
    assert seed_server.logged("Password verification failed")


def test_auxprop_mode_probe_finds_that_all_work(auxprop_server: Sendmail) -> None:
    report = _probe(auxprop_server)
    assert _outcomes(report) == dict.fromkeys(MECHANISMS, Outcome.OK)
    assert report.verdict == ("all 4 mechanisms tried work (DIGEST-MD5, CRAM-MD5, LOGIN, PLAIN)")


# --- send -----------------------------------------------------------------------------------


def _send(
    server: Sendmail, mechanism: str, password_file: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    marker = f"seed-{mechanism}-{secrets.token_hex(4)}"
    status = main(
        [
            "send", "--server", server.url, "--no-tls", "--allow-plaintext",
            "--mechanism", mechanism, "--username", ALICE.user, "--password-file",
            password_file, "--from", "alice@example.org", "--to", RELAY_TO,
            "--subject", marker, "--body", "from the seed's tests", "--timeout", str(TIMEOUT),
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return status, marker, out + err


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5"])
def test_auxprop_mode_send_delivers_into_the_queue(
    auxprop_server: Sendmail,
    mechanism: str,
    password_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, marker, output = _send(auxprop_server, mechanism, password_file, capsys)
    assert status == 0, output
    assert output.splitlines()[-1].startswith("sent: 250 2.0.0")
    (queued,) = auxprop_server.queued(marker)
    assert b"from the seed's tests" in queued


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5"])
def test_seed_mode_send_fails_with_the_probe_hint(
    seed_server: Sendmail,
    mechanism: str,
    password_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, marker, output = _send(seed_server, mechanism, password_file, capsys)
    assert status == 3
    error, hint = output.splitlines()
    assert error == (
        f"sasl-kit: error: {HOST} rejected the credentials (AUTH {mechanism}: 535 5.7.0 "
        "authentication failed)"
    )
    assert hint.startswith(
        "hint: the server also offers PLAIN and LOGIN; `sasl-kit probe "
        f"{seed_server.url} --no-tls --allow-plaintext --username alice`"
    )
    assert seed_server.queued(marker) == []


# --- verify, on transcripts recorded live ----------------------------------------------------


def _swaks(server: Sendmail, mechanism: str) -> str:
    done = subprocess.run(
        [
            SWAKS, "--server", HOST, "--port", str(server.port), "--auth", mechanism,
            "--auth-user", ALICE.user, "--auth-password", ALICE.password,
            "--quit-after", "AUTH", "--timeout", str(int(TIMEOUT)),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def _verify(
    transcript: str, tmp_path: Path, password_file: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / "transcript.txt"
    path.write_text(transcript, encoding="utf-8")
    argv = ["verify", str(path), "--password-file", password_file, "--service", "smtp"]
    status = main([*argv, "--host", HOST, "--username", ALICE.user])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5"])
@pytest.mark.parametrize(("mode", "accepted"), [("seed", False), ("auxprop", True)])
def test_swaks_transcripts_are_correct_and_the_seed_rejection_blames_the_server(
    request: pytest.FixtureRequest,
    mechanism: str,
    mode: str,
    accepted: bool,
    tmp_path: Path,
    password_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_programs(SWAKS)
    server: Sendmail = request.getfixturevalue(f"{mode}_server")
    transcript = _swaks(server, mechanism)
    assert ("235 2.0.0 OK Authenticated" in transcript) is accepted, transcript
    status, out = _verify(transcript, tmp_path, password_file, capsys)
    assert status == 0 and f"SMTP {mechanism}" in out and "verdict: correct" in out
    if not accepted:
        assert "erred: server" in out and "saslauthd" in out
    assert ALICE.password not in out


def test_the_probe_s_live_c_s_transcripts_verify_as_correct(
    seed_server: Sendmail, tmp_path: Path, password_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _probe(seed_server)
    (digest,) = (a for a in report.attempts if a.mechanism == "DIGEST-MD5")
    status, out = _verify("\n".join(digest.transcript) + "\n", tmp_path, password_file, capsys)
    assert status == 0 and "erred: server" in out


def _digest_with_http_a2(server: Sendmail) -> str:
    """A DIGEST-MD5 login made wrong on purpose, live: RFC 2617's HTTP A2 = "GET:" digest-uri
    instead of RFC 2831's "AUTHENTICATE:" digest-uri; the C:/S: transcript of it."""
    lines: list[str] = []
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
        reader = sock.makefile("rb")

        def reply() -> str:
            while True:
                line = reader.readline().decode("ascii").rstrip("\r\n")
                lines.append(f"S: {line}")
                if line[3:4] != "-":
                    return line

        def send(line: str) -> None:
            lines.append(f"C: {line}")
            sock.sendall(line.encode("ascii") + b"\r\n")

        reply()
        send("EHLO client.example.org")
        reply()
        send("AUTH DIGEST-MD5")
        challenge = parse_challenge(base64.b64decode(reply()[4:]))
        cnonce, uri = secrets.token_hex(8), f"smtp/{HOST}"
        secret = user_secret(ALICE.user, REALM, ALICE.password, utf8=True)
        ha1 = h_a1(secret, challenge.nonce.encode(), cnonce.encode()).hex()
        ha2 = hashlib.md5(f"GET:{uri}".encode()).hexdigest()  # noqa: S324 -- the mistake
        kd = f"{ha1}:{challenge.nonce}:00000001:{cnonce}:auth:{ha2}"
        response = hashlib.md5(kd.encode()).hexdigest()  # noqa: S324 -- RFC 2831 KD
        directives = (
            f'charset=utf-8,username="{ALICE.user}",realm="{REALM}",nonce="{challenge.nonce}",'
            f'nc=00000001,cnonce="{cnonce}",digest-uri="{uri}",response={response},qop=auth'
        )
        send(base64.b64encode(directives.encode()).decode())
        reply()
        send("QUIT")
        reply()
    return "\n".join(lines) + "\n"


def test_a_live_digest_md5_with_http_a2_is_rejected_and_verify_names_the_mistake(
    auxprop_server: Sendmail, tmp_path: Path, password_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    transcript = _digest_with_http_a2(auxprop_server)  # where a correct one works
    assert "S: 535 5.7.0 authentication failed" in transcript
    status, out = _verify(transcript, tmp_path, password_file, capsys)
    assert status == 1
    assert "mistake: http-method-uri" in out and "erred: client" in out
