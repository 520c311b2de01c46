"""The LDAP socket driver: connect, StartTLS or implicit TLS, the root DSE, SASL binds.

Rules of this module (with those of the package): it moves the bytes of the
LDAP profile's operations (``sasl_kit.protocols.ldap``: ``RootDSE``,
``StartTLS``, ``LDAPClientAuth``) and holds the connection's one messageID
counter (RFC 4511 4.1.1.1: a new ID for each request). ``ldap://`` runs
StartTLS (RFC 4511 4.14) when ``settings.tls`` is ``starttls``; ``ldaps://``
is TLS from the first byte (``implicit``); a server that refuses StartTLS
is ``StartTLSUnavailable``. The caller's ``ssl.SSLContext``
verifies the certificate (a default context when it gives none). The root
DSE is read before TLS and again after it (RFC 4513 3.1.5: what the server
offers may change with TLS; only the list read under TLS counts).
``transcript`` keeps every line of the session in the profile's notation.
"""

from __future__ import annotations

import socket
import ssl
import time

from sasl_kit import channel_binding as binding
from sasl_kit.drivers.base import (
    RECV_SIZE,
    ConnectionClosed,
    SessionSettings,
    StartTLSUnavailable,
    run,
)
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols.base import ClientAuth, Result, TranscriptLine
from sasl_kit.protocols.errors import ProtocolViolation, ServerRefused
from sasl_kit.protocols.ldap import PROFILE, LDAPClientAuth, RootDSE, StartTLS, unbind

STARTTLS_RETRIES = 5
OPERATIONS_ERROR = "operationsError (1)"
"""slapd refuses StartTLS with this while it still counts the root DSE search as
outstanding, its searchResDone already sent (a race its load decides: "cannot start
TLS when operations are outstanding"); StartTLS is then asked again, a little later."""


class LDAPSession:
    """One LDAP connection, past TLS as its settings ask (``open_session``)."""

    profile = PROFILE

    def __init__(self, sock: socket.socket, settings: SessionSettings) -> None:
        self._sock = sock
        self._settings = settings
        self._next_id = 1
        self.encrypted = isinstance(sock, ssl.SSLSocket)
        self.mechanisms_before_tls: tuple[str, ...] | None = None
        self.mechanisms: tuple[str, ...] = ()
        self.transcript: list[TranscriptLine] = []

    def _operation(self, operation: RootDSE | StartTLS) -> None:
        self._next_id += 1
        self._sock.sendall(operation.start())
        try:
            while not operation.done:
                data = self._sock.recv(RECV_SIZE)
                if not data:
                    what = type(operation).__name__
                    raise ConnectionClosed(f"the server closed the connection during {what}")
                operation.receive(data)
        finally:
            self.transcript += operation.transcript
        if operation.leftover:  # a reply to nothing asked (before TLS: an injection)
            raise ProtocolViolation(
                f"the server sent more than its {type(operation).__name__} reply"
            )

    def read_mechanisms(self) -> tuple[str, ...]:
        search = RootDSE(self._next_id)
        self._operation(search)
        self.mechanisms = search.mechanisms
        return search.mechanisms

    def start_tls(self, context: ssl.SSLContext) -> None:
        for retry in range(STARTTLS_RETRIES + 1):
            try:
                self._operation(StartTLS(self._next_id))
                break
            except ServerRefused as exc:  # slapd without a certificate: protocolError (2)
                if exc.code != OPERATIONS_ERROR or retry == STARTTLS_RETRIES:
                    raise StartTLSUnavailable(f"{self._settings.host}: {exc}") from None
                time.sleep(0.02 * (retry + 1))
        self._sock = context.wrap_socket(self._sock, server_hostname=self._settings.host)
        self.encrypted = True

    def channel_binding(self, type: str) -> ChannelBinding | None:
        if not isinstance(self._sock, ssl.SSLSocket):
            return None
        return binding.from_connection(self._sock, type)

    def authenticate(self, auth: ClientAuth) -> Result:
        """One SASL bind on this connection; the result (a failure is a value)."""
        if isinstance(auth, LDAPClientAuth):
            auth.message_id = self._next_id
        try:
            return run(self._sock, auth)
        finally:
            self.transcript += auth.transcript
            if isinstance(auth, LDAPClientAuth):
                self._next_id = auth.message_id

    def close(self) -> None:
        """RFC 4511 4.3: unbind, then close; a connection already gone is no error."""
        try:
            self._sock.sendall(unbind(self._next_id))
        except OSError:
            pass
        finally:
            self._sock.close()


def open_session(settings: SessionSettings) -> LDAPSession:
    """A connected LDAP session with its mechanism list, past TLS as ``settings.tls`` asks."""
    context = settings.context or ssl.create_default_context()
    sock = socket.create_connection((settings.host, settings.port), timeout=settings.timeout)
    try:
        if settings.tls == "implicit":
            sock = context.wrap_socket(sock, server_hostname=settings.host)
        session = LDAPSession(sock, settings)
    except BaseException:
        sock.close()
        raise
    try:
        if settings.tls == "starttls":
            session.mechanisms_before_tls = session.read_mechanisms()
            session.start_tls(context)
        session.read_mechanisms()
    except BaseException:
        session.close()
        raise
    return session
