"""ManageSieve against a real Dovecot 2.3 managesieved (issue 13, items 3 and 4).

The driver opens a session over STARTTLS (the certificate checked against the
site's own CA), reads the capability list before and after TLS, and every
mechanism Dovecot offers logs in with the right password, for an ASCII
account and one with a non-ASCII password; a wrong password is
``CredentialsRejected``. The transcript each exchange records reads back
through the profile as the exchange it was, and ``verify`` judges it right.
``sasl-kit probe sieve://`` lists the mechanisms before and after STARTTLS and
finds all six working, or all rejected with a wrong password. sieve-connect,
an independent client, logs in to the same server as a cross-check.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sasl_kit.cli import main
from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import SessionSettings
from sasl_kit.drivers.sieve import SieveSession
from sasl_kit.probe import Outcome as ProbeOutcome
from sasl_kit.probe import probe
from sasl_kit.protocols.base import End, Outcome, Result, Start, lines_of
from sasl_kit.protocols.errors import CredentialsRejected
from sasl_kit.protocols.sieve import PROFILE
from sasl_kit.registry import default_registry
from sasl_kit.verify import CORRECT, SIDE_CLIENT, SIDE_SERVER, WRONG, diagnose, read
from tests.interop.conftest import require_programs
from tests.interop.mta import HOST, MECHANISMS, MailSite
from tests.interop.peers import ALICE, ANNA, Account
from tests.interop.sieve import DovecotSieve

pytestmark = pytest.mark.interop

MANAGESIEVE = "/usr/lib/dovecot/managesieve-login"
SIEVE_CONNECT = "/usr/bin/sieve-connect"
TIMEOUT = 10.0


@pytest.fixture(scope="session")
def dovecot_sieve(mail_store: MailSite) -> Iterator[DovecotSieve]:
    """A private Dovecot serving ManageSieve only, once per test session."""
    require_programs(MANAGESIEVE)
    with DovecotSieve(mail_store) as server:
        server.start()
        yield server


def session(server: DovecotSieve) -> SieveSession:
    context = ssl.create_default_context(cafile=server.site.cafile)
    settings = SessionSettings(HOST, server.sieve_port, "starttls", context, TIMEOUT)
    found = open_session("sieve", settings)
    assert isinstance(found, SieveSession)
    return found


def login(server: DovecotSieve, name: str, account: Account, password: str) -> Result:
    """One AUTHENTICATE of ``name`` in a fresh session; the transcript must read back."""
    return exchange(server, name, account, password)[0]


def exchange(
    server: DovecotSieve, name: str, account: Account, password: str
) -> tuple[Result, str]:
    """``login``'s result and its transcript in full (``C:``/``S:`` lines)."""
    opened = session(server)
    try:
        mechanism = default_registry.client(
            name,
            username=account.user,
            password=password,
            service=PROFILE.service,
            host=HOST,
        )
        auth = PROFILE.client(name, mechanism)
        result = opened.authenticate(auth)
    finally:
        opened.close()
    events = [PROFILE.read_line(line.side, line.text) for line in auth.transcript]
    assert events[0] == Start(name, events[0].initial if isinstance(events[0], Start) else None)
    assert isinstance(events[-1], End) and events[-1].outcome is result.outcome
    return result, "\n".join(lines_of(auth.transcript, redact=False))


def test_capabilities_before_and_after_starttls_list_every_mechanism(
    dovecot_sieve: DovecotSieve,
) -> None:
    opened = session(dovecot_sieve)
    try:
        assert opened.encrypted
        assert opened.mechanisms_before_tls == MECHANISMS
        assert opened.mechanisms == MECHANISMS
        binding = opened.channel_binding("tls-server-end-point")
        assert binding is not None and binding.type == "tls-server-end-point"
    finally:
        opened.close()


@pytest.mark.parametrize(
    ("name", "account"),
    [(name, ALICE) for name in MECHANISMS]
    + [(name, ANNA) for name in MECHANISMS if name != "DIGEST-MD5"],  # see below
    ids=lambda v: v if isinstance(v, str) else v.user,
)
def test_every_offered_mechanism_logs_in_with_the_right_password(
    dovecot_sieve: DovecotSieve, name: str, account: Account
) -> None:
    result = login(dovecot_sieve, name, account, account.password)
    assert result.outcome is Outcome.SUCCESS, result
    assert (result.code, result.text) == ("OK", "Logged in.")


def test_dovecot_digest_md5_hashes_a_non_ascii_password_as_utf8(
    dovecot_sieve: DovecotSieve,
) -> None:
    """Dovecot's known quirk (docs/interop.md), as over IMAP: RFC 2831 2.1.2.1 hashes
    the password as ISO 8859-1, Dovecot as UTF-8; its UTF-8 bytes spelt as ISO 8859-1
    characters log in."""
    assert login(dovecot_sieve, "DIGEST-MD5", ANNA, ANNA.password).outcome is Outcome.REJECTED
    as_dovecot_hashes = ANNA.password.encode("utf-8").decode("latin-1")
    assert login(dovecot_sieve, "DIGEST-MD5", ANNA, as_dovecot_hashes).ok


@pytest.mark.parametrize("name", MECHANISMS)
def test_a_wrong_password_is_credentials_rejected(dovecot_sieve: DovecotSieve, name: str) -> None:
    result = login(dovecot_sieve, name, ALICE, "not " + ALICE.password)
    assert result.outcome is Outcome.REJECTED, result
    with pytest.raises(CredentialsRejected, match="Authentication failed"):
        result.raise_for_outcome("Dovecot")


