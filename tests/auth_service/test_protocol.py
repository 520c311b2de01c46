"""The auth service's side of Dovecot's auth protocol, line by line (no sockets).

Expected lines follow what Dovecot 2.3 answers to the same requests (recorded in
tests/interop/test_auth_service.py's module docstring and compared there live).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit.auth_service.protocol import (
    MAX_LINE,
    MAX_REQUESTS,
    Connection,
    Output,
    Request,
    decode_base64,
    escape,
    flags,
    unescape,
)
from sasl_kit.errors import MalformedMessage
from sasl_kit.mechanisms.base import ServerMechanism
from sasl_kit.protocols.errors import ProtocolViolation

USERS = {"tim": "tanstaaftanstaaf", "alice": "wonderland"}
HOST = "mx.example.test"
OFFERED = [
    sasl_kit.default_registry.get(n)
    for n in ("SCRAM-SHA-256", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN")
]


BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def start(request: Request) -> ServerMechanism:
    nonce = "1896.697170952" if request.mechanism == "CRAM-MD5" else None
    return sasl_kit.server(
        request.mechanism, USERS, service=request.service, host=HOST, nonce=nonce
    )


def plain(rid: int, password: str = USERS["tim"], *, secured: bool = True) -> bytes:
    """An AUTH line for PLAIN as user tim with an initial response."""
    response = b64(b"\0tim\0" + password.encode())
    flag = "\tsecured" if secured else ""
    return f"AUTH\t{rid}\tPLAIN\tservice=smtp{flag}\tresp={response}\n".encode()


def connection(**kwargs: object) -> Connection:
    """A connection after Postfix's handshake (Postfix 3.7 says VERSION 1 0)."""
    return connection_of(0, **kwargs)


def connection_of(minor: int, **kwargs: object) -> Connection:
    conn = Connection(OFFERED, start, spid=7, cuid=1, cookie="c0ffee", **kwargs)  # type: ignore[arg-type]
    assert conn.receive(f"VERSION\t1\t{minor}\nCPID\t4242\n".encode()) == []
    return conn


def lines(outputs: list[Output]) -> list[str]:
    return [o.line.decode() for o in outputs]


def test_the_greeting_lists_every_mechanism_with_its_flags() -> None:
    greeting = Connection(OFFERED, start, spid=7, cuid=3, cookie="ab12").greeting().decode()
    assert greeting.splitlines() == [
        "VERSION\t1\t2",
        "MECH\tSCRAM-SHA-256\tdictionary\tactive",
        "MECH\tDIGEST-MD5\tdictionary\tactive",
        "MECH\tCRAM-MD5\tdictionary\tactive",
        "MECH\tPLAIN\tplaintext",
        "MECH\tLOGIN\tplaintext",
        "SPID\t7",
        "CUID\t3",
        "COOKIE\tab12",
        "DONE",
    ]


def test_flags_come_from_the_registry_and_err_on_the_safe_side() -> None:
    registry = sasl_kit.default_registry
    assert flags(registry.get("ANONYMOUS")) == ("anonymous",)
    assert flags(registry.get("SCRAM-SHA-256-PLUS")) == ("dictionary",)
    assert flags(registry.get("EXTERNAL")) == ()


def test_plain_with_an_initial_response_is_ok_with_the_user() -> None:
    conn = connection()
    out = conn.receive(plain(1))
    assert lines(out) == ["OK\t1\tuser=tim\n"]


def test_cram_md5_challenge_and_response_as_in_rfc_2195() -> None:
    conn = connection()
    (challenge,) = conn.receive(b"AUTH\t5\tCRAM-MD5\tservice=imap\tsecured\n")
    assert challenge.line == f"CONT\t5\t{b64(b'<1896.697170952@mx.example.test>')}\n".encode()
    client = sasl_kit.client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    answer = client.step(base64.b64decode(challenge.line.split(b"\t")[2]))
    assert answer is not None
    assert lines(conn.receive(f"CONT\t5\t{b64(answer)}\n".encode())) == ["OK\t5\tuser=tim\n"]


