"""A local SMTP submission server that authenticates with every mechanism (docs/serve.md).

``config`` holds its options, ``session`` is one connection (aiosmtpd's SMTP
with its own command loop, DATA spooling and limits; ``lines`` reads its
lines), ``smtp`` is the handler that plugs sasl-kit's mechanisms into it,
``store`` keeps the mail (a maildir plus envelopes), ``faults`` injects
failures, ``users`` reads the users file and ``app`` runs it all in a thread.
``authenticator`` is the AUTH policy serve applies, usable with any aiosmtpd
server (``SASLAuthenticator.install``).
"""

from __future__ import annotations

from sasl_kit.smtp_server.app import MailServer
from sasl_kit.smtp_server.authenticator import SASLAuthenticator
from sasl_kit.smtp_server.config import ServerConfig
from sasl_kit.smtp_server.faults import Faults
from sasl_kit.smtp_server.store import MailStore, ReceivedMessage
from sasl_kit.smtp_server.users import Users, scram_line

__all__ = [
    "Faults",
    "MailServer",
    "MailStore",
    "ReceivedMessage",
    "SASLAuthenticator",
    "ServerConfig",
    "Users",
    "scram_line",
]
