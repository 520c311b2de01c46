"""ANONYMOUS (RFC 4505): one optional client message, trace information, and no identity.

Rules of this module:
- The client sends ``ClientOptions.trace`` as its initial response, possibly
  empty; the server accepts anyone as the fixed identity ``anonymous`` and keeps
  the trace in ``trace`` for its logs.
- Trace information follows RFC 4505 2 and 3: prepared with the "trace"
  stringprep profile (no mapping, no normalization, the prohibited tables, the
  bidi rule; unassigned code points allowed, as for a query), then either an
  email address (an ``addr-spec``, which has the only ``@``) or a token without
  ``@``, of at most 255 characters either way. The server refuses anything else
  as ``MalformedMessage``, the client as ``UsageError``; messages name the rule
  and the position, never the text.
"""

from __future__ import annotations

import re
import stringprep

from sasl_kit.errors import MalformedMessage, UsageError
from sasl_kit.mechanisms.base import ClientMechanism, ServerMechanism, ServerOptions
from sasl_kit.mechanisms.plain import decode_utf8
from sasl_kit.saslprep import PROHIBITED

ANONYMOUS_IDENTITY = "anonymous"
MAX_TRACE = 255  # RFC 4505 2: token = 1*255TCHAR; the same bound for an email

# RFC 4505 3: the "trace" profile prohibits SASLprep's tables less C.1.2 and C.7.
_PROHIBITED = tuple(
    (what, in_table)
    for what, in_table in PROHIBITED
    if in_table not in (stringprep.in_table_c12, stringprep.in_table_c7)
)
# RFC 5322 3.2.3 / 3.4.1 addr-spec, without comments or folding; RFC 6532 UTF-8 in atext.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_EMAIL = re.compile(rf'(?:{_DOT_ATOM}|"(?:[^"\\]|\\.)*")@(?:{_DOT_ATOM}|\[[^\[\]\\]*\])', re.DOTALL)


def check_trace(trace: str) -> str:
    """Check ``trace`` against RFC 4505 2 and 3; return it, or raise ``MalformedMessage``."""
    for position, char in enumerate(trace):
        for what, in_table in _PROHIBITED:
            if in_table(char):
                raise MalformedMessage(f"ANONYMOUS: trace has a {what} at position {position}")
    rand_al = [stringprep.in_table_d1(c) for c in trace]
    if any(rand_al) and (
        any(stringprep.in_table_d2(c) for c in trace) or not (rand_al[0] and rand_al[-1])
    ):
        raise MalformedMessage("ANONYMOUS: trace breaks the bidi rule (RFC 3454 6)")
    if len(trace) > MAX_TRACE:
        raise MalformedMessage(f"ANONYMOUS: trace has {len(trace)} characters, over {MAX_TRACE}")
    if "@" in trace and not _EMAIL.fullmatch(trace):
        raise MalformedMessage("ANONYMOUS: trace with '@' is not an email address (addr-spec)")
    return trace


class AnonymousClient(ClientMechanism):
    name = "ANONYMOUS"
    client_first = True

    def _step(self, data: bytes | None) -> bytes | None:
        try:
            trace = check_trace(self.options.trace)
        except MalformedMessage as exc:
            raise UsageError(str(exc)) from None
        self._finish()
        return trace.encode("utf-8")


class AnonymousServer(ServerMechanism):
    name = "ANONYMOUS"

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)
        self.trace: str | None = None

    def _step(self, data: bytes | None) -> bytes | None:
        if data is None:
            return b""  # RFC 4422 3.3: an empty challenge asks for the message
        self.trace = check_trace(decode_utf8(data, "trace", self.name))
        self._accept(ANONYMOUS_IDENTITY, "")
        return None
