"""The message data on its way out: pieces for DATA, chunks for BDAT, progress.

Rules of this module:
- No I/O: it turns a message's ``chunks()`` into what a driver writes, through
  ``protocol.DataEncoder`` (CRLF, dot-stuffing), and nothing else.
- A large piece is passed on uncopied; small ones are joined so that a short
  message and its end take one write (docs/bench.md). A BDAT chunk is declared
  before its data: from ``size()`` when the message vouches for CRLF-only data
  (``crlf_only``), else gathered in a buffer the caller keeps.
- A message whose stream proves shorter or longer than its ``size()`` raises
  ``UsageError`` before the last of its data is handed over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from sasl_kit.errors import UsageError
from sasl_kit.smtp.protocol import DataEncoder

BDAT_CHUNK = 1 << 20
"""Bytes per BDAT command (RFC 3030); the last one carries LAST."""
COALESCE = 1 << 14  # message data pieces shorter than this are joined into one write

Progress = Callable[[int, int], None]


class OutgoingMessage(Protocol):
    """What ``send`` needs of a message (``sasl_kit.mail`` builds one).

    ``chunks`` yields the RFC 5322 message, not dot-stuffed, in chunks of any
    size; ``size`` is its length in bytes. Line endings are made CRLF on the
    way out, unless the message has a true ``crlf_only`` attribute (as
    ``sasl_kit.mail`` messages do): its word that they are CRLF already.
    """

    @property
    def sender(self) -> str: ...
    @property
    def recipients(self) -> tuple[str, ...]: ...
    @property
    def smtputf8(self) -> bool: ...
    @property
    def eight_bit(self) -> bool: ...
    def chunks(self) -> Iterator[bytes]: ...
    def size(self) -> int: ...


def wire(chunks: Iterator[bytes], encoder: DataEncoder, report: Report) -> Iterator[bytes]:
    """The message as it goes on the wire, through ``encoder``, its end included."""
    for chunk in chunks:
        yield encoder.feed(chunk)
        report(len(chunk))
    yield encoder.end()


def coalesced(wire: Iterator[bytes], small: int = COALESCE, tail: bytes = b"") -> Iterator[bytes]:
    """``wire`` with runs of pieces under ``small`` bytes joined into one write.

    A short message and its ending ``.`` line then take one ``sendall``, not two
    (each costs a system call and, on loopback, the peer's wake-up: a third of
    sending a 2 KiB message, docs/bench.md); a large piece goes out uncopied.
    ``tail`` goes in the last write, after the end (the next message's envelope).
    """
    held: list[bytes] = []
    size = 0
    for piece in wire:
        if len(piece) >= small:
            if held:
                yield b"".join(held)
                held, size = [], 0
            yield piece
            continue
        held.append(piece)
        size += len(piece)
        if size >= small:
            yield b"".join(held)
            held, size = [], 0
    if tail:
        held.append(tail)
    if held:
        yield b"".join(held)


Chunk = tuple[int, bool, Iterable[memoryview]]
"""A BDAT chunk: its size, whether it is the last, and its data in parts."""


def gathered_chunks(wire: Iterator[bytes], buffer: memoryview) -> Iterator[Chunk]:
    """Chunks as long as ``buffer``, filled from ``wire``; the last holds the rest.

    Each chunk is ``buffer`` itself: write it before asking for the next.
    """
    size = 0
    for data in wire:
        piece = memoryview(data)
        while size + len(piece) >= len(buffer):
            cut = len(buffer) - size
            buffer[size:] = piece[:cut]
            yield len(buffer), False, (buffer,)
            size, piece = 0, piece[cut:]
        buffer[size : size + len(piece)] = piece
        size += len(piece)
    yield size, True, (buffer[:size],)


def declared_chunks(wire: Iterator[bytes], total: int) -> Iterator[Chunk]:
    """Chunks of a stream ``total`` bytes long, sized before its data is read.

    The parts of a chunk are views of the pieces, taken as they are written.
    A stream that proves shorter or longer than ``total`` raises
    ``UsageError`` before the last part of LAST is handed over, so a message
    that misstated its size is never accepted cut short or run on.
    """
    rest = memoryview(b"")
    remaining = total

    def take(size: int, *, last: bool) -> Iterator[memoryview]:
        nonlocal rest
        while size:
            while not rest:
                data = next(wire, None)
                if data is None:
                    raise UsageError(f"the message ended before the {total} bytes size() promised")
                rest = memoryview(data)
            part, rest = rest[:size], rest[size:]
            size -= len(part)
            if last and not size and (rest or any(wire)):
                raise UsageError(f"the message runs on past the {total} bytes size() promised")
            yield part

    while True:
        size = min(BDAT_CHUNK, remaining)
        remaining -= size
        if not remaining and not size and any(wire):
            raise UsageError("the message has bytes where size() promised none")
        yield size, not remaining, take(size, last=not remaining)
        if not remaining:
            return


def crlf_only(message: OutgoingMessage) -> bool:
    """The message's word that its chunks hold CRLF line endings only (see ``OutgoingMessage``)."""
    return getattr(message, "crlf_only", False) is True


class Report:
    """Adds up the message bytes handed to the socket for a ``progress`` hook."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress, self._total, self._done = progress, total, 0

    def __call__(self, n: int) -> None:
        if self._progress is not None:
            self._done += n
            self._progress(self._done, self._total)
