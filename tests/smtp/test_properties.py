"""Hypothesis: whatever the body and however it is chunked, the wire has only
CRLF line endings, correct dot-stuffing, and un-stuffs to the normalised body."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp import data as data_module
from sasl_kit.smtp.protocol import DataEncoder
from tests.smtp.fakes import Behaviour, FakeSMTPServer, Message, unstuffed

BODIES = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"\0", b"a", b"\xff", b" "]),
    max_size=60,
).map(b"".join)
BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def normalised(body: bytes) -> bytes:
    """The body with every line ending CRLF and a final CRLF (the reference, spelt differently)."""
    lines = re.split(rb"\r\n|\r|\n", body)
    if lines[-1] == b"":
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines)


def check_wire(body: bytes, wire: bytes) -> None:
    assert not BARE.search(wire)
    for line in wire[: -len(b".\r\n")].split(b"\r\n"):
        assert not line.startswith(b".") or line.startswith(b"..")
    assert wire.endswith(b".\r\n")
    assert unstuffed(wire[: -len(b".\r\n")]) == normalised(body)


@given(body=BODIES, cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_data_encoding_survives_any_chunking(body: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(c for c in cuts if c <= len(body)), len(body)]
    encoder = DataEncoder(dot_stuff=True)
    wire = b"".join(encoder.feed(body[a:b]) for a, b in itertools.pairwise(bounds))
    check_wire(body, wire + encoder.end())


@given(
    body=BODIES.map(normalised),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
    dot_stuff=st.booleans(),
)
def test_crlf_only_data_leaves_exactly_as_if_it_had_been_normalised(
    body: bytes, cuts: list[int], dot_stuff: bool
) -> None:
    # crlf_only skips the line-ending passes; on data that keeps the promise
    # (CRLF only, a CRLF may still be cut in two) nothing else may change.
    bounds = [0, *sorted(c for c in cuts if c <= len(body)), len(body)]
    wires = []
    for crlf_only in (False, True):
        encoder = DataEncoder(dot_stuff=dot_stuff, crlf_only=crlf_only)
        pieces = [encoder.feed(body[a:b]) for a, b in itertools.pairwise(bounds)]
        wires.append(b"".join(pieces) + encoder.end())
    assert wires[0] == wires[1]


def test_data_on_the_wire_for_arbitrary_bodies_over_one_connection() -> None:
    sent: list[bytes] = []
    with (
        FakeSMTPServer(Behaviour(extensions=())) as server,
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5) as smtp,
    ):

        @settings(max_examples=60, deadline=None)
        @given(body=BODIES)
        def send(body: bytes) -> None:
            result = smtp.send(Message("a@example.org", ("b@example.org",), body))
            assert result.status is Status.SENT
            sent.append(body)

        send()
    assert len(server.messages) == len(sent)
    for body, received in zip(sent, server.messages, strict=True):
        check_wire(body, received + b".\r\n")


@dataclass(frozen=True)
class Cut(Message):
    """A message whose stream is cut where the test says; ``crlf_only`` as given."""

    cuts: tuple[int, ...] = ()
    vouched: bool = False

    @property
    def crlf_only(self) -> bool:
        return self.vouched

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        bounds = [0, *sorted(c for c in self.cuts if c <= len(self.body)), len(self.body)]
        return (self.body[a:b] for a, b in itertools.pairwise(bounds))


def test_bdat_chunks_for_arbitrary_bodies_and_cuts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks, so that a few bytes cross several: declared from size() when
    # the message vouches for CRLF only, gathered otherwise; both must deliver
    # the normalised body in chunks of exactly BDAT_CHUNK, the last one shorter.
    monkeypatch.setattr(data_module, "BDAT_CHUNK", 7)
    sent: list[tuple[bytes, int]] = []
    with (
        FakeSMTPServer(Behaviour(extensions=("CHUNKING", "PIPELINING"))) as server,
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5) as smtp,
    ):

        @settings(max_examples=80, deadline=None)
        @given(
            body=BODIES,
            cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
            vouched=st.booleans(),
        )
        def send(body: bytes, cuts: list[int], vouched: bool) -> None:
            body = normalised(body) if vouched else body
            to = ("b@example.org",)
            message = Cut("a@example.org", to, body, cuts=tuple(cuts), vouched=vouched)
            start = len(server.commands)
            assert smtp.send(message).status is Status.SENT
            sizes = [int(c.split()[1]) for c in server.commands[start:] if c.startswith("BDAT")]
            assert all(size == 7 for size in sizes[:-1]) and sizes[-1] <= 7
            sent.append((body, sum(sizes)))

        send()
    for (body, total), received in zip(sent, server.messages, strict=True):
        assert received == normalised(body) and total == len(received)
