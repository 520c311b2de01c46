"""Compose (sasl_kit.mail): envelope, strict headers, MIME structure, streamed attachments."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import hashlib
import importlib
import os
import re
import tracemalloc
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sasl_kit.errors import MessageError, UsageError
from sasl_kit.mail import Attachment, OutgoingMessage, compose
from sasl_kit.mail.stream import BLOCK, LINE, DataBody, base64_length, base64_lines

BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def _compose(**kwargs: Any) -> OutgoingMessage:
    args: dict[str, Any] = {"sender": "alice@example.org", "to": "bob@example.org", "subject": "Hi"}
    return compose(**{**args, **kwargs})


def _raw(message: OutgoingMessage) -> bytes:
    return b"".join(message.chunks())


def _parse(message: OutgoingMessage) -> EmailMessage:
    """Parse what goes on the wire, refusing any defect the parser finds."""
    raw = _raw(message)
    assert message.crlf_only  # what SMTP relies on: CRLF only, ending with one
    assert not BARE_CR_OR_LF.search(raw) and raw.endswith(b"\r\n")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    if message.smtputf8:  # UTF-8 headers (RFC 6532): the bytes parser would not decode them
        parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    else:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    for part in parsed.walk():
        assert not part.defects, part.defects
    return parsed


def _attachments(parsed: EmailMessage) -> list[EmailMessage]:
    return list(parsed.iter_attachments())  # type: ignore[arg-type]


# --- envelope and Bcc -------------------------------------------------------------


def test_bcc_goes_to_the_envelope_only() -> None:
    message = _compose(
        to=["to@example.org"], cc=["cc@example.org"], bcc=["Hidden One <hidden@example.org>"]
    )
    assert message.recipients == ("to@example.org", "cc@example.org", "hidden@example.org")
    assert b"hidden" not in _raw(message).lower()
    parsed = _parse(message)
    assert "Bcc" not in parsed
    assert all("hidden" not in str(value) for value in parsed.values())


def test_recipients_keep_their_order_without_duplicates() -> None:
    message = _compose(
        to=["b@example.org", "a@Example.org"],
        cc=["B <b@EXAMPLE.org>"],
        bcc=["a@example.org", "c@example.org", "A@example.org"],
    )
    # Domains compare case-insensitively, local parts do not (RFC 5321 2.4).
    assert message.recipients == (
        "b@example.org",
        "a@Example.org",
        "c@example.org",
        "A@example.org",
    )


def test_envelope_sender_is_the_bare_address() -> None:
    message = _compose(sender='"Doe, Jane" <jane@example.org>')
    assert message.sender == "jane@example.org"
    assert _parse(message)["From"].addresses[0].display_name == "Doe, Jane"


def test_a_single_string_is_one_address() -> None:
    assert _compose(to="Bob <bob@example.org>").recipients == ("bob@example.org",)


def test_a_message_needs_a_recipient() -> None:
    with pytest.raises(MessageError, match="no recipient"):
        _compose(to=())


def test_reply_to_is_a_header_not_a_recipient() -> None:
    message = _compose(reply_to=["list@example.org"])
    assert message.recipients == ("bob@example.org",)
    assert _parse(message)["Reply-To"] == "list@example.org"


# --- header injection and strict parsing ------------------------------------------


def _with_name(name: str, tmp_path: Path) -> Attachment:
    path = tmp_path / name
    path.write_bytes(b"x")
    return Attachment(path=path)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("sender", {"sender": "alice@example.org\r\nBcc: eve@example.org"}),
        ("to[1]", {"to": ["bob@example.org", "Bob\n <bob@example.org>"]}),
        ("cc[0]", {"cc": ["carol@example.org\rX: y"]}),
        ("bcc[0]", {"bcc": ["eve@example.org\n"]}),
        ("reply_to", {"reply_to": "r@example.org\r\n"}),
        ("subject", {"subject": "Hello\r\nBcc: eve@example.org"}),
        ("subject", {"subject": "Hello\u2028there"}),
        ("subject", {"subject": "Hello\x85there"}),
        ("headers['X-Tag']", {"headers": {"X-Tag": "a\nBcc: eve@example.org"}}),
        ("message_id_domain", {"message_id_domain": "example.org>\r\nBcc: eve@example.org"}),
        ("attachments[0] filename", {"attachments": [Attachment(data=b"", filename="a\r\n.txt")]}),
        # An encoded word may decode to a line break: checked after parsing.
        ("to display name", {"to": "=?utf-8?q?Bob=E2=80=A8Bcc:_eve?= <bob@example.org>"}),
    ],
)
def test_a_line_break_in_a_header_input_is_refused(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(MessageError, match=re.escape(field) + ".*header injection"):
        _compose(**kwargs)


def test_an_encoded_word_that_decodes_to_crlf_is_refused() -> None:
    with pytest.raises(MessageError, match=r"^to: .*CR or LF"):
        _compose(to="=?utf-8?q?Bob=0D=0ABcc:_eve@example.org?= <bob@example.org>")


def test_a_line_break_in_an_attachment_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MessageError, match=r"attachments\[0\] filename.*header injection"):
        _compose(attachments=[_with_name("evil\nBcc: eve@example.org", tmp_path)])


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("subject", {"subject": "nul\0byte"}),
        ("to", {"to": "bob@example.org\x1b"}),
        ("attachments[0] filename", {"attachments": [Attachment(data=b"", filename="a\x7f")]}),
        ("headers['X-Tag']", {"headers": {"X-Tag": "bell\x07"}}),
    ],
)
def test_a_control_character_in_a_header_input_is_refused(
    field: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(MessageError, match=re.escape(field) + ": control character"):
        _compose(**kwargs)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "bob",
        "bob@",
        "@example.org",
        "bob smith@example.org",
        "<bob@example.org",
        "bob@example.org>",
        "bob..smith@example.org",
        "bob@example..org",
        "bob@@example.org",
        "<>",
        "Doe, John <john@example.org>",  # an unquoted comma: two addresses, one broken
        "John Q. Public <john@example.org>",  # obsolete phrase: quote the display name
        "<@relay.example:bob@example.org>",  # obsolete source route
        "bob@example.org, carol@example.org",
        "team: bob@example.org;",
    ],
)
def test_an_address_that_does_not_parse_cleanly_is_refused(address: str) -> None:
    with pytest.raises(MessageError, match=r"^to\[0\]: "):
        _compose(to=[address])


def test_an_invalid_sender_is_refused() -> None:
    with pytest.raises(MessageError, match=r"^sender: "):
        _compose(sender="alice")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Bcc", "use bcc"),
        ("bcc", "use bcc"),
        ("Resent-Bcc", "use bcc"),
        ("From", "use sender"),
        ("Message-ID", "use message_id_domain"),
        ("Content-Type", "use attachments"),
        ("X Tag", "not a header field name"),
        ("X:Tag", "not a header field name"),
        ("", "not a header field name"),
        ("X-Ünicode", "not a header field name"),
    ],
)
def test_custom_headers_cannot_replace_or_break_the_composed_ones(name: str, reason: str) -> None:
    with pytest.raises(MessageError, match=re.escape(reason)):
        _compose(headers={name: "value"})


def test_a_custom_header_with_a_parse_defect_is_refused() -> None:
    with pytest.raises(MessageError, match=r"headers\['Sender'\]"):
        _compose(headers={"Sender": "not an address"})


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("headers['X-", {"headers": {"X-" + "a" * 1000: "v"}}),
        # UTF-8 headers are not folded into encoded words: a long name cannot be folded.
        ("to", {"to": '"' + "ü" * 600 + '" <bøb@example.org>'}),
    ],
)
def test_a_header_that_cannot_fit_998_octets_is_refused(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(MessageError, match=re.escape(field) + ".*over 998 octets"):
        _compose(**kwargs)


def test_custom_headers_are_written() -> None:
    parsed = _parse(_compose(headers={"X-Mailer": "sasl-kit", "X-Note": "für dich"}))
    assert parsed["X-Mailer"] == "sasl-kit"
    assert parsed["X-Note"] == "für dich"


# --- non-ASCII ----------------------------------------------------------------------


def test_a_utf8_display_name_is_encoded_and_needs_no_smtputf8() -> None:
    message = _compose(sender="Jürgen Müller <j@example.org>", subject="Grüße")
    assert not message.smtputf8
    raw = _raw(message)
    assert raw.isascii()
    parsed = _parse(message)
    assert parsed["From"].addresses[0].display_name == "Jürgen Müller"
    assert parsed["Subject"] == "Grüße"


@pytest.mark.parametrize("field", ["sender", "to", "cc", "bcc", "reply_to"])
def test_a_non_ascii_address_needs_smtputf8(field: str) -> None:
    message = _compose(**{field: "Jürgen <jürgen@bücher.example>"})
    assert message.smtputf8
    if field in ("to", "cc", "bcc"):
        assert "jürgen@bücher.example" in message.recipients
    if field != "bcc":
        assert "Jürgen <jürgen@bücher.example>".encode() in _raw(message)  # raw UTF-8 (RFC 6532)
        header = {"sender": "From", "to": "To", "cc": "Cc", "reply_to": "Reply-To"}[field]
        (address,) = _parse(message)[header].addresses
        assert (address.display_name, address.addr_spec) == ("Jürgen", "jürgen@bücher.example")


def test_an_ascii_message_needs_neither_smtputf8_nor_8bitmime() -> None:
    message = _compose(text="plain ascii")
    assert not message.smtputf8
    assert not message.eight_bit


@pytest.mark.parametrize("smtputf8", [False, True])
def test_a_non_ascii_file_name_is_encoded_per_rfc2231(smtputf8: bool) -> None:
    name = "Résumé \u2013 naïve 日本語 " + "long " * 20 + ".pdf"
    sender = "jürgen@bücher.example" if smtputf8 else "j@example.org"
    message = _compose(sender=sender, attachments=[Attachment(data=b"%PDF", filename=name)])
    assert message.smtputf8 is smtputf8
    raw = _raw(message)
    assert b"filename*0*=utf-8''R%C3%A9sum%C3%A9" in raw
    (attachment,) = _attachments(_parse(message))
    assert attachment.get_filename() == name
    assert attachment.get_content_type() == "application/pdf"


# --- bodies ---------------------------------------------------------------------------


def test_text_and_html_make_a_multipart_alternative() -> None:
    parsed = _parse(_compose(text="plain", html="<p>rich</p>"))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>rich</p>"  # type: ignore[union-attr]


def test_html_alone_is_a_single_part() -> None:
    parsed = _parse(_compose(html="<p>rich</p>"))
    assert parsed.get_content_type() == "text/html"


def test_no_body_is_an_empty_text_part() -> None:
    parsed = _parse(_compose())
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == "\r\n"


def test_attachments_follow_the_body_in_a_multipart_mixed() -> None:
    message = _compose(
        text="plain",
        html="<p>rich</p>",
        attachments=[
            Attachment(data=b"1", filename="a.bin"),
            Attachment(data=b"2", filename="b.txt"),
        ],
    )
    parsed = _parse(message)
    assert parsed.get_content_type() == "multipart/mixed"
    types = [p.get_content_type() for p in parsed.iter_parts()]
    assert types == ["multipart/alternative", "application/octet-stream", "text/plain"]
    assert parsed["MIME-Version"] == "1.0"
    assert all("MIME-Version" not in part for part in list(parsed.walk())[1:])
    assert _raw(message).count(b"MIME-Version") == 1  # the top level's, no part's


def test_attachments_alone_make_a_multipart_mixed() -> None:
    parsed = _parse(_compose(attachments=[Attachment(data=b"1", filename="a.bin")]))
    assert [p.get_filename() for p in parsed.iter_parts()] == ["a.bin"]


def test_8bit_text_needs_8bitmime() -> None:
    message = _compose(text="Grüße")
    assert message.eight_bit
    assert _parse(message).get_content() == "Grüße\r\n"


def test_a_nul_in_text_makes_it_quoted_printable() -> None:
    message = _compose(text="a\0b")
    assert not message.eight_bit
    parsed = _parse(message)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content() == "a\0b\r\n"


def test_text_that_is_not_unicode_is_refused() -> None:
    with pytest.raises(MessageError, match=r"^html: lone surrogate at index 1"):
        _compose(html="a\udc80")


def test_date_and_message_id_are_added() -> None:
    parsed = _parse(_compose(sender="alice@mail.example.org"))
    assert parsed["Date"].datetime.utcoffset().total_seconds() == 0
    assert re.fullmatch(r"<[0-9a-f]{32}@mail\.example\.org>", parsed["Message-ID"])
    other = _parse(_compose(message_id_domain="ids.example.net"))
    assert other["Message-ID"].endswith("@ids.example.net>")


def test_an_invalid_message_id_domain_is_refused() -> None:
    with pytest.raises(MessageError, match=r"^message_id_domain: "):
        _compose(message_id_domain="not a domain")


# --- attachments ----------------------------------------------------------------------

SIZES = [0, 1, 2, 3, 56, 57, 58, 114, 57 * 1024 - 1, 57 * 1024, 57 * 1024 + 1, 300_001]


@pytest.mark.parametrize("size", SIZES)
def test_attachments_are_byte_identical_after_parsing(size: int, tmp_path: Path) -> None:
    content = os.urandom(size)
    path = tmp_path / "blob.bin"
    path.write_bytes(content)
    message = _compose(
        text="see attached",
        attachments=[Attachment(path=path), Attachment(data=content, filename="copy.bin")],
    )
    assert message.size() == len(_raw(message))
    digests = [hashlib.sha256(a.get_content()).hexdigest() for a in _attachments(_parse(message))]
    assert digests == [hashlib.sha256(content).hexdigest()] * 2


def test_base64_lines_have_76_characters() -> None:
    message = _compose(attachments=[Attachment(data=bytes(1000), filename="z.bin")])
    body = _raw(message).split(b"\r\n\r\n")[-2]  # between the part's headers and the delimiter
    assert [len(line) for line in body.split(b"\r\n")] == [76] * 17 + [44]  # 17 * 57 + 31 bytes


@pytest.mark.parametrize(
    "size",
    [1, 57, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 58],
)
def test_base64_is_the_standard_library_s_at_every_block_edge(size: int, tmp_path: Path) -> None:
    # base64_lines encodes whole blocks and joins lines through views;
    # base64.encodebytes (one b2a_base64 per 57 bytes) is the reference.
    content = os.urandom(size)
    path = tmp_path / "blob.bin"
    path.write_bytes(content)
    expected = base64.encodebytes(content).replace(b"\n", b"\r\n")
    for attachment in (Attachment(path=path), Attachment(data=content, filename="blob.bin")):
        raw = _raw(_compose(attachments=[attachment]))
        start = raw.index(b"\r\n\r\n", raw.index(b"blob.bin")) + 4
        assert raw[start : start + len(expected) + 2] == expected + b"\r\n"  # then a delimiter
        assert raw[start + len(expected) + 2 : start + len(expected) + 4] == b"--"


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("report.pdf", None, "application/pdf"),
        ("notes.txt", None, "text/plain"),
        ("data.unknown-extension", None, "application/octet-stream"),
        ("mail.eml", None, "application/octet-stream"),  # message/* cannot be base64
        ("backup.tar.gz", None, "application/octet-stream"),  # compressed: not a tar
        ("image", "Image/PNG", "image/png"),
    ],
)
def test_the_content_type_is_given_or_guessed(
    filename: str, content_type: str | None, expected: str
) -> None:
    attachment = Attachment(data=b"x", filename=filename, content_type=content_type)
    (part,) = _attachments(_parse(_compose(attachments=[attachment])))
    assert part.get_content_type() == expected


@pytest.mark.parametrize(
    "content_type", ["text", "text/plain; charset=utf-8", "multipart/mixed", "message/rfc822"]
)
def test_an_unusable_content_type_is_refused(content_type: str) -> None:
    attachment = Attachment(data=b"x", filename="a", content_type=content_type)
    with pytest.raises(MessageError, match=r"^attachments\[0\]: content_type"):
        _compose(attachments=[attachment])


@pytest.mark.parametrize(
    ("attachment", "reason"),
    [
        (Attachment(), "exactly one of path and data"),
        (Attachment(path="a", data=b"x"), "exactly one of path and data"),
        (Attachment(data=b"x"), "needs a filename"),
        (Attachment(data=b"x", filename=""), "filename is blank"),
        (Attachment(data=b"x", filename=" \t"), "filename is blank"),
        (Attachment(path="/nonexistent/file.txt"), "cannot read"),
        (Attachment(path="/"), "not a regular file"),
    ],
)
def test_an_unusable_attachment_is_refused(attachment: Attachment, reason: str) -> None:
    with pytest.raises(MessageError, match=r"^attachments\[0\]: .*" + re.escape(reason)):
        _compose(attachments=[attachment])


def test_the_path_name_is_the_default_file_name(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_bytes(b"x")
    renamed = Attachment(path=tmp_path / "report.txt", filename="renamed.txt")
    message = _compose(attachments=[Attachment(path=str(tmp_path / "report.txt")), renamed])
    assert [a.get_filename() for a in _attachments(_parse(message))] == [
        "report.txt",
        "renamed.txt",
    ]


# --- size() and chunks() ----------------------------------------------------------


def test_chunks_have_the_requested_size_and_add_up_to_size(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(100_000))
    message = _compose(text="x", attachments=[Attachment(path=path)])
    for size in (1, 7, 1000, 65536, 10**7):
        chunks = list(message.chunks(size))
        assert all(len(chunk) == size for chunk in chunks[:-1])
        assert 0 < len(chunks[-1]) <= size
        assert sum(map(len, chunks)) == message.size()
    assert _raw(message) == _raw(message)  # iterable again, same bytes


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(UsageError, match="at least 1"):
        _compose().chunks(0)


def test_size_reads_no_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.bin"
    path.write_bytes(bytes(1000))
    message = _compose(text="x", attachments=[Attachment(path=path)])
    expected = message.size()
    path.unlink()
    assert message.size() == expected
    with pytest.raises(MessageError, match=r"^attachments\[0\]: cannot read"):
        message.chunks()


@pytest.mark.parametrize("new_content", [bytes(999), bytes(1001)])
def test_a_file_that_changed_size_since_compose_is_refused_before_any_byte(
    new_content: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(1000))
    message = _compose(attachments=[Attachment(path=path)])
    path.write_bytes(new_content)
    with pytest.raises(MessageError, match=f"was 1000 bytes, is now {len(new_content)} bytes"):
        message.chunks()


def test_a_file_that_changes_size_while_sending_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(1000))
    message = _compose(attachments=[Attachment(path=path)])
    chunks = message.chunks(100)  # checked now, read later
    path.write_bytes(bytes(10))
    with pytest.raises(MessageError, match="changed since compose"):
        list(chunks)


def test_a_large_attachment_streams_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with open(path, "wb") as stream:
        stream.truncate(200 * 2**20)  # sparse: fast to make, read as zeros
    message = _compose(text="big", attachments=[Attachment(path=path)])
    tracemalloc.start()
    try:
        total = 0
        for chunk in message.chunks():
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == message.size() > 270 * 2**20
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# --- properties -----------------------------------------------------------------------

# Every line break the text may hold, NUL, leading dots and non-ASCII, in any mix.
body_text = st.lists(
    st.sampled_from(["\r", "\n", "\r\n", ".", "..", "\0", "a", " ", "é", "\x85", "\u2028"])
).map("".join)


def _normalised(text: str) -> str:
    """The documented normalisation, in decoded form: every line break one, a final one added."""
    text = re.sub(r"\r\n|\r|\n", "\n", text)
    return text if text.endswith("\n") else text + "\n"


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(body_text, st.text()), html=st.none() | body_text)
def test_any_body_has_only_crlf_on_the_wire_and_decodes_to_the_same_text(
    text: str, html: str | None
) -> None:
    message = _compose(text=text, html=html)
    assert message.size() == len(_raw(message))
    parsed = _parse(message)
    decoded = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert decoded.replace("\r\n", "\n") == _normalised(text)
    if html is not None:
        decoded = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert decoded.replace("\r\n", "\n") == _normalised(html)


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=2000), size=st.integers(1, 500))
def test_any_attachment_round_trips_and_size_is_exact(content: bytes, size: int) -> None:
    message = _compose(attachments=[Attachment(data=content, filename="a.bin")])
    raw = b"".join(message.chunks(size))
    assert len(raw) == message.size()
    (part,) = _attachments(_parse(message))
    assert part.get_content() == content


@settings(max_examples=60, deadline=None)
@given(
    size=st.one_of(st.integers(0, 3 * LINE), st.integers(0, 3 * BLOCK + LINE)),
    seed=st.binary(min_size=1, max_size=8),
)
def test_any_body_s_base64_lines_are_the_standard_library_s(size: int, seed: bytes) -> None:
    # RFC 2045 6.8 as the email package writes it: base64.encodebytes, CRLF line ends.
    content = hashlib.shake_256(seed).digest(size)  # any bytes, reproducible from the example
    expected = base64.encodebytes(content).replace(b"\n", b"\r\n")
    assert b"".join(base64_lines(DataBody(content).blocks())) == expected
    assert base64_length(size) == len(expected)


header_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=80
)


@settings(max_examples=200, deadline=None)
@given(filename=header_text.filter(str.strip), subject=header_text)
@example(filename="<>", subject="0")  # found by this test: get_filename() read it as ""
def test_any_file_name_and_subject_round_trip(filename: str, subject: str) -> None:
    message = _compose(subject=subject, attachments=[Attachment(data=b"x", filename=filename)])
    parsed = _parse(message)
    # The parser drops the whitespace after the colon. The file name is read as the
    # parameter is written: get_filename() would strip it and drop a "<...>" around
    # it (email.utils.unquote), so that "<>" would read as "".
    assert parsed["Subject"] == subject.lstrip(" \t")
    param = _attachments(parsed)[0].get_param("filename", header="content-disposition")
    name = email.utils.collapse_rfc2231_value(param) if isinstance(param, tuple) else param
    assert name == filename


# --- A lone address's header folds from its first parse (compose._address_header) -----

_ATEXT = st.text(st.sampled_from("abcxyzABC0189!#$%&'*+-/=?^_`{|}~.äöü名"), min_size=1, max_size=12)
_DISPLAY = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), max_codepoint=0x2FFF),
    max_size=90,
)


@st.composite
def _mailbox_texts(draw: st.DrawFn) -> str:
    """Mailboxes as users write them: bare, with a display name, quoted or not, long."""
    local = draw(_ATEXT)
    domain = draw(st.sampled_from(["example.org", "EXAMPLE.org", "xn--bcher-kva.example", "bü.de"]))
    spec = f"{local}@{domain}"
    name = draw(_DISPLAY)
    form = draw(st.sampled_from(["{spec}", "{name} <{spec}>", '"{name}" <{spec}>', "<{spec}>"]))
    return form.format(spec=spec, name=name.replace('"', "").replace("\\", ""))


@settings(max_examples=300, deadline=None)
@given(text=_mailbox_texts(), name=st.sampled_from(["From", "To", "Cc", "Reply-To"]))
@example(text="to1@example.org", name="To")
@example(text="Jürgen Müller <jürgen@example.org>", name="From")
@example(text="A very long display name " * 4 + "<someone@example.org>", name="Cc")
@example(text="Ä very long display name " * 4 + "<someone@example.org>", name="To")
@example(text="Avery" + "very" * 18 + "longname <x@example.org>", name="From")
def test_a_lone_address_folds_to_the_line_a_second_parse_gives(text: str, name: str) -> None:
    """_address_header's lone, canonical mailbox (its first parse folded) against _header
    (the addresses written out by email and parsed again), with either policy."""
    module = importlib.import_module("sasl_kit.mail.compose")  # sasl_kit.mail.compose: the function
    try:
        mailbox = module._mailbox("to", text, name)
    except MessageError:
        return  # not one valid mailbox: compose refuses it, whichever way a line is made
    for policy in (email.policy.SMTP, email.policy.SMTPUTF8):
        try:
            again = module._header(policy, "to", name, [mailbox.address])
        except MessageError:
            with pytest.raises(MessageError):
                module._address_header(policy, "to", name, [mailbox])
            continue
        assert module._address_header(policy, "to", name, [mailbox]) == again


def test_the_usual_addresses_take_their_first_parse() -> None:
    module = importlib.import_module("sasl_kit.mail.compose")  # sasl_kit.mail.compose: the function
    for text in ("to1@example.org", "Jürgen <jürgen@example.org>", "Bob Smith <bob@example.org>"):
        assert module._mailbox("to", text, "To").canonical, text
    for text in ("  bob@example.org", "Bob<bob@example.org>", '"Bob" <bob@example.org>'):
        assert not module._mailbox("to", text, "To").canonical, text
