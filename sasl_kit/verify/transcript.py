"""Transcript readers: find every SASL exchange in a pasted session of any protocol.

Rules of this module:
- It reads text and never raises anything but ``SASLError``: arbitrary text gives
  the exchanges it holds, possibly none. Nothing is decoded or judged here: a
  message keeps its payload text as written (base64 for the line protocols),
  so that ``diagnose`` can say which line is not base64; ``Message.data``
  decodes it with the profile of its protocol.
- What a line means is never decided here: it is ``Profile.read_line`` of the
  protocols of ``sasl_kit.protocols.PROFILES``, every one of them, so that a
  protocol with a profile is readable without a change to this module.
- Three notations, told apart by their line prefixes (``notation``): the RFCs'
  ``C:``/``S:``, swaks output (``<-``/``->``, under TLS ``<~``/``~>``, errors
  ``<**``/``<~*``) and a raw telnet session without prefixes, whose lines are
  assigned to client or server by their shape (``_server_line``).
- Each notation becomes one list of ``Line`` (number, side or ``None``, text);
  one state machine (``_Reader``) then finds the exchanges, whatever the notation.

Theory of operation. The reader keeps the protocols the session can be in
(at first all of ``PROFILES``, in its order); a server line that some of them
understand and others do not (a greeting: ``220``, ``* OK``, ``+OK``) keeps
those that understand it. Outside an exchange the reader asks them for a
``Start`` in each client line (``AUTH MECH [initial]``, ``TAG AUTHENTICATE
...``); inside, the protocols that read the ``Start`` are asked what each server
line is (``Challenge``, ``End``, ``Chatter``, or nothing), the first that
answers deciding (so an SMTP-or-POP3 ``AUTH`` becomes POP3 at a ``+``); the
client line after a challenge is its response, ``Cancel`` ends the exchange.
An ``End`` with another command's tag is chatter. A line without a side
(telnet) is the server's when one of the protocols reads it as a server line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sasl_kit.errors import MalformedMessage, SASLError
from sasl_kit.protocols import PROFILES, profile
from sasl_kit.protocols import base as events
from sasl_kit.protocols.base import Profile
from sasl_kit.protocols.errors import ProtocolViolation

CLIENT, SERVER = events.CLIENT, events.SERVER
NOTATIONS = ("rfc", "swaks", "telnet")

_RFC_PREFIX = re.compile(r"\s*([CS]):(?: |$)(.*)")
_SWAKS_PREFIX = re.compile(r"\s*(<~\*|<\*\*|<-|<~|\*\*>|->|~>)(?: |$)\s?(.*)")
_SWAKS_SIDES = {"<~*": SERVER, "<**": SERVER, "<-": SERVER, "<~": SERVER}


@dataclass(frozen=True)
class Message:
    """One SASL message: ``side`` ``"C"`` or ``"S"``, its payload ``text`` as written
    (``""`` for an empty message), the transcript ``line`` it is on (1-based; 0
    when it comes from elsewhere, as from ``probe``), and the ``protocol`` whose
    profile wrote it."""

    side: str
    text: str
    line: int = 0
    protocol: str = "smtp"

    @classmethod
    def of(cls, side: str, data: bytes, line: int = 0, protocol: str = "smtp") -> Message:
        """A message from the octets it carries."""
        return cls(side, profile(protocol).written(data), line, protocol)

    def data(self) -> bytes:
        """The octets; ``MalformedMessage`` naming the line when ``text`` does not decode."""
        who = "client" if self.side == CLIENT else "server"
        try:
            return profile(self.protocol).payload(self.text, f"the {who}'s message")
        except ProtocolViolation as exc:
            raise MalformedMessage(f"{self._where()}: {exc}") from None

    def _where(self) -> str:
        return f"line {self.line}" if self.line else "message"


@dataclass(frozen=True)
class Outcome:
    """How the server ended the exchange: ``success`` ``True``/``False``, ``None`` when
    the transcript shows no final reply or the client cancelled; ``reply`` as written."""

    success: bool | None
    reply: str = ""
    line: int = 0
    cancelled: bool = False


@dataclass(frozen=True)
class Exchange:
    """One AUTH exchange: the client's initial response (if any) and every message
    after it, in order, with the outcome. ``protocol`` is a name of ``PROFILES``."""

    protocol: str
    mechanism: str
    initial_response: Message | None
    messages: tuple[Message, ...]
    outcome: Outcome
    line: int = 0

    @property
    def steps(self) -> tuple[Message, ...]:
        """Every message in order, the initial response first."""
        first = () if self.initial_response is None else (self.initial_response,)
        return (*first, *self.messages)


@dataclass(frozen=True)
class Line:
    number: int
    side: str | None
    text: str


def notation(text: str) -> str:
    """Which notation a transcript is in: ``swaks``, ``rfc`` or ``telnet``."""
    lines = text.splitlines()
    if any(_SWAKS_PREFIX.fullmatch(line) for line in lines):
        return "swaks"
    if any(_RFC_PREFIX.fullmatch(line) for line in lines):
        return "rfc"
    return "telnet"


def read(text: str) -> tuple[Exchange, ...]:
    """Every AUTH exchange in ``text``, in any of the three notations."""
    kind = notation(text)
    if kind == "swaks":
        return read_lines(_swaks_lines(text))
    if kind == "rfc":
        return read_lines(_rfc_lines(text))
    return read_lines(Line(n, None, t.strip()) for n, t in enumerate(text.splitlines(), 1))


def _rfc_lines(text: str) -> list[Line]:
    """``C:``/``S:`` lines; an indented line continues the one before (RFC 4954 folds)."""
    lines: list[Line] = []
    for number, raw in enumerate(text.splitlines(), 1):
        match = _RFC_PREFIX.fullmatch(raw)
        if match:
            lines.append(Line(number, match[1], match[2].strip()))
        elif raw[:1].isspace() and raw.strip() and lines:
            last = lines[-1]
            joiner = " " if _code_only(last.text) else ""
            lines[-1] = Line(last.number, last.side, last.text + joiner + raw.strip())
    return lines


def _code_only(text: str) -> bool:
    return text == "+" or bool(re.fullmatch(r"[2-5][0-9][0-9]", text))


def _swaks_lines(text: str) -> list[Line]:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        match = _SWAKS_PREFIX.fullmatch(raw)
        if match:
            lines.append(Line(number, _SWAKS_SIDES.get(match[1], CLIENT), match[2].strip()))
    return lines


_SERVER_EVENTS = (events.Challenge, events.End, events.Chatter)


class _Reader:
    """The state machine over ``Line``s: idle, waiting for the server, or for the client."""

    def __init__(self) -> None:
        self.found: list[Exchange] = []
        self.profiles = {name: profile(name) for name in PROFILES}
        self.session = list(self.profiles)  # the protocols the session can be in
        self._reset()

    def _reset(self) -> None:
        self.mechanism: str | None = None
        self.tag: str | None = None
        self.start = 0
        self.candidates: list[str] = []  # the protocols that read the exchange's Start
        self.initial: tuple[str, int] | None = None
        self.steps: list[tuple[str, str, int]] = []
        self.awaiting_client = False

    def _read(self, names: list[str], side: str, text: str) -> dict[str, events.Event]:
        """What each of ``names`` reads in the line, for those that read anything."""
        read = {}
        for name in names:
            event = _read_line(self.profiles[name], side, text)
            if isinstance(event, events.End) and event.tag not in (None, self.tag):
                event = events.Chatter()  # another command's outcome
            if event is not None:
                read[name] = event
        return read

    def _close(self, outcome: Outcome) -> None:
        assert self.mechanism is not None
        protocol = (self.candidates or self.session)[0]
        initial = None
        if self.initial is not None:
            initial = Message(CLIENT, self.initial[0], self.initial[1], protocol)
        messages = tuple(Message(side, text, n, protocol) for side, text, n in self.steps)
        self.found.append(
            Exchange(protocol, self.mechanism, initial, messages, outcome, self.start)
        )
        self._reset()

    def feed(self, line: Line) -> None:
        side = line.side
        if side is None:
            names = self.candidates or self.session
            server = self._read(names, SERVER, line.text).values()
            side = SERVER if any(isinstance(e, _SERVER_EVENTS) for e in server) else CLIENT
        if self.mechanism is None:
            self._idle(line, side)
        elif side == SERVER:
            self._server(line)
        elif self.awaiting_client:
            self._client(line)
        elif self._command(line) is not None:  # a new AUTH before this one's end
            self._close(Outcome(None))
            self._idle(line, side)

    def _command(self, line: Line) -> tuple[list[str], events.Start] | None:
        """The protocols that read a ``Start`` in the line, and the first one's."""
        read = self._read(self.session, CLIENT, line.text)
        starts = {n: e for n, e in read.items() if isinstance(e, events.Start)}
        if not starts:
            return None
        return list(starts), next(iter(starts.values()))

    def _idle(self, line: Line, side: str) -> None:
        if side == SERVER:
            read = self._read(self.session, SERVER, line.text)
            if read:
                self.session = [name for name in self.session if name in read]
            return
        command = self._command(line)
        if command is None:
            return
        self.candidates, start = command
        self.mechanism, self.tag, self.start = start.mechanism, start.tag, line.number
        if start.initial is not None:
            self.initial = (start.initial, line.number)

    def _server(self, line: Line) -> None:
        read = self._read(self.candidates, SERVER, line.text)
        meant = {n: e for n, e in read.items() if isinstance(e, events.Challenge | events.End)}
        if not meant:
            return  # chatter, or nothing any of these protocols says
        self.candidates = [name for name in self.candidates if name in meant]
        event = meant[self.candidates[0]]
        if isinstance(event, events.Challenge):
            self.steps.append((SERVER, event.text, line.number))
            self.awaiting_client = True
        elif isinstance(event, events.End):
            success = event.outcome is events.Outcome.SUCCESS
            self._close(Outcome(success, line.text, line.number))

    def _client(self, line: Line) -> None:
        self.awaiting_client = False
        event = _read_line(self.profiles[self.candidates[0]], CLIENT, line.text)
        if isinstance(event, events.Cancel):
            self._close(Outcome(None, line.text, line.number, cancelled=True))
        else:  # a Response's payload as its profile reads it (LDAP's is inside a bindRequest)
            text = event.text if isinstance(event, events.Response) else line.text
            self.steps.append((CLIENT, text, line.number))

    def finish(self) -> tuple[Exchange, ...]:
        if self.mechanism is not None:
            self._close(Outcome(None))
        return tuple(self.found)


def _read_line(found: Profile, side: str, text: str) -> events.Event | None:
    """``read_line``, a line its profile refuses (``SASLError``) being none of its own."""
    try:
        return found.read_line(side, text)
    except SASLError:
        return None


def read_lines(lines: Iterable[Line]) -> tuple[Exchange, ...]:
    """The exchanges in lines whose side is known (``"C"``/``"S"``) or to be guessed (``None``)."""
    reader = _Reader()
    for line in lines:
        reader.feed(line)
    return reader.finish()
