"""IMAP AUTHENTICATE and POP3 AUTH through the asyncio drivers against a private Dovecot.

Issue 14 item 2's proof for ``sasl_kit.drivers.aio``: over STARTTLS and
implicit TLS (RFC 8314 ports), every mechanism Debian 12's Dovecot offers logs
in with the right password, and a wrong one is ``CredentialsRejected``
(Dovecot's ``NO [AUTHENTICATIONFAILED]`` / ``-ERR [AUTH]``).
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from sasl_kit.drivers import aio
from sasl_kit.drivers.base import SessionSettings
from sasl_kit.protocols import TLSMode
from sasl_kit.protocols.errors import CredentialsRejected
from tests.interop.mta import HOST, MECHANISMS, Dovecot, MailSite
from tests.interop.peers import ALICE

pytestmark = pytest.mark.interop

PROTOCOLS = ("imap", "pop3")
TLS_MODES: tuple[TLSMode, ...] = ("starttls", "implicit")


def settings(dovecot: Dovecot, site: MailSite, protocol: str, tls: TLSMode) -> SessionSettings:
    ports = {
        ("imap", "starttls"): dovecot.imap_port,
        ("imap", "implicit"): dovecot.imaps_port,
        ("pop3", "starttls"): dovecot.pop3_port,
        ("pop3", "implicit"): dovecot.pop3s_port,
    }
    context = ssl.create_default_context(cafile=site.cafile)
    return SessionSettings(HOST, ports[protocol, tls], tls, context, timeout=10)


async def login(target: SessionSettings, protocol: str, password: str, mechanism: str) -> str:
    async with await aio.open_session(protocol, target) as session:
        assert session.encrypted
        if target.tls == "starttls":
            assert session.mechanisms_before_tls == MECHANISMS
        else:
            assert session.mechanisms_before_tls is None
        assert session.mechanisms == MECHANISMS
        return await aio.login(session, ALICE.user, password, mechanisms=[mechanism])


def every_mechanism(target: SessionSettings, protocol: str, password: str) -> list[object]:
    """Each mechanism's name or error, all logging in side by side (Dovecot answers a
    failure on its next 0.5 s tick)."""

    async def every() -> list[object]:
        tries = (login(target, protocol, password, m) for m in MECHANISMS)
        return list(await asyncio.gather(*tries, return_exceptions=True))

    return asyncio.run(every())


@pytest.mark.parametrize("tls", TLS_MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_mechanism_logs_in_at_dovecot(
    dovecot: Dovecot, mail_store: MailSite, protocol: str, tls: TLSMode
) -> None:
    target = settings(dovecot, mail_store, protocol, tls)
    assert every_mechanism(target, protocol, ALICE.password) == list(MECHANISMS)


@pytest.mark.parametrize("tls", TLS_MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_wrong_password_is_credentials_rejected(
    dovecot: Dovecot, mail_store: MailSite, protocol: str, tls: TLSMode
) -> None:
    target = settings(dovecot, mail_store, protocol, tls)
    outcomes = every_mechanism(target, protocol, "wrong password")
    for mechanism, outcome in zip(MECHANISMS, outcomes, strict=True):
        assert isinstance(outcome, CredentialsRejected), (mechanism, outcome)
        assert "Authentication failed" in str(outcome), (mechanism, outcome)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_login_chooses_the_strongest_mechanism(
    dovecot: Dovecot, mail_store: MailSite, protocol: str
) -> None:
    async def strongest() -> str:
        target = settings(dovecot, mail_store, protocol, "implicit")
        async with await aio.open_session(protocol, target) as session:
            return await aio.login(session, ALICE.user, ALICE.password)

    assert asyncio.run(strongest()) == "SCRAM-SHA-256"
