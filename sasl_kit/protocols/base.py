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
has to know how a protocol cancels. A server that reports success before the
mechanism could verify it (SCRAM's server signature, DIGEST-MD5's rspauth) is
``CANCELLED`` with ``MutualAuthenticationFailed`` as well: the mechanism, not
the server's word, decides. ``_mechanism_initial``, ``_mechanism_answer`` and
``_conclude`` are those rules, shared by every profile's ``ClientAuth``.

Server side: ``profile.server(name, mechanism)`` takes the client's bytes
through ``receive`` the same way, the command that starts the exchange first
(a server driver finds that command with ``read_line``, which names the
mechanism to create), steps a ``ServerMechanism`` and answers in the
protocol's framing.

Transcript reading: ``read_line`` is stateless and answers ``None`` for a line
that does not have its protocol's shape, so that ``verify`` can ask every
profile of ``PROFILES`` about a line and keep those that understand it.
"""

from __future__ import annotations

import base64
import binascii
import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sasl_kit.errors import MutualAuthenticationFailed, SASLError, UsageError
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
    CANCELLED = "cancelled"  # our side ended it: ``error`` is the mechanism's reason


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
    to the mechanism. ``error`` is set for ``CANCELLED``, and on the server side
    for a failure the mechanism raised (its reason, for the server's log).
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
    tag: str | None = None  # the command's tag where the protocol has one (IMAP)


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
    tag: str | None = None  # the tag it answers (IMAP): another command's outcome is chatter


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
        self._error: SASLError | None = None

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

    def _mechanism_initial(self) -> bytes | None:
        """A client-first mechanism's initial response, ``None`` for a server-first
        one. A mechanism that cannot start ends the exchange before anything is
        sent (``CANCELLED``); then ``None`` as well."""
        if not self.mechanism.client_first:
            return None
        try:
            return self.mechanism.step(b"") or b""
        except SASLError as exc:
            self.result = Result(Outcome.CANCELLED, self.name, error=exc)
            return None

    def _mechanism_answer(self, challenge: bytes) -> bytes | None:
        """The mechanism's answer to a challenge; ``None`` when it failed or the
        challenge came after the mechanism was done: the profile then cancels and
        ``_conclude`` reports ``CANCELLED`` with the reason."""
        # RFC 7628 3.2.3: an OAuth client that is done answers an error challenge.
        if self.mechanism.complete and not self.mechanism.answers_errors:
            self._error = ProtocolViolation(
                f"the server sent a {self.name} challenge after the exchange was complete"
            )
            return None
        try:
            return self.mechanism.step(challenge) or b""
        except SASLError as exc:
            self._error = exc
            return None

    def _conclude(
        self, outcome: Outcome, code: str, text: str, additional: bytes | None = None
    ) -> None:
        """Set ``result`` from the server's outcome, by the rules of the module header."""
        if (
            additional is not None
            and outcome is Outcome.SUCCESS
            and self._error is None
            and self._mechanism_answer(additional)
            and self._error is None
        ):
            self._error = ProtocolViolation(
                f"{self.name} has a response left for the additional data with success"
            )
        error = self._error
        if error is None and outcome is Outcome.SUCCESS and not self.mechanism.complete:
            error = MutualAuthenticationFailed(
                f"the server reported {self.name} success before the mechanism finished: "
                "the server did not prove itself"
            )
        if error is not None:
            outcome = Outcome.CANCELLED
        self.result = Result(outcome, self.name, code, text, additional, error)


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
    ``sieve``, ``postgres``). ``tls_upgrade`` is what the protocol calls its
    upgrade of a plain connection to TLS, for messages: ``STARTTLS`` (SMTP,
    IMAP, XMPP, ManageSieve), ``STLS`` (POP3), ``StartTLS`` (LDAP),
    ``SSLRequest`` (PostgreSQL).
    """

    name: str
    service: str
    tls_upgrade: str = "STARTTLS"

    @abstractmethod
    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        """The mechanism names the server listed, in its order, from the
        protocol's capability reply as received (EHLO reply, CAPABILITY, ...)."""

    @abstractmethod
    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> ClientAuth:
        """A client-side exchange for ``mechanism`` (registered as ``name``)."""

    def server(self, name: str, mechanism: ServerMechanism, **options: object) -> ServerAuth:
        """A server-side exchange for ``mechanism``; its first ``receive`` takes the
        command that started it. A profile without a server side says so."""
        raise UsageError(f"the {self.name} profile has no server side")

    @abstractmethod
    def read_line(self, side: str, text: str) -> Event | None:
        """What one transcript line in this protocol's notation means, or ``None``
        when it is not part of any exchange. Never raises but ``SASLError``."""

    def payload(self, text: str, what: str) -> bytes:
        """The octets of a payload as ``read_line`` gave it (``Start.initial``,
        ``Challenge.text``, ...): base64, ``=`` for an empty initial response.
        ``ProtocolViolation`` naming ``what`` when it is not."""
        return b"" if text == "=" else b64decode(text, what)

    def written(self, data: bytes) -> str:
        """A payload as this profile writes it in a transcript (``payload`` reverses it)."""
        return b64encode(data)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes, what: str) -> bytes:
    """Strict base64; ``ProtocolViolation`` naming ``what`` otherwise."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolViolation(f"{what} is not base64") from None


class LineBuffer:
    """Lines ending in LF (CRLF or bare LF) from bytes in any split, each at most
    ``limit`` bytes without its ending; a longer one is ``ProtocolViolation``.

    ``ending_counted``: ``limit`` counts the line with its ending (CR included),
    for protocols whose limit is a buffer size (Dovecot's auth protocol)."""

    def __init__(
        self, limit: int, who: str = "the server", *, ending_counted: bool = False
    ) -> None:
        self.limit = limit
        self._room = limit if ending_counted else limit + 2
        """Bytes a line may take on the wire, its LF included."""
        self._too_long = f"{who} sent a line longer than {limit} bytes" + (
            " with its line ending" if ending_counted else ""
        )
        self._buffer = b""

    def add(self, data: bytes) -> None:
        self._buffer += data

    def line(self) -> bytes | None:
        """The next complete line without its ending, ``None`` until there is one."""
        end = self._buffer.find(b"\n", 0, self._room)
        if end < 0:
            if len(self._buffer) >= self._room:
                raise ProtocolViolation(self._too_long)
            return None
        line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        line = line.removesuffix(b"\r")
        if len(line) > self.limit:
            raise ProtocolViolation(self._too_long)
        return line

    def rest(self) -> bytes:
        """What follows the last line taken; the buffer is empty afterwards."""
        rest, self._buffer = self._buffer, b""
        return rest


def lines_of(transcript: Iterable[TranscriptLine], *, redact: bool = True) -> Sequence[str]:
    """A transcript as ``C:``/``S:`` text lines, payloads blanked unless ``redact=False``."""
    return [line.redacted if redact else str(line) for line in transcript]