def test_a_wrong_password_fails_without_a_reason_and_is_delayed() -> None:
    conn = connection()
    (out,) = conn.receive(plain(2, "nope"))
    assert out == Output(b"FAIL\t2\n", delay=True)


def test_scram_success_data_is_a_last_cont_answered_empty_then_ok() -> None:
    conn = connection()
    client = sasl_kit.client("SCRAM-SHA-256", username="alice", password="wonderland")
    first = client.step(b"")
    assert first is not None
    (cont,) = conn.receive(f"AUTH\t3\tSCRAM-SHA-256\tservice=smtp\tresp={b64(first)}\n".encode())
    final = client.step(base64.b64decode(cont.line.split(b"\t")[2]))
    assert final is not None
    (verifier,) = conn.receive(f"CONT\t3\t{b64(final)}\n".encode())
    assert client.step(base64.b64decode(verifier.line.split(b"\t")[2])) in (None, b"")
    assert client.complete
    assert lines(conn.receive(b"CONT\t3\t\n")) == ["OK\t3\tuser=alice\n"]


def test_a_non_empty_answer_to_the_final_data_is_logged_and_ok_as_in_dovecot() -> None:
    said: list[str] = []
    conn = connection(log=said.append)
    client = sasl_kit.client("SCRAM-SHA-256", username="alice", password="wonderland")
    first = client.step(b"")
    assert first is not None
    (cont,) = conn.receive(f"AUTH\t3\tSCRAM-SHA-256\tservice=smtp\tresp={b64(first)}\n".encode())
    final = client.step(base64.b64decode(cont.line.split(b"\t")[2]))
    assert final is not None
    conn.receive(f"CONT\t3\t{b64(final)}\n".encode())
    assert lines(conn.receive(b"CONT\t3\tAAAA\n")) == ["OK\t3\tuser=alice\n"]
    assert "request 3: a non-empty answer to the final data, ignored" in said


def test_plaintext_needs_a_secured_connection_unless_allowed() -> None:
    request = plain(1, secured=False)
    (out,) = connection().receive(request)
    assert out.line.startswith(b"FAIL\t1\treason=Plaintext authentication disallowed")
    assert lines(connection(allow_plaintext=True).receive(request)) == ["OK\t1\tuser=tim\n"]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=not*base64\n",
         "FAIL\t1\tcode=invalid_base64\treason=Invalid base64 data in initial response\n"),
    ],
)  # fmt: skip
def test_bad_sasl_data_is_that_requests_fail(line: bytes, reply: str) -> None:
    conn = connection()
    assert lines(conn.receive(line)) == [reply]
    assert lines(conn.receive(plain(1))) == ["OK\t1\tuser=tim\n"]


@pytest.mark.parametrize(
    "lines_sent",
    [
        [f"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp={b64(b'timpassword')}\n"],
        ["AUTH\t1\tPLAIN\tservice=smtp\tsecured\n", f"CONT\t1\t{b64(b'timpassword')}\n"],
        ["AUTH\t1\tCRAM-MD5\tservice=smtp\n", f"CONT\t1\t{b64(b'nospace')}\n"],
        [f"AUTH\t1\tSCRAM-SHA-256\tservice=smtp\tresp={b64(b'garbage')}\n"],
    ],
    ids=["plain-initial", "plain-continued", "cram-md5", "scram"],
)
def test_a_malformed_sasl_message_is_a_bare_fail_and_the_log_says_why(
    lines_sent: list[str],
) -> None:
    said: list[str] = []
    conn = connection(log=said.append)
    out = [o for line in lines_sent for o in conn.receive(line.encode())]
    assert out[-1] == Output(b"FAIL\t1\n", delay=True)  # Dovecot 2.3.19: no reason
    assert "got a malformed message" in said[-1]
    assert lines(conn.receive(plain(1))) == ["OK\t1\tuser=tim\n"]


