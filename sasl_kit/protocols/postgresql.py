"""PostgreSQL's SASL authentication (frontend/backend protocol 3.0), client side.

The protocol is PostgreSQL 15's documentation, chapter 55 "Frontend/Backend
Protocol": 55.2.1 Start-up, 55.2.10 SSL Session Encryption, 55.3 SASL
Authentication, 55.7 Message Formats, 55.8 Error and Notice Message Fields.

Rules of this module (and those of ``base``):
- Every message is framed here, with ``struct``: a backend message is a type
  byte and a big-endian int32 length that counts itself but not the type; a
  length below 4 or above ``MAX_MESSAGE`` is ``ProtocolViolation`` as soon as
  the five header bytes are in, before any of the body is read.
- The mechanism list is not a capability reply read before authentication: it
  is ``AuthenticationSASL`` (``R``, code 10), the server's answer to the
  ``StartupMessage``, which names the role (``user``) and the database. So the
  part before the exchange is its own small object, ``Startup`` (SSLRequest,
  StartupMessage, the server's authentication request); ``PostgreSQLAuth`` is
  the exchange from ``SASLInitialResponse`` on. ``Profile.mechanisms`` reads a
  whole ``AuthenticationSASL`` message.
- The client ends the exchange only by closing the connection: the protocol
  has no SASL abort. When the mechanism fails (a bad server signature in
  ``AuthenticationSASLFinal``, a malformed challenge) the result is
  ``CANCELLED`` at once, nothing is sent, and the driver closes.
- ``AuthenticationOk`` is success only once the mechanism has completed, that
  is after it verified the server's ``AuthenticationSASLFinal``; an early
  ``AuthenticationOk`` is ``CANCELLED`` with ``MutualAuthenticationFailed``
  (a server that skips its proof may be anyone).
- An ``ErrorResponse`` is the outcome, by its SQLSTATE (field ``C``, never the
  localized text): ``28P01`` invalid_password is ``REJECTED`` (PostgreSQL
  answers an unknown role the same way); ``28000`` invalid_authorization
  is ``FAILED``, since with SASL it means pg_hba.conf refused the connection or
  the channel binding did not match, never the password; class ``53``
  (insufficient resources, ``53300`` too many connections) and ``57P01``-
  ``57P03`` (shutting down, starting up) are ``TEMPORARY``; everything else,
  ``08P01`` protocol_violation included, is ``FAILED``.
- ``NoticeResponse`` is recorded and otherwise ignored. What follows
  ``AuthenticationOk`` (``ParameterStatus``, ``BackendKeyData``,
  ``ReadyForQuery``, or an ``ErrorResponse`` such as a missing database) is
  the session's, not the exchange's: it stays in ``leftover``, and
  ``SessionStart`` reads it (55.2.1) up to ``ReadyForQuery``. An
  ``ErrorResponse`` there does not undo the exchange's success: it is
  ``SessionRefused`` with its SQLSTATE and message.
- The server's strings are decoded as UTF-8 with replacement and their control
  characters replaced, so nothing it sends breaks a transcript line.

Transcript notation (``C:``/``S:`` and the message's name as the docs spell
it; ``read_line`` reads it back):

    C: SSLRequest
    S: SSLResponse S
    C: StartupMessage user=alice database=postgres
    S: AuthenticationSASL SCRAM-SHA-256-PLUS SCRAM-SHA-256
    C: SASLInitialResponse SCRAM-SHA-256-PLUS <base64>
    S: AuthenticationSASLContinue <base64>
    C: SASLResponse <base64>
    S: AuthenticationSASLFinal <base64>
    S: AuthenticationOk
    S: ErrorResponse 28P01 FATAL password authentication failed for user "alice"
    C: (closes the connection)

A client payload of zero bytes is written ``=`` (as IMAP's SASL-IR does); a
``SASLInitialResponse`` without an initial response (length -1) has no
payload word. A server payload of zero bytes is no word at all. The last line
is the client's cancel.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from sasl_kit.errors import UsageError
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols.base import (
    CLIENT,
    REDACTED,
    SERVER,
    Cancel,
    Challenge,
    Chatter,
    ClientAuth,
    End,
    Event,
    Outcome,
    Profile,
    Response,
    Result,
    Start,
    TranscriptLine,
    b64encode,
)
from sasl_kit.protocols.errors import (
    ProtocolViolation,
    ServerRefused,
    SessionRefused,
    TemporaryFailure,
)

PROTOCOL_VERSION = 3 << 16  # 196608: major 3, minor 0 (55.7 StartupMessage)
SSL_REQUEST_CODE = 80877103  # 1234 << 16 | 5679 (55.7 SSLRequest)
MAX_MESSAGE = 65536
"""The largest backend message length accepted (the int32 counts itself, not the type).
PostgreSQL's own SASL messages stay below 1024 bytes (auth-sasl.c, PG_MAX_SASL_MESSAGE_LENGTH)."""

