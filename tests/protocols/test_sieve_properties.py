"""Garbage in, project errors out: the ManageSieve profile's parsers under hypothesis.

Arbitrary bytes in any split, truncated exchanges, literals of any declared
size and arbitrary transcript text: only ``SASLError`` comes out, and how the
server's bytes are split never changes what the client sends.
"""

from __future__ import annotations

import base64
import contextlib
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit.errors import SASLError
from sasl_kit.protocols.base import ClientAuth
from sasl_kit.protocols.errors import ProtocolViolation
from sasl_kit.protocols.sieve import MAX_LITERAL, PROFILE, ResponseReader
from sasl_kit.registry import default_registry
from tests.protocols.sieve_examples import example, rfc_digest_script, run_exchange, scripted

MECHANISMS = ("PLAIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-256")
LITERAL_EXCHANGE = b"".join(d for s, d in example("digest-md5-literal.txt")[6:] if s == "S")
WIRE = st.one_of(
    st.binary(max_size=400),
    # Near-valid lines: the grammar's own pieces in any order.
    st.lists(
        st.sampled_from(
            [
                b'"',
                b"{",
                b"}",
                b"{3}\r\n",
                b"{70000}",
                b"+",
                b"(",
                b")",
                b" ",
                b"\r\n",
                b"\r",
                b"\\",
                b"OK",
                b"NO",
                b"BYE",
                b"SASL",
                b"TRYLATER",
                b'"YWJj"',
                b'"*"',
                b"\x00",
            ]
        ),
        max_size=40,
    ).map(b"".join),
)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def fresh(name: str) -> ClientAuth:
    mechanism = default_registry.client(
        name, username="alice", password="wonderland", service="sieve", host="localhost"
    )
    return PROFILE.client(name, mechanism)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(MECHANISMS), data=WIRE, points=st.lists(st.integers(0, 500)))
def test_any_server_bytes_in_any_split_give_only_project_errors(
    name: str, data: bytes, points: list[int]
) -> None:
    auth = fresh(name)
    auth.start()
    try:
        for piece in cut(data, points):
            if auth.result is not None:
                break
            auth.receive(piece)
    except SASLError:
        pass


@settings(max_examples=300, deadline=None)
@given(data=WIRE)
def test_any_capability_bytes_give_only_project_errors(data: bytes) -> None:
    try:
        ResponseReader().receive(data)
        PROFILE.mechanisms(data)
    except SASLError:
        pass


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from("CS"), text=st.text(max_size=200))
def test_any_transcript_text_gives_only_project_errors(side: str, text: str) -> None:
    with contextlib.suppress(SASLError):
        PROFILE.read_line(side, text)


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.integers(0, len(LITERAL_EXCHANGE)), max_size=30))
def test_the_split_of_the_servers_bytes_changes_nothing(points: list[int]) -> None:
    whole = PROFILE.client("DIGEST-MD5", scripted(rfc_digest_script()))
    expected = run_exchange(whole, LITERAL_EXCHANGE)
    auth = PROFILE.client("DIGEST-MD5", scripted(rfc_digest_script()))
    sent = auth.start()
    for piece in cut(LITERAL_EXCHANGE, points):
        sent += auth.receive(piece)
    assert sent == expected
    assert auth.result is not None and auth.result.ok


@settings(max_examples=100, deadline=None)
@given(end=st.integers(0, len(LITERAL_EXCHANGE) - 1))
def test_a_truncated_exchange_waits_for_more(end: int) -> None:
    auth = PROFILE.client("DIGEST-MD5", scripted(rfc_digest_script()))
    auth.start()
    auth.receive(LITERAL_EXCHANGE[:end])
    assert auth.result is None


@settings(max_examples=100, deadline=None)
@given(size=st.integers(MAX_LITERAL + 1, 2**32 - 1), chunk=st.integers(1, 64))
def test_a_huge_literal_is_refused_at_its_marker(size: int, chunk: int) -> None:
    auth = fresh("CRAM-MD5")
    auth.start()
    marker = b"{%d}\r\n" % size
    try:
        for piece in cut(marker + base64.b64encode(b"x" * 48), list(range(0, 200, chunk))):
            auth.receive(piece)
    except ProtocolViolation as exc:
        assert "literal over" in str(exc)
    else:
        raise AssertionError("a literal over the limit was accepted")
