"""The line reader and the command parser of serve, fed garbage: no exception, never out of sync."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from sasl_kit.smtp_server.lines import READ_LIMIT, read_line
from sasl_kit.smtp_server.session import _parse

LINES = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.integers(0, 3 * READ_LIMIT).map(lambda n: b"x" * n),  # around and over the limits
    ).map(lambda b: b.replace(b"\n", b"")),
    max_size=6,
)


@given(LINES, st.integers(1, READ_LIMIT), st.integers(1, 5000))
def test_every_line_comes_back_whole_or_as_too_long_in_order(
    lines: list[bytes], limit: int, piece: int
) -> None:
    async def read_all() -> list[bytes | None]:
        reader = asyncio.StreamReader(limit=READ_LIMIT)
        wire = b"".join(line + b"\n" for line in lines) + b"END\n"
        for start in range(0, len(wire), piece):  # as it arrives, in pieces
            reader.feed_data(wire[start : start + piece])
        reader.feed_eof()
        return [await read_line(reader, limit) for _ in range(len(lines) + 1)]

    expected = [line + b"\n" if len(line) + 1 <= limit else None for line in lines]
    assert asyncio.run(read_all()) == [*expected, b"END\n" if limit >= 4 else None]


@given(st.one_of(st.none(), st.binary(max_size=600)))
def test_a_command_line_is_a_verb_and_argument_or_a_reply(line: bytes | None) -> None:
    parsed = _parse(line)
    if isinstance(parsed, str):
        assert parsed[:3] == "500"
    else:
        verb, arg = parsed
        assert verb.isascii() and verb == verb.upper()
        assert arg is None or isinstance(arg, str)
