"""What every socket driver shares: its settings, its session shape, the exchange loop.

Rules of this module: see the package. ``run`` is the only socket exchange
loop (``aio.run`` is its asyncio twin): it writes what the profile gives,
reads what the server sends, and stops when the profile has a result.
Bytes read after the outcome stay in ``auth.leftover`` for the session.
``LineConnection`` is the socket of the line protocols' drivers (IMAP,
POP3): connect, TLS, bounded lines for their session commands (CAPABILITY,
STLS), each recorded as ``C:``/``S:``.

What a line session says around AUTH (greeting, capabilities, STARTTLS, the
IMAP tag) is a ``LineDialogue``: sans-I/O, it yields ``Send``, ``ReadLine``
and ``StartTLS`` steps and is told each line read. ``LineConnection.follow``
performs those steps on a socket, ``sasl_kit.drivers.aio`` on asyncio
streams: both drivers run the one dialogue and only move bytes.
"""

from __future__ import annotations

import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias, TypeVar

from sasl_kit import channel_binding
from sasl_kit.errors import SASLError
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols import TLSMode
from sasl_kit.protocols.base import ClientAuth, LineBuffer, Profile, Result
from sasl_kit.protocols.errors import ProtocolViolation

RECV_SIZE = 65536
T = TypeVar("T")


class ConnectionClosed(ProtocolViolation):
    """The server closed the connection in the middle of an exchange."""


class SessionFailed(SASLError):
    """No session: the server cannot be reached, TLS failed, or it would not start."""


class StartTLSUnavailable(SessionFailed):
    """``tls="starttls"`` and the server does not offer it (``tls="none"`` goes without)."""


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


def run(sock: socket.socket, auth: ClientAuth, pending: bytes = b"") -> Result:
    """One whole exchange on ``sock``; the result (a failure is a value, not raised).

    ``pending`` is what the session had read already and not used: it is the
    exchange's first input, before anything more is read.
    """
    sock.sendall(auth.start())
    data = pending
    while auth.result is None:
        if not data:
            data = sock.recv(RECV_SIZE)
            if not data:
                raise ConnectionClosed(f"the server closed the connection during {auth.name}")
        out = auth.receive(data)
        data = b""
        if out:
            sock.sendall(out)
    return auth.result


@dataclass(frozen=True)
class Send:
    """Write ``line`` to the server (the driver adds CRLF)."""

    line: str


@dataclass(frozen=True)
class ReadLine:
    """Read the server's next line; the dialogue is sent it without its ending."""


@dataclass(frozen=True)
class StartTLS:
    """Do the TLS handshake now, certificates verified by the settings' context."""


Step: TypeAlias = Send | ReadLine | StartTLS
Steps: TypeAlias = Generator[Step, str, T]
"""A dialogue's steps: each is sent back the line read (``""`` after ``Send``/``StartTLS``)."""


def advance(steps: Steps[None], answer: str | None) -> Step | None:
    """The next step after ``answer`` (``None`` to begin); ``None`` when the dialogue is done."""
    try:
        return next(steps) if answer is None else steps.send(answer)
    except StopIteration:
        return None


class LineDialogue(ABC):
    """What a line session says before and around its exchanges, sans-I/O.

    ``opening`` is the greeting, the capability list and STARTTLS as ``Steps``;
    when it is done, ``mechanisms`` (and ``mechanisms_before_tls`` after
    STARTTLS) are what the server listed. ``prepare`` gives an exchange what the
    session knows before it starts. Errors: ``SessionFailed`` and its kinds.
    """

    profile: Profile

    def __init__(self, host: str, tls: TLSMode) -> None:
        self.host = host
        self.tls = tls
        self.mechanisms: tuple[str, ...] = ()
        self.mechanisms_before_tls: tuple[str, ...] | None = None

    @abstractmethod
    def opening(self) -> Steps[None]: ...

    def prepare(self, auth: ClientAuth) -> None:
        """Nothing by default; IMAP numbers the command and says whether SASL-IR is on."""
        return None


