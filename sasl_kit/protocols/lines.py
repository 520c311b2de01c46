"""What the line profiles share (SMTP, IMAP, POP3): a command, base64 lines, ``*``.

Rules of this module:
- It knows the shape all three share (RFC 4422 4 as RFC 4954, 3501/9051 and
  5034 fill it in): the client starts with one command that may carry the
  initial response (``=`` for an empty one), the server sends challenges as
  base64 after a marker, the client answers each with one base64 line (an
  empty line for an empty answer) or ``*`` to cancel, and one line of the
  server ends the exchange. None of the three has additional data with
  success: a server mechanism's last bytes go as a last challenge, answered
  by an empty line.
- What differs lives in each profile module as hooks: how the command is
  written, what a server line means (``read_line``, the same function that
  reads transcripts), the outcome's code, and the server's reply lines.
- An initial response that would make the command longer than the
  protocol's limit (or that the server did not allow, IMAP without SASL-IR)
  is sent as the answer to the server's first challenge, which must be empty
  (RFC 4422 5 item 2a; RFC 4954 4).
- Lines are bounded (``LineBuffer``); a server line longer than the limit is
  ``ProtocolViolation``, raised by ``receive``. A challenge that is not
  base64 is the server's fault too, but the exchange is cancelled with ``*``
  first so that the connection stays usable (``CANCELLED``, the error).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import ClassVar

from sasl_kit.errors import (
    AuthenticationFailed,
    MalformedMessage,
    PolicyRefused,
    SASLError,
    UsageError,
)
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.protocols.base import (
    CLIENT,
    REDACTED,
    SERVER,
    Cancel,
    Challenge,
    ClientAuth,
    End,
    Event,
    LineBuffer,
    Outcome,
    Profile,
    Result,
    ServerAuth,
    Start,
    TranscriptLine,
    b64encode,
)
from sasl_kit.protocols.errors import ProtocolViolation

MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}")
"""RFC 4422 3.1: a mechanism name, upper-case (matched after ``upper()``)."""

CRLF = b"\r\n"


def wire(line: str) -> bytes:
    return line.encode("utf-8") + CRLF


def mechanism_name(name: str) -> str:
    """``name`` when it is a valid mechanism name, ``UsageError`` otherwise (no CR/LF
    or spaces can reach a command line through it)."""
    if not MECHANISM.fullmatch(name.upper()):
        raise UsageError(f"{name!r} is not a SASL mechanism name (RFC 4422 3.1)")
    return name


def unique(names: list[str]) -> tuple[str, ...]:
    """Names in their first order, each once (compared without case)."""
    seen: dict[str, str] = {}
    for name in names:
        if MECHANISM.fullmatch(name.upper()):
            seen.setdefault(name.upper(), name)
    return tuple(seen.values())


class LineClient(ClientAuth):
    """The client side of a line profile; subclasses give the hooks."""

    server_limit: ClassVar[int]
    """Longest server line accepted, its line ending excluded."""
    command_limit: ClassVar[int]
    """Longest command line with an initial response, CRLF included."""

    def __init__(
        self,
        profile: Profile,
        name: str,
        mechanism: ClientMechanism,
        *,
        initial_response: bool = True,
    ) -> None:
        super().__init__(mechanism_name(name), mechanism)
        self.profile = profile
        self._lines = LineBuffer(self.server_limit)
        self.initial_response = initial_response
        """Whether the command may carry the initial response (a driver that learns
        the server's capabilities may set it before ``start``)."""
        self._pending: bytes | None = None
        self._cancelled = False

    @abstractmethod
    def _command(self, argument: str | None) -> str:
        """The command line (without CRLF) that starts the exchange."""

    @abstractmethod
    def _code(self, end: End) -> tuple[str, str]:
        """The outcome's code and text for ``Result``."""

    def _interpret(self, line: str) -> Event | None:
        """What a server line means here: ``Challenge``, ``End`` or ``None`` (chatter)."""
        event = self.profile.read_line(SERVER, line)
        if event is None:
            raise ProtocolViolation(
                f"the server sent a line that is not part of AUTH {self.name}: {show(line)}"
            )
        return event if isinstance(event, Challenge | End) else None

    def _start(self) -> bytes:
        pending = self._mechanism_initial()
        if self.result is not None:
            return b""
        if pending is not None and self.initial_response:
            line = self._command(b64encode(pending) or "=")
            if len(line) + len(CRLF) <= self.command_limit:
                self._record(CLIENT, line, shown=self._command(REDACTED))
                return wire(line)
        self._pending = pending
        line = self._command(None)
        self._record(CLIENT, line)
        return wire(line)

    def _receive(self, data: bytes) -> bytes:
        self._lines.add(data)
        out = []
        while self.result is None:
            line = self._lines.line()
            if line is None:
                break
            out.append(self._line(line.decode("utf-8", errors="replace")))
        if self.result is not None:
            self.leftover = self._lines.rest()
        return b"".join(out)

    def _line(self, text: str) -> bytes:
        event = self._interpret(text)
        if isinstance(event, End):
            self._record(SERVER, text)
            self._conclude(event.outcome, *self._code(event))
            return b""
        if not isinstance(event, Challenge):
            self._record(SERVER, text)
            return b""
        self._record(SERVER, text, shown=f"{text.split(' ', 1)[0]} {REDACTED}")
        if self._cancelled:
            raise ProtocolViolation(
                f"the server sent a challenge after AUTH {self.name} was cancelled"
            )
        answer = self._answer(event.text)
        if answer is None:
            self._cancelled = True
            self._record(CLIENT, "*")
            return wire("*")
        line = b64encode(answer)
        self._record(CLIENT, line, shown=REDACTED)
        return wire(line)

    def _answer(self, text: str) -> bytes | None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            if text:
                self._error = ProtocolViolation(
                    f"the server sent a challenge where AUTH {self.name} waits for the "
                    "initial response"
                )
                return None
            return pending
        try:
            challenge = self.profile.payload(text, f"the server's {self.name} challenge")
        except ProtocolViolation as exc:
            self._error = exc
            return None
        return self._mechanism_answer(challenge)


def show(line: str) -> str:
    """A bounded, printable form of a bad line for an error message."""
    return repr(line[:80]) + ("..." if len(line) > 80 else "")


class LineServer(ServerAuth):
    """The server side of a line profile: the command line first, then responses."""

    client_limit: ClassVar[int]
    """Longest client line accepted, its line ending excluded."""
    replies: ClassVar[dict[str, tuple[Outcome, str]]]
    """The server's failure lines by kind (see ``_FAILURES``) and ``success``."""

    def __init__(self, profile: Profile, name: str, mechanism: ServerMechanism) -> None:
        super().__init__(name, mechanism)
        self.profile = profile
        self._lines = LineBuffer(self.client_limit, "the client")
        self._started = False
        self._final = False
        self.tag: str | None = None
        self.failure: str | None = None
        """The kind of failure line the exchange ended with (a key of ``replies``)."""
        self.last_challenge: bytes | None = None
        """The payload of the last challenge sent, ``None`` before the first."""

    @abstractmethod
    def _challenge(self, text: str) -> str:
        """A challenge line (without CRLF) carrying ``text`` (base64, maybe empty)."""

    def _reply(self, line: str) -> str:
        """A reply line as written for this command (IMAP puts the tag first)."""
        return line

    def _split(self, line: str) -> tuple[str, str]:
        """A reply line's code and text for ``Result``."""
        code, _, text = line.partition(" ")
        return code, text

    def too_long(self) -> bytes:
        """The driver skipped a client line over its limit: the exchange fails (RFC 4954 4)."""
        if self.result is not None:
            raise UsageError(f"{type(self).__name__}: the exchange has ended")
        return self._fail("too-long", ProtocolViolation("the client sent a line over the limit"))

    def receive(self, data: bytes) -> bytes:
        if self.result is not None:
            raise UsageError(f"{type(self).__name__}: the exchange has ended")
        self._lines.add(data)
        out = []
        while self.result is None:
            try:
                line = self._lines.line()
            except ProtocolViolation as exc:
                out.append(self._fail("too-long", exc))
                break
            if line is None:
                break
            out.append(self._line(line.decode("utf-8", errors="replace")))
        if self.result is not None:
            self.leftover = self._lines.rest()
        return b"".join(out)

    def _line(self, text: str) -> bytes:
        if not self._started:
            self._started = True
            start = self.profile.read_line(CLIENT, text)
            initial = start.initial if isinstance(start, Start) else None
            shown = None if initial is None else text.removesuffix(initial) + REDACTED
            self._record(CLIENT, text, shown=shown)
            if not isinstance(start, Start) or start.mechanism != self.name.upper():
                return self._fail("syntax", ProtocolViolation(f"not an AUTH {self.name} command"))
            self.tag = start.tag
            return self._step(start.initial, "initial response")
        event = self.profile.read_line(CLIENT, text)
        self._record(CLIENT, text, shown=None if isinstance(event, Cancel) else REDACTED)
        if isinstance(event, Cancel):
            return self._fail("cancelled", MalformedMessage(f"the client cancelled {self.name}"))
        text = text.strip()
        if self._final:
            if text:
                return self._fail("final", MalformedMessage("non-empty answer to the final data"))
            return self._succeed()
        return self._step(text, "response")

    def _step(self, text: str | None, what: str) -> bytes:
        try:
            data = None if text is None else self.profile.payload(text, f"the client's {what}")
        except ProtocolViolation as exc:
            return self._fail("base64", exc)
        try:
            challenge = self.mechanism.step(data)
        except SASLError as exc:
            return self._fail(_kind(exc), exc)
        if self.mechanism.complete and not challenge:
            return self._succeed()
        # RFC 4422 3.6 without additional data in the outcome: a last challenge.
        self._final = self.mechanism.complete
        self.last_challenge = challenge or b""
        payload = b64encode(challenge or b"")
        line = self._challenge(payload)
        self._record(SERVER, line, shown=line.removesuffix(payload) + REDACTED if payload else None)
        return wire(line)

    def _record(self, side: str, line: str, *, shown: str | None = None) -> None:
        self.transcript.append(TranscriptLine(side, line, shown is not None, shown or ""))

    def _succeed(self) -> bytes:
        return self._finish("success", None)

    def _fail(self, kind: str, error: SASLError) -> bytes:
        return self._finish(kind, error)

    def _finish(self, kind: str, error: SASLError | None) -> bytes:
        self.failure = None if kind == "success" else kind
        outcome, line = self.replies[kind]
        line = self._reply(line)
        self._record(SERVER, line)
        code, text = self._split(line)
        self.result = Result(outcome, self.name, code, text, error=error)
        return wire(line)


def _kind(error: SASLError) -> str:
    """Which failure line a mechanism's error gets, by whose fault it is."""
    for cls, kind in _FAILURES:
        if isinstance(error, cls):
            return kind
    return "rejected"


_FAILURES: tuple[tuple[type[SASLError], str], ...] = (
    (MalformedMessage, "malformed"),
    (AuthenticationFailed, "rejected"),
    (PolicyRefused, "policy"),
    (UsageError, "temporary"),
)
"""A mechanism's error -> the kind of failure line; the kinds of ``LineServer.replies``
are these, ``success``, ``syntax``, ``base64``, ``cancelled``, ``final`` and ``too-long``."""
