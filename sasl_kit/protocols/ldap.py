"""LDAP's SASL profile: the SASL bind (RFC 4513 5.2, RFC 4511 4.2, RFC 4422).

Rules of this module (with those of ``sasl_kit.protocols.base``):
- Each step is a BindRequest (version 3, empty name) whose SaslCredentials
  carry the mechanism's name and its message as raw bytes, absent when the
  mechanism has no initial response (RFC 4513 5.2.1.2). Every step is a new
  request with a new messageID and the same mechanism.
- The server answers each with a BindResponse: ``saslBindInProgress`` (14)
  carries the next challenge in serverSaslCreds; ``success`` (0) may carry
  the mechanism's final data (SCRAM ``v=``, DIGEST-MD5 ``rspauth``), which is
  given to the mechanism and answered with nothing (RFC 4513 5.2.1.3). Any
  other resultCode ends the exchange, mapped by ``OUTCOMES``.
- To cancel, the client sends a BindRequest with an empty mechanism; the
  server answers ``authMethodNotSupported`` (RFC 4511 4.2.1, RFC 4513 5.2.1.2).
- A response whose messageID is not the request's, or an operation that is
  not a BindResponse, is ``ProtocolViolation``; an unsolicited notification
  (messageID 0, RFC 4511 4.4: the server is going away) ends the exchange with
  its resultCode's outcome. BER and its size limit are ``ldap_messages``'s.
- Besides the exchange, two session operations are profile functions here,
  sans-I/O like it: ``RootDSE`` (the ``supportedSASLMechanisms`` search,
  RFC 4512 5.1, RFC 4513 5.2.1.1) and ``StartTLS`` (RFC 4511 4.14). The
  whole reply to one of them is bounded like one message (``MAX_MESSAGE``).

Transcript notation (what ``read_line`` reads back). LDAP is binary, so each
message is written as one line naming the operation and its messageID;
payloads are base64, ``=`` when present but empty, left out when absent;
a result's diagnosticMessage follows as a JSON string when not empty::

    C: bindRequest(2) SASL SCRAM-SHA-1 <base64 initial response>
    S: bindResponse(2) saslBindInProgress (14) <base64 serverSaslCreds>
    C: bindRequest(3) SASL SCRAM-SHA-1 (continued) <base64 response>
    S: bindResponse(3) success (0) <base64 final data>
    S: bindResponse(4) invalidCredentials (49) "SASL(-13): authentication failure"
    C: bindRequest(5) SASL "" (abort)
    C: searchRequest(1) "" baseObject (objectClass=*) supportedSASLMechanisms
    S: searchResEntry(1) "" supportedSASLMechanisms: PLAIN SCRAM-SHA-1
    S: searchResDone(1) success (0)
    C: extendedReq(2) 1.3.6.1.4.1.1466.20037
    S: extendedResp(2) success (0)

``(continued)`` marks a step after the first, so that a line read alone says
whether it starts an exchange. Search and extended lines are session lines:
``read_line`` gives ``None`` for them, as for any line not of this notation.
Payloads come back as written; ``verify`` judges their base64.
"""

from __future__ import annotations

import contextlib
import json
import re
from abc import ABC, abstractmethod

from sasl_kit.errors import UsageError
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
    Start,
    TranscriptLine,
    b64encode,
)
from sasl_kit.protocols.errors import ProtocolViolation, ServerRefused, TemporaryFailure
from sasl_kit.protocols.ldap_messages import (
    BIND_RESPONSE,
    EXTENDED_RESPONSE,
    MAX_MESSAGE,
    SEARCH_DONE,
    SEARCH_ENTRY,
    START_TLS_OID,
    UNSOLICITED,
    Message,
    MessageReader,
    bind_request,
    extended_request,
    root_dse_request,
    unbind_request,
)