class LineConnection:
    """One TCP connection of a CRLF line protocol, TLS as ``settings.tls`` asks.

    Every line sent and read is in ``transcript`` (``C:``/``S:``). Errors of the
    network are ``SessionFailed``; a line over ``limit`` is ``ProtocolViolation``.
    """

    def __init__(self, settings: SessionSettings, limit: int = RECV_SIZE) -> None:
        self.settings = settings
        self.transcript: list[str] = []
        self._lines = LineBuffer(limit, settings.host)
        try:
            self.sock = socket.create_connection(
                (settings.host, settings.port), timeout=settings.timeout
            )
        except OSError as exc:
            raise SessionFailed(
                f"cannot connect to {settings.host}:{settings.port}: {exc}"
            ) from None
        if settings.tls == "implicit":
            self.start_tls()

    @property
    def encrypted(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    def start_tls(self) -> None:
        """The TLS handshake, certificates verified by the settings' context (or the default)."""
        context = self.settings.context or ssl.create_default_context()
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=self.settings.host)
        except OSError as exc:
            self.close()
            raise SessionFailed(f"TLS handshake with {self.settings.host} failed: {exc}") from None
        self._lines.rest()  # nothing read before TLS survives it (RFC 3207 4.2 and the like)

    def channel_binding(self, type: str) -> ChannelBinding | None:
        """The TLS connection's binding of ``type``; ``None`` without TLS."""
        if not isinstance(self.sock, ssl.SSLSocket):
            return None
        return channel_binding.from_connection(self.sock, type)

    def send(self, line: str) -> None:
        self.transcript.append(f"C: {line}")
        self._send(line.encode("utf-8") + b"\r\n")

    def read(self) -> str:
        """The next line from the server, without its ending."""
        while (line := self._lines.line()) is None:
            self._lines.add(self._recv())
        text = line.decode("utf-8", errors="replace")
        self.transcript.append(f"S: {text}")
        return text

    def follow(self, steps: Steps[None]) -> None:
        """Perform a dialogue's steps on this connection until it is done."""
        step = advance(steps, None)
        while step is not None:
            answer = ""
            if isinstance(step, Send):
                self.send(step.line)
            elif isinstance(step, ReadLine):
                answer = self.read()
            else:
                self.start_tls()
            step = advance(steps, answer)

    def authenticate(self, auth: ClientAuth) -> Result:
        """``run`` on this connection, the exchange's lines added to ``transcript``."""
        try:
            result = run(self.sock, auth, self._lines.rest())
        except OSError as exc:
            raise SessionFailed(f"connection to {self.settings.host} lost: {exc}") from None
        finally:
            self.transcript.extend(str(line) for line in auth.transcript)
        self._lines.add(auth.leftover)
        return result

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise SessionFailed(f"connection to {self.settings.host} lost: {exc}") from None

    def _recv(self) -> bytes:
        try:
            data = self.sock.recv(RECV_SIZE)
        except OSError as exc:
            raise SessionFailed(f"connection to {self.settings.host} lost: {exc}") from None
        if not data:
            raise ConnectionClosed(f"{self.settings.host} closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


class LineSession:
    """What the line protocols' sessions share (IMAP, POP3): one ``LineConnection``
    that follows the subclass's ``dialogue`` (greeting, capabilities, TLS), and the
    ``Session`` verbs over it. ``transcript`` holds secrets: it is for ``verify``."""

    profile: Profile
    dialogue: type[LineDialogue]

    def __init__(self, settings: SessionSettings) -> None:
        self._connection = LineConnection(settings)
        self._dialogue = self.dialogue(settings.host, settings.tls)
        try:
            self._connection.follow(self._dialogue.opening())
        except BaseException:
            self.close()
            raise
        self.mechanisms = self._dialogue.mechanisms
        self.mechanisms_before_tls = self._dialogue.mechanisms_before_tls

    @property
    def encrypted(self) -> bool:
        return self._connection.encrypted

    @property
    def transcript(self) -> list[str]:
        return self._connection.transcript

    def channel_binding(self, type: str) -> ChannelBinding | None:
        return self._connection.channel_binding(type)

    def authenticate(self, auth: ClientAuth) -> Result:
        self._dialogue.prepare(auth)
        return self._connection.authenticate(auth)

    def close(self) -> None:
        self._connection.close()
