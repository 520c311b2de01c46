"""The IMAP profile: AUTHENTICATE (RFC 9051 6.2.2, RFC 3501 6.2.2), SASL-IR (RFC 4959).

Rules (the shared line rules are ``lines``):
- Mechanisms: every ``AUTH=`` capability, from a ``* CAPABILITY`` response or
  a ``[CAPABILITY ...]`` response code (RFC 9051 7.2.2, 7.1), in order.
  ``capabilities`` gives all of them (``SASL-IR``, ``STARTTLS``, ...).
- ``tag AUTHENTICATE mechanism [initial-response]``: the initial response
  only when the server listed ``SASL-IR`` (RFC 4959 3; ``=`` for an empty
  one); without it, or when the command would pass 8192 octets (the limit
  RFC 9051 4 advises servers to accept), it answers the first, empty, ``+``.
  Challenges are ``+ base64`` (``+`` alone is empty), responses one base64
  line, ``*`` cancels (the server answers BAD).
- Outcomes are the tagged ``OK``/``NO``/``BAD`` of the command's own tag;
  untagged lines (``* CAPABILITY ...``) and other tags in between are chatter.
  ``OK`` succeeds; ``BAD`` fails (a syntax error or a cancel); ``NO`` rejects
  the credentials unless its response code says otherwise (RFC 9051 7.1,
  RFC 5530): ``[UNAVAILABLE]`` fails for now, ``[PRIVACYREQUIRED]`` wants
  TLS, ``[CANNOT]`` refuses the mechanism, ``[CONTACTADMIN]`` fails for good.
  No additional data with success: the server sends it as a last ``+``,
  answered by an empty line. Bytes after the tagged line are ``leftover``.
- Lines are at most 65536 octets. Literals (``{n}``) are not read: none of
  the lines an exchange consists of may hold one.
- Transcripts: ``C: a1 AUTHENTICATE PLAIN``, ``S: + <b64>``, ``S: a1 OK ...``.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sasl_kit.errors import UsageError
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.protocols.base import (
    CLIENT,
    SERVER,
    Cancel,
    Challenge,
    Chatter,
    End,
    Event,
    Outcome,
    Profile,
    Response,
    Start,
)
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.protocols.lines import MECHANISM, LineClient, LineServer, mechanism_name, show, unique

MAX_LINE = 1 << 16
_AUTHENTICATE = re.compile(r"(\S+)\s+AUTHENTICATE\s+(\S+)(?:\s+(\S+))?\s*", re.IGNORECASE)
_TAGGED = re.compile(r"(\S+)\s+(OK|NO|BAD)(?:\s+(.*))?", re.IGNORECASE | re.DOTALL)
_CODE = re.compile(r"\[([A-Z-]+)[^\]]*\]", re.IGNORECASE)
_CAPABILITY_LIST = re.compile(r"\*\s+CAPABILITY\s+(.*)|.*?\[CAPABILITY\s+([^\]]*)\]", re.I)
_TAG = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]{1,64}")
"""RFC 9051 9: a tag is astring characters but ``+``; bounded here."""

CODES: dict[str, Outcome] = {
    "AUTHENTICATIONFAILED": Outcome.REJECTED,
    "AUTHORIZATIONFAILED": Outcome.REJECTED,
    "EXPIRED": Outcome.REJECTED,
    "UNAVAILABLE": Outcome.TEMPORARY,
    "PRIVACYREQUIRED": Outcome.TLS_REQUIRED,
    "CANNOT": Outcome.REFUSED,
    "CONTACTADMIN": Outcome.FAILED,
}
"""RFC 5530 3 response codes of a NO -> outcome; a NO without one rejects."""


def outcome(status: str, text: str) -> Outcome:
    status = status.upper()
    if status == "OK":
        return Outcome.SUCCESS
    if status == "BAD":
        return Outcome.FAILED
    code = _CODE.match(text)
    return CODES.get(code[1].upper(), Outcome.REJECTED) if code else Outcome.REJECTED


class IMAPClientAuth(LineClient):
    server_limit = MAX_LINE
    command_limit = 8192

    def __init__(
        self, profile: Profile, name: str, mechanism: ClientMechanism, *, tag: str, sasl_ir: bool
    ) -> None:
        super().__init__(profile, name, mechanism, initial_response=sasl_ir)
        self.tag = _tag(tag)
        """The command's tag; a driver that numbers its commands may set it before ``start``."""

    def _start(self) -> bytes:
        self.tag = _tag(self.tag)
        return super()._start()

    def _command(self, argument: str | None) -> str:
        command = f"{self.tag} AUTHENTICATE {self.name}"
        return command if argument is None else f"{command} {argument}"

    def _interpret(self, line: str) -> Event | None:
        event = self.profile.read_line(SERVER, line)
        if isinstance(event, End) and event.tag == self.tag:
            return event
        if isinstance(event, Challenge):
            return event
        if event is None:
            raise ProtocolViolation(f"the server sent a line that is not IMAP: {show(line)}")
        return None  # untagged data, another command's outcome

    def _code(self, end: End) -> tuple[str, str]:
        return _code_and_text(end.reply)


