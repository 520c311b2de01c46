"""A thin SMTP submission client authenticated through the registry (issue 5).

``protocol`` is the wire format and ``data`` the message data, without I/O;
``session`` is the whole client session as sans-I/O steps, which ``client``
(``SMTPClient``) performs on a socket and ``aio`` (``AsyncSMTPClient``, not
imported here) on asyncio streams; ``results`` holds what became of each
message. See docs/smtp.md and docs/asyncio.md.
"""

from __future__ import annotations

from sasl_kit.smtp.client import DSN, SMTPClient, TLSMode
from sasl_kit.smtp.data import OutgoingMessage
from sasl_kit.smtp.protocol import DataEncoder, Extensions, Reply, ReplyParser
from sasl_kit.smtp.results import EnvelopeResult, RecipientResult, SendResult, Status
from sasl_kit.smtp.session import ClientSession

__all__ = [
    "DSN",
    "ClientSession",
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
