"""XMPP socket driver: the stream, STARTTLS, the mechanism list, exchanges (RFC 6120 4-6).

Rules of this module (and the package's):
- The XMPP domain (the stream's ``to``, and the name the certificate must
  carry, RFC 6120 13.7.2.1) is ``settings.options["domain"]``, by default the
  host connected to.
- TLS is verified by the caller's context (``settings.context``, else
  ``ssl.create_default_context()``). A STARTTLS session whose server offers no
  ``<starttls/>`` raises ``StartTLSUnavailable`` before anything is
  authenticated; errors of the network are ``SessionFailed``.
- Every XML byte goes through the profile (``sasl_kit.protocols.xmpp``): this
  module moves bytes and reads elements only through the profile's functions.
- After ``<success/>`` the stream is restarted (RFC 6120 6.4.6) and its new
  features read (``features_after_auth``); after a failure the stream stays,
  ready for another try (6.4.5); after a success our side cannot accept
  (``CANCELLED``), the session is closed.

Theory of operation: ``open_session`` connects, opens the stream, reads the
features; with ``starttls`` it sends ``<starttls/>``, waits for
``<proceed/>``, wraps the socket, opens the stream again and reads the
mechanisms from the new features. ``authenticate`` hands the exchange the
stream past the features and runs it with ``run``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import xml.etree.ElementTree as ET

from sasl_kit import channel_binding
from sasl_kit.drivers.base import (
    ConnectionClosed,
    SessionFailed,
    SessionSettings,
    StartTLSUnavailable,
    run,
)
from sasl_kit.errors import PolicyRefused, UsageError
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols.base import ClientAuth, Outcome, Result
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.protocols.xmpp import (
    CLOSE_STREAM,
    PROFILE,
    STARTTLS,
    Features,
    XMLStream,
    XMPPClientAuth,
    features,
    open_stream,
    proceeded,
)

PORT = 5222  # RFC 6120 14.7


class XMPPSession:
    """One client-to-server stream, past TLS as its settings ask."""

    profile = PROFILE

    def __init__(self, settings: SessionSettings) -> None:
        self.domain = settings.options.get("domain", settings.host)
        self.encrypted = False
        self.mechanisms_before_tls: tuple[str, ...] | None = None
        self.features_after_auth: Features | None = None
        self._settings = settings
        self._stream = XMLStream()
        host = f"{settings.host}:{settings.port}"
        try:
            self._sock: socket.socket = socket.create_connection(
                (settings.host, settings.port), timeout=settings.timeout
            )
        except OSError as exc:
            raise SessionFailed(f"cannot connect to {host}: {exc}") from None
        try:
            self.mechanisms = self._negotiate(settings)
        except OSError as exc:
            self._sock.close()
            raise SessionFailed(f"the XML stream with {host} failed: {exc}") from None
        except BaseException:
            self._sock.close()
            raise

    def _negotiate(self, settings: SessionSettings) -> tuple[str, ...]:
        """Streams and TLS up to the features that list the mechanisms to use."""
        if settings.tls == "implicit":
            self._wrap()
        offered = self._open()
        if settings.tls == "starttls":
            if not offered.starttls:
                raise StartTLSUnavailable(f"{settings.host} does not offer STARTTLS")
            self.mechanisms_before_tls = offered.mechanisms
            self._sock.sendall(STARTTLS)
            proceeded(self._element())
            if self._stream.pending:  # they would pass for bytes that came through TLS
                raise ProtocolViolation(f"{settings.host} sent more after <proceed/>")
            self._wrap()
            offered = self._open()
        return offered.mechanisms

    def _wrap(self) -> None:
        context = self._settings.context or ssl.create_default_context()
        self._sock = context.wrap_socket(self._sock, server_hostname=self.domain)
        self.encrypted = True

    def _open(self, leftover: bytes = b"") -> Features:
        """A new stream (RFC 6120 4.2, 4.3.3): our header, then the server's features."""
        self._stream = XMLStream()
        self._stream.feed(leftover)
        self._sock.sendall(open_stream(self.domain))
        return features(self._element())

    def _element(self) -> ET.Element:
        while (element := self._stream.next()) is None:
            if self._stream.closed:
                raise ConnectionClosed(f"{self._settings.host} closed the XML stream")
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionClosed(f"{self._settings.host} closed the connection")
            self._stream.feed(data)
        return element

    def channel_binding(self, type: str) -> ChannelBinding | None:
        """This connection's binding of ``type``; ``None`` without TLS, or for
        tls-unique on TLS 1.3 (undefined there; Prosody then offers no -PLUS)."""
        if not isinstance(self._sock, ssl.SSLSocket):
            return None
        try:
            return channel_binding.from_connection(self._sock, type)
        except PolicyRefused:
            return None

    def authenticate(self, auth: ClientAuth) -> Result:
        if not isinstance(auth, XMPPClientAuth):
            raise UsageError(f"an XMPP session runs XMPP exchanges, not {type(auth).__name__}")
        auth.continue_stream(self._stream.continuation())
        try:
            result = run(self._sock, auth)
            if result.outcome is Outcome.SUCCESS:
                self.features_after_auth = self._open(auth.leftover)
        except OSError as exc:
            raise SessionFailed(f"connection to {self._settings.host} lost: {exc}") from None
        if result.outcome is Outcome.CANCELLED and result.code == "success":
            self.close()
        elif result.outcome is not Outcome.SUCCESS:
            self._stream = auth.stream
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(CLOSE_STREAM)
        self._sock.close()


def open_session(settings: SessionSettings) -> XMPPSession:
    return XMPPSession(settings)
