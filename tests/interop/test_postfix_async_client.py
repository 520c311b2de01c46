"""``AsyncSMTPClient`` against the private Postfix + Dovecot of the interop tests, as
``test_postfix.py`` holds ``SMTPClient`` to it.

Over STARTTLS and after AUTH with every mechanism Postfix passes through from
Dovecot, the composed message (To, Cc, Bcc, an attachment streamed from disk,
one with a non-ASCII name) reaches every box byte-identical and without its
Bcc; a 3 MiB attachment goes in pipelined BDAT chunks; a wrong password is
Postfix's 535 and nothing is delivered. And for the same message, the two
clients say the same lines to Postfix (the ``C:`` lines of their transcripts).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from sasl_kit.mail import Attachment, compose
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp.aio import AsyncSMTPClient
from sasl_kit.smtp.data import BDAT_CHUNK, OutgoingMessage
from sasl_kit.smtp.errors import CredentialsRejected
from tests.interop.mta import HOST, MECHANISMS, MailSite, Postfix
from tests.interop.peers import ALICE
from tests.interop.test_postfix import (
    BINARY_NAME,
    CC,
    SENDER,
    TEXT_NAME,
    TO,
    attachments,
    two_attachments,
)

pytestmark = pytest.mark.interop

TIMEOUT = 10.0


def client(postfix: Postfix, site: MailSite, lines: list[str] | None = None) -> AsyncSMTPClient:
    return AsyncSMTPClient(
        HOST,
        postfix.smtp_port,
        cafile=site.cafile,
        timeout=TIMEOUT,
        transcript=None if lines is None else lines.append,
    )


async def login_and_send(
    smtp: AsyncSMTPClient, message: OutgoingMessage, mechanism: str | None = None
) -> tuple[str, Status]:
    async with smtp:
        name = await smtp.login(
            ALICE.user, ALICE.password, mechanisms=None if mechanism is None else [mechanism]
        )
        return name, (await smtp.send(message)).status


def test_the_composed_message_reaches_every_box_whole_and_without_bcc(
    postfix: Postfix, mail_store: MailSite, tmp_path: Path
) -> None:
    binary = tmp_path / BINARY_NAME
    binary.write_bytes(os.urandom(300_000))
    text = "Grüße aus der Prüfung\n".encode() * 100
    subject = uuid.uuid4().hex
    message = two_attachments(binary, text, subject)
    _, status = asyncio.run(login_and_send(client(postfix, mail_store), message))
    assert status is Status.SENT
    for box in ("bob", "carol", "dave"):
        delivered = mail_store.wait_for_mail(box, subject)
        assert "Bcc" not in delivered and delivered["Cc"] == CC
        got = attachments(delivered)
        assert (
            hashlib.sha256(got[BINARY_NAME]).digest()
            == hashlib.sha256(binary.read_bytes()).digest()
        )
        assert got[TEXT_NAME] == text


def test_a_large_attachment_goes_in_pipelined_bdat_chunks_as_the_sync_client_sends_it(
    postfix: Postfix, mail_store: MailSite, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20 + 12345))
    subject = uuid.uuid4().hex
    message = compose(
        sender=SENDER, to=TO, subject=subject, text="big", attachments=[Attachment(path=big)]
    )
    async_lines: list[str] = []
    _, status = asyncio.run(login_and_send(client(postfix, mail_store, async_lines), message))
    assert status is Status.SENT
    bdat = [line for line in async_lines if line.startswith("C: BDAT ")]
    assert len(bdat) == -(-message.size() // BDAT_CHUNK) and bdat[-1].endswith(" LAST")
    sync_lines: list[str] = []
    with SMTPClient(
        HOST, postfix.smtp_port, cafile=mail_store.cafile, timeout=TIMEOUT,
        transcript=sync_lines.append,
    ) as smtp:  # fmt: skip
        smtp.login(ALICE.user, ALICE.password)
        assert smtp.send(message).status is Status.SENT
    said = [
        [line for line in lines if line.startswith("C:")] for lines in (sync_lines, async_lines)
    ]
    assert said[0] == said[1]
    # The same message twice, once by each client: wait for both, then check both.
    delivered = mail_store.wait_for_mails("bob", subject, 2)
    assert len(delivered) == 2
    for each in delivered:
        assert attachments(each) == {"big.bin": big.read_bytes()}


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_async_client_logs_in_with_every_mechanism_and_delivers(
    postfix: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    subject = uuid.uuid4().hex
    message = compose(sender=SENDER, to=TO, subject=subject, text=f"by {mechanism}")
    name, status = asyncio.run(login_and_send(client(postfix, mail_store), message, mechanism))
    assert (name, status) == (mechanism, Status.SENT)
    mail_store.wait_for_mail("bob", subject)


def test_a_wrong_password_is_postfixs_535_and_nothing_is_delivered(
    postfix: Postfix, mail_store: MailSite
) -> None:
    subject = uuid.uuid4().hex

    async def attempt() -> None:
        async with client(postfix, mail_store) as smtp:
            await smtp.login(ALICE.user, "wrong password")
            await smtp.send(compose(sender=SENDER, to=TO, subject=subject, text="never sent"))

    with pytest.raises(CredentialsRejected) as caught:
        asyncio.run(attempt())
    assert caught.value.code == 535
    assert not mail_store.delivered("bob", subject)
