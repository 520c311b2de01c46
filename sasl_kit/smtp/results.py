"""What became of a message: one frozen value per message, one row per recipient.

Rules of this module:
- A status is decided from server replies only, by ``Status.of``; nothing here
  guesses. ``sent`` and ``partial`` need the final 2xx after the data.
- ``code`` is ``None`` where the decision was ours (a message over the server's
  SIZE, an extension the server lacks) or where no reply came.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sasl_kit.smtp.protocol import Reply


class Status(enum.Enum):
    """What became of a message; the values are stable, for machine-readable output."""

    SENT = "sent"
    """The final reply after the data was 2xx and every recipient was accepted."""
    PARTIAL = "partial"
    """The final reply after the data was 2xx; some recipients were refused."""
    REJECTED = "rejected"
    """Refused for good (5xx, or refused here before sending): do not retry as is."""
    TEMPORARY = "temporary"
    """Refused for now (4xx): a retry may succeed."""
    UNKNOWN = "unknown"
    """The link failed after the data and before the final reply: a retry may duplicate."""

    @classmethod
    def of(cls, replies: Sequence[Reply | None]) -> Status:
        """The status of a message that was not sent, from the replies that refused it:
        ``TEMPORARY`` when any of them is 4xx, else ``REJECTED``. ``None`` (no reply
        came, or the refusal was ours) counts as permanent."""
        if any(r is not None and r.transient for r in replies):
            return cls.TEMPORARY
        return cls.REJECTED


@dataclass(frozen=True)
class RecipientResult:
    """The server's reply to one ``RCPT TO``; ``accepted`` means it took the address."""

    address: str
    code: int | None
    text: str

    @property
    def accepted(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @classmethod
    def from_reply(
        cls, address: str, reply: Reply | None, local_reason: str = ""
    ) -> RecipientResult:
        if reply is None:
            return cls(address, None, local_reason)
        return cls(address, reply.code, reply.text)


@dataclass(frozen=True)
class SendResult:
    """One message's outcome: ``status``, a row per recipient, and the deciding reply.

    ``local``: the client refused the message before saying MAIL (over the
    server's SIZE, 8-bit data without 8BITMIME, SMTPUTF8 or DSN not offered):
    nothing went on the wire, no server saw it, and ``text`` says why.
    """

    status: Status
    recipients: tuple[RecipientResult, ...]
    code: int | None
    text: str
    local: bool = False

    @property
    def sent(self) -> bool:
        """True only when the server confirmed the data with a final 2xx."""
        return self.status in (Status.SENT, Status.PARTIAL)

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients if r.accepted)

    @property
    def refused(self) -> tuple[RecipientResult, ...]:
        return tuple(r for r in self.recipients if not r.accepted)


@dataclass(frozen=True)
class EnvelopeResult:
    """What ``SMTPClient.check_envelope`` learnt: the MAIL reply and, when the RCPTs
    were sent, a row per recipient. Nothing was sent after them (the envelope was reset)."""

    code: int
    text: str
    recipients: tuple[RecipientResult, ...] = ()

    @property
    def ok(self) -> bool:
        """MAIL was taken and so was every RCPT that was sent."""
        return 200 <= self.code < 300 and all(r.accepted for r in self.recipients)
