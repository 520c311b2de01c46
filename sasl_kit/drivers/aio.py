"""asyncio drivers for IMAP AUTHENTICATE and POP3 AUTH: the socket drivers' twins.

Rules of this module:
- It only moves bytes and awaits. What the session says (greeting,
  capability list, STARTTLS, the IMAP tag) is the protocol's ``LineDialogue``
  (``sasl_kit.drivers.imap``, ``pop3``), the exchange is the profile's
  ``ClientAuth``: the socket drivers run the very same objects, so both put
  the same bytes on the wire.
- TLS is ``asyncio``'s (``open_connection(ssl=...)`` for implicit TLS,
  ``StreamWriter.start_tls`` for STARTTLS), certificates verified by the
  settings' ``ssl.SSLContext`` (or the default one). Errors are those of the
  socket drivers: ``SessionFailed`` for the network, TLS and a server that
  will not start, ``ConnectionClosed``/``ProtocolViolation`` for a broken
  exchange. ``settings.timeout`` bounds each connect, handshake and read.
- ``run`` is the one asynchronous exchange loop, ``drivers.base.run``'s twin.
  ``login`` lets the registry choose (``login_plan.plan_login``), tries the next
  mechanism only when the server refused one, and raises the project's error
  of the guilty side (``Result.raise_for_outcome``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Collection
from types import TracebackType
from typing import TypeVar

from sasl_kit import channel_binding
from sasl_kit.drivers.base import (
    RECV_SIZE,
    ConnectionClosed,
    LineDialogue,
    ReadLine,
    Send,
    SessionFailed,
    SessionSettings,
    Steps,
    advance,
)
from sasl_kit.drivers.imap import IMAPDialogue
from sasl_kit.drivers.pop3 import POP3Dialogue
from sasl_kit.errors import UsageError
from sasl_kit.login_plan import plan_login
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols.base import ClientAuth, LineBuffer, Outcome, Profile, Result
from sasl_kit.registry import Registry, default_registry

T = TypeVar("T")

DIALOGUES: dict[str, type[LineDialogue]] = {"imap": IMAPDialogue, "pop3": POP3Dialogue}
"""Protocol name -> what its session says; the protocols this module drives."""


async def run(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    auth: ClientAuth,
    pending: bytes = b"",
    timeout: float | None = None,
) -> Result:
    """One whole exchange on the streams; the result (a failure is a value, not raised).

    ``pending`` is what the session had read already and not used: it is the
    exchange's first input. ``timeout`` bounds each read.
    """
    writer.write(auth.start())
    await writer.drain()
    data = pending
    while auth.result is None:
        if not data:
            data = await asyncio.wait_for(reader.read(RECV_SIZE), timeout)
            if not data:
                raise ConnectionClosed(f"the server closed the connection during {auth.name}")
        out = auth.receive(data)
        data = b""
        if out:
            writer.write(out)
            await writer.drain()
    return auth.result


class AsyncLineConnection:
    """One TCP connection of a CRLF line protocol on asyncio streams (``LineConnection``'s twin)."""

    def __init__(
        self, settings: SessionSettings, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.writer = writer
        self.transcript: list[str] = []
        self._lines = LineBuffer(RECV_SIZE, settings.host)

    @classmethod
    async def open(cls, settings: SessionSettings) -> AsyncLineConnection:
        """Connected, and past the TLS handshake when ``settings.tls`` is ``implicit``."""
        implicit = settings.tls == "implicit"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    settings.host,
                    settings.port,
                    ssl=_context(settings) if implicit else None,
                    server_hostname=settings.host if implicit else None,
                ),
                settings.timeout,
            )
        except ssl.SSLError as exc:
            raise SessionFailed(f"TLS handshake with {settings.host} failed: {exc}") from None
        except OSError as exc:  # TimeoutError too
            raise SessionFailed(
                f"cannot connect to {settings.host}:{settings.port}: {exc or 'timed out'}"
            ) from None
        return cls(settings, reader, writer)

    @property
    def encrypted(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    async def start_tls(self) -> None:
        try:
            await self.writer.start_tls(
                _context(self.settings),
                server_hostname=self.settings.host,
                ssl_handshake_timeout=self.settings.timeout,
            )
        except OSError as exc:
            await self.close()
            raise SessionFailed(
                f"TLS handshake with {self.settings.host} failed: {exc or 'timed out'}"
            ) from None
        self._lines.rest()  # nothing read before TLS survives it (RFC 3207 4.2 and the like)

    def channel_binding(self, type: str) -> ChannelBinding | None:
        """The TLS connection's binding of ``type``; ``None`` without TLS."""
        ssl_object = self.writer.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        return channel_binding.from_connection(ssl_object, type)

    async def send(self, line: str) -> None:
        self.transcript.append(f"C: {line}")
        self.writer.write(line.encode("utf-8") + b"\r\n")
        await self._network(self.writer.drain())

    async def read(self) -> str:
        """The next line from the server, without its ending."""
        while (line := self._lines.line()) is None:
            data = await self._network(self.reader.read(RECV_SIZE))
            if not data:
                raise ConnectionClosed(f"{self.settings.host} closed the connection")
            self._lines.add(data)
        text = line.decode("utf-8", errors="replace")
        self.transcript.append(f"S: {text}")
        return text

    async def follow(self, steps: Steps[None]) -> None:
        """Perform a dialogue's steps on this connection until it is done."""
        step = advance(steps, None)
        while step is not None:
            answer = ""
            if isinstance(step, Send):
                await self.send(step.line)
            elif isinstance(step, ReadLine):
                answer = await self.read()
            else:
                await self.start_tls()
            step = advance(steps, answer)

    async def authenticate(self, auth: ClientAuth) -> Result:
        """``run`` on this connection, the exchange's lines added to ``transcript``."""
        pending = self._lines.rest()
        try:  # run bounds each read by the timeout
            result = await run(self.reader, self.writer, auth, pending, self.settings.timeout)
        except OSError as exc:
            raise self._lost(exc) from None
        finally:
            self.transcript.extend(str(line) for line in auth.transcript)
        self._lines.add(auth.leftover)
        return result

    async def _network(self, step: Awaitable[T]) -> T:
        """``step`` within the settings' timeout; an error of the network is ``SessionFailed``."""
        try:
            return await asyncio.wait_for(step, self.settings.timeout)
        except OSError as exc:  # TimeoutError too
            raise self._lost(exc) from None

    def _lost(self, exc: OSError) -> SessionFailed:
        return SessionFailed(f"connection to {self.settings.host} lost: {exc or 'timed out'}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class AsyncSession:
    """One connection, opened and past TLS as its settings ask: the sync ``Session``'s
    attributes, with ``authenticate`` and ``close`` to await; ``async with`` closes it.
    ``transcript`` holds secrets: it is for ``verify``."""

    def __init__(self, connection: AsyncLineConnection, dialogue: LineDialogue) -> None:
        self._connection = connection
        self._dialogue = dialogue
        self.profile: Profile = dialogue.profile
        self.host = connection.settings.host

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return self._dialogue.mechanisms

    @property
    def mechanisms_before_tls(self) -> tuple[str, ...] | None:
        """What the server listed before STARTTLS; ``None`` without STARTTLS."""
        return self._dialogue.mechanisms_before_tls

    @property
    def encrypted(self) -> bool:
        return self._connection.encrypted

    @property
    def transcript(self) -> list[str]:
        return self._connection.transcript

    def channel_binding(self, type: str) -> ChannelBinding | None:
        return self._connection.channel_binding(type)

    async def authenticate(self, auth: ClientAuth) -> Result:
        self._dialogue.prepare(auth)
        return await self._connection.authenticate(auth)

    async def close(self) -> None:
        await self._connection.close()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def open_session(protocol: str, settings: SessionSettings) -> AsyncSession:
    """A connected session of ``protocol`` (``imap``, ``pop3``), past TLS as asked."""
    try:
        dialogue = DIALOGUES[protocol](settings.host, settings.tls)
    except KeyError:
        raise UsageError(
            f"no asyncio driver for protocol {protocol!r}; there are {', '.join(DIALOGUES)}"
        ) from None
    connection = await AsyncLineConnection.open(settings)
    session = AsyncSession(connection, dialogue)
    try:
        await connection.follow(dialogue.opening())
    except BaseException:
        await session.close()
        raise
    return session


async def login(
    session: AsyncSession,
    username: str,
    password: str = "",
    *,
    mechanisms: Collection[str] | None = None,
    allow_plaintext: bool = False,
    binding_type: str | None = None,
    registry: Registry = default_registry,
    **options: object,
) -> str:
    """Authenticate with the strongest usable mechanism the server lists; its name.

    ``mechanisms`` limits the choice; ``allow_plaintext`` lets PLAIN and LOGIN
    go without TLS; ``binding_type`` (``tls-server-end-point``, ``tls-unique``)
    gives SCRAM-*-PLUS this connection's binding; ``options`` are further
    ``ClientOptions`` fields (``authzid``, ``token``). Nothing usable is
    ``PolicyRefused``; a failure is the error of its guilty side
    (``CredentialsRejected`` for a wrong password).
    """
    plan = plan_login(
        registry,
        session.mechanisms,
        encrypted=session.encrypted,
        username=username,
        password=password,
        service=session.profile.service,
        host=session.host,
        options=options,
        binding=None if binding_type is None else session.channel_binding(binding_type),
        allow_plaintext=allow_plaintext,
        allow=mechanisms,
    )
    # The plan is PolicyRefused, with every reason, when nothing is usable.
    for name, mechanism in plan:
        result = await session.authenticate(session.profile.client(name, mechanism))
        if result.outcome is not Outcome.REFUSED:  # a refused mechanism lets the next one try
            break
    result.raise_for_outcome(session.host)
    return name


def _context(settings: SessionSettings) -> ssl.SSLContext:
    return settings.context or ssl.create_default_context()
