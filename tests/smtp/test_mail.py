"""A message composed by ``sasl_kit.mail`` goes through the client unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from sasl_kit.errors import MessageError
from sasl_kit.mail import Attachment, compose
from sasl_kit.smtp import OutgoingMessage, SMTPClient, Status
from tests.smtp.fakes import Behaviour, FakeSMTPServer, unstuffed


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("PIPELINING", "CHUNKING")])
def test_a_composed_message_with_an_attachment_arrives_byte_for_byte(
    tmp_path: Path, extensions: tuple[str, ...]
) -> None:
    attachment = tmp_path / "blob.bin"
    attachment.write_bytes(bytes(range(256)) * 5000)
    message: OutgoingMessage = compose(
        sender="a@example.org",
        to="b@example.org",
        bcc="hidden@example.org",
        subject="report",
        text=".starts with a dot\nand goes on",
        attachments=[Attachment(path=attachment), Attachment(data=b"\0\r\n.", filename="x.bin")],
    )
    with (
        FakeSMTPServer(Behaviour(extensions=(*extensions, "SIZE 10000000"))) as server,
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5) as smtp,
    ):
        result = smtp.send(message)
    assert result.status is Status.SENT
    assert result.accepted == ("b@example.org", "hidden@example.org")
    expected = b"".join(message.chunks())
    received = server.messages[0]
    if "CHUNKING" not in extensions:
        received = unstuffed(received)
    assert received == expected
    assert f"SIZE={message.size()}" in server.commands[1]


def test_an_attachment_changed_since_compose_is_refused_before_mail(tmp_path: Path) -> None:
    # chunks() is asked for before MAIL, and sasl_kit.mail checks its files there:
    # nothing is sent, and the session stays usable.
    attachment = tmp_path / "report.bin"
    attachment.write_bytes(b"x" * 1000)
    message = compose(
        sender="a@example.org",
        to="b@example.org",
        subject="s",
        attachments=[Attachment(path=attachment)],
    )
    attachment.write_bytes(b"x" * 999)
    with (
        FakeSMTPServer(Behaviour(extensions=("PIPELINING",))) as server,
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5) as smtp,
    ):
        with pytest.raises(MessageError, match="changed since compose"):
            smtp.send(message)
        attachment.write_bytes(b"x" * 1000)
        assert smtp.send(message).status is Status.SENT
    assert [c.split(" ")[0] for c in server.commands].count("MAIL") == 1