# 55.7 Authentication* messages: the int32 request code after the type byte R.
OK, SASL, SASL_CONTINUE, SASL_FINAL, GSS_CONTINUE = 0, 10, 11, 12, 8
REQUESTS = {
    OK: "AuthenticationOk",
    2: "AuthenticationKerberosV5",
    3: "AuthenticationCleartextPassword",
    5: "AuthenticationMD5Password",
    7: "AuthenticationGSS",
    GSS_CONTINUE: "AuthenticationGSSContinue",
    9: "AuthenticationSSPI",
    SASL: "AuthenticationSASL",
    SASL_CONTINUE: "AuthenticationSASLContinue",
    SASL_FINAL: "AuthenticationSASLFinal",
}
CANCEL_LINE = "(closes the connection)"
MAX_START_MESSAGES = 64
"""Messages accepted between AuthenticationOk and ReadyForQuery (PostgreSQL 15 sends 15:
13 ParameterStatus, BackendKeyData, ReadyForQuery)."""
TRANSACTION_STATES = (b"I", b"T", b"E")  # 55.7 ReadyForQuery: idle, in a transaction, failed

# 55.8 and Appendix A: SQLSTATE -> who is at fault; by the whole code, else by its class.
OUTCOMES = {
    "28P01": Outcome.REJECTED,  # invalid_password (also an unknown role)
    "28000": Outcome.FAILED,  # invalid_authorization_specification: pg_hba.conf, binding
    "57P01": Outcome.TEMPORARY,  # admin_shutdown
    "57P02": Outcome.TEMPORARY,  # crash_shutdown
    "57P03": Outcome.TEMPORARY,  # cannot_connect_now (starting up, in recovery)
}
CLASS_OUTCOMES = {"53": Outcome.TEMPORARY}  # insufficient resources: 53300 too many connections

_NAME = re.compile(rb"[A-Z0-9_-]{1,20}")  # RFC 4422 3.1 sasl-mech
_NOT_PRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_HEADER = struct.Struct("!cI")
_INT32 = struct.Struct("!i")


def frontend(kind: bytes, body: bytes) -> bytes:
    """A frontend message: type byte, int32 length (counting itself), body (55.7)."""
    return kind + struct.pack("!I", 4 + len(body)) + body


def ssl_request() -> bytes:
    """55.7 SSLRequest: length 8 and the SSL request code; no type byte."""
    return struct.pack("!II", 8, SSL_REQUEST_CODE)


def startup_message(parameters: Mapping[str, str]) -> bytes:
    """55.7 StartupMessage: length, protocol version, name/value strings, a final NUL."""
    body = struct.pack("!I", PROTOCOL_VERSION)
    for name, value in parameters.items():
        if "\0" in name or "\0" in value:
            raise UsageError(f"the StartupMessage parameter {name!r} holds a NUL character")
        body += name.encode("utf-8") + b"\0" + value.encode("utf-8") + b"\0"
    body += b"\0"
    return struct.pack("!I", 4 + len(body)) + body


