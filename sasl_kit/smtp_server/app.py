"""Run the server: one asyncio loop in a thread, listening on ``host:port``.

Rules of this module:
- ``MailServer`` is the whole life cycle: ``start()`` makes the certificate
  (self-signed unless one is given), opens the maildir, binds (port 0 picks a
  free one) and returns once the server accepts connections; ``stop()`` closes
  it and removes what ``start`` made. The caller's thread never blocks on I/O.
- aiosmtpd builds one ``SASLSMTP`` per connection; all share the handler, the
  fault injector, the store and the count of open connections.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sasl_kit.certificates import self_signed
from sasl_kit.channel_binding import tls_server_end_point
from sasl_kit.errors import UsageError
from sasl_kit.smtp_server.config import ServerConfig
from sasl_kit.smtp_server.faults import FaultInjector
from sasl_kit.smtp_server.session import SASLSMTP, Connections
from sasl_kit.smtp_server.smtp import Handler
from sasl_kit.smtp_server.store import MailStore, ReceivedMessage

START_TIMEOUT = 10.0


class MailServer:
    """The server of ``sasl-kit serve``; a context manager around ``start``/``stop``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = MailStore(config.maildir)
        self.port = config.port
        self.cafile: Path | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def host(self) -> str:
        return self.config.host

    def messages(self) -> list[ReceivedMessage]:
        """Every message received so far, in order, with its envelope."""
        return self.store.messages()

    def start(self) -> MailServer:
        context, certificate = self._tls()
        handler = Handler(self.config, self.store, tls_server_end_point(certificate))
        injector = FaultInjector(self.config.faults)
        connections = Connections(self.config.max_connections)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="sasl-kit-serve", daemon=True)
        self._thread.start()

        def connection() -> SASLSMTP:
            return SASLSMTP(
                handler,
                injector,
                connections,
                self.store,
                hostname=self.config.server_name,
                ident="sasl-kit ESMTP",
                tls_context=None if self.config.implicit_tls else context,
                auth_require_tls=False,  # enforced by the handler, implicit TLS included
                enable_SMTPUTF8=True,
                timeout=self.config.idle_timeout,
                loop=loop,
            )

        try:
            self._server = self._run(
                loop.create_server(
                    connection,
                    self.config.host,
                    self.config.port,
                    ssl=context if self.config.implicit_tls else None,
                )
            )
        except OSError as exc:
            self.stop()
            where = f"{self.config.host}:{self.config.port}"
            raise UsageError(f"cannot listen on {where}: {exc.strerror}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            if self._server is not None:
                self._run(_shut_down(self._server))
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT)
            self._loop.close()
        self._loop = self._thread = self._server = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(START_TIMEOUT)

    def _tls(self) -> tuple[ssl.SSLContext, bytes]:
        """The server's TLS context and its certificate (DER, for channel binding)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert, key = self.config.tls_cert, self.config.tls_key
        if cert is None or key is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="sasl-kit-serve-")
            names = dict.fromkeys((self.config.server_name, "localhost", "127.0.0.1"))
            cert, key = self_signed(tuple(names)).write(Path(self._scratch.name))
        try:
            context.load_cert_chain(cert, key)
            pem = cert.read_bytes()
            der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load the TLS certificate {str(cert)!r}: {exc}") from None
        self.cafile = cert
        return context, der


async def _shut_down(server: asyncio.Server) -> None:
    """Close the listener, then end the sessions still open (each is a task of the loop).

    Runs in the loop's thread: ``asyncio.Server`` is not thread-safe.
    """
    server.close()
    await server.wait_closed()
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
