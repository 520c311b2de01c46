"""Dovecot's authentication protocol, server role, without I/O (docs/auth-server.md).

An MTA such as Postfix (``smtpd_sasl_type = dovecot``) asks an authentication
service to run its clients' SASL exchanges: it connects, both sides send a
handshake, then each SMTP AUTH becomes a request with an id on that one
connection. This module is the service's side of one such connection.

Rules of this module:
- Sans-I/O: ``receive`` takes whatever a read returned and gives the lines to
  write; no sockets, no clocks, no logging. The asyncio server (``server.py``)
  moves bytes, applies the failure delay to outputs marked ``delay`` and logs
  what ``log`` says.
- Every line from the client is untrusted, and is answered as Dovecot 2.3.19
  answers it. A line that breaks the protocol (unknown command, bad version,
  anything but CPID before CPID, a CPID of 0, an AUTH with id 0 or an id in
  use, a CONT or CANCEL without a proper id, an AUTH for a mechanism not
  announced, an AUTH with a field after ``resp=``, a line over ``MAX_LINE``,
  too many requests at once) raises ``ProtocolViolation``: the connection must
  be closed, as Dovecot closes it. A bad SASL message inside a request is that
  request's FAIL, and a CONT for no waiting request gets the FAIL Dovecot
  sends for one (it took the request for timed out), never the connection's
  end.
- Lines are split by the profiles' ``LineBuffer``, which counts a line with
  its ending here, as Dovecot's reader does.
- What the client may learn of a failure is what Dovecot 2.3.19 sends in the
  same case, a fixed reason or none (a message a mechanism cannot parse gets
  a bare FAIL, as a wrong password does), never exception text; what went
  wrong goes to ``log`` for the service's own log.
- Which mechanisms exist, and their flags, come from the registry; the
  mechanism objects do every SASL computation.

Theory of operation (Dovecot's "auth protocol", version 1.2, as Dovecot 2.3
speaks it to Postfix 3.7: ``tests/interop/test_auth_service.py`` records both):

    S: VERSION 1 2 / MECH name flags... / SPID pid / CUID n / COOKIE hex / DONE
    C: VERSION 1 x / CPID pid         (both first: Dovecot takes no request before)
    C: AUTH id mech service=smtp [secured] ... [resp=base64]   (resp last, as Dovecot wants;
       "resp==" is an empty initial response, and so is "resp=" from minor version 2 on)
    S: CONT id base64          C: CONT id base64      (as often as the mechanism needs)
    S: OK id user=NAME   or   S: FAIL id [code=CODE] [reason=TEXT] [temp]
    C: CANCEL id                      (the request is forgotten, nothing answered)

Fields are separated by TAB, a line ends with LF; values use Dovecot's
tab-escaping (``\\x01`` then ``0``, ``1``, ``t``, ``r``, ``n``/``l``).
Additional data with success (SCRAM's ``v=``, DIGEST-MD5's ``rspauth``) goes
as one more CONT, answered with an empty CONT, then OK: Dovecot does the same,
and it says OK to any answer there (the authentication is done), as ours does.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sasl_kit.errors import AuthenticationFailed, MalformedMessage, SASLError
from sasl_kit.mechanisms.base import ServerMechanism
from sasl_kit.protocols.base import LineBuffer
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.registry import MechanismInfo

MAJOR_VERSION, MINOR_VERSION = 1, 2
MAX_LINE = 16384
"""Bytes a line may take with its ending (LF, or CR LF): Dovecot's auth protocol document
says a line is expected to fit into 16384 bytes, and Dovecot 2.3 closes the connection on
the 16385th (``tests/interop/test_auth_service.py`` compares both services at the limit)."""
MAX_REQUESTS = 64
"""Requests in progress on one connection; one smtpd has one at a time."""
MAX_ID = 2**32 - 1
TAKE_NULS = frozenset({"PLAIN", "NTLM", "ANONYMOUS", "GSSAPI", "APOP", "OTP"})
"""The mechanisms Dovecot 2.3.19 lets see a NUL (``MECH_SEC_ALLOW_NULS``, NTLM through
winbind); any other fails a request whose data holds one (auth-request.c)."""
SERVER_FIRST = frozenset({"CRAM-MD5", "DIGEST-MD5"})
"""The mechanisms whose initial response Dovecot 2.3.19 ignores, sending its challenge
(mech-cram-md5.c, mech-digest-md5.c)."""

PLAINTEXT_REFUSED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
BAD_BASE64 = "Invalid base64 data in {where}"
INVALID_BASE64 = "invalid_base64"
"""The ``code=`` Dovecot 2.3 puts before that reason (lib-auth/auth-client-interface.h)."""
TEMPORARY = "Temporary authentication failure"
TIMED_OUT = "Authentication request timed out"

_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_BASE64_SPACE = str.maketrans("", "", " \t\r\n")
_UNESCAPE = {"0": "\0", "1": "\x01", "t": "\t", "r": "\r", "n": "\n", "l": "\n"}
_ESCAPE = {"\0": "\x010", "\x01": "\x011", "\t": "\x01t", "\r": "\x01r", "\n": "\x01n"}


def flags(info: MechanismInfo) -> tuple[str, ...]:
    """The MECH flags of a registry row, as Postfix's ``smtpd_sasl_security_options`` reads them.

    The registry knows whether the secret crosses in the clear and whether the
    mechanism authenticates anyone; for the rest the flags are conservative: a
    password mechanism is announced as open to dictionary attacks and, unless it
    binds to the TLS channel, to active attacks, and none claims mutual
    authentication. An option such as ``noactive`` then excludes too much, never
    too little.
    """
    out = []
    if info.credential == "none":
        out.append("anonymous")
    if info.plaintext:
        out.append("plaintext")
    elif info.credential == "password":
        out.append("dictionary")
        if not info.channel_binding:
            out.append("active")
    return tuple(out)


def decode_base64(text: str) -> bytes:
    """Base64 as Dovecot 2.3's auth service reads a response (lib/base64.c, no flags):
    space, TAB, CR and LF are skipped anywhere, padding is required and nothing may
    follow it; the unused bits of the last character are not checked."""
    compact = text.translate(_BASE64_SPACE)
    if not _BASE64.fullmatch(compact):
        raise MalformedMessage("not base64 (padded, only whitespace besides)")
    return binascii.a2b_base64(compact)


def escape(value: str) -> str:
    return "".join(_ESCAPE.get(c, c) for c in value)


def unescape(value: str) -> str:
    out, chars = [], iter(value)
    for c in chars:
        out.append(_UNESCAPE.get(next(chars, ""), "") if c == "\x01" else c)
    return "".join(out)


@dataclass(frozen=True)
class Output:
    """One line to write. ``delay``: a failed authentication, to be answered only
    after the service's failure delay (Dovecot's ``auth_failure_delay``)."""

    line: bytes
    delay: bool = False


@dataclass(frozen=True)
class Request:
    """What an AUTH line asked for: its id, mechanism and parameters."""

    id: int
    mechanism: str
    service: str
    secured: bool
    parameters: dict[str, str] = field(repr=False)


@dataclass
class _Pending:
    request: Request
    mechanism: ServerMechanism
    final: bool = False  # additional data with success was sent; the next CONT ends it


class Connection:
    """The service's side of one client connection.

    ``offered``: the registry rows announced in MECH lines. ``start(request)``
    makes the server mechanism for a request (the service's options: users,
    host name, nonce counts). ``allow_plaintext``: accept PLAIN/LOGIN on a
    connection the client did not mark ``secured``. ``log(message)`` receives
    what went wrong, for the service's log (no secrets: names and reasons).
    """

    def __init__(
        self,
        offered: Sequence[MechanismInfo],
        start: Callable[[Request], ServerMechanism],
        *,
        spid: int,
        cuid: int,
        cookie: str,
        allow_plaintext: bool = False,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self._offered = {info.name: info for info in offered}
        self._start = start
        self._handshake = (spid, cuid, cookie)
        self._allow_plaintext = allow_plaintext
        self._log = log
        self._lines = LineBuffer(MAX_LINE, "the client", ending_counted=True)
        self._version_seen = False
        self._minor = 0
        self._cpid_seen = False
        self._pending: dict[int, _Pending] = {}

    def greeting(self) -> bytes:
        """The service's handshake, sent at once on connect (Dovecot does not wait)."""
        spid, cuid, cookie = self._handshake
        lines = [f"VERSION\t{MAJOR_VERSION}\t{MINOR_VERSION}"]
        lines += ["\t".join(("MECH", name, *flags(info))) for name, info in self._offered.items()]
        lines += [f"SPID\t{spid}", f"CUID\t{cuid}", f"COOKIE\t{cookie}", "DONE"]
        return "".join(line + "\n" for line in lines).encode("ascii")

    def receive(self, data: bytes) -> list[Output]:
        """The lines to write for ``data``; ``ProtocolViolation``: close the connection."""
        self._lines.add(data)
        out: list[Output] = []
        while (line := self._lines.line()) is not None:
            out.extend(self._line(line))
        return out

    # --- commands ----------------------------------------------------------------------

    def _line(self, raw: bytes) -> Iterable[Output]:
        # Dovecot reads bytes: one that is not UTF-8 is kept (as a lone surrogate), so
        # that in base64 it is bad base64 and in a field it does not know, nothing.
        command, *args = raw.decode("utf-8", "surrogateescape").split("\t")
        if not self._version_seen:
            if command != "VERSION":
                raise ProtocolViolation(f"expected VERSION first, got {_shown(command)}")
            return self._version(args)
        if not self._cpid_seen:  # Dovecot 2.3 takes no request before it
            if command != "CPID":
                raise ProtocolViolation(f"expected CPID after VERSION, got {_shown(command)}")
            if len(args) != 1 or not _uint(args[0]):
                raise ProtocolViolation("a CPID line that is not 'CPID <pid>', pid above 0")
            self._cpid_seen = True
            return ()
        if command == "AUTH":
            return self._auth(args)
        if command == "CONT":
            return self._cont(args)
        if command == "CANCEL":
            return self._cancel(args)
        raise ProtocolViolation(f"unknown command {_shown(command)}")

    def _version(self, args: list[str]) -> Iterable[Output]:
        numbers = [_uint(arg) for arg in args]
        if len(numbers) != 2 or None in numbers:
            raise ProtocolViolation("a VERSION line that is not 'VERSION <major> <minor>'")
        if numbers[0] != MAJOR_VERSION:
            raise ProtocolViolation(f"the client speaks another major version ({_shown(args[0])})")
        self._minor = int(args[1])
        self._version_seen = True
        return ()

    def _auth(self, args: list[str]) -> Iterable[Output]:
        if len(args) < 2:
            raise ProtocolViolation("AUTH without an id and a mechanism")
        rid = _id(args[0])
        if rid == 0:
            # Dovecot 2.3 logs "sent broken AUTH request" and disconnects: ids start at 1.
            raise ProtocolViolation("AUTH with request id 0 (ids start at 1)")
        if rid in self._pending:
            raise ProtocolViolation(f"AUTH id {rid} is already in use")
        if len(self._pending) >= MAX_REQUESTS:
            raise ProtocolViolation(f"more than {MAX_REQUESTS} requests at once")
        info = self._offered.get(args[1].upper())
        if info is None:
            raise ProtocolViolation(f"AUTH for a mechanism not offered: {_shown(args[1])}")
        fields = args[2:]
        if any(arg.partition("=")[0] == "resp" for arg in fields[:-1]):
            # Dovecot 2.3 logs "sent AUTH parameters after 'resp'" and disconnects.
            raise ProtocolViolation(f"AUTH {rid} has a field after resp=, which must be last")
        parameters: dict[str, str] = {}
        for arg in fields:
            name, _, value = arg.partition("=")
            parameters[name] = unescape(value)
        if "service" not in parameters:
            raise ProtocolViolation(f"AUTH {rid} without service=")
        if not _utf8(parameters["service"]):  # where ours differs: a mechanism reads it
            raise ProtocolViolation(f"AUTH {rid} with a service= that is not UTF-8")
        request = Request(
            rid, info.name, parameters["service"], "secured" in parameters, parameters
        )
        if info.plaintext and not request.secured and not self._allow_plaintext:
            self._log(f"request {rid}: {info.name} refused on a connection not marked secured")
            return [_fail(rid, PLAINTEXT_REFUSED)]
        resp = parameters.get("resp")
        if resp == "" and self._minor < 2:
            resp = None  # Dovecot: before minor 2 an empty resp= meant none (Exim sends it so)
        initial: bytes | None = None
        if resp in ("", "="):
            initial = b""  # Dovecot takes "=", SMTP's empty response (RFC 4954 4), for b""
        elif resp is not None:
            try:
                initial = decode_base64(resp)
            except MalformedMessage:
                self._log(f"request {rid}: {info.name}: the initial response is not base64")
                return [_bad_base64(rid, "initial response")]
        try:
            mechanism = self._start(request)
        except SASLError as exc:
            self._log(f"request {rid}: {info.name} could not start: {exc}")
            return [_fail(rid, TEMPORARY, temp=True)]
        pending = _Pending(request, mechanism)
        self._pending[rid] = pending
        if initial and info.name in SERVER_FIRST and b"\0" not in initial:
            self._log(f"request {rid}: {info.name} takes no initial response: ignored")
            initial = None
        return self._step(pending, initial)

    def _cont(self, args: list[str]) -> Iterable[Output]:
        if len(args) < 2:
            raise ProtocolViolation("CONT that is not 'CONT <id> <data>'")
        rid = _id(args[0])
        pending = self._pending.get(rid)
        if pending is None:
            # Dovecot 2.3 answers so and goes on (auth-request-handler.c), logging nothing.
            self._log(f"CONT for id {rid}, which waits for nothing: answered as timed out")
            return [_fail(rid, TIMED_OUT)]
        try:
            # Dovecot takes all after the id for the data; its base64 skips a TAB.
            data = decode_base64("\t".join(args[1:]))
        except MalformedMessage:
            del self._pending[rid]
            self._log(f"request {rid}: {pending.request.mechanism}: a response that is not base64")
            return [_bad_base64(rid, "continued response")]
        if pending.final:
            del self._pending[rid]
            if data:  # RFC 4422 5 wants it empty; Dovecot 2.3 ignores it and says OK
                self._log(f"request {rid}: a non-empty answer to the final data, ignored")
            return [self._ok(pending)]
        return self._step(pending, data)

    def _cancel(self, args: list[str]) -> Iterable[Output]:
        rid = _id("\t".join(args))  # Dovecot reads all after CANCEL as one number
        if self._pending.pop(rid, None) is not None:  # Dovecot forgets it, answering nothing
            self._log(f"request {rid}: cancelled by the client")
        return ()

    def _step(self, pending: _Pending, data: bytes | None) -> list[Output]:
        rid, name = pending.request.id, pending.request.mechanism
        if data and b"\0" in data and name not in TAKE_NULS:
            del self._pending[rid]
            self._log(f"request {rid}: {name} got a NUL, which it takes none of")
            return [_fail(rid, None, delay=True)]
        try:
            challenge = pending.mechanism.step(data)
        except SASLError as exc:
            # Dovecot 2.3 answers every failure inside a mechanism with a bare FAIL,
            # a message it cannot parse ("plain(?): invalid input") as a wrong
            # password: what went wrong is only in the log.
            del self._pending[rid]
            self._log(f"request {rid}: {name} {_failure(exc)}: {exc}")
            return [_fail(rid, None, delay=True)]
        if pending.mechanism.complete and not challenge:
            del self._pending[rid]
            return [self._ok(pending)]
        pending.final = pending.mechanism.complete
        encoded = base64.b64encode(challenge or b"").decode("ascii")
        return [Output(f"CONT\t{rid}\t{encoded}\n".encode("ascii"))]

    def _ok(self, pending: _Pending) -> Output:
        mechanism = pending.mechanism
        user = mechanism.authzid or mechanism.authcid or ""
        self._log(f"request {pending.request.id}: {mechanism.name} succeeded for {user!r}")
        return Output(f"OK\t{pending.request.id}\tuser={escape(user)}\n".encode())