@pytest.mark.parametrize("name", MECHANISMS)
def test_live_transcripts_get_the_right_verdict_from_verify(
    dovecot_sieve: DovecotSieve, name: str
) -> None:
    """A login that worked is correct; a wrong password's try is correct for the
    password it used (the server rightly refused it) and wrong for alice's real one."""
    _, text = exchange(dovecot_sieve, name, ALICE, ALICE.password)
    (found,) = read(text)
    assert (found.protocol, found.mechanism, found.outcome.success) == ("sieve", name, True)
    judged = diagnose(found, password=ALICE.password, service=PROFILE.service, host=HOST)
    assert judged.verdict == CORRECT, judged.explanation
    _, text = exchange(dovecot_sieve, name, ALICE, "not " + ALICE.password)
    (found,) = read(text)
    assert found.outcome.success is False
    as_sent = diagnose(found, password="not " + ALICE.password, service="sieve", host=HOST)
    assert (as_sent.verdict, as_sent.side) == (CORRECT, SIDE_SERVER), as_sent.explanation
    if name != "PLAIN":  # PLAIN carries the password itself: it is what was sent
        real = diagnose(found, password=ALICE.password, service="sieve", host=HOST)
        assert (real.verdict, real.side) == (WRONG, SIDE_CLIENT), real.explanation


def test_sasl_kit_verify_reads_a_live_transcript(
    dovecot_sieve: DovecotSieve,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, text = exchange(dovecot_sieve, "SCRAM-SHA-256", ALICE, ALICE.password)
    (tmp_path / "sieve.txt").write_text(text + "\n", encoding="utf-8")
    monkeypatch.setenv("SASL_KIT_PASSWORD", ALICE.password)
    assert main(["verify", str(tmp_path / "sieve.txt")]) == 0
    out = capsys.readouterr().out
    assert "SIEVE SCRAM-SHA-256, accepted" in out and "verdict: correct" in out


def url(server: DovecotSieve) -> str:
    return f"sieve://{HOST}:{server.sieve_port}"


def test_probe_lists_the_mechanisms_before_and_after_starttls(dovecot_sieve: DovecotSieve) -> None:
    report = probe(url(dovecot_sieve), cafile=dovecot_sieve.site.cafile, timeout=TIMEOUT)
    assert report.target.tls == "starttls"
    assert report.before_tls == report.after_tls == MECHANISMS
    assert report.attempts == ()


def test_probe_finds_every_mechanism_working_with_the_right_password(
    dovecot_sieve: DovecotSieve,
) -> None:
    report = probe(
        url(dovecot_sieve),
        username=ALICE.user,
        password=ALICE.password,
        cafile=dovecot_sieve.site.cafile,
        timeout=TIMEOUT,
    )
    assert [(a.mechanism, a.outcome) for a in report.attempts] == [
        (name, ProbeOutcome.OK) for name in MECHANISMS
    ], [a.detail for a in report.attempts]
    assert all(a.detail == "OK Logged in." for a in report.attempts)


def test_probe_finds_every_mechanism_rejected_with_a_wrong_password(
    dovecot_sieve: DovecotSieve,
) -> None:
    report = probe(
        url(dovecot_sieve),
        username=ALICE.user,
        password="not " + ALICE.password,
        cafile=dovecot_sieve.site.cafile,
        timeout=TIMEOUT,
    )
    assert [(a.mechanism, a.outcome) for a in report.attempts] == [
        (name, ProbeOutcome.REJECTED) for name in MECHANISMS
    ]
    assert all("wrong password" in a.diagnosis for a in report.attempts)


def test_sasl_kit_probe_exits_0_when_every_mechanism_works(
    dovecot_sieve: DovecotSieve,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SASL_KIT_PASSWORD", ALICE.password)
    argv = ["probe", url(dovecot_sieve), "--username", ALICE.user]
    assert main([*argv, "--cafile", dovecot_sieve.site.cafile]) == 0
    out = capsys.readouterr().out
    assert "advertised after TLS:  " + " ".join(MECHANISMS) in out
    assert "verdict: all 6 mechanisms tried work" in out


def sieve_connect(server: DovecotSieve, password: str) -> subprocess.CompletedProcess[bytes]:
    """``sieve-connect --list`` as alice with PLAIN over STARTTLS, the password on a pipe."""
    read, write = os.pipe()
    os.write(write, password.encode() + b"\n")
    os.close(write)
    argv = [SIEVE_CONNECT, "--server", HOST, "--port", str(server.sieve_port)]
    argv += ["--user", ALICE.user, "--authmech", "PLAIN", "--passwordfd", str(read)]
    argv += ["--tlscafile", server.site.cafile, "--list"]
    try:
        return subprocess.run(argv, pass_fds=(read,), capture_output=True, timeout=30, check=False)
    finally:
        os.close(read)


def test_sieve_connect_agrees_on_the_right_and_the_wrong_password(
    dovecot_sieve: DovecotSieve,
) -> None:
    """An independent client (sieve-connect 0.90, Perl) against the same server."""
    require_programs(SIEVE_CONNECT)
    good = sieve_connect(dovecot_sieve, ALICE.password)
    assert good.returncode == 0, good.stderr.decode("utf-8", "replace")
    bad = sieve_connect(dovecot_sieve, "not " + ALICE.password)
    assert bad.returncode != 0
    assert b'Authentication refused by server\n: "Authentication failed."' in bad.stderr
