"""ManageSieve sessions on a socket (RFC 5804 1.7, 1.8, 2.2): greeting, STARTTLS, AUTHENTICATE.

Rules of this module (besides the package's): the server speaks first with
its capability list; with ``tls="starttls"`` the client sends STARTTLS, starts
TLS right after the CRLF of the OK (a server that sends anything more before
the handshake is refused: those bytes would be plaintext injected into the
TLS session) and reads the capability list again, which replaces the first.
ManageSieve has no implicit TLS. Every byte's meaning is the profile's
(``sasl_kit.protocols.sieve``); this module only moves bytes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

from sasl_kit import channel_binding
from sasl_kit.drivers.base import (
    RECV_SIZE,
    ConnectionClosed,
    SessionFailed,
    SessionSettings,
    StartTLSUnavailable,
    run,
)
from sasl_kit.errors import UsageError
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols.base import ClientAuth, Result
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.protocols.sieve import (
    LOGOUT,
    PROFILE,
    STARTTLS,
    Capabilities,
    ResponseReader,
    ServerResponse,
    capabilities,
)


class SieveSession:
    """One ManageSieve connection, past STARTTLS when its settings ask for it."""

    profile = PROFILE

    def __init__(self, sock: socket.socket, settings: SessionSettings) -> None:
        self._sock = sock
        self._host = settings.host
        self.encrypted = False
        self.mechanisms_before_tls: tuple[str, ...] | None = None
        self.mechanisms: tuple[str, ...] = ()
        try:
            first = self._capabilities("greeting")
            if settings.tls == "none":
                self.mechanisms = first.mechanisms
                return
            if not first.starttls:
                raise StartTLSUnavailable(f"{self._host} does not offer STARTTLS")
            self._sock.sendall(STARTTLS)
            reply = self._read("STARTTLS").reply
            if reply.status != "OK":
                raise SessionFailed(f"{self._host} refused STARTTLS: {reply.written} {reply.text}")
            context = settings.context or ssl.create_default_context()
            self._sock = context.wrap_socket(self._sock, server_hostname=self._host)
            self.encrypted = True
            self.mechanisms_before_tls = first.mechanisms
            self.mechanisms = self._capabilities("capability list after STARTTLS").mechanisms
        except BaseException:
            self._sock.close()
            raise

    def _read(self, what: str) -> ServerResponse:
        reader = ResponseReader()
        response = None
        while response is None:
            data = self._sock.recv(RECV_SIZE)
            if not data:
                raise ConnectionClosed(f"{self._host} closed the connection during its {what}")
            response = reader.receive(data)
        if reader.leftover:
            raise ProtocolViolation(f"{self._host} sent more after its {what} than was asked for")
        return response

    def _capabilities(self, what: str) -> Capabilities:
        found = capabilities(self._read(what))
        if found.reply.status != "OK":
            reply = found.reply
            raise SessionFailed(f"{self._host} ended its {what} with {reply.written} {reply.text}")
        return found

    def channel_binding(self, type: str) -> ChannelBinding | None:
        if not isinstance(self._sock, ssl.SSLSocket):
            return None
        return channel_binding.from_connection(self._sock, type)

    def authenticate(self, auth: ClientAuth) -> Result:
        result = run(self._sock, auth)
        if auth.leftover:
            raise ProtocolViolation(f"{self._host} sent more after AUTHENTICATE's outcome")
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(LOGOUT)
        self._sock.close()


def open_session(settings: SessionSettings) -> SieveSession:
    """Connect, read the capabilities and, as ``settings.tls`` asks, do STARTTLS."""
    if settings.tls == "implicit":
        raise UsageError("ManageSieve has no implicit TLS (RFC 5804 2.2): use STARTTLS")
    sock = socket.create_connection((settings.host, settings.port), timeout=settings.timeout)
    return SieveSession(sock, settings)
