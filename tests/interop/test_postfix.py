"""Issue 5's proof against a real MTA: a private Postfix with Dovecot SASL on 127.0.0.1.

A message from ``sasl_kit.mail.compose`` (To, Cc, Bcc, a binary attachment
streamed from disk and one with a non-ASCII file name) goes out through
``SMTPClient`` over STARTTLS after AUTH, and is read back from every
recipient's maildir. AUTH is tried with every mechanism Postfix passes
through from Dovecot, by ``SMTPClient`` and by ``smtplib`` through the bridge.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from sasl_kit import UsageError, bridges
from sasl_kit.mail import Attachment, compose
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp.data import BDAT_CHUNK, OutgoingMessage
from sasl_kit.smtp.errors import CredentialsRejected
from tests.interop.mta import DOMAIN, HOST, MECHANISMS, MailSite, Postfix
from tests.interop.peers import ALICE, ANNA

pytestmark = pytest.mark.interop

TIMEOUT = 10.0
SENDER = f"alice@{DOMAIN}"
TO, CC, BCC = (f"{box}@{DOMAIN}" for box in ("bob", "carol", "dave"))
BINARY_NAME = "random.bin"
TEXT_NAME = "Grüße, résumé 日本.txt"


def client(postfix: Postfix, site: MailSite) -> SMTPClient:
    return SMTPClient(HOST, postfix.smtp_port, tls="starttls", cafile=site.cafile, timeout=TIMEOUT)


def marker() -> str:
    return uuid.uuid4().hex


def two_attachments(binary: Path, text: bytes, subject: str) -> OutgoingMessage:
    """To, Cc and Bcc; ``binary`` streamed from disk, ``text`` under a non-ASCII name."""
    return compose(
        sender=SENDER,
        to=TO,
        cc=CC,
        bcc=BCC,
        subject=subject,
        text="Two attachments follow.",
        attachments=[
            Attachment(path=binary),
            Attachment(data=text, filename=TEXT_NAME, content_type="text/plain"),
        ],
    )


@dataclass(frozen=True)
class Sent:
    marker: str
    attachments: dict[str, bytes]
    status: Status


@pytest.fixture(scope="module")
def sent(postfix: Postfix, mail_store: MailSite, tmp_path_factory: pytest.TempPathFactory) -> Sent:
    """One message with To, Cc, Bcc and two attachments, sent after AUTH over STARTTLS."""
    binary = tmp_path_factory.mktemp("attachments") / BINARY_NAME
    binary.write_bytes(os.urandom(300_000))
    text = "Grüße aus der Prüfung\n".encode() * 100
    subject = marker()
    message = two_attachments(binary, text, subject)
    with client(postfix, mail_store) as smtp:
        smtp.login(ALICE.user, ALICE.password)
        result = smtp.send(message)
    return Sent(subject, {BINARY_NAME: binary.read_bytes(), TEXT_NAME: text}, result.status)


def attachments(message: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = payload
    return found


def test_the_message_is_accepted_for_every_recipient(sent: Sent) -> None:
    assert sent.status is Status.SENT


def test_a_large_attachment_goes_in_pipelined_bdat_chunks_and_arrives_whole(
    postfix: Postfix, mail_store: MailSite, tmp_path: Path
) -> None:
    # Postfix offers CHUNKING and PIPELINING: the chunks are declared from size()
    # and sent ahead of their replies (RFC 3030 2), 1 MiB each, the last with LAST.
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20 + 12345))
    subject = marker()
    message = compose(
        sender=SENDER, to=TO, subject=subject, text="big", attachments=[Attachment(path=big)]
    )
    lines: list[str] = []
    with SMTPClient(
        HOST, postfix.smtp_port, cafile=mail_store.cafile, timeout=TIMEOUT, transcript=lines.append
    ) as smtp:
        smtp.login(ALICE.user, ALICE.password)
        assert {"CHUNKING", "PIPELINING"} <= set(smtp.extensions.keywords)
        assert smtp.send(message).status is Status.SENT
    bdat = [line for line in lines if line.startswith("C: BDAT ")]
    assert len(bdat) == -(-message.size() // BDAT_CHUNK) and bdat[-1].endswith(" LAST")
    delivered = mail_store.wait_for_mail("bob", subject)
    assert attachments(delivered) == {"big.bin": big.read_bytes()}


@pytest.mark.parametrize("box", ["bob", "carol", "dave"])
def test_every_recipient_gets_the_message(sent: Sent, mail_store: MailSite, box: str) -> None:
    message = mail_store.wait_for_mail(box, sent.marker)
    assert message["From"] == SENDER
    assert message["To"] == TO
    assert message["Cc"] == CC


@pytest.mark.parametrize("box", ["bob", "carol", "dave"])
def test_no_delivered_copy_shows_the_bcc(sent: Sent, mail_store: MailSite, box: str) -> None:
    message = mail_store.wait_for_mail(box, sent.marker)
    assert "Bcc" not in message
    # Only the delivery's own trace (added by Postfix for dave's copy) may name dave.
    trace = {"Delivered-To", "X-Original-To", "Received", "Return-Path"}
    assert not [name for name, value in message.items() if name not in trace and "dave" in value]


@pytest.mark.parametrize("box", ["bob", "carol", "dave"])
def test_attachments_arrive_byte_identical(sent: Sent, mail_store: MailSite, box: str) -> None:
    received = attachments(mail_store.wait_for_mail(box, sent.marker))
    assert set(received) == {BINARY_NAME, TEXT_NAME}
    for name, data in sent.attachments.items():
        assert hashlib.sha256(received[name]).hexdigest() == hashlib.sha256(data).hexdigest()


def test_postfix_passes_through_every_dovecot_mechanism(
    postfix: Postfix, mail_store: MailSite
) -> None:
    with client(postfix, mail_store) as smtp:
        assert set(smtp.extensions.auth) == set(MECHANISMS)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_smtp_client_authenticates_with(
    postfix: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    with client(postfix, mail_store) as smtp:
        assert smtp.login(ALICE.user, ALICE.password, mechanisms=[mechanism]) == mechanism


def test_wrong_password_is_rejected_and_nothing_is_delivered(
    postfix: Postfix, mail_store: MailSite
) -> None:
    subject = marker()
    message = compose(sender=SENDER, to=TO, subject=subject, text="never sent")
    with client(postfix, mail_store) as smtp:
        with pytest.raises(CredentialsRejected) as caught:
            smtp.login(ALICE.user, "wrong password")
            smtp.send(message)
        assert caught.value.code == 535
    assert not mail_store.delivered("bob", subject)


# --- smtplib through sasl_kit.bridges -------------------------------------------------------


@pytest.fixture
def smtplib_session(postfix: Postfix, mail_store: MailSite) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(HOST, postfix.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=mail_store.cafile))
        smtp.ehlo()
        yield smtp


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_smtplib_bridge_authenticates_with(smtplib_session: smtplib.SMTP, mechanism: str) -> None:
    name = bridges.smtp_authenticate(
        smtplib_session, ALICE.user, ALICE.password, mechanisms=[mechanism]
    )
    assert name == mechanism


def test_smtplib_bridge_sends_after_auth(
    smtplib_session: smtplib.SMTP, mail_store: MailSite
) -> None:
    bridges.smtp_authenticate(smtplib_session, ALICE.user, ALICE.password)
    subject = marker()
    smtplib_session.sendmail(SENDER, [TO], f"Subject: {subject}\r\n\r\nvia smtplib\r\n")
    assert mail_store.wait_for_mail("bob", subject).get_content() == "via smtplib\n"


def test_smtplib_bridge_wrong_password_is_535(smtplib_session: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        bridges.smtp_authenticate(smtplib_session, ALICE.user, "wrong password")
    assert caught.value.smtp_code == 535


def test_smtplib_bridge_carries_a_non_ascii_password_in_scram(
    smtplib_session: smtplib.SMTP,
) -> None:
    # SCRAM sends only a proof derived from the password: ASCII on the wire.
    name = bridges.smtp_authenticate(
        smtplib_session, ANNA.user, ANNA.password, mechanisms=["SCRAM-SHA-256"]
    )
    assert name == "SCRAM-SHA-256"


def test_smtplib_bridge_refuses_what_smtplib_cannot_send(smtplib_session: smtplib.SMTP) -> None:
    # PLAIN would put the UTF-8 password itself on the wire; smtplib sends only ASCII.
    with pytest.raises(UsageError, match="only ASCII"):
        bridges.smtp_authenticate(smtplib_session, ANNA.user, ANNA.password, mechanisms=["PLAIN"])
    # Nothing was sent, so the session is still usable.
    assert bridges.smtp_authenticate(smtplib_session, ANNA.user, ANNA.password) == "SCRAM-SHA-256"


def test_the_private_mta_delivers_only_to_its_domain(
    postfix: Postfix, mail_store: MailSite
) -> None:
    message = compose(sender=SENDER, to="someone@example.org", subject=marker(), text="stays")
    with client(postfix, mail_store) as smtp:
        smtp.login(ALICE.user, ALICE.password)
        result = smtp.send(message)
    assert result.status is Status.REJECTED
    assert result.recipients[0].code == 550
