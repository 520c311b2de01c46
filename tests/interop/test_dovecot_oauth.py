"""OAUTHBEARER and XOAUTH2 (RFC 7628) against an independent server: a private Dovecot
2.3 whose ``oauth2`` passdb validates JWT bearer tokens locally (``DovecotOAuth``).

Through the IMAP and POP3 bridges over STARTTLS: a good token logs in with each
mechanism; a bad one gets Dovecot's JSON error challenge, which our client answers
(RFC 7628 3.2.3), and the library's refusal carries Dovecot's status.
"""

from __future__ import annotations

import imaplib
import poplib
import ssl
from collections.abc import Callable

import pytest

from sasl_kit import bridges
from tests.interop.mta import HOST, DovecotOAuth, MailSite, mint_token
from tests.interop.peers import ALICE

pytestmark = pytest.mark.interop

TIMEOUT = 10.0
MECHANISMS = ("OAUTHBEARER", "XOAUTH2")
# What Dovecot 2.3's error challenge says, as the client reports it.
STATUS = {"OAUTHBEARER": "status 'invalid_token'", "XOAUTH2": "status '401', scope 'mail'"}

Login = Callable[[DovecotOAuth, MailSite, str, str], str]


def imap_login(dovecot: DovecotOAuth, site: MailSite, token: str, mechanism: str) -> str:
    with imaplib.IMAP4(HOST, dovecot.imap_port, timeout=TIMEOUT) as imap:
        imap.starttls(ssl.create_default_context(cafile=site.cafile))
        name = bridges.imap_authenticate(imap, ALICE.user, "", token=token, mechanisms=[mechanism])
        assert imap.state == "AUTH"
        return name


def pop3_login(dovecot: DovecotOAuth, site: MailSite, token: str, mechanism: str) -> str:
    pop = poplib.POP3(HOST, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        pop.stls(ssl.create_default_context(cafile=site.cafile))
        name = bridges.pop3_authenticate(pop, ALICE.user, "", token=token, mechanisms=[mechanism])
        assert pop.stat()[0] >= 0  # a transaction-state command works
        return name
    finally:
        pop.close()


LOGINS = [pytest.param(imap_login, id="imap"), pytest.param(pop3_login, id="pop3")]


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("login", LOGINS)
def test_a_valid_token_logs_in(
    dovecot_oauth: DovecotOAuth, mail_store: MailSite, login: Login, mechanism: str
) -> None:
    assert login(dovecot_oauth, mail_store, mint_token(ALICE.user), mechanism) == mechanism


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("login", LOGINS)
def test_a_refused_token_reports_dovecots_status(
    dovecot_oauth: DovecotOAuth, mail_store: MailSite, login: Login, mechanism: str
) -> None:
    expired = mint_token(ALICE.user, lifetime=-60)
    refusal = imaplib.IMAP4.error if login is imap_login else poplib.error_proto
    with pytest.raises(refusal) as caught:
        login(dovecot_oauth, mail_store, expired, mechanism)
    said = caught.value.args[0]  # poplib keeps the -ERR line as bytes, imaplib a str
    text = said.decode() if isinstance(said, bytes) else str(said)
    assert text.endswith(f"; its {mechanism} error: {STATUS[mechanism]}")
