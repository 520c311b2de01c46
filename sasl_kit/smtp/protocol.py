"""The SMTP wire format, without I/O: replies in, commands and message data out.

Rules of this module:
- No sockets, no clocks, no logging. Bytes go in, values and bytes come out; the
  client in ``client.py`` moves them. Everything here is testable with literals.
- A reply the server got wrong raises ``SMTPProtocolError`` (the peer's fault);
  a command we were asked to build wrongly raises ``UsageError`` (the caller's).
- Nothing leaves this module with a bare CR or LF in it: command arguments
  holding CR, LF or NUL are refused, and message data passes through
  ``DataEncoder``, which turns every line ending (CRLF, bare CR, bare LF) into
  CRLF (RFC 5321 2.3.8; bare ones are what SMTP smuggling is made of). The
  one exception is data whose maker vouches for CRLF only (``crlf_only``:
  ``sasl_kit.mail`` checks it at compose time), passed on as it is.
- Mechanism names are opaque here: this module parses the AUTH keyword's list
  and never looks at what is in it.

Theory of operation: ``ReplyParser.feed`` takes whatever ``recv`` returned and
gives the complete replies in it; bytes after the last complete reply are kept
for the next ``feed`` (the client checks ``idle`` before it starts TLS).
``Extensions.parse`` reads an EHLO reply. ``DataEncoder`` turns message chunks
into wire chunks, keeping the one byte of state a line ending split across two
chunks needs, and dot-stuffs for DATA (RFC 5321 4.5.2) but not for BDAT.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sasl_kit.errors import UsageError
from sasl_kit.smtp.errors import SMTPProtocolError

MAX_REPLY_LINE = 8192
"""Longest reply line accepted. RFC 5321 4.5.3.1.5 says 512; real servers send more."""

MAX_COMMAND_LINE = 512
"""RFC 5321 4.5.3.1.4: a command line, CRLF included. RFC 4954 4 applies it to AUTH."""

_REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])([ -]?)(.*)", re.DOTALL)
_ONE_LINE = {b"%d " % code: code for code in range(200, 600)}
"""How the last line of a reply starts, for every code ``_REPLY_LINE`` takes: the code."""
KNOWN_LINES = 32
"""One-line replies a parser keeps by their bytes (the first ones it sees): a server
says the same few again and again, and a ``Reply`` is frozen, so one serves them all.
Each is at most ``MAX_REPLY_LINE`` bytes, so a parser keeps at most 256 KiB."""


@dataclass(frozen=True)
class Reply:
    """One server reply: its code and its text lines (without code and separator)."""

    code: int
    lines: tuple[str, ...]

    @functools.cached_property  # a parser hands out one Reply for every line it knows
    def text(self) -> str:
        return " ".join(line for line in self.lines if line)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


class ReplyParser:
    """Bytes from the server in, complete ``Reply`` values out (RFC 5321 4.2)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[str] = []
        self._code: int | None = None
        self._known: dict[bytes, Reply] = {}  # see KNOWN_LINES

    @property
    def idle(self) -> bool:
        """Nothing received after the last complete reply, not even part of a line."""
        return not self._buffer and not self._lines

    def feed(self, data: bytes) -> list[Reply]:
        joined = self._buffer + data
        *lines, self._buffer = joined.split(b"\n")
        if len(joined) > MAX_REPLY_LINE and any(len(line) > MAX_REPLY_LINE for line in lines):
            # A whole line over the limit is refused as a part of one is, however it was read.
            raise SMTPProtocolError(f"server reply line longer than {MAX_REPLY_LINE} bytes")
        replies: list[Reply] = []
        known = self._known
        for line in lines:
            if self._code is None:
                reply = known.get(line)
                if reply is None and (code := _ONE_LINE.get(line[:4])) is not None:
                    # The usual reply, one line: what ``_line`` makes of it, without the call.
                    reply = Reply(code, (line[4:].removesuffix(b"\r").decode("utf-8", "replace"),))
                    if len(known) < KNOWN_LINES:
                        known[line] = reply
                if reply is not None:
                    replies.append(reply)
                    continue
            if (reply := self._line(line.removesuffix(b"\r"))) is not None:
                replies.append(reply)
        if len(self._buffer) > MAX_REPLY_LINE:
            raise SMTPProtocolError(f"server reply line longer than {MAX_REPLY_LINE} bytes")
        return replies

    def _line(self, line: bytes) -> Reply | None:
        match = _REPLY_LINE.fullmatch(line)
        if match is None:
            raise SMTPProtocolError(f"server sent a line that is not a reply: {_show(line)}")
        code, separator, text = int(match[1]), match[2], match[3]
        if self._code is not None and code != self._code:
            raise SMTPProtocolError(
                f"server changed the reply code from {self._code} to {code} within one reply"
            )
        self._code = code
        self._lines.append(text.decode("utf-8", errors="replace"))
        if separator == b"-":
            return None
        reply = Reply(code, tuple(self._lines))
        self._code, self._lines = None, []
        return reply


