"""What every protocol profile has: the shape of one SASL exchange on a wire.

RFC 4422 section 4 asks each protocol that carries SASL for a *profile*: the
command that starts an exchange and how it carries an initial response, how
challenges and responses are framed, how the client cancels, whether the
outcome carries additional data with success, and what each outcome means.
One module of this package is one such profile (``smtp``, ``imap``, ``pop3``,
``ldap``, ``xmpp``, ``sieve``, ``postgresql``); this module is what they share.

Rules of this package:
- A profile is sans-I/O. Bytes from the peer go in, bytes to send come out; no
  sockets, no clocks, no logging. The drivers (``sasl_kit.drivers``, the SMTP
  client, ``sasl-kit serve``) move the bytes and nothing else: framing such as
  SMTP's ``334``, IMAP's ``+``, base64, BER or XML lives only here.
- A profile steps the mechanism object it is given and never looks at the
  mechanism's name except to put it on the wire. Which mechanism runs is the
  registry's decision, made above the profile.
- Every outcome is a value (``Result``) whose ``outcome`` names the guilty side;
  ``Result.raise_for_outcome`` turns a failure into the project's error of that
  side (``sasl_kit.protocols.errors``). A peer that breaks the framing is
  ``ProtocolViolation`` (a ``MalformedMessage``), raised at once by ``receive``.
- Input is bounded: a profile refuses a line or frame longer than its
  documented limit with ``ProtocolViolation`` instead of buffering it.
- A profile records the exchange as ``TranscriptLine`` values in its
  protocol's notation (``C:``/``S:`` and the text of the line as on the wire;
  binary protocols write a documented textual form). The same profile reads
  that notation back (``Profile.read_line``), which is what ``verify`` uses.
  A transcript holds secrets: show it only through ``redacted``.

Theory of operation, client side: a driver builds ``profile.client(name,
mechanism, ...)``, writes ``start()``, then feeds whatever it reads to
``receive(data)`` and writes what that returns, until ``result`` is set. When
the mechanism itself fails (a bad server proof, a malformed challenge) the
profile cancels the exchange in its protocol's way and the result carries the
mechanism's error (``Outcome.CANCELLED`` with ``error``), so the driver never
has to know how a protocol cancels. Server side: ``profile.server(...)`` takes
the client's bytes through ``receive`` the same way, steps a
``ServerMechanism`` and answers in the protocol's framing.
"""

from __future__ import annotations

import base64
import binascii
import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sasl_kit.errors import SASLError, UsageError
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.protocols.errors import (
    CredentialsRejected,
    MechanismRefused,
    ProtocolViolation,
    ServerRefused,
    TemporaryFailure,
    TLSRequired,
)

CLIENT, SERVER = "C", "S"
REDACTED = "<redacted>"


class Outcome(enum.Enum):
    """How an exchange ended, by who is at fault."""

    SUCCESS = "success"
    REJECTED = "rejected"  # the credentials: wrong password, unknown user
    REFUSED = "refused"  # the mechanism: not offered, not allowed here; try the next one
    TEMPORARY = "temporary"  # the server, for now: the same try may work later
    TLS_REQUIRED = "tls-required"  # the server wants TLS before this mechanism
    FAILED = "failed"  # the server refused otherwise (a permanent error of its own)
    CANCELLED = "cancelled"  # we cancelled: ``error`` is the mechanism's reason


_ERRORS: dict[Outcome, type[ServerRefused]] = {
    Outcome.REJECTED: CredentialsRejected,
    Outcome.REFUSED: MechanismRefused,
    Outcome.TEMPORARY: TemporaryFailure,
    Outcome.TLS_REQUIRED: TLSRequired,
    Outcome.FAILED: ServerRefused,
}


@dataclass(frozen=True)
class Result:
    """The end of one exchange.

    ``code`` is the protocol's outcome as written (``"235"``, ``"NO
    [AUTHENTICATIONFAILED]"``, ``"invalidCredentials (49)"``,
    ``"not-authorized"``), ``text`` the server's human-readable words.
    ``additional_data`` is what came with success (RFC 4422 3.6), already given
    to the mechanism. ``error`` is set for ``CANCELLED``.
    """

    outcome: Outcome
    mechanism: str
    code: str = ""
    text: str = ""
    additional_data: bytes | None = field(default=None, repr=False)
    error: SASLError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    def raise_for_outcome(self, server: str = "the server") -> None:
        """Nothing on success; else the project's error for the guilty side."""
        if self.outcome is Outcome.SUCCESS:
            return
        if self.outcome is Outcome.CANCELLED:
            assert self.error is not None
            raise self.error
        said = f" ({self.code} {self.text})".replace(" )", ")") if self.code or self.text else ""
        raise _ERRORS[self.outcome](
            f"{server} {_VERBS[self.outcome]} AUTHENTICATE {self.mechanism}{said}",
            code=self.code,
            text=self.text,
        )