SUCCESS, SASL_BIND_IN_PROGRESS = 0, 14
OUTCOMES: dict[int, Outcome] = {
    SUCCESS: Outcome.SUCCESS,
    49: Outcome.REJECTED,  # invalidCredentials
    7: Outcome.REFUSED,  # authMethodNotSupported
    13: Outcome.TLS_REQUIRED,  # confidentialityRequired
    51: Outcome.TEMPORARY,  # busy
    52: Outcome.TEMPORARY,  # unavailable
}
"""RFC 4511 4.1.9 resultCode -> outcome; any code not listed is ``FAILED``."""

SUPPORTED_SASL_MECHANISMS = "supportedSASLMechanisms"
ABORT = '""'
CONTINUED = "(continued)"


def outcome_of(code: int) -> Outcome:
    return OUTCOMES.get(code, Outcome.FAILED)


# --- the notation ---------------------------------------------------------

_PAYLOAD = r'(?: (?P<payload>[^"\s]\S*))?'  # as written: diagnose judges its base64
_BIND_REQUEST = re.compile(
    r'bindRequest\((?P<id>\d+)\) SASL (?P<mechanism>[A-Za-z0-9_-]{1,20}|"")'
    r"(?P<continued> \(continued\))?(?P<abort> \(abort\))?" + _PAYLOAD
)
_RESPONSE = re.compile(
    r"(?P<op>bindResponse|extendedResp)\((?P<id>\d+)\) "
    r"(?P<name>[A-Za-z-]+) \((?P<code>\d+)\)" + _PAYLOAD + r'(?: (?P<text>".*"))?'
)


def _payload(data: bytes) -> str:
    return f" {PROFILE.written(data)}"


def _diagnostic(message: Message) -> str:
    return f" {json.dumps(message.diagnostic)}" if message.diagnostic else ""


def _result_line(message: Message) -> str:
    return f"{message.op}({message.message_id}) {message.result}"


class LDAPClientAuth(ClientAuth):
    """One SASL bind, client side (see the module rules).

    ``message_id`` is the messageID of the next request: a driver that sent
    other requests on the connection first sets it before ``start()``, and
    reads it afterwards for its own next request.
    """

    def __init__(
        self,
        name: str,
        mechanism: ClientMechanism,
        *,
        message_id: int = 1,
        limit: int = MAX_MESSAGE,
    ) -> None:
        super().__init__(name, mechanism)
        self.message_id = message_id
        self._reader = MessageReader(limit)
        self._sent_id = 0
        self._steps = 0

    def _start(self) -> bytes:
        initial = self._mechanism_initial()
        if self.result is not None:  # the mechanism could not start: nothing is sent
            return b""
        return self._bind(self.name, initial)

    def _bind(self, mechanism: str, credentials: bytes | None) -> bytes:
        self._sent_id = self.message_id
        self.message_id += 1
        line = f"bindRequest({self._sent_id}) SASL "
        if not mechanism:
            line += f"{ABORT} (abort)"
        else:
            line += f"{mechanism} {CONTINUED}" if self._steps else mechanism
        if credentials is None:
            self._record(CLIENT, line)
        else:
            self._record(CLIENT, line + _payload(credentials), shown=f"{line} {REDACTED}")
        self._steps += 1
        return bind_request(self._sent_id, mechanism, credentials)

    def _receive(self, data: bytes) -> bytes:
        self._reader.feed(data)
        out = b""
        for message in self._reader.messages():
            out += self._answer(message)
            if self.result is not None:
                break
        if self.result is not None:
            self.leftover = self._reader.pending
        return out

    def _answer(self, message: Message) -> bytes:
        if message.message_id == UNSOLICITED and message.op == EXTENDED_RESPONSE:
            self._record(SERVER, _result_line(message) + _diagnostic(message))
            self._finish(message)
            return b""
        if message.message_id != self._sent_id or message.op != BIND_RESPONSE:
            raise ProtocolViolation(
                f"the server answered bindRequest({self._sent_id}) with "
                f"{message.op}({message.message_id})"
            )
        line = _result_line(message)
        if message.sasl_credentials is None:
            self._record(SERVER, line + _diagnostic(message))
        else:
            self._record(
                SERVER,
                line + _payload(message.sasl_credentials) + _diagnostic(message),
                shown=f"{line} {REDACTED}{_diagnostic(message)}",
            )
        if self._error is None and message.code == SASL_BIND_IN_PROGRESS:
            answer = self._mechanism_answer(message.sasl_credentials or b"")
            if answer is None:  # RFC 4513 5.2.1.2: an empty mechanism aborts; 7 comes back
                return self._bind("", None)
            return self._bind(self.name, answer)
        self._finish(message)
        return b""

    def _finish(self, message: Message) -> None:
        data = message.sasl_credentials if message.code == SUCCESS else None
        self._conclude(outcome_of(message.code), message.result, message.diagnostic, data)


