"""CRAM-MD5 (RFC 2195): challenge format, response parsing, verification."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import AuthenticationFailed, ClientOptions, MalformedMessage, Registry, UsageError
from sasl_kit.mechanisms.cram_md5 import CramMD5Client, cram_md5_digest
from sasl_kit.registry import BUILTINS

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


def rfc_2104_hmac_md5(key: bytes, text: bytes) -> str:
    """RFC 2104 2, written out over ``hashlib.md5``: an oracle independent of ``hmac``."""
    if len(key) > 64:  # B, MD5's block size in octets: a longer key is hashed first
        key = hashlib.md5(key).digest()  # noqa: S324 -- HMAC-MD5 is defined over MD5
    key = key.ljust(64, b"\0")
    inner = hashlib.md5(bytes(b ^ 0x36 for b in key) + text).digest()  # noqa: S324
    return hashlib.md5(bytes(b ^ 0x5C for b in key) + inner).hexdigest()  # noqa: S324


@settings(max_examples=500)
@given(password=st.text(max_size=100), challenge=st.binary(max_size=300))
def test_the_digest_is_rfc_2104_hmac_md5_keyed_with_the_utf8_password(
    password: str, challenge: bytes
) -> None:
    key = password.encode("utf-8")
    expected = rfc_2104_hmac_md5(key, challenge)
    assert cram_md5_digest(password, challenge) == expected
    assert hmac.new(key, challenge, hashlib.md5).hexdigest() == expected


@settings(max_examples=300)
@given(
    username=st.text(max_size=20),
    password=st.text(max_size=100),
    challenge=st.binary(min_size=1, max_size=300),
)
def test_the_client_answers_username_and_cram_md5_digest(
    username: str, password: str, challenge: bytes
) -> None:
    # The client writes the digest inline (one call less); it must stay cram_md5_digest.
    client = sasl_kit.client("CRAM-MD5", username=username, password=password)
    expected = f"{username} {cram_md5_digest(password, challenge)}".encode()
    assert client.step(challenge) == expected
    assert client.complete


@pytest.mark.parametrize("length", [0, 1, 63, 64, 65, 128, 1000])
def test_keys_around_the_md5_block_size_give_the_rfc_2104_digest(length: int) -> None:
    password = "k" * length
    expected = rfc_2104_hmac_md5(password.encode(), b"<1896.697170952@host>")
    assert cram_md5_digest(password, b"<1896.697170952@host>") == expected


def test_the_server_compares_the_digest_with_hmac_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    constant_time = hmac.compare_digest
    compared: list[tuple[bytes, bytes]] = []

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    srv = sasl_kit.server("CRAM-MD5", USERS)
    challenge = srv.step(None)
    assert challenge is not None
    digest = cram_md5_digest("tanstaaftanstaaf", challenge).encode()
    monkeypatch.setattr(hmac, "compare_digest", recording)
    srv.step(b"tim " + digest)
    assert srv.complete
    assert compared == [(digest, digest)]


CHALLENGE = b"<1896.697170952@postoffice.reston.mci.net>"


def test_a_registry_made_client_holds_the_options_it_was_given_and_hides_the_password() -> None:
    # The registry makes a CRAM-MD5 client from its fields; ``options`` is built on read.
    client = sasl_kit.client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    options = client.options
    assert type(options) is ClientOptions
    assert options == ClientOptions(username="tim", password="tanstaaftanstaaf")
    assert client.options is options
    assert "tanstaaftanstaaf" not in repr(client) + repr(options) + repr(vars(client))


def test_fields_not_given_answer_as_their_defaults_do() -> None:
    made = sasl_kit.client("CRAM-MD5").step(CHALLENGE)
    assert made == CramMD5Client(ClientOptions()).step(CHALLENGE)
    assert made == f" {cram_md5_digest('', CHALLENGE)}".encode()


def test_options_set_on_a_client_are_the_ones_it_answers_with() -> None:
    # What sasl_kit.compat.puresasl's dispose does: replace the options, password cleared.
    client = sasl_kit.client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    client.options = client.options.replace(username="chris", password="")
    assert client.options == ClientOptions(username="chris")
    assert client.step(CHALLENGE) == f"chris {cram_md5_digest('', CHALLENGE)}".encode()


def test_a_client_made_from_options_directly_answers_as_a_registry_made_one() -> None:
    options = ClientOptions(username="tim", password="tanstaaftanstaaf")
    direct = CramMD5Client(options)
    assert direct.options is options
    made = sasl_kit.client("cram-md5", username="tim", password="tanstaaftanstaaf")
    assert direct.step(CHALLENGE) == made.step(CHALLENGE)


def test_a_bad_option_is_refused_in_the_words_of_every_other_mechanism() -> None:
    with pytest.raises(UsageError) as bad:
        sasl_kit.client("CRAM-MD5", username="tim", pasword="typo")
    assert str(bad.value) == (
        "bad option for ClientOptions: "
        "ClientOptions.__init__() got an unexpected keyword argument 'pasword'"
    )


class _Recording(CramMD5Client):
    """A third-party subclass with its own ``__init__``: made through it, with options."""

    def __init__(self, options: ClientOptions) -> None:
        self.given = options
        super().__init__(options)


def test_a_subclass_with_its_own_init_gets_its_client_options_there() -> None:
    registry = Registry(BUILTINS)
    registry.register(sasl_kit.MechanismInfo("CRAM-MD5", _Recording, None, strength=30))
    client = registry.client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    assert isinstance(client, _Recording)
    assert type(client.given) is ClientOptions
    assert client.given == ClientOptions(username="tim", password="tanstaaftanstaaf")
    assert client.options is client.given


def test_registering_a_name_again_replaces_the_client_class_made_before() -> None:
    registry = Registry(BUILTINS)
    assert type(registry.client("CRAM-MD5")) is CramMD5Client
    registry.register(sasl_kit.MechanismInfo("CRAM-MD5", _Recording, None, strength=30))
    assert type(registry.client("CRAM-MD5")) is _Recording
