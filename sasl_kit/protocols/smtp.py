"""The SMTP profile: AUTH (RFC 4954), client and server side.

Rules (RFC 4954 sections as cited; the shared line rules are ``lines``):
- Mechanisms: the EHLO reply's ``AUTH`` keyword, its parameters in order
  (section 3); the pre-standard ``AUTH=`` line of old clients' servers is read
  as well. The first line of the reply greets and is skipped (RFC 5321 4.1.1.1).
- ``AUTH mechanism [initial-response]`` (section 4): ``=`` is an empty
  initial response; one that would make the command longer than 512 octets
  with CRLF (RFC 5321 4.5.3.1.4) goes as the answer to the first, empty,
  ``334`` instead. Challenges are ``334 base64`` (a multi-line 334 is joined),
  responses one base64 line, ``*`` cancels (the server answers 501).
- Outcomes (sections 4 and 6): 235 success; 535 the credentials; 534 (too
  weak) and 504 (unknown mechanism) refuse the mechanism, so the next may
  work; 538 wants TLS; 454 and every other 4xx fail for now; every other
  reply fails for good. No additional data with success: the server sends it
  as a last 334, answered by an empty line.
- Lines: a reply line at most 8192 octets (RFC 5321 4.5.3.1.5 says 512; real
  servers send more), a reply at most ``MAX_REPLY_LINES`` lines; the server
  side reads client lines up to 12288 octets (section 4) and answers a longer
  one with 500 5.5.6.
- Transcripts: ``C: AUTH PLAIN <b64>``, ``S: 334 <b64>``, ``S: 235 ...`` as in
  section 7's examples.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.protocols.base import (
    CLIENT,
    SERVER,
    Cancel,
    Challenge,
    End,
    Event,
    Outcome,
    Profile,
    Response,
    Start,
)
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.protocols.lines import (
    MECHANISM,
    LineClient,
    LineServer,
    mechanism_name,
    show,
    unique,
)

MAX_REPLY_LINES = 256
_REPLY = re.compile(r"([2-5][0-9][0-9])(?:([ -])(.*))?", re.DOTALL)
_AUTH = re.compile(r"AUTH\s+(\S+)(?:\s+(\S+))?\s*", re.IGNORECASE)
_KEYWORD = re.compile(r"AUTH(?:[ =](.*))?", re.IGNORECASE)

OUTCOMES: dict[str, Outcome] = {
    "235": Outcome.SUCCESS,
    "535": Outcome.REJECTED,
    "534": Outcome.REFUSED,
    "504": Outcome.REFUSED,
    "538": Outcome.TLS_REQUIRED,
    "454": Outcome.TEMPORARY,
}
"""RFC 4954 4 and 6: reply code -> outcome; other 4xx are temporary, the rest failures."""


def outcome(code: str) -> Outcome:
    found = OUTCOMES.get(code)
    if found is not None:
        return found
    return Outcome.TEMPORARY if code.startswith("4") else Outcome.FAILED


class SMTPClientAuth(LineClient):
    server_limit = 8192
    command_limit = 512

    def __init__(self, profile: Profile, name: str, mechanism: ClientMechanism) -> None:
        super().__init__(profile, name, mechanism)
        self._reply: list[str] = []
        self._reply_code = ""

    def _command(self, argument: str | None) -> str:
        return f"AUTH {self.name}" if argument is None else f"AUTH {self.name} {argument}"

    def _interpret(self, line: str) -> Event | None:
        match = _REPLY.fullmatch(line)
        if match is None:
            raise ProtocolViolation(f"the server sent a line that is not a reply: {show(line)}")
        code, separator, text = match[1], match[2], match[3] or ""
        if self._reply and code != self._reply_code:
            raise ProtocolViolation(
                f"the server changed the reply code from {self._reply_code} to {code} "
                "within one reply"
            )
        if len(self._reply) >= MAX_REPLY_LINES:
            raise ProtocolViolation(f"the server sent a reply of more than {MAX_REPLY_LINES} lines")
        self._reply.append(text)
        self._reply_code = code
        if separator == "-":
            return None
        lines, self._reply = self._reply, []
        if code == "334":
            return Challenge("".join(lines).strip())
        return End(outcome(code), f"{code} " + " ".join(t for t in lines if t))

    def _code(self, end: End) -> tuple[str, str]:
        code, _, text = end.reply.partition(" ")
        return code, text


class SMTPServerAuth(LineServer):
    client_limit = 12288
    replies: ClassVar[dict[str, tuple[Outcome, str]]] = {
        "success": (Outcome.SUCCESS, "235 2.7.0 Authentication successful"),
        "syntax": (Outcome.FAILED, "501 5.5.4 Syntax: AUTH mechanism [initial-response]"),
        "base64": (Outcome.FAILED, "501 5.5.2 Cannot decode response"),
        "malformed": (Outcome.FAILED, "501 5.5.2 Malformed authentication response"),
        "rejected": (Outcome.REJECTED, "535 5.7.8 Authentication credentials invalid"),
        "policy": (Outcome.REJECTED, "535 5.7.8 Authentication refused by policy"),
        "temporary": (Outcome.TEMPORARY, "454 4.7.0 Temporary authentication failure"),
        "cancelled": (Outcome.CANCELLED, "501 5.7.0 Authentication aborted"),
        "final": (Outcome.FAILED, "501 5.5.2 Expected an empty line"),
        "too-long": (Outcome.FAILED, "500 5.5.6 Authentication Exchange line is too long"),
    }
    """RFC 4954 4 and 6 (500 5.5.6, 501, 535 5.7.8, 454 4.7.0), in sasl-kit serve's words."""

    def _challenge(self, text: str) -> str:
        return f"334 {text}"


class SMTPProfile(Profile):
    name = "smtp"
    service = "smtp"

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        names: list[str] = []
        lines = capabilities.decode("utf-8", errors="replace").splitlines()
        for line in lines[1:]:
            reply = _REPLY.fullmatch(line.strip())
            keyword = _KEYWORD.fullmatch((reply[3] or "").strip()) if reply else None
            if keyword is not None and keyword[1] is not None:
                names.extend(keyword[1].split())
        return unique(names)

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> SMTPClientAuth:
        return SMTPClientAuth(self, name, mechanism)

    def server(self, name: str, mechanism: ServerMechanism, **options: object) -> SMTPServerAuth:
        return SMTPServerAuth(self, mechanism_name(name), mechanism)

    def read_line(self, side: str, text: str) -> Event | None:
        text = text.strip()
        if side == CLIENT:
            return read_client_line(text)
        if side != SERVER:
            return None
        reply = _REPLY.fullmatch(text)
        if reply is None:
            return None
        code, rest = reply[1], (reply[3] or "").strip()
        if code == "334":
            return Challenge(rest)
        return End(outcome(code), text)


def read_client_line(text: str) -> Event:
    """``AUTH MECH [initial]`` starts, ``*`` cancels, any other line may be a response
    (RFC 4954 4; RFC 5034 4 has the same client lines)."""
    command = _AUTH.fullmatch(text)
    if command is not None and MECHANISM.fullmatch(command[1].upper()):
        return Start(command[1].upper(), command[2])
    if text == "*":
        return Cancel()
    return Response(text)


PROFILE = SMTPProfile()
