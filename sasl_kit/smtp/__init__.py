"""A thin SMTP submission client authenticated through the registry (issue 5).

``protocol`` is the wire format without I/O, ``client`` drives a socket with it,
``results`` holds what became of each message. See docs/smtp.md.
"""

from __future__ import annotations

from sasl_kit.smtp.client import DSN, SMTPClient, TLSMode
from sasl_kit.smtp.data import OutgoingMessage
from sasl_kit.smtp.protocol import DataEncoder, Extensions, Reply, ReplyParser
from sasl_kit.smtp.results import EnvelopeResult, RecipientResult, SendResult, Status

__all__ = [
    "DSN",
    "DataEncoder",
    "EnvelopeResult",
    "Extensions",
    "OutgoingMessage",
    "RecipientResult",
    "Reply",
    "ReplyParser",
    "SMTPClient",
    "SendResult",
    "Status",
    "TLSMode",
]
