"""XMPP SASL against a real Prosody 0.12 (Debian 12), started privately by the tests.

Expected values come from Prosody itself (PEERS.md and its mod_saslauth): no
mechanisms before STARTTLS (``c2s_require_encryption``); after it PLAIN and
SCRAM-SHA-1 on TLS 1.3, and SCRAM-SHA-1-PLUS as well on TLS 1.2 (tls-unique
only). Its mechanism order follows a Lua table and changes between runs, so
lists are compared as sets.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from sasl_kit import verify
from sasl_kit.cli import main
from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import SessionFailed, SessionSettings
from sasl_kit.drivers.xmpp import XMPPSession
from sasl_kit.protocols import TLSMode, profile
from sasl_kit.protocols.base import Outcome, Result
from sasl_kit.protocols.errors import CredentialsRejected, ServerRefused
from sasl_kit.protocols.xmpp import XMPPClientAuth
from sasl_kit.registry import default_registry
from tests.interop.mta import HOST
from tests.interop.peers import ALICE, ANNA, Account
from tests.interop.xmpp import DOMAIN, Prosody

AFTER_TLS_13 = {"PLAIN", "SCRAM-SHA-1"}
AFTER_TLS_12 = {"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"}


def context(server: Prosody, *, tls12: bool = False) -> ssl.SSLContext:
    tls = ssl.create_default_context(cafile=server.cafile)
    if tls12:  # Prosody binds SCRAM-SHA-1-PLUS with tls-unique, undefined on TLS 1.3
        tls.maximum_version = ssl.TLSVersion.TLSv1_2
    return tls


def settings(server: Prosody, *, tls12: bool = False, tls: TLSMode = "starttls") -> SessionSettings:
    return SessionSettings(
        HOST,
        server.port,
        tls,
        context(server, tls12=tls12),
        options={"domain": DOMAIN},
    )


@pytest.fixture
def session(prosody_server: Prosody) -> Iterator[XMPPSession]:
    opened = open_session("xmpp", settings(prosody_server))
    assert isinstance(opened, XMPPSession)
    yield opened
    opened.close()


@pytest.fixture
def session12(prosody_server: Prosody) -> Iterator[XMPPSession]:
    opened = open_session("xmpp", settings(prosody_server, tls12=True))
    assert isinstance(opened, XMPPSession)
    yield opened
    opened.close()


def login(
    session: XMPPSession, name: str, account: Account = ALICE, password: str | None = None
) -> tuple[Result, XMPPClientAuth]:
    binding = session.channel_binding("tls-unique") if name.endswith("-PLUS") else None
    mechanism = default_registry.client(
        name,
        username=account.user,
        password=account.password if password is None else password,
        service="xmpp",
        host=DOMAIN,
        channel_binding=binding,
        server_offers_plus=any(m.endswith("-PLUS") for m in session.mechanisms),
    )
    auth = profile("xmpp").client(name, mechanism)
    assert isinstance(auth, XMPPClientAuth)
    return session.authenticate(auth), auth


def test_nothing_is_offered_before_tls_then_plain_and_scram(session: XMPPSession) -> None:
    assert session.mechanisms_before_tls == ()
    assert session.encrypted
    assert set(session.mechanisms) == AFTER_TLS_13


def test_tls_1_2_adds_scram_sha_1_plus(session12: XMPPSession) -> None:
    assert session12.mechanisms_before_tls == ()
    assert set(session12.mechanisms) == AFTER_TLS_12


@pytest.mark.parametrize("tls12", [False, True], ids=["tls1.3", "tls1.2"])
@pytest.mark.parametrize("account", [ALICE, ANNA], ids=["alice", "anna-non-ascii"])
def test_every_offered_mechanism_works_with_the_right_password(
    prosody_server: Prosody, tls12: bool, account: Account
) -> None:
    names = open_session("xmpp", settings(prosody_server, tls12=tls12))
    offered = names.mechanisms
    names.close()
    for name in offered:
        opened = open_session("xmpp", settings(prosody_server, tls12=tls12))
        assert isinstance(opened, XMPPSession)
        try:
            result, _ = login(opened, name, account)
            assert result.ok, (name, result)
            # RFC 6120 6.4.6: the restarted stream offers resource binding.
            assert opened.features_after_auth is not None and opened.features_after_auth.bind
            if name.startswith("SCRAM"):
                assert result.additional_data is not None
                assert result.additional_data.startswith(b"v=")
        finally:
            opened.close()


@pytest.mark.parametrize("name", sorted(AFTER_TLS_12))
def test_a_wrong_password_is_credentials_rejected(session12: XMPPSession, name: str) -> None:
    result, auth = login(session12, name, password="not-" + ALICE.password)
    assert result.outcome is Outcome.REJECTED and result.code == "not-authorized"
    with pytest.raises(CredentialsRejected):
        result.raise_for_outcome()
    assert all(ALICE.password not in line.redacted for line in auth.transcript)


def test_after_a_failure_the_same_stream_takes_another_try(session: XMPPSession) -> None:
    failed, _ = login(session, "SCRAM-SHA-1", password="wrong")
    assert failed.outcome is Outcome.REJECTED
    result, _ = login(session, "SCRAM-SHA-1")
    assert result.ok


def test_our_abort_is_answered_aborted_and_the_mechanisms_reason_kept(
    session: XMPPSession,
) -> None:
    mechanism = default_registry.client(
        "SCRAM-SHA-1",
        username=ALICE.user,
        password=ALICE.password,
        service="xmpp",
        min_iterations=20_000,  # Prosody asks for 10000 (PEERS.md)
    )
    auth = profile("xmpp").client("SCRAM-SHA-1", mechanism)
    result = session.authenticate(auth)
    assert result.outcome is Outcome.CANCELLED and result.code == "aborted"
    assert result.error is not None and "iteration" in str(result.error)
    assert "<abort " in auth.transcript[-2].text


def test_a_mechanism_prosody_does_not_offer_is_invalid_mechanism(session: XMPPSession) -> None:
    result, _ = login(session, "CRAM-MD5")
    assert result.outcome is Outcome.REFUSED and result.code == "invalid-mechanism"


def test_without_tls_prosody_offers_nothing_and_requires_encryption(
    prosody_server: Prosody,
) -> None:
    plain = open_session("xmpp", settings(prosody_server, tls="none"))
    assert isinstance(plain, XMPPSession)
    try:
        assert not plain.encrypted and plain.mechanisms == ()
        assert plain.channel_binding("tls-unique") is None
        result, _ = login(plain, "SCRAM-SHA-1")
        assert result.outcome is Outcome.TLS_REQUIRED and result.code == "encryption-required"
    finally:
        plain.close()


def test_tls_unique_is_none_on_tls_1_3(session: XMPPSession) -> None:
    assert session.channel_binding("tls-unique") is None
    assert session.channel_binding("tls-server-end-point") is not None


def test_the_certificate_is_verified_by_the_callers_context(prosody_server: Prosody) -> None:
    untrusted = SessionSettings(
        HOST,
        prosody_server.port,
        "starttls",
        ssl.create_default_context(),
        options={"domain": DOMAIN},
    )
    with pytest.raises(SessionFailed, match="certificate verify failed"):
        open_session("xmpp", untrusted)


def test_a_domain_prosody_does_not_serve_is_its_stream_error(prosody_server: Prosody) -> None:
    other = SessionSettings(
        HOST,
        prosody_server.port,
        "starttls",
        context(prosody_server),
        options={"domain": "other.test"},
    )
    with pytest.raises(ServerRefused, match="host-unknown"):
        open_session("xmpp", other)


def _verify(transcript: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path, secret = tmp_path / "transcript.txt", tmp_path / "password"
    path.write_text(transcript, encoding="utf-8")
    secret.write_text(ALICE.password + "\n", encoding="utf-8")
    argv = ["verify", str(path), "--password-file", str(secret), "--username", ALICE.user]
    status = main([*argv, "--service", "xmpp", "--host", DOMAIN])
    return status, capsys.readouterr().out


@pytest.mark.parametrize(
    ("password", "status", "verdict"),
    [
        (ALICE.password, 0, "verdict: correct\n  erred: no one"),
        ("not-" + ALICE.password, 1, "verdict: wrong\n  erred: client"),
    ],
    ids=["right", "wrong"],
)
@pytest.mark.parametrize("name", sorted(AFTER_TLS_12))
def test_a_live_transcript_gets_the_right_verdict_from_sasl_kit_verify(
    session12: XMPPSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    password: str,
    status: int,
    verdict: str,
) -> None:
    result, auth = login(session12, name, password=password)
    assert result.ok is (password == ALICE.password)
    transcript = "\n".join(str(line) for line in auth.transcript) + "\n"
    (exchange,) = verify.read(transcript)
    assert (exchange.protocol, exchange.mechanism) == ("xmpp", name)
    code, out = _verify(transcript, tmp_path, capsys)
    assert code == status and verdict in out, out
