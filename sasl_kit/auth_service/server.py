"""``sasl-kit auth-server``: the authentication service on a socket (docs/auth-server.md).

Rules of this module:
- It moves bytes between sockets and ``protocol.Connection`` and does nothing
  the protocol module could do: it listens (a Unix socket or TCP), delays the
  FAIL of a failed authentication by ``failure_delay`` without holding up the
  connection's other requests, closes a connection whose client broke the
  protocol, and logs. An unexpected error in one connection closes that
  connection only (the MTA then answers its client with a temporary failure).
- Mechanisms come from the registry: every server mechanism that checks a
  password (the users file holds passwords or SCRAM keys) and needs no TLS
  channel binding, which the protocol cannot carry; ``mechanisms`` narrows it.

Theory of operation: ``AuthService.start`` runs an asyncio loop in a thread
(as ``sasl_kit.smtp_server.MailServer`` does), so the CLI and the tests drive
it the same way; ``serve_forever`` is the CLI's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sasl_kit.auth_service.protocol import Connection, Output, Request
from sasl_kit.errors import UsageError
from sasl_kit.mechanisms.base import NonceCounts, ServerMechanism
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.registry import MechanismInfo, Registry, default_registry
from sasl_kit.smtp_server.users import Users

logger = logging.getLogger("sasl_kit.auth_service")
READ_SIZE = 65536


@dataclass(frozen=True)
class Listen:
    """Where to listen: ``unix:PATH`` or ``HOST:PORT`` (port 0: any free one)."""

    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def parse(cls, text: str) -> Listen:
        if text.startswith("unix:"):
            if not text[5:]:
                raise UsageError("--listen unix: needs a path (unix:/run/sasl-kit/auth)")
            return cls(path=Path(text[5:]))
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise UsageError(f"--listen takes unix:PATH or HOST:PORT, not {text!r}")
        return cls(host=host.strip("[]"), port=int(port))


@dataclass(frozen=True)
class ServiceConfig:
    """``hostname`` names the server to mechanisms that bind to one (DIGEST-MD5's
    digest-uri host and realm); ``failure_delay`` is Dovecot's ``auth_failure_delay``."""

    users: Users = field(repr=False)
    listen: Listen = field(default_factory=Listen)
    hostname: str = "localhost"
    failure_delay: float = 2.0
    mechanisms: Collection[str] | None = None
    allow_plaintext: bool = False
    registry: Registry = field(default=default_registry, repr=False)

    def offered(self) -> tuple[MechanismInfo, ...]:
        wanted = None if self.mechanisms is None else {m.upper() for m in self.mechanisms}
        rows = tuple(
            info
            for info in self.registry
            if info.server is not None
            and info.credential == "password"
            and not info.channel_binding
            and (wanted is None or info.name in wanted)
        )
        if wanted is not None and len(rows) != len(wanted):
            unknown = wanted - {info.name for info in rows}
            raise UsageError(
                f"cannot offer {', '.join(sorted(unknown))} here (docs/auth-server.md)"
            )
        return rows


class AuthService:
    """The service: ``start()`` listens in a thread, ``stop()`` closes every connection."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._offered = config.offered()
        self._nonce_counts = NonceCounts()
        self._cuid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.address: str = ""

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> AuthService:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="auth-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
        self._loop = None

    def __enter__(self) -> AuthService:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> None:
        listen = self.config.listen
        if listen.path is not None:
            with contextlib.suppress(FileNotFoundError):
                if listen.path.is_socket():
                    listen.path.unlink()  # a stale socket of an earlier run
            self._server = await asyncio.start_unix_server(self._session, path=listen.path)
            self.address = f"unix:{listen.path}"
        else:
            self._server = await asyncio.start_server(self._session, listen.host, listen.port)
            host, port = self._server.sockets[0].getsockname()[:2]
            self.address = f"{host}:{port}"
        logger.info(
            "listening on %s, offering %s",
            self.address,
            " ".join(info.name for info in self._offered),
        )

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    # --- one connection --------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._cuid += 1
        peer = f"connection {self._cuid}"
        connection = Connection(
            self._offered,
            self._mechanism,
            spid=os.getpid(),
            cuid=self._cuid,
            cookie=secrets.token_hex(16),
            allow_plaintext=self.config.allow_plaintext,
            log=lambda message: logger.info("%s: %s", peer, message),
        )
        self._writers.add(writer)
        delayed: set[asyncio.Task[None]] = set()
        try:
            writer.write(connection.greeting())
            while data := await reader.read(READ_SIZE):
                for output in connection.receive(data):
                    if output.delay and self.config.failure_delay > 0:
                        task = asyncio.create_task(self._later(writer, output))
                        delayed.add(task)
                        task.add_done_callback(delayed.discard)
                    else:
                        writer.write(output.line)
                await writer.drain()
        except ProtocolViolation as exc:
            logger.warning("%s: closed: the client broke the protocol: %s", peer, exc)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # one connection's bug must not stop the service
            logger.exception("%s: closed after an internal error", peer)
        finally:
            for task in delayed:
                task.cancel()
            self._writers.discard(writer)
            writer.close()

    async def _later(self, writer: asyncio.StreamWriter, output: Output) -> None:
        await asyncio.sleep(self.config.failure_delay)
        if not writer.is_closing():
            writer.write(output.line)

    def _mechanism(self, request: Request) -> ServerMechanism:
        name = self.config.hostname
        return self.config.registry.server(
            request.mechanism,
            self.config.users,
            service=request.service,
            host=name,
            realms=(name,),
            nonce_counts=self._nonce_counts,
        )