# --- session operations ------------------------------------------------------


class _Operation(ABC):
    """One request and its responses, sans-I/O: ``start``, then ``receive`` until ``done``."""

    def __init__(self, message_id: int, limit: int = MAX_MESSAGE) -> None:
        self.message_id = message_id
        self.done = False
        self.transcript: list[TranscriptLine] = []
        self._reader = MessageReader(limit)
        self._received = 0

    @property
    def leftover(self) -> bytes:
        return self._reader.pending

    def receive(self, data: bytes) -> None:
        if self.done:
            raise UsageError(f"{type(self).__name__}: the operation has ended")
        self._received += len(data)
        if self._received > self._reader.limit:  # an endless stream of small responses
            raise ProtocolViolation(
                f"the reply to {type(self).__name__} is longer than {self._reader.limit} bytes"
            )
        self._reader.feed(data)
        for message in self._reader.messages():
            if message.message_id != self.message_id:
                raise ProtocolViolation(
                    f"the server answered request {self.message_id} with "
                    f"{message.op}({message.message_id})"
                )
            self._take(message)
            if self.done:
                return

    @abstractmethod
    def start(self) -> bytes:
        """The request's bytes (recorded in ``transcript``)."""

    @abstractmethod
    def _take(self, message: Message) -> None:
        """One response to the request; sets ``done`` at the last."""

    def _record(self, side: str, text: str) -> None:
        self.transcript.append(TranscriptLine(side, text))

    def _refused(self, what: str, message: Message) -> ServerRefused:
        error = TemporaryFailure if outcome_of(message.code) is Outcome.TEMPORARY else ServerRefused
        said = f": {message.diagnostic}" if message.diagnostic else ""
        return error(
            f"the server refused {what} ({message.result}{said})",
            code=message.result,
            text=message.diagnostic,
        )


class RootDSE(_Operation):
    """RFC 4512 5.1 / RFC 4513 5.2.1.1: read ``supportedSASLMechanisms`` from the root DSE.

    ``mechanisms`` holds the names in the server's order once ``done``.
    """

    def __init__(self, message_id: int, limit: int = MAX_MESSAGE) -> None:
        super().__init__(message_id, limit)
        self.mechanisms: tuple[str, ...] = ()

    def start(self) -> bytes:
        self._record(
            CLIENT,
            f'searchRequest({self.message_id}) "" baseObject (objectClass=*) '
            f"{SUPPORTED_SASL_MECHANISMS}",
        )
        return root_dse_request(self.message_id, [SUPPORTED_SASL_MECHANISMS])

    def _take(self, message: Message) -> None:
        if message.op == SEARCH_ENTRY:
            for attribute, values in message.entry:
                if attribute.lower() == SUPPORTED_SASL_MECHANISMS.lower():
                    self.mechanisms += tuple(_mechanism_name(value) for value in values)
            self._record(
                SERVER,
                f"{SEARCH_ENTRY}({message.message_id}) {json.dumps(message.dn)} "
                f"{SUPPORTED_SASL_MECHANISMS}: {' '.join(self.mechanisms)}".rstrip(),
            )
            return
        if message.op != SEARCH_DONE:
            return
        self._record(SERVER, _result_line(message) + _diagnostic(message))
        self.done = True
        if message.code != SUCCESS:
            raise self._refused("the root DSE search", message)


