"""The message as a stream: fixed bytes, and attachment bodies base64-encoded on the fly.

Rules of this module:
- It knows nothing about headers or addresses: ``compose`` hands it a tuple of
  parts, each either bytes already rendered or a ``DataBody``/``FileBody``
  whose base64 is written here.
- An attachment body is never held in memory whole: it is read and encoded in
  blocks of ``BLOCK`` bytes (whole 57-byte lines), so memory stays near a few
  hundred KiB whatever the file size.
- Every base64 line has 76 characters (the last may be shorter) and ends with
  CRLF (RFC 2045 6.8), as the ``email`` package writes it. ``size()`` is
  arithmetic over the sizes captured at compose time and reads no file.
- A file whose size differs from the captured one is refused with
  ``MessageError``: when ``chunks()`` is called, when the file is opened, and
  when it proves shorter or longer while being read.
"""

from __future__ import annotations

import binascii
import operator
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sasl_kit.errors import MessageError, UsageError

LINE = 57  # bytes per base64 line: 57 bytes -> 76 characters (RFC 2045 6.8)
BLOCK = LINE * 1024  # bytes read and encoded at a time: whole lines, 57 KiB (fits a CPU cache)
_LINES = struct.Struct(f"{LINE}s")
_first = operator.itemgetter(0)


def base64_length(size: int) -> int:
    """Octets of ``size`` bytes as base64 lines of 76 characters, each ending in CRLF."""
    return 4 * -(-size // 3) + 2 * -(-size // LINE)


def encode_block(block: bytes | memoryview) -> bytes:
    """Base64 of ``block`` (a multiple of 57 bytes unless it is the last) as CRLF-ended lines."""
    whole = len(block) - len(block) % LINE
    # map over iter_unpack keeps the per-line loop in C: no Python frame per 76-character line.
    lines = map(binascii.b2a_base64, map(_first, _LINES.iter_unpack(memoryview(block)[:whole])))
    encoded = b"".join(lines)
    if whole < len(block):
        encoded += binascii.b2a_base64(block[whole:])
    return encoded.replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class DataBody:
    """An attachment body given as bytes."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def blocks(self) -> Iterator[memoryview]:
        view = memoryview(self.data)
        for start in range(0, len(view), BLOCK):
            yield view[start : start + BLOCK]


@dataclass(frozen=True)
class FileBody:
    """An attachment body read from ``path`` when sent; ``size`` is what compose saw."""

    path: Path
    size: int
    field: str  # the compose argument, for messages: "attachments[0]"

    def _changed(self, now: str) -> MessageError:
        return MessageError(
            f"{self.field}: {self.path} changed since compose: was {self.size} bytes, {now}"
        )

    def _unreadable(self, exc: OSError) -> MessageError:
        return MessageError(f"{self.field}: cannot read {self.path}: {exc.strerror}")

    def check(self) -> None:
        """Refuse a file whose size changed since compose."""
        try:
            size = os.stat(self.path).st_size
        except OSError as exc:
            raise self._unreadable(exc) from exc
        if size != self.size:
            raise self._changed(f"is now {size} bytes")

    def blocks(self) -> Iterator[bytes]:
        """Exactly ``size`` bytes of the file in blocks of ``BLOCK``, or MessageError."""
        try:
            with open(self.path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                if size != self.size:
                    raise self._changed(f"is now {size} bytes")
                remaining = self.size
                while remaining:
                    want = min(BLOCK, remaining)
                    block = stream.read(want)
                    if len(block) != want:
                        raise self._changed("shrank while being read")
                    remaining -= want
                    yield block
                if stream.read(1):
                    raise self._changed("grew while being read")
        except OSError as exc:
            raise self._unreadable(exc) from exc


Part = bytes | DataBody | FileBody


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for SMTP: the envelope, and the RFC 5322 message as a stream.

    Build it with ``compose``. ``chunks()`` may be iterated any number of
    times; each time re-reads the attachment files.
    """

    sender: str  # envelope MAIL FROM (addr-spec)
    recipients: tuple[str, ...]  # envelope RCPT TO: To, Cc, Bcc; no duplicates; in order
    smtputf8: bool  # an address needs SMTPUTF8 (RFC 6531)
    eight_bit: bool  # the body has 8-bit text and needs BODY=8BITMIME (RFC 6152)
    _parts: tuple[Part, ...] = field(repr=False)  # made by compose

    def size(self) -> int:
        """Exact byte count of ``chunks()``, computed without reading attachment files."""
        return sum(
            len(part) if isinstance(part, bytes) else base64_length(part.size)
            for part in self._parts
        )

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The message in chunks of exactly ``size`` bytes (the last one shorter).

        CRLF line endings, not dot-stuffed; a line may span two chunks. Raises
        ``MessageError`` at once if an attachment file changed size since
        compose, and while iterating if it changes or cannot be read.
        """
        if size < 1:
            raise UsageError(f"chunk size must be at least 1, not {size}")
        for part in self._parts:
            if isinstance(part, FileBody):
                part.check()
        return self._chunks(size)

    def _chunks(self, size: int) -> Iterator[bytes]:
        buffer = bytearray()
        for piece in self._pieces():
            buffer += piece
            while len(buffer) >= size:
                yield bytes(buffer[:size])
                del buffer[:size]
        if buffer:
            yield bytes(buffer)

    def _pieces(self) -> Iterator[bytes]:
        for part in self._parts:
            if isinstance(part, bytes):
                yield part
            else:
                yield from map(encode_block, part.blocks())
