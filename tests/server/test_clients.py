"""smtplib, aiosmtplib and sasl-kit's own client against the server, every mechanism they can do."""

from __future__ import annotations

import asyncio
import smtplib
import ssl

import aiosmtplib
import pytest

import sasl_kit
from sasl_kit.bridges import smtp_authenticate
from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp_server import MailServer
from tests.smtp.fakes import Message

PASSWORD_MECHANISMS = [
    info.name
    for info in sasl_kit.default_registry
    if info.server and info.client and info.credential == "password"
]
# smtplib.SMTP.auth sends str: NTLM's binary messages cannot pass (sasl_kit.bridges says so).
# Its socket gives no channel binding to the bridge either.
SMTPLIB_MECHANISMS = [
    n
    for n in PASSWORD_MECHANISMS
    if n != "NTLM" and not sasl_kit.default_registry.get(n).channel_binding
]
TLS_MODES = ["starttls", "implicit"]
BODY = b"Subject: test\r\nFrom: user@example.test\r\n\r\nHello.\r\n"


def _binding(tls: ssl.SSLSocket) -> sasl_kit.mechanisms.base.ChannelBinding:
    return sasl_kit.channel_binding.from_connection(tls, "tls-server-end-point")


def _smtplib(server: MailServer, tls: str) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=str(server.cafile))
    if tls == "implicit":
        return smtplib.SMTP_SSL(server.host, server.port, context=context, timeout=10)
    smtp = smtplib.SMTP(server.host, server.port, timeout=10)
    smtp.starttls(context=context)
    return smtp


def _assert_stored(server: MailServer, mechanism: str) -> None:
    (message,) = server.messages()
    assert (message.sender, message.recipients) == ("user@example.test", ("to@example.test",))
    assert (message.user, message.mechanism) == (SMTP_USER, mechanism)
    assert message.data == BODY


@pytest.mark.parametrize("tls", TLS_MODES)
@pytest.mark.parametrize("mechanism", PASSWORD_MECHANISMS)
def test_sasl_kit_client_authenticates_and_its_message_is_stored(
    smtp_server_factory: object, mechanism: str, tls: str
) -> None:
    server = smtp_server_factory(implicit_tls=tls == "implicit")  # type: ignore[operator]
    with SMTPClient(
        server.host,
        server.port,
        tls=tls,
        cafile=str(server.cafile),
        timeout=10,
        channel_binding=_binding,
    ) as smtp:
        assert smtp.login(SMTP_USER, SMTP_PASSWORD, mechanisms=[mechanism]) == mechanism
        result = smtp.send(Message("user@example.test", ("to@example.test",), BODY))
    assert result.status is Status.SENT
    _assert_stored(server, mechanism)


@pytest.mark.parametrize("tls", TLS_MODES)
@pytest.mark.parametrize("mechanism", SMTPLIB_MECHANISMS)
def test_smtplib_authenticates_through_the_bridge(
    smtp_server_factory: object, mechanism: str, tls: str
) -> None:
    server = smtp_server_factory(implicit_tls=tls == "implicit")  # type: ignore[operator]
    with _smtplib(server, tls) as smtp:
        name = smtp_authenticate(smtp, SMTP_USER, SMTP_PASSWORD, mechanisms=[mechanism])
        assert name == mechanism
        smtp.sendmail("user@example.test", ["to@example.test"], BODY)
    _assert_stored(server, mechanism)


@pytest.mark.parametrize("tls", TLS_MODES)
def test_smtplib_login_uses_its_own_cram_md5(smtp_server_factory: object, tls: str) -> None:
    server = smtp_server_factory(implicit_tls=tls == "implicit")  # type: ignore[operator]
    with _smtplib(server, tls) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.sendmail("user@example.test", ["to@example.test"], BODY)
    _assert_stored(server, "CRAM-MD5")


AIOSMTPLIB_METHODS = {
    "PLAIN": "auth_plain",
    "LOGIN": "auth_login",
    "CRAM-MD5": "auth_crammd5",
    "XOAUTH2": "auth_xoauth2",
}


@pytest.mark.parametrize("tls", TLS_MODES)
@pytest.mark.parametrize("mechanism", AIOSMTPLIB_METHODS)
def test_aiosmtplib_authenticates_and_its_message_is_stored(
    smtp_server_factory: object, mechanism: str, tls: str
) -> None:
    server = smtp_server_factory(  # type: ignore[operator]
        implicit_tls=tls == "implicit", tokens={SMTP_USER: SMTP_PASSWORD}
    )
    context = ssl.create_default_context(cafile=str(server.cafile))

    async def send() -> None:
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            tls_context=context,
            timeout=10,
            use_tls=tls == "implicit",
            start_tls=tls == "starttls",
        )
        async with smtp:
            await smtp.ehlo()  # aiosmtplib's auth_* methods do not repeat EHLO after STARTTLS
            await getattr(smtp, AIOSMTPLIB_METHODS[mechanism])(SMTP_USER, SMTP_PASSWORD)
            await smtp.sendmail("user@example.test", ["to@example.test"], BODY)

    asyncio.run(send())
    _assert_stored(server, mechanism)


def test_plaintext_mechanisms_are_offered_only_after_tls(smtp_server: MailServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.ehlo()
        before = smtp.esmtp_features["auth"].split()
        assert smtp.docmd("AUTH", "PLAIN")[0] == 538
        smtp.starttls(context=ssl.create_default_context(cafile=str(smtp_server.cafile)))
        smtp.ehlo()
        after = smtp.esmtp_features["auth"].split()
    assert "PLAIN" not in before and "LOGIN" not in before and "CRAM-MD5" in before
    assert {"PLAIN", "LOGIN", "SCRAM-SHA-256-PLUS"} <= set(after)


@pytest.mark.smtp_server(allow_plaintext_auth=True)
def test_allow_plaintext_auth_offers_plain_without_tls(smtp_server: MailServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.ehlo()
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        smtp.auth("PLAIN", lambda challenge=None: f"\0{SMTP_USER}\0{SMTP_PASSWORD}")


def test_mail_before_auth_is_refused(smtp_server: MailServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.mail("user@example.test")[0] == 530


@pytest.mark.smtp_server(tokens={"user": "token-1"}, allow_anonymous=True)
@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "XOAUTH2"])
def test_token_mechanisms_authenticate_when_tokens_are_given(
    smtp_server: MailServer, mechanism: str
) -> None:
    with SMTPClient(
        smtp_server.host, smtp_server.port, cafile=str(smtp_server.cafile), timeout=10
    ) as smtp:
        assert smtp.login(SMTP_USER, "", mechanisms=[mechanism], token="token-1") == mechanism
        smtp.send(Message("user@example.test", ("to@example.test",), BODY))
    _assert_stored(smtp_server, mechanism)