def _tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise UsageError(f"{tag!r} is not an IMAP tag")
    return tag


def _code_and_text(reply: str) -> tuple[str, str]:
    """``a1 NO [AUTHENTICATIONFAILED] bad`` -> ``("NO [AUTHENTICATIONFAILED]", "bad")``."""
    tagged = _TAGGED.fullmatch(reply)
    if tagged is None:
        return reply, ""
    status, text = tagged[2].upper(), (tagged[3] or "").strip()
    code = _CODE.match(text)
    if code is not None:
        return f"{status} {code[0]}", text[code.end() :].strip()
    return status, text


class IMAPServerAuth(LineServer):
    client_limit = MAX_LINE
    replies: ClassVar[dict[str, tuple[Outcome, str]]] = {
        "success": (Outcome.SUCCESS, "OK Logged in"),
        "syntax": (Outcome.FAILED, "BAD Syntax: tag AUTHENTICATE mechanism [initial-response]"),
        "base64": (Outcome.FAILED, "BAD Invalid base64 data"),
        "malformed": (Outcome.FAILED, "BAD Malformed authentication response"),
        "rejected": (Outcome.REJECTED, "NO [AUTHENTICATIONFAILED] Authentication failed"),
        "policy": (Outcome.REJECTED, "NO [AUTHORIZATIONFAILED] Authentication refused by policy"),
        "temporary": (Outcome.TEMPORARY, "NO [UNAVAILABLE] Temporary authentication failure"),
        "cancelled": (Outcome.CANCELLED, "BAD Authentication cancelled"),
        "final": (Outcome.FAILED, "BAD Expected an empty line"),
        "too-long": (Outcome.FAILED, "BAD Line too long"),
    }
    """RFC 9051 6.2.2 (BAD after ``*``), RFC 5530 3 response codes."""

    def _challenge(self, text: str) -> str:
        return f"+ {text}"

    def _reply(self, line: str) -> str:
        return f"{self.tag or '*'} {line}"

    def _split(self, line: str) -> tuple[str, str]:
        return _code_and_text(line)


class IMAPProfile(Profile):
    name = "imap"
    service = "imap"

    def capabilities(self, data: bytes) -> tuple[str, ...]:
        """Every capability the server listed (upper-case), in order."""
        found: list[str] = []
        for line in data.decode("utf-8", errors="replace").splitlines():
            match = _CAPABILITY_LIST.match(line.strip())
            if match is not None:
                found.extend(word.upper() for word in (match[1] or match[2] or "").split())
        return tuple(dict.fromkeys(found))

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        found: list[str] = []
        for line in capabilities.decode("utf-8", errors="replace").splitlines():
            match = _CAPABILITY_LIST.match(line.strip())
            if match is not None:
                words = (match[1] or match[2] or "").split()
                found.extend(w[5:] for w in words if w[:5].upper() == "AUTH=")
        return unique(found)

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> IMAPClientAuth:
        """Options: ``tag`` (``"A1"``), ``sasl_ir`` (whether the server listed ``SASL-IR``)."""
        tag = options.get("tag", "A1")
        if not isinstance(tag, str):
            raise UsageError("the IMAP tag must be a string")
        return IMAPClientAuth(self, name, mechanism, tag=tag, sasl_ir=bool(options.get("sasl_ir")))

    def server(self, name: str, mechanism: ServerMechanism, **options: object) -> IMAPServerAuth:
        return IMAPServerAuth(self, mechanism_name(name), mechanism)

    def read_line(self, side: str, text: str) -> Event | None:
        text = text.strip()
        if side == CLIENT:
            command = _AUTHENTICATE.fullmatch(text)
            if command is not None and MECHANISM.fullmatch(command[2].upper()):
                return Start(command[2].upper(), command[3], tag=command[1])
            return Cancel() if text == "*" else Response(text)
        if side != SERVER:
            return None
        if text == "+" or text.startswith("+ "):
            return Challenge(text[2:].strip())
        if text.startswith("* "):
            return Chatter()
        tagged = _TAGGED.fullmatch(text)
        if tagged is None or not _TAG.fullmatch(tagged[1]):
            return None
        return End(outcome(tagged[2], (tagged[3] or "").strip()), text, tag=tagged[1])


PROFILE = IMAPProfile()