def _show(line: bytes) -> str:
    """A bounded, printable form of a bad line for an error message."""
    return repr(line[:80]) + ("..." if len(line) > 80 else "")


@dataclass(frozen=True)
class Extensions:
    """What an EHLO reply offered (RFC 5321 4.1.1.1): keyword -> parameters, upper-case keys."""

    keywords: Mapping[str, tuple[str, ...]]

    @classmethod
    def parse(cls, reply: Reply) -> Extensions:
        """The first line greets; each further line is ``keyword *(SP param)``."""
        keywords: dict[str, tuple[str, ...]] = {}
        for line in reply.lines[1:]:
            words = line.split()
            if words:
                keywords[words[0].upper()] = tuple(words[1:])
        return cls(keywords)

    @classmethod
    def none(cls) -> Extensions:
        """What a HELO session has: nothing."""
        return cls({})

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and keyword.upper() in self.keywords

    @property
    def auth(self) -> tuple[str, ...]:
        """The mechanism names of the AUTH keyword (RFC 4954 3), as the server wrote them."""
        return self.keywords.get("AUTH", ())

    @functools.cached_property  # asked for every message sent; the keywords never change
    def size(self) -> int | None:
        """RFC 1870: the largest message accepted; ``None`` without a limit (or without SIZE)."""
        params = self.keywords.get("SIZE")
        if not params or not params[0].isdigit() or int(params[0]) == 0:
            return None
        return int(params[0])


def command(verb: str, *args: str) -> str:
    """One command line, without CRLF; refuses CR, LF and NUL in any argument."""
    line = " ".join((verb, *args))
    if "\r" in line or "\n" in line or "\0" in line:  # the verb is ours: an argument has it
        raise UsageError(f"{verb}: an argument contains CR, LF or NUL (command injection)")
    return line


def xtext(value: str) -> str:
    """RFC 3461 4: "+" HEXCHAR for every character outside "!".."~" and for "+" and "="."""
    out = []
    for byte in value.encode("utf-8"):
        char = chr(byte)
        out.append(char if 0x21 <= byte <= 0x7E and char not in "+=" else f"+{byte:02X}")
    return "".join(out)


def utf8_addr_xtext(value: str) -> str:
    """RFC 6533 3: ASCII as xtext allows, every other character as ``\\x{HEX}``."""
    return "".join(
        c if 0x21 <= ord(c) <= 0x7E and c not in "+=\\" else f"\\x{{{ord(c):X}}}" for c in value
    )


class DataEncoder:
    """Message bytes in, wire bytes out: CRLF line endings, dot-stuffed for DATA.

    Any line ending in the input (CRLF, bare CR, bare LF) leaves as CRLF, and
    the content always ends with CRLF (unless it is empty). For DATA the
    encoder dot-stuffs (RFC 5321 4.5.2) and ``end`` appends the ``.`` line.

    ``crlf_only=True`` is the message's word that its bytes hold CRLF line
    endings only (``sasl_kit.mail`` checks what it renders, and writes base64
    in CRLF-ended lines). Line endings are then taken as they are, which is
    what lets a 200 MB attachment through without three passes over it;
    dot-stuffing still happens, after a single scan for any ".".
    """

    def __init__(self, *, dot_stuff: bool, crlf_only: bool = False) -> None:
        self._dot_stuff = dot_stuff
        self._crlf_only = crlf_only
        self._cr_pending = False
        self._line_start = True
        self._empty = True

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        head = b""
        if self._cr_pending:
            self._cr_pending = False
            head = b"\r\n"
            data = data.removeprefix(b"\n")
        if data.endswith(b"\r"):
            self._cr_pending = True
            data = data[:-1]
        if self._crlf_only or data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n"):
            out = head + data  # CRLF only already: counting beats copying
        else:  # CRLF -> LF, lone CR -> LF, then every LF -> CRLF.
            out = head + data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        if not out:
            return b""
        if self._dot_stuff and b"." in out:  # one memchr; base64 never has a "."
            out = out.replace(b"\n.", b"\n..")  # every LF in out ends a CRLF
            if self._line_start and out.startswith(b"."):
                out = b"." + out
        self._line_start = out.endswith(b"\n")
        self._empty = False
        return out

    def end(self) -> bytes:
        """The rest: a held CR, a final CRLF if missing, and for DATA the ``.`` line."""
        tail = b"\r\n" if self._cr_pending or not (self._line_start or self._empty) else b""
        self._cr_pending = False
        self._line_start = True
        return tail + (b".\r\n" if self._dot_stuff else b"")
