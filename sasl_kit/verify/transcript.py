"""Transcript readers: find every AUTH exchange in a pasted SMTP, IMAP or POP3 session.

Rules of this module:
- It reads text and never raises anything but ``SASLError``: arbitrary text gives
  the exchanges it holds, possibly none. Nothing is decoded or judged here: a
  message keeps its base64 text as written, so that ``diagnose`` can say which
  line is not base64.
- Three notations, told apart by their line prefixes (``notation``): the RFCs'
  ``C:``/``S:``, swaks output (``<-``/``->``, under TLS ``<~``/``~>``, errors
  ``<**``/``<~*``) and a raw telnet session without prefixes, whose lines are
  assigned to client or server by their shape (``_server_line``).
- Each notation becomes one list of ``Line`` (number, side or ``None``, text);
  one state machine (``_Reader``) then finds the exchanges, whatever the notation.

Theory of operation. Outside an exchange the reader looks for a client command:
``AUTH MECH [initial]`` (SMTP, POP3) or ``TAG AUTHENTICATE MECH [initial]``
(IMAP). Inside, a server line is a challenge (``334 b64``, ``+ b64``), the
outcome (``235``, other 2xx-5xx codes; ``TAG OK|NO|BAD``; ``+OK``/``-ERR``), or
chatter (untagged ``*`` lines); the client line after a challenge is its response,
``*`` cancels. The protocol comes from the server's greeting when the transcript
has one, else from the shape of the first reply to AUTH.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sasl_kit.errors import MalformedMessage

CLIENT, SERVER = "C", "S"
SMTP, IMAP, POP3 = "smtp", "imap", "pop3"
NOTATIONS = ("rfc", "swaks", "telnet")

_RFC_PREFIX = re.compile(r"\s*([CS]):(?: |$)(.*)")
_SWAKS_PREFIX = re.compile(r"\s*(<~\*|<\*\*|<-|<~|\*\*>|->|~>)(?: |$)\s?(.*)")
_SWAKS_SIDES = {"<~*": SERVER, "<**": SERVER, "<-": SERVER, "<~": SERVER}
_SMTP_REPLY = re.compile(r"([2-5][0-9][0-9])(?:[ -](.*))?")
_AUTH = re.compile(r"AUTH\s+(\S+)(?:\s+(\S+))?\s*", re.IGNORECASE)
_AUTHENTICATE = re.compile(r"(\S+)\s+AUTHENTICATE\s+(\S+)(?:\s+(\S+))?\s*", re.IGNORECASE)
_TAGGED = re.compile(r"(\S+)\s+(OK|NO|BAD)\b(.*)", re.IGNORECASE)
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}")


@dataclass(frozen=True)
class Message:
    """One SASL message: ``side`` ``"C"`` or ``"S"``, its base64 ``text`` as written
    (``""`` for an empty message), and the transcript ``line`` it is on (1-based; 0
    when it comes from elsewhere, as from ``probe``)."""

    side: str
    text: str
    line: int = 0

    @classmethod
    def of(cls, side: str, data: bytes, line: int = 0) -> Message:
        """A message from the octets it carries."""
        return cls(side, base64.b64encode(data).decode("ascii"), line)

    def data(self) -> bytes:
        """The octets; ``MalformedMessage`` naming the line when ``text`` is not base64."""
        text = "" if self.text == "=" and self.side == CLIENT else self.text
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            who = "client" if self.side == CLIENT else "server"
            raise MalformedMessage(f"{self._where()}: the {who}'s message is not base64") from None

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
    after it, in order, with the outcome. ``protocol`` is ``smtp``, ``imap`` or ``pop3``."""

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


def _server_line(text: str, protocol: str | None, tag: str | None) -> bool:
    """Whether a line without a side marker is the server's, by its shape."""
    tagged = _TAGGED.fullmatch(text)
    if tag is not None and tagged and tagged[1] == tag:
        return True
    if protocol in (None, SMTP) and _SMTP_REPLY.fullmatch(text):
        return True
    return text == "+" or text.startswith(("+ ", "+OK", "-ERR", "* "))


def _greeting_protocol(text: str) -> str | None:
    if _SMTP_REPLY.fullmatch(text):
        return SMTP
    if text.startswith("+OK"):
        return POP3
    if text.upper().startswith(("* OK", "* PREAUTH")):
        return IMAP
    return None