def terminate() -> bytes:
    """55.7 Terminate: what a client sends to end a session it logged in to."""
    return frontend(b"X", b"")


def text_of(raw: bytes) -> str:
    """A server string for display: UTF-8 with replacement, control characters as '?'."""
    return _NOT_PRINTABLE.sub("?", raw.decode("utf-8", "replace"))


def parse_request(body: bytes) -> tuple[int, bytes]:
    """An Authentication message's body: its request code and what follows."""
    if len(body) < 4:
        raise ProtocolViolation("an Authentication message is shorter than its request code")
    (code,) = _INT32.unpack_from(body)
    return code, body[4:]


def parse_mechanisms(payload: bytes) -> tuple[str, ...]:
    """AuthenticationSASL's list: NUL-terminated names, then one more NUL (55.7)."""
    if not payload.endswith(b"\0"):
        raise ProtocolViolation("the AuthenticationSASL mechanism list is not terminated")
    listed = payload[:-1]
    if not listed:
        return ()
    if not listed.endswith(b"\0"):
        raise ProtocolViolation("an AuthenticationSASL mechanism name is not terminated")
    names = listed[:-1].split(b"\0")
    for name in names:
        if not _NAME.fullmatch(name):
            raise ProtocolViolation("AuthenticationSASL lists a name that is no SASL mechanism")
    return tuple(name.decode("ascii") for name in names)


@dataclass(frozen=True)
class ServerMessage:
    """An ErrorResponse or NoticeResponse: its fields by their type letter (55.8)."""

    fields: Mapping[str, str]

    @classmethod
    def parse(cls, body: bytes) -> ServerMessage:
        """Fields are a type byte and a NUL-terminated string each; a NUL byte ends them."""
        fields: dict[str, str] = {}
        at = 0
        while True:
            if at >= len(body):
                raise ProtocolViolation("an ErrorResponse/NoticeResponse is unterminated")
            if body[at] == 0:
                if at != len(body) - 1:
                    raise ProtocolViolation("bytes follow the end of an ErrorResponse's fields")
                return cls(fields)
            end = body.find(b"\0", at + 1)
            if end < 0:
                raise ProtocolViolation("an ErrorResponse/NoticeResponse field is unterminated")
            fields[text_of(body[at : at + 1])] = text_of(body[at + 1 : end])
            at = end + 1

    @property
    def code(self) -> str:
        """The SQLSTATE (``C``), ``""`` if the server gave none."""
        return self.fields.get("C", "")

    @property
    def severity(self) -> str:
        """``V`` (never localized), else the localized ``S``."""
        return self.fields.get("V", self.fields.get("S", ""))

    @property
    def text(self) -> str:
        return self.fields.get("M", "")

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.code)

    def line(self, name: str) -> str:
        return " ".join(word for word in (name, self.code, self.severity, self.text) if word)


def outcome_of(sqlstate: str) -> Outcome:
    """Who is at fault for an ErrorResponse with this SQLSTATE (module rules)."""
    return OUTCOMES.get(sqlstate, CLASS_OUTCOMES.get(sqlstate[:2], Outcome.FAILED))


class MessageReader:
    """Backend messages out of bytes in any split; the bytes not yet used stay in ``rest``."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, data: bytes) -> None:
        self.rest += data

    def next(self) -> tuple[bytes, bytes] | None:
        """The next whole message as (type, body), or ``None`` until more bytes arrive."""
        if len(self.rest) < _HEADER.size:
            return None
        kind, length = _HEADER.unpack_from(self.rest)
        if not 4 <= length <= MAX_MESSAGE:
            raise ProtocolViolation(
                f"the server sent a message of length {length}; allowed are 4 to {MAX_MESSAGE}"
            )
        end = 1 + length
        if len(self.rest) < end:
            return None
        body, self.rest = self.rest[_HEADER.size : end], self.rest[end:]
        return kind, body

    def messages(self) -> Iterator[tuple[bytes, bytes]]:
        while (message := self.next()) is not None:
            yield message


def _word(data: bytes | None, empty: str) -> str:
    """A payload as the transcript's last word: base64, ``empty`` for no bytes, none for None."""
    if data is None:
        return ""
    written = b64encode(data) or empty
    return f" {written}" if written else ""


