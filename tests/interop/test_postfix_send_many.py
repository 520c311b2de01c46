"""``send_many`` against the private Postfix of the interop tests: a batch over one
connection after STARTTLS and AUTH, read back from the maildirs.

On ``data_port`` (the same smtpd without CHUNKING) the batch goes with DATA and
RFC 2920 pipelining across messages: each message's end of data and the next
one's MAIL, RCPT and DATA in one write. On ``smtp_port`` (CHUNKING) each message
goes as ``send`` sends it, with BDAT. Either way every message reaches its
boxes with its own envelope (Postfix's virtual(8) writes it as ``Return-Path``
and ``Delivered-To``), and a recipient Postfix does not know (``550 5.1.1 ...
User unknown in virtual mailbox table``) is that message's result alone.
"""

from __future__ import annotations

import uuid

import pytest

from sasl_kit.mail import compose
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp.data import OutgoingMessage
from tests.interop.mta import DOMAIN, HOST, MailSite, Postfix
from tests.interop.peers import ALICE
from tests.interop.test_postfix import CC, SENDER, TO

pytestmark = pytest.mark.interop

TIMEOUT = 10.0
NOBODY = f"nobody@{DOMAIN}"


def message(subject: str, to: tuple[str, ...], cc: tuple[str, ...] = ()) -> OutgoingMessage:
    return compose(sender=SENDER, to=to, cc=cc, subject=subject, text=f"This is {subject}.\n")


def send_many(
    postfix: Postfix, site: MailSite, port: int, messages: list[OutgoingMessage], lines: list[str]
) -> list[Status]:
    with SMTPClient(
        HOST, port, cafile=site.cafile, timeout=TIMEOUT, transcript=lines.append
    ) as smtp:
        smtp.login(ALICE.user, ALICE.password)
        assert "PIPELINING" in smtp.extensions
        assert ("CHUNKING" in smtp.extensions) == (port == postfix.smtp_port)
        return [r.status for r in smtp.send_many(messages)]


def check_delivered(site: MailSite, subject: str, boxes: tuple[str, ...]) -> None:
    """``subject`` is in each of ``boxes`` once, whole, with its envelope."""
    for box in boxes:
        delivered = site.wait_for_mail(box, subject)
        assert delivered["Return-Path"] == f"<{SENDER}>"
        assert delivered["Delivered-To"] == f"{box}@{DOMAIN}"
        assert delivered["Subject"] == subject
        assert delivered.get_content() == f"This is {subject}.\n"


@pytest.mark.parametrize("port", ["data_port", "smtp_port"], ids=["DATA", "BDAT"])
def test_a_batch_reaches_every_box_with_its_own_envelope(
    postfix: Postfix, mail_store: MailSite, port: str
) -> None:
    batch = uuid.uuid4().hex
    subjects = [f"{batch} {i}" for i in range(5)]
    messages = [message(s, (TO,), (CC,) if i % 2 else ()) for i, s in enumerate(subjects)]
    lines: list[str] = []
    statuses = send_many(postfix, mail_store, getattr(postfix, port), messages, lines)
    assert statuses == [Status.SENT] * 5
    for i, subject in enumerate(subjects):
        check_delivered(mail_store, subject, ("bob", "carol") if i % 2 else ("bob",))
    assert mail_store.delivered("carol", subjects[0]) == []
    said = [line.split(" ")[1] for line in lines if line.startswith("C: ")]
    if port == "data_port":  # the end of each message's data, then at once the next MAIL
        ends = [i for i, word in enumerate(said) if word == "<message"]
        assert len(ends) == 5 and [said[i + 1] for i in ends] == ["MAIL"] * 4 + ["QUIT"]
    else:
        assert "DATA" not in said and said.count("BDAT") == 5


def test_a_refused_recipient_is_its_messages_result_and_the_batch_goes_on(
    postfix: Postfix, mail_store: MailSite
) -> None:
    batch = uuid.uuid4().hex
    subjects = [f"{batch} {i}" for i in range(4)]
    messages = [
        message(subjects[0], (TO,)),
        message(subjects[1], (NOBODY,)),  # no valid recipient: Postfix refuses DATA too
        message(subjects[2], (NOBODY, TO)),
        message(subjects[3], (TO,)),
    ]
    lines: list[str] = []
    statuses = send_many(postfix, mail_store, postfix.data_port, messages, lines)
    assert statuses == [Status.SENT, Status.REJECTED, Status.PARTIAL, Status.SENT]
    refusals = [line for line in lines if line.startswith("S: 550 5.1.1 <nobody@")]
    assert len(refusals) == 2 and all("User unknown" in line for line in refusals)
    for subject in (subjects[0], subjects[2], subjects[3]):
        check_delivered(mail_store, subject, ("bob",))
    assert mail_store.delivered("bob", subjects[1]) == []
