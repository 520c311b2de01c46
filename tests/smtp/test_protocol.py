"""The sans-I/O wire format: reply parsing, EHLO keywords, commands, data encoding."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sasl_kit import UsageError
from sasl_kit.smtp.errors import SMTPProtocolError
from sasl_kit.smtp.protocol import (
    DataEncoder,
    Extensions,
    Reply,
    ReplyParser,
    command,
    utf8_addr_xtext,
    xtext,
)


def test_parser_joins_a_multiline_reply_split_across_reads() -> None:
    parser = ReplyParser()
    assert parser.feed(b"250-fake.test\r\n250-PIPE") == []
    replies = parser.feed(b"LINING\r\n250 SIZE 100\r\n")
    assert replies == [Reply(250, ("fake.test", "PIPELINING", "SIZE 100"))]
    assert parser.idle
    parser.feed(b"220-part of a reply\r\n")
    assert not parser.idle


def test_parser_accepts_a_bare_code_and_bare_lf() -> None:
    assert ReplyParser().feed(b"250\n354 go\r\n") == [Reply(250, ("",)), Reply(354, ("go",))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello\r\n", "not a reply"),
        (b"250-a\r\n251 b\r\n", "changed the reply code"),
        (b"2" * 9000, "longer than"),
    ],
)
def test_parser_blames_the_server_for_a_broken_reply(data: bytes, message: str) -> None:
    with pytest.raises(SMTPProtocolError, match=message):
        ReplyParser().feed(data)


@pytest.mark.parametrize("cut", [None, 4000, 8191])
def test_a_reply_line_over_the_limit_is_refused_however_it_is_read(cut: int | None) -> None:
    line = b"250 " + b"x" * 8200 + b"\r\n"  # whole in one read, or cut where a read may end
    parser = ReplyParser()
    with pytest.raises(SMTPProtocolError, match="longer than 8192 bytes"):
        for part in (line,) if cut is None else (line[:cut], line[cut:]):
            parser.feed(part)


def test_a_reply_line_at_the_limit_is_read() -> None:
    line = b"250 " + b"x" * (8192 - 5) + b"\r\n"  # 8192 bytes with its CR, 8193 with its LF
    assert ReplyParser().feed(line) == [Reply(250, ("x" * (8192 - 5),))]


def test_extensions_are_case_insensitive_and_keep_the_auth_list() -> None:
    ext = Extensions.parse(Reply(250, ("me", "pipelining", "AUTH PLAIN SCRAM-SHA-256", "SIZE 0")))
    assert "PIPELINING" in ext
    assert ext.auth == ("PLAIN", "SCRAM-SHA-256")
    assert ext.size is None  # SIZE 0: no fixed limit (RFC 1870)
    assert Extensions.parse(Reply(250, ("me", "SIZE 1000"))).size == 1000


def test_command_refuses_line_breaks_in_arguments() -> None:
    assert command("MAIL", "FROM:<a@b>", "SIZE=3") == "MAIL FROM:<a@b> SIZE=3"
    for bad in ("a@b>\r\nRCPT TO:<c@d", "a\n", "a\0"):
        with pytest.raises(UsageError, match="command injection"):
            command("MAIL", f"FROM:<{bad}>")


def test_xtext_encodes_plus_equals_and_non_printables() -> None:
    # RFC 3461 4
    assert xtext("a+b=c d") == "a+2Bb+3Dc+20d"
    assert utf8_addr_xtext("jö@x") == "j\\x{F6}@x"  # RFC 6533 3


@pytest.mark.parametrize(
    ("chunks", "wire"),
    [
        ([b"a\nb\rc\r\nd"], b"a\r\nb\r\nc\r\nd\r\n.\r\n"),
        ([b"a\r", b"\nb"], b"a\r\nb\r\n.\r\n"),  # CRLF split across chunks
        ([b"a\r", b"b"], b"a\r\nb\r\n.\r\n"),  # bare CR at a chunk's end
        ([b".a\n..b\n", b".c"], b"..a\r\n...b\r\n..c\r\n.\r\n"),
        ([b"x\r\n", b".\r\n"], b"x\r\n..\r\n.\r\n"),  # a lone dot line is stuffed
        ([], b".\r\n"),
        ([b"\r"], b"\r\n.\r\n"),
    ],
)
def test_data_encoder_normalises_line_endings_and_stuffs_dots(
    chunks: list[bytes], wire: bytes
) -> None:
    encoder = DataEncoder(dot_stuff=True)
    assert b"".join(encoder.feed(c) for c in chunks) + encoder.end() == wire


def test_bdat_encoding_normalises_without_stuffing() -> None:
    encoder = DataEncoder(dot_stuff=False)
    assert encoder.feed(b".a\n.") + encoder.end() == b".a\r\n.\r\n"


@given(code=st.integers(200, 599), text=st.binary().filter(lambda b: b"\n" not in b))
def test_the_one_line_fast_path_reads_a_reply_as_the_general_path(code: int, text: bytes) -> None:
    line = b"%d %s" % (code, text)
    (fast,) = ReplyParser().feed(line + b"\r\n")
    (general,) = ReplyParser().feed(b"%d-first\r\n" % code + line + b"\r\n")  # the regex path
    assert fast == Reply(general.code, general.lines[1:])


REPLY_LINES = st.lists(
    st.one_of(
        st.sampled_from([b"250 ok", b"250-first", b"354 go", b"250", b"550 5.1.1 no", b"25 x"]),
        st.tuples(
            st.integers(100, 699).map(b"%d".__mod__),
            st.sampled_from([b" ", b"-", b"", b"x"]),
            st.binary(max_size=6).filter(lambda b: b"\n" not in b),
        ).map(b"".join),
    ),
    max_size=10,
)


def general_path(lines: list[bytes]) -> list[Reply] | str:
    """What ``_line`` alone, the general path, makes of each line: the replies, or the error."""
    parser, replies = ReplyParser(), []
    for line in lines:
        try:
            reply = parser._line(line.removesuffix(b"\r"))
        except SMTPProtocolError as exc:
            return str(exc)
        if reply is not None:
            replies.append(reply)
    return replies


@given(
    lines=REPLY_LINES,
    endings=st.lists(st.sampled_from([b"\r\n", b"\n"]), min_size=10, max_size=10),
    cuts=st.lists(st.integers(0, 200), max_size=4),
)
def test_feed_reads_any_replies_as_the_general_path_twice_over(
    lines: list[bytes], endings: list[bytes], cuts: list[int]
) -> None:
    # feed's one-line path, and its known lines the second time round, against _line.
    data = b"".join(line + ending for line, ending in zip(lines, endings, strict=False)) * 2
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    parser, replies = ReplyParser(), []
    try:
        for a, b in itertools.pairwise(bounds):
            replies.extend(parser.feed(data[a:b]))
    except SMTPProtocolError as exc:
        assert general_path(data.split(b"\n")[:-1]) == str(exc)
    else:
        assert general_path(data.split(b"\n")[:-1]) == replies