class Startup:
    """Before the exchange: SSLRequest (optionally), StartupMessage, the server's request.

    ``receive`` takes the server's bytes until ``mechanisms`` is set: the
    ``AuthenticationSASL`` list, or ``()`` when the server asks for no SASL
    (``AuthenticationOk`` at once, or a password method); ``request`` names
    what it asked. An ``ErrorResponse`` raises ``TemporaryFailure`` or
    ``ServerRefused`` with its SQLSTATE.
    """

    def __init__(self, user: str, database: str) -> None:
        if not user:
            raise UsageError("PostgreSQL needs a user name (the role) for its StartupMessage")
        self.parameters = {"user": user, "database": database or user}
        self.mechanisms: tuple[str, ...] | None = None
        self.request = ""
        self.transcript: list[TranscriptLine] = []
        self._reader = MessageReader()

    def request_tls(self) -> bytes:
        self.transcript.append(TranscriptLine(CLIENT, "SSLRequest"))
        return ssl_request()

    def tls_answer(self, answer: bytes) -> bool:
        """The one byte answering SSLRequest: ``S`` yes, ``N`` no (55.2.10)."""
        if answer not in (b"S", b"N"):
            raise ProtocolViolation("the server answered SSLRequest with neither 'S' nor 'N'")
        self.transcript.append(TranscriptLine(SERVER, f"SSLResponse {answer.decode()}"))
        return answer == b"S"

    def start(self) -> bytes:
        shown = " ".join(f"{k}={text_of(v.encode())}" for k, v in self.parameters.items())
        self.transcript.append(TranscriptLine(CLIENT, f"StartupMessage {shown}"))
        return startup_message(self.parameters)

    def receive(self, data: bytes) -> None:
        if self.mechanisms is not None:
            raise UsageError("Startup.receive after the server's authentication request")
        self._reader.feed(data)
        for kind, body in self._reader.messages():
            if kind == b"N":
                notice = ServerMessage.parse(body).line("NoticeResponse")
                self.transcript.append(TranscriptLine(SERVER, notice))
            elif kind == b"E":
                self._fail(ServerMessage.parse(body))
            elif kind == b"R":
                self._request(*parse_request(body))
                return
            else:
                raise ProtocolViolation(
                    f"the server sent message type {kind!r} before authentication"
                )

    @property
    def leftover(self) -> bytes:
        """What came after the authentication request (after AuthenticationOk: the session's)."""
        return self._reader.rest

    def _request(self, code: int, payload: bytes) -> None:
        name = REQUESTS.get(code)
        if name is None or code in (SASL_CONTINUE, SASL_FINAL, GSS_CONTINUE):
            raise ProtocolViolation(f"the server sent authentication request {code} at start-up")
        self.request = name
        self.mechanisms = parse_mechanisms(payload) if code == SASL else ()
        self.transcript.append(TranscriptLine(SERVER, " ".join((name, *self.mechanisms))))
        if code == SASL and self._reader.rest:  # it must wait for our SASLInitialResponse
            raise ProtocolViolation("the server sent more after AuthenticationSASL")

    def _fail(self, error: ServerMessage) -> None:
        self.transcript.append(TranscriptLine(SERVER, error.line("ErrorResponse")))
        kind = TemporaryFailure if error.outcome is Outcome.TEMPORARY else ServerRefused
        said = " ".join(word for word in (error.code, error.text) if word)
        raise kind(f"the server refused the connection ({said})", code=error.code, text=error.text)


