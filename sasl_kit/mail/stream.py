"""The message as a stream: fixed bytes, and attachment bodies base64-encoded on the fly.

Rules of this module:
- It knows nothing about headers or addresses: ``compose`` hands it a tuple of
  parts, each either bytes already rendered or a ``DataBody``/``FileBody``
  whose base64 is written here.
- An attachment body is never held in memory whole: it is read into one
  buffer in blocks of ``BLOCK`` bytes (whole 57-byte lines), each encoded
  with one ``b2a_base64`` and given out as one piece, so memory stays near a
  few hundred KiB whatever the file size.
- No object of the data path reaches 128 KiB, glibc's smallest threshold
  for serving ``malloc`` with ``mmap``: how fast a block goes then does not
  depend on the allocator's history or tunables (docs/bench.md). One scratch
  buffer does: ``b2a_base64`` allocates twice its input (171 KiB for a
  block) before it shrinks to the result. glibc serves it from free heap
  space, which every process measured had (170 page faults in sending 200
  MiB, with ``MALLOC_MMAP_THRESHOLD_=131072`` too); only a process doing
  nothing else maps it on every call. Two encodings of half a block, each
  under 128 KiB, measured no faster (docs/bench.md, stop 26).
- Every base64 line has 76 characters (the last may be shorter) and ends with
  CRLF (RFC 2045 6.8), as the ``email`` package writes it. ``size()`` is
  arithmetic over the sizes captured at compose time and reads no file.
- A file whose size differs from the captured one is refused with
  ``MessageError``: when ``chunks()`` is called, when the file is opened, and
  when it proves shorter or longer while being read.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sasl_kit.errors import MessageError, UsageError

LINE = 57  # bytes per base64 line: 57 bytes -> 76 characters (RFC 2045 6.8)
WIDTH = 76  # characters per base64 line
# Bytes read, encoded and given out as one piece at a time: 1536 lines, 85.5 KiB;
# its base64 is 114 KiB, the piece with CRLFs 117 KiB, all under 128 KiB.
BLOCK = LINE * 1536
_CRLF = b"\r\n"


def base64_length(size: int) -> int:
    """Octets of ``size`` bytes as base64 lines of 76 characters, each ending in CRLF."""
    return 4 * -(-size // 3) + 2 * -(-size // LINE)


def base64_lines(blocks: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """Base64 of the blocks as 76-character lines each ending in CRLF, in pieces.

    Every block but the last must be ``BLOCK`` bytes long (whole lines); a whole
    block gives one piece. A block costs two C calls and no Python object per
    line: it is encoded into a buffer this generator keeps, and joined with
    CRLF through views of that buffer made once, one per line, at the first
    whole block (a body shorter than a block needs neither).

    Sizes are measured (docs/bench.md). The base64 of a block (114 KiB) and
    its piece (117 KiB) stay under 128 KiB, the smallest size at which glibc's
    malloc may use ``mmap`` and hand freed memory back to the kernel
    (``b2a_base64``'s scratch is larger: see the module's rules): 156 KiB
    pieces were fast only once glibc had raised its threshold on its own, and
    with the threshold fixed (``MALLOC_MMAP_THRESHOLD_=131072``) or trimming
    eager (``MALLOC_TRIM_THRESHOLD_=0``) every piece faulted its pages in
    again (150,000 page faults for 200 MiB instead of 4,900). Within that
    bound a block is large, so that pieces, writes and the peer's wake-ups
    are few: a third fewer than with the 57 KiB blocks of before.
    """
    encoded = bytearray()
    lines: list[bytes | memoryview] = []
    for block in blocks:
        if len(block) == BLOCK:
            if not lines:
                encoded = bytearray(BLOCK // LINE * WIDTH)
                view = memoryview(encoded)
                lines = [view[i : i + WIDTH] for i in range(0, len(encoded), WIDTH)]
                lines.append(b"")  # so the joined piece ends with CRLF too
            encoded[:] = binascii.b2a_base64(block, newline=False)  # same length: views stay valid
            yield _CRLF.join(lines)
        elif block:
            tail = binascii.b2a_base64(block, newline=False)
            yield b"".join(tail[i : i + WIDTH] + _CRLF for i in range(0, len(tail), WIDTH))


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

    def blocks(self) -> Iterator[memoryview]:
        """Exactly ``size`` bytes of the file in blocks of ``BLOCK``, or MessageError.

        Every block is a view of the same buffer, refilled for the next one:
        use it before asking for the next.
        """
        buffer = memoryview(bytearray(min(BLOCK, self.size)))
        try:
            with open(self.path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                if size != self.size:
                    raise self._changed(f"is now {size} bytes")
                remaining = self.size
                while remaining:
                    block = buffer[: min(BLOCK, remaining)]
                    if stream.readinto(block) != len(block):
                        raise self._changed("shrank while being read")
                    remaining -= len(block)
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
    # chunks() has CRLF line endings only, ending with one: compose checks what it
    # renders and base64_lines writes only CRLF-ended lines. SMTP relies on it.
    crlf_only: ClassVar[bool] = True

    def size(self) -> int:
        """Exact byte count of ``chunks()``, computed without reading attachment files."""
        return sum(
            len(part) if isinstance(part, bytes) else base64_length(part.size)
            for part in self._parts
        )

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The message in pieces as they are made, or in chunks of exactly ``size`` bytes.

        CRLF line endings only (``crlf_only``), not dot-stuffed; a line may
        span two pieces. Without ``size`` each attachment comes in pieces of
        117 KiB (``BLOCK`` bytes of the file) and nothing is copied to cut
        them; with ``size`` every
        chunk but the last has that length. Raises ``MessageError`` at once if
        an attachment file changed size since compose, and while iterating if
        it changes or cannot be read.
        """
        if size is not None and size < 1:
            raise UsageError(f"chunk size must be at least 1, not {size}")
        for part in self._parts:
            if isinstance(part, FileBody):
                part.check()
        return self._pieces() if size is None else self._exactly(size)

    def _exactly(self, size: int) -> Iterator[bytes]:
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
                yield from base64_lines(part.blocks())
