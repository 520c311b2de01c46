"""SCRAM's fast paths (issue 16: a cold login pays for every code path it touches) give
what the general paths give, on arbitrary input: the usual server messages read without
the regex, base64 read without strict mode, the nonce and iteration-count grammar of
RFC 5802 7 without a regex, SASLprep skipped for printable ASCII, HMAC made by OpenSSL's
own object (``_hmac_new``) rather than ``hmac.digest``, and the client's written-out
formulas (its client-final messages: the RFC vectors, tests/test_vectors.py)."""

from __future__ import annotations

import binascii
import hmac
import re
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import preparation, vectors
from sasl_kit.errors import MalformedMessage, SASLError
from sasl_kit.mechanisms import scram

# RFC 5802 7, as the grammar states them: the references the fast checks are held to.
PRINTABLE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
ITERATION_COUNT = re.compile(r"[1-9][0-9]{0,9}")

# Texts near the messages' shape, so that both paths are taken often; and anything at all.
NEAR = st.text(alphabet="rsiv=,AQgw+/09 \t\n\x00\u00e9\u0663", max_size=24)
ANY_TEXT = st.one_of(NEAR, st.text(max_size=24))
SERVER_FIRST = st.builds(
    lambda r, s, i, tail: f"r={r},s={s},i={i}{tail}",
    ANY_TEXT,
    ANY_TEXT,
    ANY_TEXT,
    st.sampled_from(["", ",x=y", ",", ",bad"]),
)


def _outcome(read: Callable[[str], object], text: str) -> object:
    """What ``read(text)`` gives: its value, or the project error's type and message."""
    try:
        return read(text)
    except MalformedMessage as exc:
        return (type(exc), str(exc))


def _fast_reads_as_the_regex(
    fast: Callable[[str], list[str] | None], order: str, text: str
) -> None:
    """Where ``fast`` reads ``text`` at all, ``_attributes`` (the regex) reads the same."""
    values = fast(text)
    if values is not None:
        assert values == _outcome(
            lambda t: scram._attributes(t, order, "message", "SCRAM-SHA-256"), text
        )


@given(st.one_of(SERVER_FIRST, ANY_TEXT))
@example("r=abc,s=QSXCR+Q6sek8bf92,i=4096")
@example("r=,s=,i=")
@example("r=a,s=b,i=c,x=y")
def test_the_server_first_fast_reader_gives_what_the_regex_gives(text: str) -> None:
    _fast_reads_as_the_regex(scram._server_first_attributes, "rsi", text)


@given(st.one_of(st.builds("v={}".format, ANY_TEXT), ANY_TEXT))
@example("v=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
@example("v=")
def test_the_server_final_fast_reader_gives_what_the_regex_gives(text: str) -> None:
    _fast_reads_as_the_regex(scram._server_final_attributes, "v", text)


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        ("r=abc,s=QSXCR+Q6sek8bf92,i=4096", ["abc", "QSXCR+Q6sek8bf92", "4096"]),
        ("r=abc,s=QSXCR+Q6sek8bf92,i=4096,x=y", None),  # an extension: the general path
        ("e=invalid-proof", None),
    ],
)
def test_the_usual_server_first_message_takes_the_fast_path(text: str, fast: object) -> None:
    assert scram._server_first_attributes(text) == fast


@given(st.one_of(st.text(alphabet="AQgw+/09=\n -_", max_size=12), st.text(max_size=12)))
@example("QR==")  # RFC 4648 3.5: non-zero pad bits, not canonical
@example("QQ==")
@example("")
@example("QQ")
@example("QQ==\n")
def test_lenient_base64_with_the_round_trip_gives_what_strict_base64_gives(text: str) -> None:
    def read(how: Callable[[str, str, str], bytes]) -> Callable[[str], bytes]:
        return lambda t: how(t, "salt (s=)", "SCRAM-SHA-256")

    assert _outcome(read(scram._unb64), text) == _outcome(read(scram._strict_unb64), text)


@given(ANY_TEXT)
@example("")
@example("a b")
@example("a,b")
@example("\x7f")
def test_the_nonce_check_is_rfc_5802s_printable(text: str) -> None:
    assert scram._printable(text) == bool(PRINTABLE.fullmatch(text))


@given(st.one_of(st.text(alphabet="0123456789+- _\u0663\u00b2", max_size=12), ANY_TEXT))
@example("0")
@example("4096")
@example("9999999999")
@example("10000000000")
@example("\u0664\u0660\u0669\u0666")  # Arabic-Indic digits: int() reads them, RFC 5802 does not
def test_the_iteration_count_check_is_rfc_5802s_grammar(text: str) -> None:
    assert scram._is_count(text) == bool(ITERATION_COUNT.fullmatch(text))


@given(st.text(max_size=12))
def test_the_clients_saslprep_shortcut_prepares_as_saslprep_does(user: str) -> None:
    """The client skips SASLprep for printable ASCII; any name gets the message SASLprep gives."""
    client = sasl_kit.client("SCRAM-SHA-256", username=user, password="pencil", cnonce="abc")
    try:
        prepared = preparation.username(user)
    except MalformedMessage:
        with pytest.raises(sasl_kit.UsageError, match="refused by SASLprep"):
            client.step(b"")
        return
    if not prepared:
        return
    assert client.step(b"") == f"n,,n={scram.escape_saslname(prepared)},r=abc".encode()


def test_client_keys_show_no_secret_in_their_repr() -> None:
    keys = scram.ClientKeys.derive("sha256", "pencil", b"salt", 4096)
    assert repr(keys) == "ClientKeys(<secret>)"
    assert keys.salted_password.hex() not in repr(keys)