class StartTLS(_Operation):
    """RFC 4511 4.14: the StartTLS extended request; ``done`` once the server agreed.

    The driver starts TLS on the connection right after (RFC 4511 4.14.2),
    before it sends anything else.
    """

    def start(self) -> bytes:
        self._record(CLIENT, f"extendedReq({self.message_id}) {START_TLS_OID}")
        return extended_request(self.message_id, START_TLS_OID)

    def _take(self, message: Message) -> None:
        if message.op != EXTENDED_RESPONSE:
            raise ProtocolViolation(f"the server answered StartTLS with {message.op}")
        self._record(SERVER, _result_line(message) + _diagnostic(message))
        self.done = True
        if message.code != SUCCESS:
            raise self._refused("StartTLS", message)


def unbind(message_id: int) -> bytes:
    """RFC 4511 4.3: the UnbindRequest that ends a session (no response)."""
    return unbind_request(message_id)


def _mechanism_name(value: bytes) -> str:
    try:
        return value.decode("ascii").upper()
    except UnicodeDecodeError:
        raise ProtocolViolation(f"a {SUPPORTED_SASL_MECHANISMS} value that is not ASCII") from None


# --- the profile ---------------------------------------------------------------


class LDAPProfile(Profile):
    name = "ldap"
    tls_upgrade = "StartTLS"  # RFC 4511 4.14
    service = "ldap"  # RFC 4513 5.2.1.2 / the GSSAPI service name, also DIGEST-MD5's digest-uri

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        """``capabilities`` is the server's whole reply to the root DSE search
        (``RootDSE``): its entry and its searchResDone."""
        reader = MessageReader()
        reader.feed(capabilities)
        first = next(reader.messages(), None)
        if first is None:
            raise ProtocolViolation("the root DSE reply is not a whole LDAP message")
        search = RootDSE(first.message_id)
        search.receive(capabilities)
        if not search.done or search.leftover:
            raise ProtocolViolation("the root DSE reply does not end with its searchResDone")
        return search.mechanisms

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> LDAPClientAuth:
        """Options: ``message_id`` (int), the messageID of the first BindRequest."""
        message_id = options.pop("message_id", 1)
        if options:
            raise UsageError(f"unknown LDAP bind options: {', '.join(sorted(options))}")
        if not isinstance(message_id, int) or not 0 < message_id < 2**31:
            raise UsageError("message_id must be an int from 1 to 2**31 - 1 (RFC 4511 4.1.1)")
        return LDAPClientAuth(name, mechanism, message_id=message_id)

    def written(self, data: bytes) -> str:
        """Base64, ``=`` for present but empty (absent payloads are not written)."""
        return b64encode(data) or "="

    def read_line(self, side: str, text: str) -> Event | None:
        if side == CLIENT:
            return _read_client(text)
        if side == SERVER:
            return _read_server(text)
        return None


def _read_client(text: str) -> Event | None:
    if not text.startswith("bindRequest("):
        return None
    match = _BIND_REQUEST.fullmatch(text)
    if match is None:
        return None
    if match["mechanism"] == ABORT:
        return Cancel()
    payload = match["payload"]
    if match["continued"]:
        return Response(payload or "")
    return Start(match["mechanism"].upper(), payload)


def _read_server(text: str) -> Event | None:
    if not text.startswith(("bindResponse(", "extendedResp(0)")):
        return None
    match = _RESPONSE.fullmatch(text)
    if match is None:
        return None
    code, payload, words = int(match["code"]), match["payload"], match["text"] or ""
    with contextlib.suppress(ValueError):  # a hand-edited text may not be JSON: keep it
        words = str(json.loads(words)) if words else ""
    reply = f"{match['name']} ({code})" + (f" {words}" if words else "")
    if code == SASL_BIND_IN_PROGRESS and match["op"] == "bindResponse":
        return Challenge(payload or "")
    return End(outcome_of(code), reply, payload)


PROFILE = LDAPProfile()