class SessionStart:
    """After AuthenticationOk: the backend's start-up, up to ReadyForQuery (55.2.1).

    ``receive`` takes the server's bytes (the exchange's ``leftover`` first)
    until ``ready``; ``parameters`` are its ParameterStatus values
    (``server_version`` ...). An ``ErrorResponse`` raises ``SessionRefused``
    with its SQLSTATE and message; anything else that is not 55.2.1's, or any
    byte after ReadyForQuery (the server waits for a query), is
    ``ProtocolViolation``.
    """

    def __init__(self) -> None:
        self.ready = False
        self.parameters: dict[str, str] = {}
        self._reader = MessageReader()
        self._messages = 0

    def receive(self, data: bytes) -> None:
        if self.ready:
            raise UsageError("SessionStart.receive after ReadyForQuery")
        self._reader.feed(data)
        for kind, body in self._reader.messages():
            self._messages += 1
            if self._messages > MAX_START_MESSAGES:
                raise ProtocolViolation(
                    f"the server sent more than {MAX_START_MESSAGES} messages before ReadyForQuery"
                )
            self._message(kind, body)
            if self.ready:
                break
        if self.ready and self._reader.rest:
            raise ProtocolViolation("the server sent more after ReadyForQuery")

    def _message(self, kind: bytes, body: bytes) -> None:
        if kind == b"S":  # ParameterStatus: String name, String value
            fields = body.split(b"\0")
            if len(fields) != 3 or fields[2] or not fields[0]:
                raise ProtocolViolation("a ParameterStatus that is not two strings")
            self.parameters[text_of(fields[0])] = text_of(fields[1])
        elif kind == b"K":  # BackendKeyData: Int32 process id, Int32 secret key
            if len(body) != 8:
                raise ProtocolViolation("a BackendKeyData that is not two Int32")
        elif kind == b"Z":
            if body not in TRANSACTION_STATES:
                raise ProtocolViolation("a ReadyForQuery without a transaction status")
            self.ready = True
        elif kind == b"N":
            ServerMessage.parse(body)
        elif kind == b"E":
            error = ServerMessage.parse(body)
            said = " ".join(word for word in (error.code, error.text) if word)
            raise SessionRefused(
                f"the server refused the session after authentication ({said})",
                code=error.code,
                text=error.text,
            )
        else:
            raise ProtocolViolation(
                f"the server sent message type {kind!r} between AuthenticationOk and ReadyForQuery"
            )