def test_client_keys_are_the_formulas_of_rfc_5802() -> None:
    keys = scram.ClientKeys.derive("sha256", "pencil", b"salt", 4096)
    salted = scram.salted_password("sha256", "pencil", b"salt", 4096)
    client_key = scram.client_key("sha256", salted)
    assert keys == (
        salted,
        client_key,
        scram.stored_key("sha256", client_key),
        scram.server_key("sha256", salted),
    )


@given(
    st.sampled_from(sorted(scram.HASHES.values())),
    st.binary(max_size=200),  # keys longer than a block (64 or 128 bytes) are hashed first
    st.binary(max_size=300),
)
def test_scrams_hmac_is_hmac_digest(hash_name: str, key: bytes, message: bytes) -> None:
    assert scram.hmac_digest(key, message, hash_name) == hmac.digest(key, message, hash_name)


SCRAM_EXCHANGES = [
    v
    for v in vectors.load(vectors.vectors_dir() / "scram.json").vectors
    if "exchange" in v and "client" in v
]


@pytest.mark.parametrize("vector", SCRAM_EXCHANGES, ids=lambda v: v["id"])
def test_the_scram_exchanges_replay_with_hmacs_own_hmac(
    vector: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python without ``_hashlib`` makes its HMACs with ``hmac.new``: the same exchanges."""
    monkeypatch.setattr(scram, "_hmac_new", hmac.new)
    scram.SALTED_PASSWORDS.clear()  # so that the replay derives its keys here
    vectors.replay_client(vector)
    vectors.replay_server(vector)


# --- The client's two steps: the usual messages read in one function or one comparison

CNONCE = "fyko+d2lbbFgONRv9qkxdawL"  # RFC 5802 5's client nonce
USUAL_FIRST = f"r={CNONCE}3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"


def _client_at_first() -> scram.ScramClient:
    client = sasl_kit.client("SCRAM-SHA-1", username="user", password="pencil", cnonce=CNONCE)
    assert isinstance(client, scram.ScramClient)
    client.step(b"")
    return client


# Server-first messages near the usual one: a nonce that extends the client's (or not),
# salts and counts valid or not, extensions.
NEAR_USUAL_FIRST = st.builds(
    lambda prefix, nonce, salt, count, tail: f"r={prefix}{nonce},s={salt},i={count}{tail}",
    st.sampled_from([CNONCE, CNONCE[:-1], "", "x" + CNONCE]),
    ANY_TEXT,
    st.one_of(
        st.binary(max_size=20).map(lambda b: binascii.b2a_base64(b, newline=False).decode()),
        ANY_TEXT,
    ),
    st.one_of(st.integers(min_value=0, max_value=10**11).map(str), ANY_TEXT),
    st.sampled_from(["", ",x=y", ","]),
)


@given(st.one_of(NEAR_USUAL_FIRST, SERVER_FIRST, ANY_TEXT))
@example(USUAL_FIRST)
@example(f"r={CNONCE},s=QSXCR+Q6sek8bf92,i=4096")  # a nonce that adds nothing
@example(f"r={CNONCE}x,s=QR==,i=4096")  # non-zero pad bits
@example(f"r={CNONCE}x,s=,i=4096")
@example(f"r={CNONCE}x,s=QQ==,i=04096")
@example(f"r={CNONCE}x y,s=QQ==,i=1")
@example(f"r={CNONCE}\u00e9,s=QQ==,i=1")
@example(f"r={CNONCE}x,s=QQ==,i=\u0663")
@example(f"r={CNONCE}x,s=Q\u00e9==,i=1")
def test_the_usual_server_first_reader_gives_what_the_general_reader_gives(text: str) -> None:
    values = scram._usual_server_first(text, CNONCE)
    if values is not None:
        assert values == _outcome(_client_at_first()._read_server_first, text)


def test_the_usual_server_first_message_is_read_by_the_usual_reader() -> None:
    assert scram._usual_server_first(USUAL_FIRST, CNONCE) == (
        f"{CNONCE}3rfcNHYJY1ZVvWVs7j",
        binascii.a2b_base64("QSXCR+Q6sek8bf92"),
        4096,
    )


RFC_5802_FINAL = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="  # RFC 5802 5's server-final message


def _client_at_final() -> scram.ScramClient:
    client = _client_at_first()
    scram.SALTED_PASSWORDS.clear()
    client.step(USUAL_FIRST.encode())
    return client


@pytest.mark.parametrize(
    ("final", "outcome"),
    [
        (RFC_5802_FINAL, None),  # the one comparison
        (RFC_5802_FINAL + b",x=y", None),  # an extension: the general way, which accepts it
        (b"v=rmF9pqV8S7suAoZWja4dJRkFsKR=", "not canonical base64"),  # non-zero pad bits
        (b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ", "not base64"),
        (b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "does not verify"),
        (b"", "needs 'v=' as attribute 1"),
        (b"e=other-error", "the server refused: other-error"),
        (b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=\xff", "not UTF-8"),
    ],
)
def test_the_server_final_message_is_compared_or_read_the_general_way(
    final: bytes, outcome: str | None
) -> None:
    client = _client_at_final()
    if outcome is None:
        assert client.step(final) is None and client.complete
    else:
        with pytest.raises(SASLError, match=outcome):
            client.step(final)
        assert not client.complete


@given(st.binary(max_size=40))
@example(RFC_5802_FINAL)
@example(RFC_5802_FINAL[:-1])
def test_only_the_expected_server_final_message_verifies_at_once(final: bytes) -> None:
    client = _client_at_final()
    try:
        client.step(final)
    except SASLError:
        assert not client.complete
    else:
        assert client.complete
        assert final == RFC_5802_FINAL or final.startswith(RFC_5802_FINAL + b",")