def _failure(exc: SASLError) -> str:
    """How a mechanism's error reads in the log: whose fault it was."""
    if isinstance(exc, AuthenticationFailed):
        return "failed"
    if isinstance(exc, MalformedMessage):
        return "got a malformed message"
    return "refused"  # a policy, or a state the client put the mechanism in


def _bad_base64(rid: int, where: str) -> Output:
    """Dovecot's answer to a response that is not base64: at once, with a code."""
    return _fail(rid, BAD_BASE64.format(where=where), code=INVALID_BASE64)


def _fail(
    rid: int,
    reason: str | None,
    *,
    code: str | None = None,
    temp: bool = False,
    delay: bool = False,
) -> Output:
    fields = [f"FAIL\t{rid}"]
    if code is not None:
        fields.append(f"code={code}")
    if reason is not None:
        fields.append(f"reason={escape(reason)}")
    if temp:
        fields.append("temp")
    return Output(("\t".join(fields) + "\n").encode(), delay=delay)


def _uint(text: str) -> int | None:
    """A number as Dovecot's ``str_to_uint`` reads it: ASCII digits only, at most MAX_ID."""
    if not text.isdigit() or not text.isascii() or int(text) > MAX_ID:
        return None
    return int(text)


def _id(text: str) -> int:
    rid = _uint(text)
    if rid is None:
        raise ProtocolViolation(f"a request id that is not a 32-bit number: {_shown(text)}")
    return rid


def _utf8(text: str) -> bool:
    """Whether a decoded field was UTF-8 (no byte kept as a surrogate)."""
    return text.isascii() or not any("\udc80" <= c <= "\udcff" for c in text)


def _shown(*texts: str) -> str:
    """A bounded, printable form of a client's word for a log line."""
    text = texts[0] if texts else ""
    return repr(text[:40]) + ("..." if len(text) > 40 else "")
