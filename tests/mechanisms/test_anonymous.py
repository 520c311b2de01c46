"""ANONYMOUS: the trace information rules of RFC 4505 sections 2 and 3, both sides."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import MalformedMessage, UsageError
from sasl_kit.mechanisms.anonymous import MAX_TRACE, check_trace
from sasl_kit.selftest import handshake


@pytest.mark.parametrize(
    "trace",
    [
        "",
        "sirhc",
        "chris@example.org",
        '"odd@local"@example.org',
        "user@[192.0.2.1]",
        "jürgen@exämple.org",
        "t" * MAX_TRACE,
        "x" * (MAX_TRACE - len("@example.org")) + "@example.org",
        "\u05e9\u05dc\u05d5\u05dd",
    ],
)
def test_valid_traces_go_through_unchanged(trace: str) -> None:
    server = sasl_kit.server("ANONYMOUS", {})
    handshake(sasl_kit.client("ANONYMOUS", trace=trace), server)
    assert (server.authcid, server.authzid, server.trace) == ("anonymous", "anonymous", trace)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("trace", "named"),
    [
        ("t" * (MAX_TRACE + 1), "256 characters"),
        ("two@at@signs", "not an email"),
        ("@example.org", "not an email"),
        ("user@", "not an email"),
        ("a..b@example.org", "not an email"),
        ("tab\there", "ASCII control"),
        ("nul\0", "ASCII control"),
        ("\x85next line", "non-ASCII control"),
        ("private\ue000", "private use"),
        ("tag\U000e0001", "tagging"),
        ("\u200eltr mark", "change display"),
        ("\u05e9\u05dc\u05d5\u05ddabc", "bidi"),
    ],
)
def test_invalid_traces_are_refused_by_rule_without_the_text(trace: str, named: str) -> None:
    with pytest.raises(MalformedMessage, match=named) as caught:
        check_trace(trace)
    assert trace not in str(caught.value) or not trace.strip()
    with pytest.raises(UsageError, match=named):
        sasl_kit.client("ANONYMOUS", trace=trace).step(b"")
    with pytest.raises(MalformedMessage, match=named):
        sasl_kit.server("ANONYMOUS", {}).step(trace.encode("utf-8"))


def test_server_refuses_a_message_that_is_not_utf8() -> None:
    with pytest.raises(MalformedMessage, match="not UTF-8"):
        sasl_kit.server("ANONYMOUS", {}).step(b"\xc3")


def test_server_asks_for_the_message_with_an_empty_challenge() -> None:
    server = sasl_kit.server("ANONYMOUS", {})
    assert server.step(None) == b"" and not server.complete


def test_anonymous_goes_through_the_authorization_policy() -> None:
    server = sasl_kit.server("ANONYMOUS", {}, authorize=lambda authcid, authzid: False)
    with pytest.raises(sasl_kit.AuthenticationFailed, match="'anonymous'"):
        server.step(b"")


@given(st.text(max_size=300))
def test_trace_check_raises_only_malformed_message(trace: str) -> None:
    with contextlib.suppress(MalformedMessage):
        assert check_trace(trace) == trace


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=255))
def test_any_printable_ascii_token_without_at_sign_passes(trace: str) -> None:
    if "@" not in trace:
        assert check_trace(trace) == trace
