"""The POP3 profile: AUTH (RFC 5034), response codes (RFC 2449 8, RFC 3206).

Rules (the shared line rules are ``lines``):
- Mechanisms: the ``SASL`` line of the ``CAPA`` reply (RFC 5034 3, RFC 2449
  6.3), its words in order; the reply's first line (``+OK``) and its ending
  ``.`` are not capabilities.
- ``AUTH mechanism [initial-response]`` (RFC 5034 4): ``=`` is an empty
  initial response; one that would make the command longer than 255 octets
  with CRLF goes as the answer to the first, empty, ``+`` instead.
  Challenges are ``+ base64`` (``+`` alone is empty), responses one base64
  line (the 255-octet limit does not apply to them), ``*`` cancels (the
  server answers ``-ERR``).
- Outcomes: ``+OK`` succeeds; ``-ERR`` rejects the credentials unless its
  response code says otherwise: ``[SYS/TEMP]`` and ``[IN-USE]`` (the maildrop
  is locked) and ``[LOGIN-DELAY]`` fail for now, ``[SYS/PERM]`` fails for
  good, ``[AUTH]`` is the credentials' (RFC 3206 4, RFC 2449 8.1). No
  additional data with success: the server sends it as a last ``+``,
  answered by an empty line.
- Lines are at most 65536 octets.
- Transcripts: ``C: AUTH PLAIN``, ``S: + <b64>``, ``S: +OK ...``.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism
from sasl_kit.protocols.base import CLIENT, SERVER, Challenge, End, Event, Outcome, Profile
from sasl_kit.protocols.lines import LineClient, LineServer, mechanism_name, unique
from sasl_kit.protocols.smtp import read_client_line

MAX_LINE = 1 << 16
_CODE = re.compile(r"\[([A-Z/-]+)\]", re.IGNORECASE)

CODES: dict[str, Outcome] = {
    "AUTH": Outcome.REJECTED,
    "SYS/TEMP": Outcome.TEMPORARY,
    "IN-USE": Outcome.TEMPORARY,
    "LOGIN-DELAY": Outcome.TEMPORARY,
    "SYS/PERM": Outcome.FAILED,
}
"""RFC 3206 4 and RFC 2449 8.1 response codes of an -ERR -> outcome; without one, rejected."""


def outcome(text: str) -> Outcome:
    if text.startswith("+OK"):
        return Outcome.SUCCESS
    code = _CODE.match(text[4:].strip())
    return CODES.get(code[1].upper(), Outcome.REJECTED) if code else Outcome.REJECTED


class POP3ClientAuth(LineClient):
    server_limit = MAX_LINE
    command_limit = 255

    def _command(self, argument: str | None) -> str:
        return f"AUTH {self.name}" if argument is None else f"AUTH {self.name} {argument}"

    def _code(self, end: End) -> tuple[str, str]:
        return split(end.reply)


def split(reply: str) -> tuple[str, str]:
    """``-ERR [AUTH] bad`` -> ``("-ERR [AUTH]", "bad")``."""
    status, _, text = reply.partition(" ")
    text = text.strip()
    code = _CODE.match(text)
    if code is not None:
        return f"{status} {code[0]}", text[code.end() :].strip()
    return status, text


class POP3ServerAuth(LineServer):
    client_limit = MAX_LINE
    replies: ClassVar[dict[str, tuple[Outcome, str]]] = {
        "success": (Outcome.SUCCESS, "+OK Logged in"),
        "syntax": (Outcome.FAILED, "-ERR Syntax: AUTH mechanism [initial-response]"),
        "base64": (Outcome.FAILED, "-ERR Invalid base64 data"),
        "malformed": (Outcome.FAILED, "-ERR Malformed authentication response"),
        "rejected": (Outcome.REJECTED, "-ERR [AUTH] Authentication failed"),
        "policy": (Outcome.REJECTED, "-ERR [AUTH] Authentication refused by policy"),
        "temporary": (Outcome.TEMPORARY, "-ERR [SYS/TEMP] Temporary authentication failure"),
        "cancelled": (Outcome.CANCELLED, "-ERR Authentication cancelled"),
        "final": (Outcome.FAILED, "-ERR Expected an empty line"),
        "too-long": (Outcome.FAILED, "-ERR Line too long"),
    }
    """RFC 5034 4 (-ERR after ``*``), RFC 3206 4 codes."""

    def _challenge(self, text: str) -> str:
        return f"+ {text}"

    def _split(self, line: str) -> tuple[str, str]:
        return split(line)


class POP3Profile(Profile):
    name = "pop3"
    service = "pop"
    tls_upgrade = "STLS"  # RFC 2595 4

    def mechanisms(self, capabilities: bytes) -> tuple[str, ...]:
        names: list[str] = []
        for line in capabilities.decode("utf-8", errors="replace").splitlines()[1:]:
            words = line.split()
            if words[:1] and words[0].upper() == "SASL":
                names.extend(words[1:])
        return unique(names)

    def client(self, name: str, mechanism: ClientMechanism, **options: object) -> POP3ClientAuth:
        return POP3ClientAuth(self, name, mechanism)

    def server(self, name: str, mechanism: ServerMechanism, **options: object) -> POP3ServerAuth:
        return POP3ServerAuth(self, mechanism_name(name), mechanism)

    def read_line(self, side: str, text: str) -> Event | None:
        text = text.strip()
        if side == CLIENT:
            return read_client_line(text)
        if side != SERVER:
            return None
        if text.startswith(("+OK", "-ERR")):
            return End(outcome(text), text)
        if text == "+" or text.startswith("+ "):
            return Challenge(text[2:].strip())
        return None


PROFILE = POP3Profile()
