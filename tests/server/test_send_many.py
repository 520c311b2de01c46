"""``send_many`` against ``sasl-kit serve`` (aiosmtpd, which offers no PIPELINING):
each message of the batch goes as ``send`` sends it, in lockstep, and is stored
with its own envelope."""

from __future__ import annotations

import uuid

from sasl_kit.mail import compose
from sasl_kit.smtp import SMTPClient, Status
from tests.server.running import PASSWORD, USER, Serve


def test_a_batch_without_pipelining_is_stored_message_by_message(serve: Serve) -> None:
    batch = uuid.uuid4().hex
    messages = [
        compose(
            sender=f"sender{i}@example.test",
            to=f"to{i}@example.test",
            bcc=f"bcc{i}@example.test",
            subject=f"{batch} {i}",
            text=f"message {i}\n",
        )
        for i in range(3)
    ]
    lines: list[str] = []
    with SMTPClient(
        serve.host, serve.port, cafile=serve.cafile, timeout=10, transcript=lines.append
    ) as smtp:
        smtp.login(USER, PASSWORD)
        assert "PIPELINING" not in smtp.extensions
        results = smtp.send_many(iter(messages))
    assert [r.status for r in results] == [Status.SENT] * 3
    stored = sorted(
        (m for m in serve.messages() if batch in str(m.message["Subject"])),
        key=lambda m: m.sequence,
    )
    assert [(m.sender, m.recipients) for m in stored] == [
        (f"sender{i}@example.test", (f"to{i}@example.test", f"bcc{i}@example.test"))
        for i in range(3)
    ]
    assert [m.data for m in stored] == [b"".join(m.chunks()) for m in messages]
    said = [line.split(" ")[1] for line in lines if line.startswith("C: ")]
    assert said.count("DATA") == 3  # each DATA said alone, after its envelope's replies
