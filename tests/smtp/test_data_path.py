"""The DATA path's writes: small pieces joined, large ones passed on uncopied, bytes unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sasl_kit.smtp.data import COALESCE, coalesced


@given(st.lists(st.binary(max_size=3 * COALESCE).filter(bool), max_size=12))
def test_coalescing_keeps_the_bytes_and_their_order(pieces: list[bytes]) -> None:
    out = list(coalesced(iter(pieces)))
    assert b"".join(out) == b"".join(pieces)
    big = [p for p in pieces if len(p) >= COALESCE]
    assert [p for p in out if any(p is b for b in big)] == big  # large pieces are not copied


def test_a_short_message_and_its_end_line_are_one_write() -> None:
    assert list(coalesced(iter([b"Subject: x\r\n\r\nhi\r\n", b".\r\n"]))) == [
        b"Subject: x\r\n\r\nhi\r\n.\r\n"
    ]