class _Reader:
    """The state machine over ``Line``s: idle, waiting for the server, or for the client."""

    def __init__(self) -> None:
        self.found: list[Exchange] = []
        self.protocol: str | None = None  # from the greeting, for the whole session
        self._reset()

    def _reset(self) -> None:
        self.mechanism: str | None = None
        self.tag: str | None = None
        self.start = 0
        self.exchange_protocol: str | None = None
        self.initial: Message | None = None
        self.messages: list[Message] = []
        self.awaiting_client = False

    def _close(self, outcome: Outcome) -> None:
        assert self.mechanism is not None
        protocol = self.exchange_protocol or self.protocol or SMTP
        self.found.append(
            Exchange(protocol, self.mechanism, self.initial, tuple(self.messages), outcome,
                     self.start)
        )
        self._reset()

    def feed(self, line: Line) -> None:
        side = line.side
        if side is None:
            side = SERVER if _server_line(line.text, self._protocol(), self.tag) else CLIENT
        if self.mechanism is None:
            self._idle(line, side)
        elif side == SERVER:
            self._server(line)
        elif self.awaiting_client:
            self._client(line)
        elif self._command(line) is not None:  # a new AUTH before this one's end
            self._close(Outcome(None))
            self._idle(line, side)

    def _protocol(self) -> str | None:
        return self.exchange_protocol or self.protocol

    def _command(self, line: Line) -> tuple[str | None, str, str | None] | None:
        """(tag, mechanism, initial response) of an AUTH or AUTHENTICATE command."""
        match = _AUTH.fullmatch(line.text)
        if match and _MECHANISM.fullmatch(match[1].upper()):
            return None, match[1].upper(), match[2]
        match = _AUTHENTICATE.fullmatch(line.text)
        if match and _MECHANISM.fullmatch(match[2].upper()):
            return match[1], match[2].upper(), match[3]
        return None

    def _idle(self, line: Line, side: str) -> None:
        if side == SERVER:
            if self.protocol is None:
                self.protocol = _greeting_protocol(line.text)
            return
        command = self._command(line)
        if command is None:
            return
        tag, mechanism, initial = command
        self.mechanism, self.tag, self.start = mechanism, tag, line.number
        if tag is not None:
            self.exchange_protocol = IMAP
        if initial is not None:
            self.initial = Message(CLIENT, initial, line.number)

    def _server(self, line: Line) -> None:
        text = line.text
        protocol = self._protocol()
        if self.tag is not None:
            tagged = _TAGGED.fullmatch(text)
            if tagged and tagged[1] == self.tag:
                self._close(Outcome(tagged[2].upper() == "OK", text, line.number))
            elif text == "+" or text.startswith("+ "):
                self._challenge(line, text[2:])
            return  # untagged data and another command's replies are chatter
        reply = _SMTP_REPLY.fullmatch(text)
        if reply and protocol != POP3:
            self.exchange_protocol = SMTP
            if reply[1] == "334":
                self._challenge(line, reply[2] or "")
            else:
                self._close(Outcome(reply[1].startswith("2"), text, line.number))
        elif text.startswith("+OK") or text.startswith("-ERR"):
            self.exchange_protocol = POP3
            self._close(Outcome(text.startswith("+OK"), text, line.number))
        elif text == "+" or text.startswith("+ "):
            self.exchange_protocol = self.exchange_protocol or POP3
            self._challenge(line, text[2:])

    def _challenge(self, line: Line, text: str) -> None:
        self.messages.append(Message(SERVER, text.strip(), line.number))
        self.awaiting_client = True

    def _client(self, line: Line) -> None:
        self.awaiting_client = False
        if line.text == "*":
            self._close(Outcome(None, "*", line.number, cancelled=True))
        else:
            self.messages.append(Message(CLIENT, line.text, line.number))

    def finish(self) -> tuple[Exchange, ...]:
        if self.mechanism is not None:
            self._close(Outcome(None))
        return tuple(self.found)


def read_lines(lines: Iterable[Line]) -> tuple[Exchange, ...]:
    """The exchanges in lines whose side is known (``"C"``/``"S"``) or to be guessed (``None``)."""
    reader = _Reader()
    for line in lines:
        reader.feed(line)
    return reader.finish()
