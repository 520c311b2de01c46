"""Bad input for every LDAP parser: only the project's errors come out (hypothesis).

The base inputs are the BER captured from slapd (slapd_captures.json), cut,
split, mutated or replaced by arbitrary bytes.
"""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st

from sasl_kit.errors import SASLError
from sasl_kit.protocols.ldap import PROFILE, RootDSE, StartTLS
from sasl_kit.protocols.ldap_messages import MessageReader
from tests.protocols.test_ldap import CAPTURES, EXCHANGES, auth_for, messages, replay, started

SERVER_BYTES = [data for capture in EXCHANGES.values() for data in messages(capture, "S")] + [
    data for name in ("root_dse", "start_tls") for data in messages(CAPTURES[name], "S")
]


def survives(action: object, *args: object) -> None:
    """Run ``action``; a SASLError is an allowed answer, anything else fails the test."""
    with contextlib.suppress(SASLError):
        action(*args)  # type: ignore[operator]


@given(st.binary(max_size=600))
@example(b"\x30\x84\xff\xff\xff\xff")
@example(b"\x30\x89" + b"\x01" * 9)
@example(b"\x30\x80\x00\x00")
@example(b"\x30\x03\x02\x01")
def test_arbitrary_bytes_to_a_bind(data: bytes) -> None:
    survives(started().receive, data)


@given(st.sampled_from(SERVER_BYTES), st.integers(0, 400), st.integers(0, 255))
def test_a_mutated_slapd_message(data: bytes, index: int, value: int) -> None:
    mutated = data[:index] + bytes([value]) + data[index + 1 :]
    survives(started().receive, mutated)
    survives(RootDSE(1).receive, mutated)
    survives(StartTLS(1).receive, mutated)
    survives(PROFILE.mechanisms, mutated)


@given(st.sampled_from(SERVER_BYTES), st.data())
def test_a_truncated_message_waits_for_more(data: bytes, draw: st.DataObject) -> None:
    whole = MessageReader()
    whole.feed(data)
    expected = list(whole.messages())
    cut = draw.draw(st.integers(0, len(data) - 1))
    reader = MessageReader()
    reader.feed(data[:cut])
    got = list(reader.messages())
    assert len(got) < len(expected)
    reader.feed(data[cut:])
    assert got + list(reader.messages()) == expected


@given(st.sampled_from(sorted(EXCHANGES)), st.data())
def test_any_split_of_a_captured_exchange_gives_the_same_bind(
    name: str, draw: st.DataObject
) -> None:
    expected_auth, expected = replay(name)
    auth = auth_for(name)
    written = [auth.start()]
    stream = b"".join(messages(EXCHANGES[name], "S"))
    cuts = sorted(draw.draw(st.sets(st.integers(1, len(stream) - 1), max_size=12)))
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if auth.result is not None:
            break
        out = auth.receive(stream[start:end])
        if out:
            written.append(out)
    assert b"".join(written) == b"".join(expected)
    assert auth.result is not None and expected_auth.result is not None
    assert repr(auth.result) == repr(expected_auth.result)


@given(st.text(max_size=200), st.sampled_from(["C", "S"]))
@example("bindRequest(1) SASL PLAIN =", "C")
@example('bindResponse(1) success (0) "\\ud800"', "S")
@example("bindResponse(99999999999999999999) other (80)", "S")
def test_arbitrary_transcript_lines(text: str, side: str) -> None:
    survives(PROFILE.read_line, side, text)


@given(st.from_regex(r"bindRe(quest|sponse)\([0-9]{1,3}\) .{0,60}", fullmatch=True))
def test_ldap_shaped_transcript_lines(text: str) -> None:
    survives(PROFILE.read_line, "C", text)
    survives(PROFILE.read_line, "S", text)