class PostgreSQLAuth(ClientAuth):
    """One SASL exchange from SASLInitialResponse to AuthenticationOk or ErrorResponse."""

    def __init__(self, name: str, mechanism: ClientMechanism) -> None:
        super().__init__(name, mechanism)
        self._reader = MessageReader()
        self._final: bytes | None = None

    def _start(self) -> bytes:
        initial = self._mechanism_initial()
        if self.result is not None:  # the mechanism could not start: nothing is sent
            return b""
        # 55.7 SASLInitialResponse: mechanism name, int32 length of the response or -1.
        length = -1 if initial is None else len(initial)
        body = self.name.encode("ascii") + b"\0" + _INT32.pack(length) + (initial or b"")
        line = f"SASLInitialResponse {self.name}"
        word = _word(initial, "=")
        self._record(CLIENT, line + word, shown=line + (f" {REDACTED}" if word else ""))
        return frontend(b"p", body)

    def _receive(self, data: bytes) -> bytes:
        self._reader.feed(data)
        out = b""
        while self.result is None and (message := self._reader.next()) is not None:
            out += self._message(*message)
        if self.result is not None:
            self.leftover = self._reader.rest
        return out

    def _message(self, kind: bytes, body: bytes) -> bytes:
        if kind == b"R":
            return self._request(*parse_request(body))
        if kind == b"E":
            error = ServerMessage.parse(body)
            self._record(SERVER, error.line("ErrorResponse"))
            self._conclude(error.outcome, error.code, error.text)
        elif kind == b"N":
            self._record(SERVER, ServerMessage.parse(body).line("NoticeResponse"))
        else:
            raise ProtocolViolation(f"the server sent message type {kind!r} during {self.name}")
        return b""

    def _request(self, code: int, payload: bytes) -> bytes:
        if code not in (SASL_CONTINUE, SASL_FINAL, OK):
            raise ProtocolViolation(f"the server sent authentication request {code} in SASL")
        name = REQUESTS[code]
        if self._final is not None and code != OK:
            raise ProtocolViolation(f"the server sent {name} after AuthenticationSASLFinal")
        self._record(SERVER, name + _word(payload if code != OK else None, ""))
        if code == OK:
            self._conclude(Outcome.SUCCESS, name, "")
            if self.result is not None and self.result.ok:  # SASLFinal's data, already checked
                self.result = replace(self.result, additional_data=self._final)
            return b""
        answer = self._mechanism_answer(payload)
        if code == SASL_FINAL:
            self._final = payload
            if answer:  # the protocol has no place for an answer to SASLFinal
                self._error = ProtocolViolation(f"{self.name} has more to send after SASLFinal")
        if answer is None or self._error is not None:
            self._cancel()
            return b""
        if code == SASL_FINAL:
            return b""
        # 55.7 SASLResponse: the mechanism's bytes, nothing else.
        self._record(CLIENT, "SASLResponse" + _word(answer, "="), shown=f"SASLResponse {REDACTED}")
        return frontend(b"p", answer)

    def _cancel(self) -> None:
        """The mechanism failed: close the connection (the protocol has no SASL abort)."""
        self._record(CLIENT, CANCEL_LINE)
        self.result = Result(Outcome.CANCELLED, self.name, error=self._error)


_LINE = re.compile(r"(\S+)(?: (.*))?")
_SESSION_LINES = {"NoticeResponse", "SSLResponse", *REQUESTS.values()}


class PostgreSQLProfile(Profile):
    name = "postgresql"
    service = "postgres"
    tls_upgrade = "SSLRequest"  # 55.2.10; what sslmode=require asks for

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        """The names in one whole AuthenticationSASL message as received."""
        reader = MessageReader()
        reader.feed(capabilities)
        message = reader.next()
        if message is None or reader.rest or message[0] != b"R":
            raise ProtocolViolation("expected one whole AuthenticationSASL message")
        code, payload = parse_request(message[1])
        if code != SASL:
            raise ProtocolViolation(f"expected AuthenticationSASL, got request code {code}")
        return parse_mechanisms(payload)

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> ClientAuth:
        if options:
            raise UsageError(f"the postgresql profile takes no options; got {', '.join(options)}")
        return PostgreSQLAuth(name, mechanism)

    def read_line(self, side: str, text: str) -> Event | None:
        match = _LINE.fullmatch(text.strip())
        if match is None:
            return None
        word, rest = match[1], (match[2] or "").strip()
        if side == CLIENT:
            if word == "SASLInitialResponse" and rest:
                mechanism, _, initial = rest.partition(" ")
                return Start(mechanism.upper(), initial.strip() or None)
            if word == "SASLResponse":
                return Response(rest)
            if text.strip() == CANCEL_LINE:
                return Cancel()
            return None
        if word == "AuthenticationSASLContinue":
            return Challenge(rest)
        if word == "AuthenticationSASLFinal":
            return End(Outcome.SUCCESS, word, rest)
        if word == "AuthenticationOk":
            return End(Outcome.SUCCESS, word)
        if word == "ErrorResponse":
            return End(outcome_of(rest.partition(" ")[0]), rest)
        if word in _SESSION_LINES:  # PostgreSQL's, though not the exchange's
            return Chatter()
        return None


PROFILE = PostgreSQLProfile()
