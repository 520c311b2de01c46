"""SASLprep beyond the RFC 4013 table (which tests/test_vectors.py reproduces)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sasl_kit import MalformedMessage
from sasl_kit.saslprep import saslprep


def test_non_ascii_space_maps_to_space() -> None:
    assert saslprep("a\u00a0b") == "a b"


def test_unassigned_code_points_only_in_queries() -> None:
    unassigned = "\u0221"  # unassigned in Unicode 3.2 (RFC 3454 table A.1)
    assert saslprep(unassigned, allow_unassigned=True) == unassigned
    with pytest.raises(MalformedMessage, match="unassigned code point at position 0"):
        saslprep(unassigned)


def test_right_to_left_string_must_start_and_end_right_to_left() -> None:
    assert saslprep("\u0627\u0628") == "\u0627\u0628"
    with pytest.raises(MalformedMessage, match="mixes"):
        saslprep("\u0627a\u0627")


def test_error_names_the_position_not_the_text() -> None:
    with pytest.raises(MalformedMessage) as exc:
        saslprep("secret\u0007")
    assert "secret" not in str(exc.value) and "position 6" in str(exc.value)


@given(st.text())
def test_arbitrary_text_is_prepared_or_refused_cleanly(text: str) -> None:
    try:
        prepared = saslprep(text, allow_unassigned=True)
    except MalformedMessage:
        return
    assert saslprep(prepared, allow_unassigned=True) == prepared  # idempotent


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_is_its_own_preparation(text: str) -> None:
    assert saslprep(text) == text == saslprep(text, allow_unassigned=True)
