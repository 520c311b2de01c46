"""What every socket driver shares: its settings, its session shape, the exchange loop.

Rules of this module: see the package. ``run`` is the only exchange loop: it
writes what the profile gives, reads what the server sends, and stops when
the profile has a result. Bytes read after the outcome stay in
``auth.leftover`` for the session.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Protocol

from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols import TLSMode
from sasl_kit.protocols.base import ClientAuth, Profile, Result
from sasl_kit.protocols.errors import ProtocolViolation

RECV_SIZE = 65536


class ConnectionClosed(ProtocolViolation):
    """The server closed the connection in the middle of an exchange."""


@dataclass(frozen=True)
class SessionSettings:
    """Where and how to connect: ``tls`` is ``starttls``, ``implicit`` or ``none``."""

    host: str
    port: int
    tls: TLSMode
    context: ssl.SSLContext | None = field(default=None, repr=False)
    timeout: float = 10.0
    options: dict[str, str] = field(default_factory=dict)
    """Protocol-specific settings (an XMPP domain, a PostgreSQL user and database)."""


class Session(Protocol):
    """One connection, opened and past TLS as its settings ask."""

    profile: Profile
    encrypted: bool
    mechanisms_before_tls: tuple[str, ...] | None
    """What the server listed before TLS; ``None`` where there was no such phase."""
    mechanisms: tuple[str, ...]

    def channel_binding(self, type: str) -> ChannelBinding | None: ...

    def authenticate(self, auth: ClientAuth) -> Result: ...

    def close(self) -> None: ...


def run(sock: socket.socket, auth: ClientAuth) -> Result:
    """One whole exchange on ``sock``; the result (a failure is a value, not raised)."""
    sock.sendall(auth.start())
    while auth.result is None:
        data = sock.recv(RECV_SIZE)
        if not data:
            raise ConnectionClosed(f"the server closed the connection during {auth.name}")
        out = auth.receive(data)
        if out:
            sock.sendall(out)
    return auth.result
