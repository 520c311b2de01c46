"""OAUTHBEARER and XOAUTH2 (RFC 7628) against an independent server: a private Dovecot
2.3 whose ``oauth2`` passdb validates JWT bearer tokens locally (``DovecotOAuth``), and
a Postfix that authenticates through it (``PostfixOAuth``).

Through the IMAP and POP3 bridges, ``SMTPClient`` and ``sasl-kit send``, over
STARTTLS: a good token logs in with each mechanism (and the mail is delivered); a
bad one gets Dovecot's JSON error challenge, which our client answers (RFC 7628
3.2.3), and the refusal carries Dovecot's status.
"""

from __future__ import annotations

import imaplib
import json
import poplib
import ssl
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sasl_kit import bridges
from sasl_kit.cli import main
from sasl_kit.mail import compose
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp.errors import CredentialsRejected
from tests.interop.mta import DOMAIN, HOST, DovecotOAuth, MailSite, PostfixOAuth, mint_token
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


def test_dovecot_refuses_a_token_issued_ahead_of_its_clock_with_no_leeway(
    dovecot_oauth: DovecotOAuth, mail_store: MailSite
) -> None:
    # Why mint_token backdates iat (mta.ISSUED_AGO): Dovecot 2.3.19 allows no skew.
    said = "Local validation failed: Token is issued in future"
    before = dovecot_oauth.log_count(said)
    ahead = mint_token(ALICE.user, issued_ago=-2)
    with pytest.raises(imaplib.IMAP4.error, match=STATUS["OAUTHBEARER"]):
        imap_login(dovecot_oauth, mail_store, ahead, "OAUTHBEARER")
    assert dovecot_oauth.logged_again(said, before)


def _smtp(postfix: PostfixOAuth, site: MailSite) -> SMTPClient:
    return SMTPClient(HOST, postfix.smtp_port, cafile=site.cafile, timeout=TIMEOUT)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_smtp_client_logs_in_through_postfix_and_the_mail_is_delivered(
    postfix_oauth: PostfixOAuth, mail_store: MailSite, mechanism: str
) -> None:
    subject = f"oauth {mechanism} {uuid.uuid4().hex}"
    message = compose(
        sender=f"alice@{DOMAIN}", to=f"bob@{DOMAIN}", subject=subject, text="by token"
    )
    with _smtp(postfix_oauth, mail_store) as smtp:
        token = mint_token(ALICE.user)
        assert smtp.login(ALICE.user, "", token=token, mechanisms=[mechanism]) == mechanism
        assert smtp.send(message).status is Status.SENT
    assert mail_store.wait_for_mail("bob", subject)["Subject"] == subject


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_smtp_client_535_carries_dovecots_status(
    postfix_oauth: PostfixOAuth, mail_store: MailSite, mechanism: str
) -> None:
    expired = mint_token(ALICE.user, lifetime=-60)
    with (
        _smtp(postfix_oauth, mail_store) as smtp,
        pytest.raises(CredentialsRejected, match=f"error: {STATUS[mechanism]}$"),
    ):
        smtp.login(ALICE.user, "", token=expired, mechanisms=[mechanism])


def test_sasl_kit_send_with_a_token_file(
    postfix_oauth: PostfixOAuth,
    mail_store: MailSite,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = tmp_path / "token"
    token.write_text(mint_token(ALICE.user) + "\n", encoding="ascii")
    subject = f"cli oauth {uuid.uuid4().hex}"
    argv = ["send", "--server", f"smtp://{HOST}:{postfix_oauth.smtp_port}"]
    argv += ["--cafile", mail_store.cafile, "--username", ALICE.user, "--token-file", str(token)]
    argv += ["--from", f"alice@{DOMAIN}", "--to", f"carol@{DOMAIN}", "--subject", subject]
    assert main([*argv, "--body", "sent with a bearer token", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mechanism"] == "OAUTHBEARER"
    assert mail_store.wait_for_mail("carol", subject)["Subject"] == subject
