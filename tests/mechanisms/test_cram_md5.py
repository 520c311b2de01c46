"""CRAM-MD5 (RFC 2195): challenge format, response parsing, verification."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage
from sasl_kit.mechanisms.cram_md5 import cram_md5_digest

USERS = {"tim": "tanstaaftanstaaf", "first last": "spaced"}


def test_server_challenge_is_msg_id_shaped_and_fresh() -> None:
    a = sasl_kit.server("CRAM-MD5", USERS, host="mail.example.org").step(None)
    b = sasl_kit.server("CRAM-MD5", USERS, host="mail.example.org").step(None)
    assert a is not None and b is not None
    assert re.fullmatch(rb"<\d+\.\d+@mail\.example\.org>", a)
    assert a != b


def test_round_trip_with_a_user_name_holding_a_space() -> None:
    srv = sasl_kit.server("CRAM-MD5", USERS)
    cli = sasl_kit.client("CRAM-MD5", username="first last", password="spaced")
    assert srv.step(cli.step(srv.step(None))) is None
    assert srv.complete and cli.complete and srv.authcid == "first last"


def test_client_refuses_an_empty_challenge() -> None:
    with pytest.raises(MalformedMessage, match="empty"):
        sasl_kit.client("CRAM-MD5", username="tim", password="x").step(b"")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (b"tim", "not 'username digest'"),
        (b" b913a602c7eda7a495b4e6e7334d3890", "not 'username digest'"),
        (b"tim B913A602C7EDA7A495B4E6E7334D3890", "32 lower-case hex"),
        (b"tim b913a602", "32 lower-case hex"),
        (b"t\xffm b913a602c7eda7a495b4e6e7334d3890", "not UTF-8"),
    ],
)
def test_server_rejects_malformed_responses(response: bytes, reason: str) -> None:
    srv = sasl_kit.server("CRAM-MD5", USERS)
    srv.step(None)
    with pytest.raises(MalformedMessage, match=reason):
        srv.step(response)


def test_server_rejects_wrong_password_and_unknown_user() -> None:
    for user, password in (("tim", "wrong"), ("nobody", "x")):
        srv = sasl_kit.server("CRAM-MD5", USERS)
        challenge = srv.step(None)
        response = sasl_kit.client("CRAM-MD5", username=user, password=password).step(challenge)
        with pytest.raises(AuthenticationFailed, match="authentication failed"):
            srv.step(response)


def test_server_refuses_an_initial_response() -> None:
    with pytest.raises(MalformedMessage, match="initial response"):
        sasl_kit.server("CRAM-MD5", USERS).step(b"tim")


@settings(max_examples=500)
@given(password=st.text(max_size=100), challenge=st.binary(max_size=300))
def test_the_rfc_2104_digest_is_the_hmac_modules(password: str, challenge: bytes) -> None:
    expected = hmac.new(password.encode("utf-8"), challenge, hashlib.md5).hexdigest()
    assert cram_md5_digest(password, challenge) == expected


@pytest.mark.parametrize("length", [0, 1, 63, 64, 65, 128, 1000])
def test_keys_around_the_md5_block_size_give_the_hmac_modules_digest(length: int) -> None:
    password = "k" * length
    expected = hmac.new(password.encode(), b"<1896.697170952@host>", hashlib.md5).hexdigest()
    assert cram_md5_digest(password, b"<1896.697170952@host>") == expected
