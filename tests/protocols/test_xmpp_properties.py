"""Garbage in, project errors out: the XMPP profile's parsers under hypothesis.

Arbitrary bytes in any split, the RFC 6120 exchange truncated or split anywhere,
hostile XML built from the pieces that matter (DTDs, entities, PIs, comments,
deep nesting) and arbitrary transcript text: only ``SASLError`` comes out, and
how the server's bytes are split never changes what the client sends.
"""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sasl_kit.errors import SASLError
from sasl_kit.protocols.xmpp import DEFAULT_NAMESPACES, PROFILE, XMLStream
from tests.protocols.xmpp_examples import juliet, scram_exchange

_, RFC_SERVER = scram_exchange()
PIECES = [
    b"<",
    b">",
    b"/>",
    b"</",
    b"<!DOCTYPE s [<!ENTITY x 'y'>]>",
    b"<!ENTITY x 'y'>",
    b"&x;",
    b"&amp;",
    b"&#0;",
    b"<![CDATA[",
    b"]]>",
    b"<?xml version='1.0'?>",
    b"<?pi?>",
    b"<!--",
    b"-->",
    b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
    b"</challenge>",
    b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
    b"</success>",
    b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>",
    b"</failure>",
    b"<stream:error>",
    b"</stream:stream>",
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
    b"<a>",
    b"</a>",
    b"xmlns:p='x'",
    b"=",
    b"dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289",
    b"\xff",
    b"\x00",
    b" ",
]
WIRE = st.one_of(
    st.binary(max_size=400), st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)
)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def feed(auth_data: list[bytes]) -> None:
    auth = juliet()
    auth.start()
    with contextlib.suppress(SASLError):
        for chunk in auth_data:
            if auth.result is not None:
                break
            auth.receive(chunk)


@settings(max_examples=300, deadline=None)
@given(WIRE, st.lists(st.integers(min_value=0), max_size=6))
@example(b"<!DOCTYPE s [<!ENTITY x 'y'>]>&x;", [])
def test_any_server_bytes_in_any_split_give_only_project_errors(
    data: bytes, points: list[int]
) -> None:
    feed(cut(data, points))


@settings(max_examples=200, deadline=None)
@given(WIRE)
def test_a_stream_reader_from_the_start_gives_only_project_errors(data: bytes) -> None:
    stream = XMLStream()
    stream.feed(data)
    with contextlib.suppress(SASLError):
        while stream.next() is not None:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=8))
def test_any_split_of_the_rfc_exchange_sends_the_same_and_succeeds(points: list[int]) -> None:
    whole = juliet()
    whole.start()
    expected = whole.receive(RFC_SERVER)
    split = juliet()
    split.start()
    assert b"".join(split.receive(chunk) for chunk in cut(RFC_SERVER, points)) == expected
    assert split.result is not None and split.result.ok


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(RFC_SERVER) - 1))
def test_a_truncated_exchange_has_no_result(length: int) -> None:
    auth = juliet()
    auth.start()
    auth.receive(RFC_SERVER[:length])
    assert auth.result is None


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from("CS"),
    st.one_of(st.text(max_size=200), WIRE.map(lambda b: b.decode("utf-8", "replace"))),
)
@example("C", "\ud800")
def test_read_line_never_raises(side: str, text: str) -> None:
    PROFILE.read_line(side, text)


@settings(max_examples=200, deadline=None)
@given(WIRE)
def test_mechanisms_of_any_capabilities_give_names_or_a_project_error(data: bytes) -> None:
    with contextlib.suppress(SASLError):
        assert all(isinstance(name, str) for name in PROFILE.mechanisms(data))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=40))
def test_nesting_any_depth_is_read_or_refused_by_the_limit(depth: int) -> None:
    stream = XMLStream(DEFAULT_NAMESPACES)
    stream.feed(b"<a>" * depth + b"</a>" * depth)
    try:
        assert stream.next() is not None
    except SASLError as exc:
        assert "nests deeper" in str(exc)
