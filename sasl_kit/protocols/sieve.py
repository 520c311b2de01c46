"""ManageSieve's profile of SASL (RFC 5804 sections 1.2, 1.3, 1.7, 2.1, 2.2 and 4).

Rules of this module (besides the package's, in ``base``):
- The wire is lines of atoms, strings and response codes (RFC 5804 4). A string
  is quoted (at most 1024 octets, ``\\`` escaping only ``"`` and ``\\``) or a
  literal ``{n}`` CRLF and n octets; the client sends ``{n+}`` (non-synchronizing).
  One tokenizer (``read_wire_line``) reads every server line, however split.
- Bounds: a line holds at most ``MAX_LINE`` octets outside its literals, a
  literal at most ``MAX_LITERAL``, a response at most ``MAX_LINES`` lines.
  Beyond them, and for anything the grammar does not allow, ``ProtocolViolation``.
- The exchange (2.1): ``AUTHENTICATE "MECH"`` with the initial response as a
  second string for client-first mechanisms; each server challenge is one
  string of base64, each answer one string of base64 (``""`` when empty), ``"*"``
  cancels. The outcome is ``OK``/``NO``/``BYE`` with an optional response code
  (1.3): ``OK (SASL "b64")`` carries additional data with success; ``NO`` is a
  rejection of the credentials unless its code says otherwise (``_OUTCOMES``);
  ``BYE`` without a known code is the server's own failure.
- Capabilities (1.7) are lines of one or two strings ending in ``OK``; the
  mechanisms are the ``"SASL"`` value, split on spaces. After STARTTLS the
  server sends the whole list again (2.2), which the driver reads anew.
- Transcript notation: ``C:``/``S:`` and the line as on the wire, with one
  exception: a literal is written as the quoted string it stands for, so that
  every transcript line is one protocol line (``read_line`` refuses the RFC's
  two-line literal form). Lines with a non-empty SASL payload are secret.

Dovecot (Pigeonhole 2.3) sends SCRAM's ``v=`` and DIGEST-MD5's ``rspauth`` as
one more challenge, answered with ``""``, then a plain ``OK``; others put the
same data in ``OK (SASL ...)``. Both end the same way here: the mechanism is
stepped with the data and must be complete when the server says OK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sasl_kit.errors import MalformedMessage, MutualAuthenticationFailed, SASLError, UsageError
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols.base import (
    CLIENT,
    REDACTED,
    SERVER,
    Cancel,
    Challenge,
    ClientAuth,
    End,
    Event,
    Outcome,
    Profile,
    Response,
    Result,
    Start,
    b64decode,
    b64encode,
)
from sasl_kit.protocols.errors import ProtocolViolation

MAX_QUOTED = 1024  # RFC 5804 4: quoted = DQUOTE *1024QUOTED-CHAR DQUOTE
MAX_LINE = 8192  # octets of one line outside its literals
MAX_LITERAL = 1 << 16  # octets of one literal: a SASL message in base64, or text
MAX_LINES = 256  # lines of one response (a capability list)

STARTTLS = b"STARTTLS\r\n"
LOGOUT = b"LOGOUT\r\n"

ATOM, STRING, OPEN, CLOSE = "atom", "string", "(", ")"
_ATOM_CHARS = frozenset(  # RFC 5804 4: ATOM-CHAR, any CHAR except ATOM-SPECIALS
    b"!"
    + bytes(range(0x23, 0x28))
    + bytes(range(0x2A, 0x5C))
    + bytes(range(0x5D, 0x7B))
    + bytes(range(0x7C, 0x7F))
)
_LITERAL = re.compile(rb"\{([0-9]{1,10})(\+?)\}\r\n")
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}")  # RFC 4422 3.1
_OUTCOMES = {  # RFC 5804 1.3: response codes of a failed AUTHENTICATE
    "AUTH-TOO-WEAK": Outcome.REFUSED,
    "TRANSITION-NEEDED": Outcome.REFUSED,
    "ENCRYPT-NEEDED": Outcome.TLS_REQUIRED,
    "TRYLATER": Outcome.TEMPORARY,
}


@dataclass(frozen=True)
class Word:
    """One token of a line: an atom, a string (quoted or literal), ``(`` or ``)``."""

    kind: str
    value: bytes = b""


def read_wire_line(buffer: bytes, *, client: bool = False) -> tuple[tuple[Word, ...], int] | None:
    """The words of the first whole line of ``buffer`` and where it ends (after
    its CRLF), or ``None`` while the line is incomplete. Literals ``{n}`` are read
    inside the line; ``{n+}`` only when ``client`` (client-to-server, RFC 5804 4)."""
    words: list[Word] = []
    i, literal_octets, size = 0, 0, len(buffer)
    while True:
        if i - literal_octets > MAX_LINE:
            raise ProtocolViolation(f"a ManageSieve line longer than {MAX_LINE} octets")
        if i >= size:
            return None
        char = buffer[i]
        if char == 0x0D:
            if i + 1 >= size:
                return None
            if buffer[i + 1] != 0x0A:
                raise ProtocolViolation("a ManageSieve line with CR not followed by LF")
            return tuple(words), i + 2
        if char == 0x20:
            i += 1
        elif char == 0x22:
            found = _quoted(buffer, i)
            if found is None:
                return None
            value, i = found
            words.append(Word(STRING, value))
        elif char == 0x7B:
            match = _LITERAL.match(buffer, i)
            if match is None:
                if b"\n" in buffer[i : i + 16] or size - i >= 16:
                    raise ProtocolViolation("a ManageSieve literal marker that is not {n} CRLF")
                return None
            length = int(match[1])
            if match[2] and not client:
                raise ProtocolViolation("the server sent a client literal {n+}")
            if length > MAX_LITERAL:
                raise ProtocolViolation(f"a ManageSieve literal over {MAX_LITERAL} octets")
            start = match.end()
            if start + length > size:
                return None
            words.append(Word(STRING, buffer[start : start + length]))
            literal_octets += start + length - i
            i = start + length
        elif char in (0x28, 0x29):
            words.append(Word(chr(char)))
            i += 1
        elif char in _ATOM_CHARS:
            end = i
            while end < size and buffer[end] in _ATOM_CHARS:
                end += 1
            words.append(Word(ATOM, buffer[i:end]))
            i = end
        else:
            raise ProtocolViolation(
                f"a ManageSieve line with the octet {char:#04x} outside a string"
            )


def _quoted(buffer: bytes, start: int) -> tuple[bytes, int] | None:
    """A quoted string at ``start`` (its opening quote): its value and where it ends."""
    value = bytearray()
    i = start + 1
    while i < len(buffer):
        char = buffer[i]
        if char == 0x22:
            return bytes(value), i + 1
        if char == 0x5C:
            if i + 1 >= len(buffer):
                return None
            if buffer[i + 1] not in b'"\\':
                raise ProtocolViolation('a quoted string escaping something other than " or \\')
            i += 1
            char = buffer[i]
        elif char in (0x00, 0x0A, 0x0D):
            raise ProtocolViolation("a quoted string holding NUL, CR or LF")
        value.append(char)
        if len(value) > MAX_QUOTED:
            raise ProtocolViolation(f"a quoted string longer than {MAX_QUOTED} octets")
        i += 1
    return None


@dataclass(frozen=True)
class Reply:
    """A final response (RFC 5804 4: response-ok, response-nobye).

    ``status`` is ``OK``, ``NO`` or ``BYE``; ``code`` the response code's name
    (``""`` without one), upper case; ``data`` the SASL code's string.
    """

    status: str
    code: str = ""
    data: bytes | None = None
    text: str = ""

    @property
    def written(self) -> str:
        """``status`` with its code as a ``Result.code``: ``NO (TRYLATER)``."""
        return f"{self.status} ({self.code})" if self.code else self.status


def reply_of(words: tuple[Word, ...]) -> Reply | None:
    """The final response these words make, ``None`` when they are a data line."""
    if not words or words[0].kind != ATOM:
        return None
    status = words[0].value.upper().decode("ascii")
    if status not in ("OK", "NO", "BYE"):
        raise ProtocolViolation(f"the server answered with {status[:40]!r}, not OK, NO or BYE")
    rest, code, data = words[1:], "", None
    if rest and rest[0].kind == OPEN:
        inner, rest = _code(rest)
        code = inner[0].value.upper().decode("ascii")
        if code == "SASL":
            if len(inner) != 2 or inner[1].kind != STRING:
                raise ProtocolViolation("a SASL response code without exactly one string")
            data = inner[1].value
    if len(rest) > 1 or (rest and rest[0].kind != STRING):
        raise ProtocolViolation(f"a {status} response with more than a code and one string")
    text = rest[0].value.decode("utf-8", "replace") if rest else ""
    return Reply(status, code, data, text)


def _code(words: tuple[Word, ...]) -> tuple[tuple[Word, ...], tuple[Word, ...]]:
    """A response code ``( name [data] )`` at the start of ``words``, and what follows."""
    depth = 0
    for i, word in enumerate(words):
        depth += {OPEN: 1, CLOSE: -1}.get(word.kind, 0)
        if depth == 0:
            inner = words[1:i]
            if not inner or inner[0].kind != ATOM:
                raise ProtocolViolation("a response code that does not start with its name")
            return inner, words[i + 1 :]
    raise ProtocolViolation("a response code without its closing parenthesis")


def outcome_of(reply: Reply) -> Outcome:
    """What a final response means for an exchange (RFC 5804 1.3, 2.1)."""
    if reply.status == "OK":
        return Outcome.SUCCESS
    default = Outcome.REJECTED if reply.status == "NO" else Outcome.FAILED
    return _OUTCOMES.get(reply.code.split("/")[0], default)


def render(words: tuple[Word, ...]) -> str:
    """A line as transcript text: atoms as they are, every string quoted."""
    parts: list[str] = []
    for word in words:
        if word.kind == STRING:
            parts.append(quote(word.value))
        elif word.kind == CLOSE and parts:
            parts[-1] += CLOSE
        elif parts and parts[-1].endswith(OPEN):
            parts[-1] += word.value.decode("ascii") if word.kind == ATOM else word.kind
        else:
            parts.append(word.value.decode("ascii") if word.kind == ATOM else word.kind)
    return " ".join(parts)


def quote(value: bytes) -> str:
    """``value`` as a quoted string for transcripts (line breaks shown as spaces)."""
    text = value.decode("utf-8", "replace").replace("\r\n", " ").replace("\r", " ")
    escaped = text.replace("\n", " ").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def encode_string(text: str) -> bytes:
    """``text`` (ASCII: a name or base64) as a string on the wire: quoted while it may
    be (RFC 5804 4, 1024 octets), else a non-synchronizing literal ``{n+}``."""
    data = text.encode("ascii")
    if len(data) <= MAX_QUOTED:
        return b'"' + data + b'"'
    return b"{%d+}\r\n" % len(data) + data


# --- responses and capabilities --------------------------------------------------------


@dataclass(frozen=True)
class ServerResponse:
    """One whole response: its data lines and its final ``reply``."""

    lines: tuple[tuple[Word, ...], ...]
    reply: Reply


class ResponseReader:
    """Reads one server response, however split (the greeting, STARTTLS's answer);
    bytes after it stay in ``leftover``."""

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[tuple[Word, ...]] = []
        self._consumed = 0
        self.leftover = b""

    def receive(self, data: bytes) -> ServerResponse | None:
        self._buffer += data
        while (found := read_wire_line(self._buffer[self._consumed :])) is not None:
            words, end = found
            self._consumed += end
            reply = reply_of(words)
            if reply is not None:
                self.leftover = self._buffer[self._consumed :]
                return ServerResponse(tuple(self._lines), reply)
            if len(self._lines) >= MAX_LINES:
                raise ProtocolViolation(f"a ManageSieve response of more than {MAX_LINES} lines")
            self._lines.append(words)
        return None


@dataclass(frozen=True)
class Capabilities:
    """The capability list (RFC 5804 1.7): names upper case, values as sent."""

    entries: tuple[tuple[str, str | None], ...]
    reply: Reply

    def value(self, name: str) -> str | None:
        return next((v for n, v in self.entries if n == name), None)

    @property
    def starttls(self) -> bool:
        return any(n == "STARTTLS" for n, _ in self.entries)

    @property
    def mechanisms(self) -> tuple[str, ...]:
        names = tuple((self.value("SASL") or "").upper().split())
        for name in names:
            if not _MECHANISM.fullmatch(name):
                raise ProtocolViolation(f"the SASL capability lists {name[:40]!r}, not a name")
        return names


def capabilities(response: ServerResponse) -> Capabilities:
    """The capability list a response holds: each line one or two strings."""
    entries = []
    for words in response.lines:
        if not 1 <= len(words) <= 2 or any(w.kind != STRING for w in words):
            raise ProtocolViolation("a capability line that is not one or two strings")
        name = words[0].value.decode("utf-8", "replace").upper()
        entries.append(
            (name, words[1].value.decode("utf-8", "replace") if len(words) > 1 else None)
        )
    return Capabilities(tuple(entries), response.reply)


# --- the exchange ----------------------------------------------------------------------


class SieveClientAuth(ClientAuth):
    """One AUTHENTICATE, client side (RFC 5804 2.1)."""

    def __init__(self, name: str, mechanism: ClientMechanism) -> None:
        super().__init__(name, mechanism)
        self._buffer = b""
        self._cancelled: SASLError | None = None

    def _start(self) -> bytes:
        command = b"AUTHENTICATE " + encode_string(self.name)
        shown = f"AUTHENTICATE {quote(self.name.encode('ascii'))}"
        if not self.mechanism.client_first:
            self._record(CLIENT, shown)
            return command + b"\r\n"
        initial = b64encode(self.mechanism.step(b"") or b"")
        self._record(
            CLIENT, f'{shown} "{initial}"', shown=f"{shown} {REDACTED}" if initial else None
        )
        return command + b" " + encode_string(initial) + b"\r\n"

    def _receive(self, data: bytes) -> bytes:
        self._buffer += data
        out = b""
        while self.result is None and (found := read_wire_line(self._buffer)) is not None:
            words, end = found
            self._buffer = self._buffer[end:]
            out += self._line(words)
        if self.result is not None:
            self.leftover, self._buffer = self._buffer, b""
        return out

    def _line(self, words: tuple[Word, ...]) -> bytes:
        reply = reply_of(words)
        if reply is not None:
            written = render(words)
            secret = bool(reply.data)
            self._record(SERVER, written, shown=_without_data(reply) if secret else None)
            self.result = self._end(reply)
            return b""
        if len(words) != 1 or words[0].kind != STRING:
            raise ProtocolViolation(
                f"the server sent {render(words)[:60]!r} during AUTHENTICATE {self.name}: "
                "neither a challenge string nor OK, NO or BYE"
            )
        if self._cancelled is not None:
            raise ProtocolViolation(f"the server sent a {self.name} challenge after the cancel")
        text = words[0].value.decode("ascii", "replace")
        self._record(SERVER, f'"{text}"', shown=REDACTED if text else None)
        return self._answer(b64decode(text, f"the server's {self.name} challenge"))

    def _answer(self, challenge: bytes) -> bytes:
        if self.mechanism.complete and not self.mechanism.answers_errors:
            return self._cancel(
                MalformedMessage(f"the server sent a {self.name} challenge after the last step")
            )
        try:
            response = b64encode(self.mechanism.step(challenge) or b"")
        except SASLError as exc:
            return self._cancel(exc)
        self._record(CLIENT, f'"{response}"', shown=REDACTED if response else None)
        return encode_string(response) + b"\r\n"

    def _cancel(self, error: SASLError) -> bytes:
        self._cancelled = error
        self._record(CLIENT, '"*"')
        return b'"*"\r\n'

    def _end(self, reply: Reply) -> Result:
        code, text = reply.written, reply.text
        if self._cancelled is not None:
            return Result(Outcome.CANCELLED, self.name, code, text, error=self._cancelled)
        if reply.status != "OK":
            return Result(outcome_of(reply), self.name, code, text)
        additional = None
        if reply.data is not None:
            additional = b64decode(reply.data, f"the server's {self.name} success data")
            error = self._additional(additional)
            if error is not None:
                return Result(Outcome.CANCELLED, self.name, code, text, additional, error)
        if not self.mechanism.complete:
            error = MutualAuthenticationFailed(
                f"the server reported {self.name} success before the mechanism finished: "
                "the server did not prove itself; close this session"
            )
            return Result(Outcome.CANCELLED, self.name, code, text, error=error)
        return Result(Outcome.SUCCESS, self.name, code, text, additional)

    def _additional(self, data: bytes) -> SASLError | None:
        """Give success data to the mechanism; its error, if it refuses them."""
        if self.mechanism.complete:
            return (
                MalformedMessage(f"{self.name} success data after the last step") if data else None
            )
        try:
            self.mechanism.step(data)
        except SASLError as exc:
            return exc
        return None


def _without_data(reply: Reply) -> str:
    return f"OK (SASL {REDACTED})" + (f" {quote(reply.text.encode())}" if reply.text else "")


# --- the profile -----------------------------------------------------------------------


class SieveProfile(Profile):
    """ManageSieve (RFC 5804): service name ``sieve`` (2.1)."""

    name = "sieve"
    service = "sieve"

    def mechanisms(self, capabilities_reply: bytes) -> tuple[str, ...]:
        reader = ResponseReader()
        response = reader.receive(capabilities_reply)
        if response is None:
            raise ProtocolViolation("the capability list ends before its OK")
        return capabilities(response).mechanisms

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> ClientAuth:
        if options:
            raise UsageError(f"the ManageSieve profile takes no options ({', '.join(options)})")
        if not _MECHANISM.fullmatch(name):
            raise UsageError(f"{name[:40]!r} is not a SASL mechanism name")
        return SieveClientAuth(name, mechanism)

    def payload(self, text: str, what: str) -> bytes:
        """Strict base64 (RFC 5804 2.1): an empty payload is ``""``, ``=`` means nothing."""
        return b64decode(text, what)

    def read_line(self, side: str, text: str) -> Event | None:
        data = text.strip().encode("utf-8", "replace") + b"\r\n"
        found = read_wire_line(data, client=side == CLIENT)
        if found is None or found[1] != len(data):
            raise ProtocolViolation(
                "a ManageSieve transcript line that is not one whole line "
                "(literals are written as quoted strings)"
            )
        words = found[0]
        if not words:
            return None
        if side == CLIENT:
            return _client_event(words)
        reply = reply_of(words)
        if reply is not None:
            data_text = None if reply.data is None else reply.data.decode("ascii", "replace")
            return End(outcome_of(reply), text.strip(), data_text)
        if len(words) == 1 and words[0].kind == STRING:
            return Challenge(words[0].value.decode("ascii", "replace"))
        return None


def _client_event(words: tuple[Word, ...]) -> Event | None:
    first = words[0]
    if first.kind == ATOM and first.value.upper() == b"AUTHENTICATE":
        if not 2 <= len(words) <= 3 or any(w.kind != STRING for w in words[1:]):
            raise ProtocolViolation("AUTHENTICATE without a mechanism string and one response")
        name = words[1].value.decode("ascii", "replace").upper()
        initial = words[2].value.decode("ascii", "replace") if len(words) == 3 else None
        return Start(name, initial)
    if len(words) == 1 and first.kind == STRING:
        return Cancel() if first.value == b"*" else Response(first.value.decode("ascii", "replace"))
    return None


PROFILE = SieveProfile()
