"""SCRAM's fast paths (issue 16: a cold login pays for every code path it touches) give
what the general paths give, on arbitrary input: the usual server messages read without
the regex, base64 read without strict mode, the nonce and iteration-count grammar of
RFC 5802 7 without a regex, SASLprep skipped for printable ASCII, HMAC made by OpenSSL's
own object (``_hmac_new``) rather than ``hmac.digest``, and the client's written-out
formulas (its client-final messages: the RFC vectors, tests/test_vectors.py)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import preparation, vectors
from sasl_kit.errors import MalformedMessage
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
