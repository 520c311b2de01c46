"""SASL security layers after authentication, and the RFC 4422 3.7 framing around them.

Rules of this module:
- No I/O, like the mechanisms: bytes in, bytes out. ``Framer.feed`` takes
  whatever a read returned, split at any byte, and gives back whole messages.
- A ``SecurityLayer`` protects one message at a time (``wrap``/``unwrap``); it
  knows nothing of the length prefix. The ``Framer`` knows nothing of the
  protection; any layer (DIGEST-MD5 here; GSSAPI-like ones later) fits.
- Limits are the negotiated ``maxbuf`` values: a frame longer than what this
  side announced is the peer's fault (``MalformedMessage``) and is refused from
  its 4-octet header, before its body is buffered.
- After the peer's frame fails to verify, the framer refuses all further input:
  the stream state is lost, the connection must be closed.

Theory of operation (RFC 4422 3.7): each protected buffer travels as a 4-octet
big-endian length followed by that many octets, the output of the peer's
``wrap``. ``Framer.wrap`` cuts the application's data into pieces of at most
``layer.max_send`` octets, wraps each and prefixes its length;
``Framer.feed`` collects octets until a whole frame is in, checks its length
against ``layer.max_receive`` and unwraps it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sasl_kit.errors import MalformedMessage, UsageError

LENGTH_OCTETS = 4
# RFC 4422 3.7: the length is 4 octets; DIGEST-MD5 caps maxbuf at 2**24 - 1 (RFC 2831 2.1.1).
MAX_FRAME = 2**24 - 1


@runtime_checkable
class SecurityLayer(Protocol):
    """One negotiated layer, for one direction pair of one connection.

    ``max_send``: the largest ``data`` ``wrap`` accepts, so that its output fits
    the peer's buffer. ``max_receive``: the largest wrapped message this side
    announced it accepts (its maxbuf).
    """

    name: str
    max_send: int
    max_receive: int

    def wrap(self, data: bytes) -> bytes: ...

    def unwrap(self, data: bytes) -> bytes: ...


class Framer:
    """The 4-octet length-prefixed buffers of RFC 4422 3.7 over a ``SecurityLayer``."""

    def __init__(self, layer: SecurityLayer) -> None:
        self.layer = layer
        self._buffer = bytearray()
        self._failed = False

    def wrap(self, data: bytes) -> bytes:
        """``data`` as one or more frames, each at most the peer's buffer size."""
        step = self.layer.max_send
        pieces = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        frames = []
        for piece in pieces:
            wrapped = self.layer.wrap(piece)
            frames += [len(wrapped).to_bytes(LENGTH_OCTETS, "big"), wrapped]
        return b"".join(frames)

    def feed(self, data: bytes) -> list[bytes]:
        """Take octets as read from the peer; return the messages completed by them, in order."""
        if self._failed:
            raise UsageError(
                f"{self.layer.name} security layer: an earlier frame was refused; "
                "close the connection"
            )
        self._buffer += data
        out = []
        try:
            while len(self._buffer) >= LENGTH_OCTETS:
                size = int.from_bytes(self._buffer[:LENGTH_OCTETS], "big")
                if size > self.layer.max_receive:
                    raise MalformedMessage(
                        f"{self.layer.name} security layer: the peer's frame is {size} octets, "
                        f"more than the {self.layer.max_receive} this side announced (maxbuf)"
                    )
                end = LENGTH_OCTETS + size
                if len(self._buffer) < end:
                    break
                frame = bytes(self._buffer[LENGTH_OCTETS:end])
                del self._buffer[:end]
                out.append(self.layer.unwrap(frame))
        except MalformedMessage:
            self._failed = True
            self._buffer.clear()
            raise
        return out

    @property
    def pending(self) -> int:
        """Octets received that do not yet make a whole frame."""
        return len(self._buffer)