@pytest.mark.parametrize(
    ("minor", "resp", "mechanism", "reply"),
    [
        (0, "=", "PLAIN", "FAIL\t1\n"),  # "=": an empty response, whatever the version
        (2, "=", "PLAIN", "FAIL\t1\n"),
        (2, "=", "LOGIN", f"CONT\t1\t{b64(b'Username:')}\n"),
        (2, "", "PLAIN", "FAIL\t1\n"),  # from minor 2 on, "" is empty too
        (0, "", "PLAIN", "CONT\t1\t\n"),  # before it, "" means none: the empty challenge
        (1, "", "LOGIN", f"CONT\t1\t{b64(b'Username:')}\n"),
    ],
)  # Dovecot 2.3.19's answers to the same lines (tests/interop/test_auth_service.py)
def test_an_empty_initial_response_as_dovecot_reads_it(
    minor: int, resp: str, mechanism: str, reply: str
) -> None:
    line = f"AUTH\t1\t{mechanism}\tservice=smtp\tsecured\tresp={resp}\n"
    assert lines(connection_of(minor).receive(line.encode())) == [reply]


@given(
    st.lists(
        st.text(
            st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\r\n"), max_size=6
        ),
        max_size=4,
    )
)
def test_a_version_line_is_two_numbers_and_major_1(words: list[str]) -> None:
    numbers = [w.isascii() and w.isdigit() and int(w) <= 2**32 - 1 for w in words]
    conn = Connection(OFFERED, start, spid=7, cuid=1, cookie="c0ffee")
    try:
        conn.receive("\t".join(["VERSION", *words]).encode() + b"\n")
    except ProtocolViolation:
        assert not (len(words) == 2 and all(numbers) and int(words[0]) == 1)
    else:
        assert len(words) == 2 and all(numbers) and int(words[0]) == 1


