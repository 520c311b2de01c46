"""LDAP SASL bind against a real OpenLDAP slapd 2.5 with Cyrus SASL (tests/interop/ldap.py).

Expected values are slapd's own, as observed on Debian 12 (slapd 2.5.13, Cyrus
SASL 2.1.28): its root DSE lists Cyrus's default mechanisms, and it answers
a wrong password with invalidCredentials (49) and Cyrus's reason.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

import sasl_kit
from sasl_kit.cli import main
from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import SessionSettings
from sasl_kit.drivers.ldap import LDAPSession
from sasl_kit.errors import SASLError
from sasl_kit.protocols import profile
from sasl_kit.protocols.base import (
    Cancel,
    Challenge,
    End,
    Outcome,
    Response,
    Result,
    Start,
    lines_of,
)
from sasl_kit.protocols.errors import CredentialsRejected, ServerRefused
from tests.interop.ldap import HOST, Slapd, slapd, slapd_cbinding  # noqa: F401 -- fixtures
from tests.interop.peers import ALICE, ANNA, JURGEN, Account

pytestmark = pytest.mark.interop

# slapd's root DSE with Cyrus's defaults (no mech_list), in its order.
OFFERED = (
    "SCRAM-SHA-512", "SCRAM-SHA-384", "SCRAM-SHA-256", "SCRAM-SHA-224", "SCRAM-SHA-1",
    "DIGEST-MD5", "CRAM-MD5", "NTLM", "PLAIN", "LOGIN", "ANONYMOUS",
)  # fmt: skip
# Those sasl-kit has (no SCRAM-SHA-384/224).
USABLE = tuple(name for name in OFFERED if name in sasl_kit.default_registry)


def settings(server: Slapd, tls: str = "starttls", **changes: object) -> SessionSettings:
    port = server.ldaps_port if tls == "implicit" else server.port
    context = ssl.create_default_context(cafile=server.cafile)
    return SessionSettings(HOST, port, tls, context=context, **changes)  # type: ignore[arg-type]


@pytest.fixture
def session(slapd: Slapd) -> Iterator[LDAPSession]:  # noqa: F811
    connection = open_session("ldap", settings(slapd))
    assert isinstance(connection, LDAPSession)
    yield connection
    connection.close()


def bind(
    session: LDAPSession,
    name: str,
    password: str = ALICE.password,
    account: Account = ALICE,
    **options: object,
) -> Result:
    mechanism = sasl_kit.client(
        name,
        username=account.user,
        password=password,
        service="ldap",
        host="localhost",
        **options,
    )
    return session.authenticate(profile("ldap").client(name, mechanism))


def test_root_dse_lists_cyrus_mechanisms_before_and_after_starttls(session: LDAPSession) -> None:
    assert session.encrypted
    assert session.mechanisms_before_tls == OFFERED
    assert session.mechanisms == OFFERED


def test_ldaps_is_tls_from_the_start(slapd: Slapd) -> None:  # noqa: F811
    connection = open_session("ldap", settings(slapd, "implicit"))
    try:
        assert connection.encrypted
        assert connection.mechanisms_before_tls is None
        assert connection.mechanisms == OFFERED
        assert bind(connection, "SCRAM-SHA-256").ok
    finally:
        connection.close()


def test_an_untrusted_certificate_is_refused_at_starttls(slapd: Slapd) -> None:  # noqa: F811
    untrusting = SessionSettings(HOST, slapd.port, "starttls", context=ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        open_session("ldap", untrusting)


@pytest.mark.parametrize("name", USABLE)
def test_every_offered_mechanism_binds_with_the_right_password(
    session: LDAPSession, name: str
) -> None:
    result = bind(session, name)
    result.raise_for_outcome()
    assert (result.outcome, result.code) == (Outcome.SUCCESS, "success (0)")


NTLM_ASCII_ONLY = pytest.mark.xfail(
    strict=True,
    raises=CredentialsRejected,
    reason="Cyrus's NTLM makes 'Unicode' of the password's bytes one by one, right for ASCII "
    "only (docs/mechanisms/ntlm.md)",
)
NON_ASCII = [
    pytest.param(account, name, id=f"{name}-{account.user}",
                 marks=[NTLM_ASCII_ONLY] if name == "NTLM" else [])
    for account in (ANNA, JURGEN)
    for name in USABLE
    if name != "ANONYMOUS"
]  # fmt: skip


@pytest.mark.parametrize(("account", "name"), NON_ASCII)
def test_non_ascii_passwords_and_names_bind(
    session: LDAPSession, account: Account, name: str
) -> None:
    result = bind(session, name, account.password, account)
    result.raise_for_outcome()
    assert (result.outcome, result.code) == (Outcome.SUCCESS, "success (0)")


@pytest.mark.parametrize("name", [n for n in USABLE if n != "ANONYMOUS"])
def test_a_wrong_password_is_credentials_rejected(session: LDAPSession, name: str) -> None:
    result = bind(session, name, password="not the password")
    assert result.code == "invalidCredentials (49)"
    assert result.text.startswith("SASL(-13): ")
    with pytest.raises(CredentialsRejected):
        result.raise_for_outcome()


def test_several_binds_share_one_connection_with_new_message_ids(session: LDAPSession) -> None:
    assert not bind(session, "CRAM-MD5", password="wrong").ok
    assert bind(session, "DIGEST-MD5").ok
    ids = [line.text.split(")")[0] for line in session.transcript if line.side == "C"]
    assert len(ids) == len(set(ids))


def test_a_mechanism_that_gives_up_aborts_the_bind(session: LDAPSession) -> None:
    # Cyrus asks for 4096 SCRAM iterations; a client that wants more gives up on the
    # server-first message, so the profile sends the empty-mechanism bind, and slapd
    # confirms with authMethodNotSupported (RFC 4511 4.2.1).
    result = bind(session, "SCRAM-SHA-256", min_iterations=100_000)
    assert result.outcome is Outcome.CANCELLED
    assert isinstance(result.error, SASLError)
    assert result.code == "authMethodNotSupported (7)"
    assert bind(session, "SCRAM-SHA-256").ok  # the connection is still good


def test_the_live_transcript_reads_back_and_hides_its_payloads(session: LDAPSession) -> None:
    bind(session, "SCRAM-SHA-1")
    ldap = profile("ldap")
    binds = [line for line in session.transcript if "bind" in line.text]
    events = [ldap.read_line(line.side, line.text) for line in binds]
    assert [type(event) for event in events] == [Start, Challenge, Response, End]
    assert isinstance(events[-1], End) and events[-1].outcome is Outcome.SUCCESS
    assert events[-1].additional  # SCRAM's v= comes with success (0)
    shown = "\n".join(lines_of(binds))
    assert shown.count("<redacted>") == 4
    for event in events:
        payload = getattr(event, "text", None) or getattr(event, "initial", None)
        if payload:
            assert payload not in shown
    assert not [e for e in events if isinstance(e, Cancel)]


@pytest.mark.parametrize("name", ["SCRAM-SHA-256", "DIGEST-MD5", "CRAM-MD5", "PLAIN"])
def test_sasl_kit_verify_judges_a_live_slapd_transcript(
    session: LDAPSession, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bind(session, name)
    bind(session, name, password="not the password")
    transcript = tmp_path / "ldap.txt"
    transcript.write_text("".join(f"{line}\n" for line in session.transcript))
    password = tmp_path / "password"
    password.write_text(ALICE.password + "\n")
    argv = ["verify", str(transcript), "--password-file", str(password), "--json"]
    # Exit 1: a response is wrong (docs/cli.md), the one with the wrong password.
    assert main([*argv, "--service", "ldap", "--host", "localhost"]) == 1
    verdicts = [
        (d["protocol"], d["mechanism"], d["verdict"], d["side"])
        for d in json.loads(capsys.readouterr().out)["exchanges"]
    ]
    # The right password: correct, nobody erred. The wrong one: the client's fault.
    assert verdicts == [("ldap", name, "correct", None), ("ldap", name, "wrong", "client")]


def test_with_sasl_cbinding_slapd_offers_plus_over_tls_only(slapd_cbinding: Slapd) -> None:  # noqa: F811
    connection = open_session("ldap", settings(slapd_cbinding))
    try:
        assert connection.mechanisms_before_tls == OFFERED
        assert connection.mechanisms[:4] == (
            "SCRAM-SHA-512-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-384-PLUS", "SCRAM-SHA-384",
        )  # fmt: skip
        assert bind(connection, "SCRAM-SHA-256").ok  # without binding, with y,, (RFC 5802 6)
    finally:
        connection.close()


@pytest.mark.xfail(
    strict=True,
    raises=ServerRefused,
    reason="slapd 2.5.13 wants OpenLDAP's own binding: cb-name 'ldap' and the data prefixed "
    "'tls-server-end-point:', not RFC 5802/5929's (docs/protocols/ldap.md)",
)
@pytest.mark.parametrize("name", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_scram_plus_with_tls_server_end_point(slapd_cbinding: Slapd, name: str) -> None:  # noqa: F811
    connection = open_session("ldap", settings(slapd_cbinding))
    try:
        binding = connection.channel_binding("tls-server-end-point")
        result = bind(connection, name, channel_binding=binding, server_offers_plus=True)
        assert result.text.endswith("Expected: ldap, received: tls-server-end-point")
        result.raise_for_outcome()
    finally:
        connection.close()
