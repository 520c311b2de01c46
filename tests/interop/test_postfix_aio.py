"""aiosmtplib, authenticated by ``sasl_kit.aio_bridges``, against the private Postfix +
Dovecot of the interop tests: every mechanism Postfix passes through from Dovecot logs
in over STARTTLS and the mail is delivered; a wrong password is Postfix's 535."""

from __future__ import annotations

import asyncio
import ssl
import uuid

import aiosmtplib
import pytest

from sasl_kit.aio_bridges import aiosmtplib_authenticate
from tests.interop.mta import DOMAIN, HOST, MECHANISMS, MailSite, Postfix
from tests.interop.peers import ALICE

pytestmark = pytest.mark.interop


async def _send(
    postfix: Postfix, site: MailSite, mechanism: str, password: str, marker: str
) -> str:
    context = ssl.create_default_context(cafile=site.cafile)
    smtp = aiosmtplib.SMTP(hostname=HOST, port=postfix.smtp_port, tls_context=context,
                           start_tls=True, timeout=20)  # fmt: skip
    async with smtp:
        await smtp.ehlo()
        name = await aiosmtplib_authenticate(smtp, ALICE.user, password, mechanisms=[mechanism])
        message = f"From: alice@{DOMAIN}\r\nTo: bob@{DOMAIN}\r\nSubject: {marker}\r\n\r\naio\r\n"
        await smtp.sendmail(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], message.encode())
        return name


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_aiosmtplib_logs_in_with_every_mechanism_and_delivers(
    postfix: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    marker = uuid.uuid4().hex
    assert asyncio.run(_send(postfix, mail_store, mechanism, ALICE.password, marker)) == mechanism
    mail_store.wait_for_mail("bob", marker)


def test_a_wrong_password_is_postfixs_535(postfix: Postfix, mail_store: MailSite) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
        asyncio.run(_send(postfix, mail_store, "SCRAM-SHA-256", "wrong", uuid.uuid4().hex))
    assert caught.value.code == 535
