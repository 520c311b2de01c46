"""The client's lines, each read whole or not at all, within a length limit.

Rules of this module:
- A line is read up to its end (LF for commands and AUTH answers, as aiosmtpd
  reads them; CRLF for message data, RFC 5321 2.3.8). One longer than its
  limit is read to its end and thrown away, and ``read_line`` says so
  (``None``): the next read starts at the next line, so the session stays in
  sync however long the line was, and memory holds at most ``READ_LIMIT``
  bytes of it.
- The limits are RFC 5321's and RFC 4954's; ``READ_LIMIT``, the longest line
  anything here accepts, is the stream reader's own limit.
"""

from __future__ import annotations

import asyncio

COMMAND_LIMIT = 512  # RFC 5321 4.5.3.1.4, CRLF included
COMMAND_LIMITS = {
    "MAIL": COMMAND_LIMIT + 26 + 10,  # RFC 1870 SIZE=, RFC 6531 SMTPUTF8
    "AUTH": 12288,  # RFC 4954 4: AUTH with an initial response
}
AUTH_LINE_LIMIT = 12288  # RFC 4954 4: each line of an AUTH exchange
DATA_LINE_LIMIT = 1001  # RFC 5321 4.5.3.1.6: 1000 octets with CRLF, plus a transparency dot
READ_LIMIT = max(AUTH_LINE_LIMIT, *COMMAND_LIMITS.values(), DATA_LINE_LIMIT)


async def read_line(reader: asyncio.StreamReader, limit: int, end: bytes = b"\n") -> bytes | None:
    """The next line with its ending; ``None`` when it was longer than ``limit`` (now skipped).

    The reader's own limit must be at least ``limit``. End of stream raises
    ``asyncio.IncompleteReadError``, as ``readuntil`` does.
    """
    try:
        line = await reader.readuntil(end)
    except asyncio.LimitOverrunError as exc:
        await _skip_line(reader, exc.consumed, end)
        return None
    return line if len(line) <= limit else None


async def _skip_line(reader: asyncio.StreamReader, buffered: int, end: bytes) -> None:
    """Throw away the rest of a line of which ``buffered`` bytes are in the reader's buffer."""
    while True:
        await reader.readexactly(buffered)
        try:
            await reader.readuntil(end)
            return
        except asyncio.LimitOverrunError as exc:
            buffered = exc.consumed