_VERBS = {
    Outcome.REJECTED: "rejected the credentials of",
    Outcome.REFUSED: "refused the mechanism of",
    Outcome.TEMPORARY: "failed for now in",
    Outcome.TLS_REQUIRED: "requires TLS for",
    Outcome.FAILED: "refused",
}


@dataclass(frozen=True)
class TranscriptLine:
    """One line of an exchange in its protocol's notation: ``side`` ``C`` or ``S``.

    ``secret`` marks a line whose text carries a credential or a SASL payload;
    ``redacted`` shows it as ``shown`` (the line with payloads replaced).
    """

    side: str
    text: str = field(repr=False)
    secret: bool = False
    shown: str = ""

    @property
    def redacted(self) -> str:
        return f"{self.side}: {self.shown if self.secret else self.text}"

    def __str__(self) -> str:
        return f"{self.side}: {self.text}"


class Event:
    """What one transcript line means to an exchange (``Profile.read_line``)."""


@dataclass(frozen=True)
class Start(Event):
    """The client starts ``mechanism``; ``initial`` is the initial response's text
    as written (base64 for text protocols), ``None`` without one."""

    mechanism: str
    initial: str | None = None


@dataclass(frozen=True)
class Challenge(Event):
    text: str  # the payload as written (base64 for text protocols)


@dataclass(frozen=True)
class Response(Event):
    text: str


@dataclass(frozen=True)
class Cancel(Event):
    pass


@dataclass(frozen=True)
class End(Event):
    """The server's outcome; ``additional`` is success data as written, if any."""

    outcome: Outcome
    reply: str
    additional: str | None = None


@dataclass(frozen=True)
class Chatter(Event):
    """A line that belongs to the session but not to the exchange (untagged data)."""


class ClientAuth(ABC):
    """One exchange of one mechanism on one connection, client side.

    ``start`` gives the bytes that begin it; ``receive`` takes bytes from the
    server (any split) and gives the bytes to send now, ``b""`` when none.
    ``result`` is ``None`` until the server's outcome was read (or the
    exchange was cancelled and the server confirmed it). Bytes received after
    the outcome are kept in ``leftover`` for the driver (IMAP's next line,
    XMPP's restarted stream).
    """

    def __init__(self, name: str, mechanism: ClientMechanism) -> None:
        self.name = name
        self.mechanism = mechanism
        self.result: Result | None = None
        self.leftover = b""
        self.transcript: list[TranscriptLine] = []
        self._started = False

    def start(self) -> bytes:
        if self._started:
            raise UsageError(f"{type(self).__name__}.start() was called already")
        self._started = True
        return self._start()

    def receive(self, data: bytes) -> bytes:
        if not self._started:
            raise UsageError(f"{type(self).__name__}.receive() before start()")
        if self.result is not None:
            ended = self.result.outcome.value
            raise UsageError(f"{type(self).__name__}: the exchange has ended ({ended})")
        return self._receive(data)

    @abstractmethod
    def _start(self) -> bytes: ...

    @abstractmethod
    def _receive(self, data: bytes) -> bytes: ...

    def _record(self, side: str, text: str, *, shown: str | None = None) -> None:
        self.transcript.append(TranscriptLine(side, text, shown is not None, shown or ""))


class ServerAuth(ABC):
    """One exchange on one connection, server side: the client's bytes in, the
    server's bytes out; ``result`` once the outcome has been written."""

    def __init__(self, name: str, mechanism: ServerMechanism) -> None:
        self.name = name
        self.mechanism = mechanism
        self.result: Result | None = None
        self.leftover = b""
        self.transcript: list[TranscriptLine] = []

    @abstractmethod
    def receive(self, data: bytes) -> bytes: ...


class Profile(ABC):
    """One protocol's profile: its names, its capability list, its exchanges.

    ``service`` is the GSSAPI service name its mechanisms use in digest-uri and
    the like (RFC 4422 4: ``smtp``, ``imap``, ``pop``, ``ldap``, ``xmpp``,
    ``sieve``, ``postgres``).
    """

    name: str
    service: str

    @abstractmethod
    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        """The mechanism names the server listed, in its order, from the
        protocol's capability reply as received (EHLO reply, CAPABILITY, ...)."""

    @abstractmethod
    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> ClientAuth:
        """A client-side exchange for ``mechanism`` (registered as ``name``)."""

    @abstractmethod
    def read_line(self, side: str, text: str) -> Event | None:
        """What one transcript line in this protocol's notation means, or ``None``
        when it is not part of any exchange. Never raises but ``SASLError``."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes, what: str) -> bytes:
    """Strict base64; ``ProtocolViolation`` naming ``what`` otherwise."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolViolation(f"{what} is not base64") from None


def lines_of(transcript: Iterable[TranscriptLine], *, redact: bool = True) -> Sequence[str]:
    """A transcript as ``C:``/``S:`` text lines, payloads blanked unless ``redact=False``."""
    return [line.redacted if redact else str(line) for line in transcript]