def test_a_cont_for_no_waiting_request_fails_as_timed_out_and_the_connection_goes_on() -> None:
    said: list[str] = []
    conn = connection(log=said.append)
    conn.receive(b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=" + b64(b"x").encode() + b"\n")
    for rid in (9, 0, 1):  # unknown, never an AUTH id, failed a moment ago
        assert conn.receive(f"CONT\t{rid}\tAAAA\n".encode()) == [
            Output(f"FAIL\t{rid}\treason=Authentication request timed out\n".encode())
        ]  # what Dovecot 2.3.19 answers, at once (tests/interop/test_auth_service.py)
    assert said[-1] == "CONT for id 1, which waits for nothing: answered as timed out"
    assert lines(conn.receive(plain(1))) == ["OK\t1\tuser=tim\n"]


@given(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=16)
)
def test_a_cont_is_an_id_a_tab_and_data_or_the_connection_closes(rest: str) -> None:
    conn = connection()
    conn.receive(b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\n")
    rid, tab, _ = rest.partition("\t")
    well_formed = bool(tab) and rid.isascii() and rid.isdigit() and int(rid) <= 2**32 - 1
    try:
        (out,) = conn.receive(f"CONT\t{rest}\n".encode())
    except ProtocolViolation:
        assert not well_formed
    else:
        assert well_formed
        assert out.line.startswith((f"FAIL\t{int(rid)}\t".encode(), b"OK\t1\t", b"FAIL\t1\n"))


def test_a_cont_takes_all_after_the_id_for_its_data_as_dovecot_does() -> None:
    conn = connection()
    conn.receive(b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\n")
    response = b64(b"\0tim\0" + USERS["tim"].encode())
    line = f"CONT\t1\t{response[:8]}\t{response[8:]}\n"  # a TAB is whitespace to base64
    assert lines(conn.receive(line.encode())) == ["OK\t1\tuser=tim\n"]


def test_cancel_forgets_a_request_without_an_answer_as_dovecot_does() -> None:
    conn = connection()
    (cont,) = conn.receive(b"AUTH\t1\tCRAM-MD5\tservice=smtp\n")
    assert cont.line.startswith(b"CONT\t1\t")
    assert conn.receive(b"CANCEL\t1\nCANCEL\t9\n") == []  # an unknown id: nothing either
    assert lines(conn.receive(b"CONT\t1\tAAAA\n")) == [
        "FAIL\t1\treason=Authentication request timed out\n"
    ]
    assert lines(conn.receive(plain(1))) == ["OK\t1\tuser=tim\n"]  # the id is free again


NUL_NAME, NUL_SCRAM = b64(b"ti\0m"), b64(b"n,,n=ti\0m,r=abc")


@pytest.mark.parametrize(
    "lines_sent",
    [
        [f"AUTH\t1\tLOGIN\tservice=smtp\tsecured\tresp={NUL_NAME}\n"],
        ["AUTH\t1\tLOGIN\tservice=smtp\tsecured\n", f"CONT\t1\t{NUL_NAME}\n"],
        [f"AUTH\t1\tSCRAM-SHA-256\tservice=smtp\tresp={NUL_SCRAM}\n"],
    ],
    ids=["login-initial", "login-continued", "scram"],
)
def test_a_nul_fails_a_mechanism_that_takes_none_as_dovecot_does(lines_sent: list[str]) -> None:
    said: list[str] = []
    conn = connection(log=said.append)
    out = [o for line in lines_sent for o in conn.receive(line.encode())]
    assert out[-1] == Output(b"FAIL\t1\n", delay=True)
    assert said[-1].endswith("got a NUL, which it takes none of")


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5"])
def test_an_initial_response_to_a_server_first_mechanism_is_ignored_as_dovecot_does(
    mechanism: str,
) -> None:
    said: list[str] = []
    conn = connection(log=said.append)
    line = f"AUTH\t1\t{mechanism}\tservice=smtp\tresp={b64(b'tim')}\n"
    (out,) = conn.receive(line.encode())
    assert out.line.startswith(b"CONT\t1\t") and len(out.line) > len(b"CONT\t1\t\n")
    assert said == [f"request 1: {mechanism} takes no initial response: ignored"]


def test_a_byte_that_is_not_utf8_is_kept_as_dovecot_keeps_it() -> None:
    conn = connection()
    ok = b64(b"\0tim\0" + USERS["tim"].encode()).encode()
    assert lines(conn.receive(b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=\xff\xfe==\n")) == [
        "FAIL\t1\tcode=invalid_base64\treason=Invalid base64 data in initial response\n"
    ]
    line = b"AUTH\t1\tPLAIN\tservice=smtp\tlip=\xff\tsecured\tresp=" + ok + b"\n"
    assert lines(conn.receive(line)) == ["OK\t1\tuser=tim\n"]  # a field it does not read
    conn.receive(b"AUTH\t2\tPLAIN\tservice=smtp\tsecured\n")
    assert lines(conn.receive(b"CONT\t2\t\xc3(\n")) == [
        "FAIL\t2\tcode=invalid_base64\treason=Invalid base64 data in continued response\n"
    ]
    with pytest.raises(ProtocolViolation, match="service= that is not UTF-8"):
        conn.receive(b"AUTH\t3\tPLAIN\tservice=smtp\xff\tsecured\n")  # ours only


def test_a_cancelling_star_fails_the_request_as_dovecot_does() -> None:
    conn = connection()
    conn.receive(b"AUTH\t4\tCRAM-MD5\tservice=smtp\tsecured\n")
    assert lines(conn.receive(b"CONT\t4\t*\n")) == [
        "FAIL\t4\tcode=invalid_base64\treason=Invalid base64 data in continued response\n"
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"AUTH\t1\tPLAIN\tservice=smtp\n",  # before VERSION
        b"VERSION\t2\t0\n",  # another major version
        b"VERSION\t1\t2\nAUTH\t1\tCRAM-MD5\tservice=smtp\n",  # no CPID first
        b"VERSION\t1\t2\nCPID\t0\n",  # Dovecot 2.3: "client said it's PID 0"
        b"VERSION\t1\t2\nCPID\tx\n",
    ],
)
def test_a_bad_start_closes_the_connection(data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        Connection(OFFERED, start, spid=1, cuid=1, cookie="c").receive(data)


@pytest.mark.parametrize(
    "line",
    [
        b"BOGUS\n",
        b"AUTH\t1\tFOO\tservice=smtp\n",  # Dovecot closes on a mechanism it did not offer
        b"AUTH\tx\tPLAIN\tservice=smtp\n",
        b"AUTH\t0\tCRAM-MD5\tservice=smtp\n",  # Dovecot 2.3: "sent broken AUTH request"
        b"AUTH\t99999999999\tPLAIN\tservice=smtp\n",
        b"AUTH\t1\tPLAIN\n",  # no service=
        b"CONT\t9\n",  # no data
        b"CANCEL\tx\n",
        b"CANCEL\t1\t2\n",
        b"CONT\tx\tAAAA\n",
        b"CPID\t1\n",  # a second CPID
        b"AUTH\t1\t\xff\n",
    ],
)
def test_a_line_that_breaks_the_protocol_closes_the_connection(line: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        connection().receive(line)


_ID_TEXT = st.one_of(
    st.integers(min_value=0, max_value=2**33).map(str),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\r\n"), max_size=12),
)


@given(_ID_TEXT)
def test_an_auth_id_is_a_decimal_from_1_to_2_32_minus_1_or_the_connection_closes(
    text: str,
) -> None:
    taken = text.isascii() and text.isdigit() and 0 < int(text) <= 2**32 - 1
    line = f"AUTH\t{text}\tCRAM-MD5\tservice=smtp\n".encode()
    try:
        (out,) = connection().receive(line)
    except ProtocolViolation:
        assert not taken
    else:
        assert taken
        assert out.line.startswith(f"CONT\t{int(text)}\t".encode())


RESPONSE = b64(b"\0tim\0" + USERS["tim"].encode())


@pytest.mark.parametrize(
    "after",
    ["\tfoo=bar", "\tsecured", "\t", f"\tresp={RESPONSE}"],
    ids=["unknown", "secured", "empty", "resp-again"],
)
def test_a_field_after_resp_closes_the_connection_as_dovecot_does(after: str) -> None:
    line = f"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp={RESPONSE}{after}\n"
    with pytest.raises(ProtocolViolation, match="a field after resp=, which must be last"):
        connection().receive(line.encode())


_FIELD = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\r\n"), max_size=12
)
_FIELDS = st.lists(st.one_of(st.sampled_from(["secured", "nologin", "resp", "resp="]), _FIELD))


@given(_FIELDS, _FIELDS)
def test_resp_is_refused_anywhere_but_last(before: list[str], after: list[str]) -> None:
    fields = [*before, f"resp={RESPONSE}", *after]
    line = "\t".join(["AUTH", "1", "PLAIN", "service=smtp", *fields]) + "\n"
    resp_not_last = any(f.partition("=")[0] == "resp" for f in fields[:-1])
    try:
        out = connection().receive(line.encode())
    except ProtocolViolation:
        assert resp_not_last
    else:
        assert not resp_not_last
        assert len(out) == 1 and out[0].line.split(b"\t")[0] in (b"CONT", b"OK", b"FAIL")


def test_an_id_in_use_and_too_many_requests_close_the_connection() -> None:
    conn = connection()
    conn.receive(b"AUTH\t1\tCRAM-MD5\tservice=smtp\n")
    with pytest.raises(ProtocolViolation, match="already in use"):
        conn.receive(b"AUTH\t1\tCRAM-MD5\tservice=smtp\n")
    conn = connection()
    for rid in range(1, MAX_REQUESTS + 1):
        conn.receive(f"AUTH\t{rid}\tCRAM-MD5\tservice=smtp\n".encode())
    with pytest.raises(ProtocolViolation, match="requests at once"):
        conn.receive(b"AUTH\t999\tCRAM-MD5\tservice=smtp\n")


def padded(total: int, ending: bytes = b"\n") -> bytes:
    """A PLAIN AUTH line of ``total`` bytes with its ``ending``: an unknown parameter
    (ignored, as the protocol says) pads it, ``resp`` stays last as Dovecot wants."""
    head = b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tpad="
    response = b64(b"\0tim\0" + USERS["tim"].encode())
    tail = f"\tresp={response}".encode() + ending
    return head + b"x" * (total - len(head) - len(tail)) + tail


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("chunk", [MAX_LINE + 1, 1000])
def test_a_line_of_max_line_bytes_with_its_ending_is_answered(ending: bytes, chunk: int) -> None:
    data, conn = padded(MAX_LINE, ending), connection()
    assert len(data) == MAX_LINE
    out = [o for i in range(0, len(data), chunk) for o in conn.receive(data[i : i + chunk])]
    assert lines(out) == ["OK\t1\tuser=tim\n"]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_one_byte_more_closes_the_connection(ending: bytes) -> None:
    data = padded(MAX_LINE + 1, ending)
    with pytest.raises(ProtocolViolation, match=f"longer than {MAX_LINE} bytes with its line"):
        connection().receive(data)


def test_an_over_long_line_closes_before_it_is_buffered() -> None:
    conn = connection()
    assert conn.receive(b"A" * (MAX_LINE - 1)) == []  # its LF may still come
    with pytest.raises(ProtocolViolation, match="longer than"):
        conn.receive(b"A")  # MAX_LINE bytes and no LF: no line can fit any more


def test_lines_split_anywhere_give_the_same_answers() -> None:
    data = plain(1)
    conn = connection()
    out = [o for byte in data for o in conn.receive(bytes([byte]))]
    assert lines(out) == ["OK\t1\tuser=tim\n"]


@given(st.text())
def test_tab_escaping_round_trips(value: str) -> None:
    escaped = escape(value)
    assert not set("\t\r\n\0") & set(escaped)
    assert unescape(escaped) == value


_SPACE = st.text(st.sampled_from(" \t\r\n"), max_size=3)


@given(st.binary(max_size=60), st.lists(st.tuples(st.integers(0, 100), _SPACE), max_size=4))
def test_base64_with_whitespace_anywhere_decodes_as_dovecot_reads_it(
    data: bytes, spaces: list[tuple[int, str]]
) -> None:
    text = base64.b64encode(data).decode()
    for at, space in spaces:
        text = text[:at] + space + text[at:]
    assert decode_base64(text) == data


def _padded_base64(compact: str) -> bool:
    """RFC 4648 4 base64 with its padding, the model for Dovecot's decoder."""
    body = compact.rstrip("=")
    pad = len(compact) - len(body)
    return not set(body) - set(BASE64_ALPHABET) and pad <= 2 and (len(body) + pad) % 4 == 0


@given(st.text(st.sampled_from("AQZaqz09+/= \t*-_\x00é"), max_size=16))
def test_anything_else_is_base64_or_malformed(text: str) -> None:
    compact = "".join(c for c in text if c not in " \t\r\n")
    try:
        data = decode_base64(text)
    except MalformedMessage:
        assert not _padded_base64(compact)
    else:
        assert _padded_base64(compact)
        assert base64.b64decode(compact, validate=True) == data


@pytest.mark.parametrize("text", ["QUFB=", "QUFBQQ", "QQ=", "=", "====", "QUFBQQ==QQ==", "QU=B"])
def test_padding_is_required_and_nothing_may_follow_it(text: str) -> None:
    with pytest.raises(MalformedMessage):
        decode_base64(text)


@given(st.lists(st.binary(max_size=80), max_size=8))
def test_any_input_gives_lines_or_closes_the_connection(chunks: list[bytes]) -> None:
    conn = Connection(OFFERED, start, spid=1, cuid=1, cookie="c")
    try:
        for chunk in [b"VERSION\t1\t2\nCPID\t1\n", *chunks]:
            for output in conn.receive(chunk):
                assert output.line.endswith(b"\n") and output.line.count(b"\n") == 1
    except ProtocolViolation:
        pass


@given(
    st.sampled_from(["PLAIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-256", "LOGIN"]),
    st.lists(st.binary(max_size=120), max_size=4),
)
def test_any_sasl_payloads_give_cont_ok_or_fail(mechanism: str, payloads: list[bytes]) -> None:
    conn = connection()
    out = conn.receive(f"AUTH\t1\t{mechanism}\tservice=smtp\tsecured\n".encode())
    for payload in payloads:
        if not out or not out[-1].line.startswith(b"CONT"):
            break
        out = conn.receive(f"CONT\t1\t{b64(payload)}\n".encode())
    assert all(o.line.split(b"\t")[0] in (b"CONT", b"OK", b"FAIL") for o in out)
