"""What both SMTP clients share: their arguments, the session they drive, what it knows.

Rules of this module: no I/O. ``SessionDriver`` holds the sans-I/O
``ClientSession`` and shows its state; a subclass adds a connection and
performs the session's steps on it (``SMTPClient`` on a socket,
``AsyncSMTPClient`` on asyncio streams). ``TLSObject`` is what the
subclass's TLS hands a channel binding hook: ``ssl.SSLSocket`` or
``ssl.SSLObject``.
"""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.registry import Registry, default_registry
from sasl_kit.smtp.protocol import Extensions
from sasl_kit.smtp.session import ClientSession, TLSMode, Transcript

TLSObject = TypeVar("TLSObject", ssl.SSLSocket, ssl.SSLObject)


class SessionDriver(ABC, Generic[TLSObject]):
    """One SMTP session's arguments and state, for a driver to perform.

    ``channel_binding`` is called with the TLS connection at ``login`` and its
    result reaches the mechanisms as ``ClientOptions.channel_binding``
    (SCRAM-*-PLUS); ``sasl_kit.channel_binding`` builds one.
    ``transcript_secrets=True`` shows AUTH payloads unredacted to the
    ``transcript`` callback, never to the logger (``sasl_kit.probe`` records
    exchanges for diagnosis). ``context`` is the TLS context to use instead of
    one made from ``cafile`` and ``insecure_tls`` (``sasl_kit.drivers.smtp``).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: TLSMode = "starttls",
        timeout: float = 60.0,
        cafile: str | None = None,
        insecure_tls: bool = False,
        local_hostname: str | None = None,
        transcript: Transcript | None = None,
        registry: Registry = default_registry,
        channel_binding: Callable[[TLSObject], ChannelBinding] | None = None,
        transcript_secrets: bool = False,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self._session = ClientSession(
            host,
            port,
            tls=tls,
            timeout=timeout,
            cafile=cafile,
            insecure_tls=insecure_tls,
            local_hostname=local_hostname,
            transcript=transcript,
            registry=registry,
            transcript_secrets=transcript_secrets,
            context=context,
        )
        self._binding_hook: Callable[[TLSObject], ChannelBinding] | None = channel_binding

    @abstractmethod
    def _tls_object(self) -> TLSObject | None:
        """The connection's TLS object; ``None`` without TLS or without a connection."""

    @property
    def host(self) -> str:
        return self._session.host

    @property
    def port(self) -> int:
        return self._session.port

    @property
    def tls(self) -> TLSMode:
        return self._session.tls

    @property
    def timeout(self) -> float:
        return self._session.timeout

    @property
    def authenticated_as(self) -> str | None:
        return self._session.authenticated_as

    @property
    def extensions(self) -> Extensions:
        """What the last EHLO offered (after TLS, the EHLO sent over TLS)."""
        return self._session.extensions

    @property
    def extensions_before_tls(self) -> Extensions | None:
        """What the EHLO before STARTTLS offered; ``None`` when there was no STARTTLS."""
        return self._session.extensions_before_tls

    @property
    def encrypted(self) -> bool:
        return self._session.encrypted

    def channel_binding(self, type: str) -> ChannelBinding | None:
        """This connection's channel binding of ``type``; ``None`` without TLS."""
        tls = self._tls_object()
        if tls is None:
            return None
        from sasl_kit.channel_binding import from_connection  # cryptography: only when asked

        return from_connection(tls, type)

    def _binding(self) -> ChannelBinding | None:
        """What the hook makes of this connection, for ``ClientSession.login``."""
        tls = self._tls_object()
        if self._binding_hook is None or tls is None:
            return None
        return self._binding_hook(tls)
