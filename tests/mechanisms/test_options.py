"""ClientOptions and ServerOptions: frozen keyword values whose reprs hide secrets."""

from __future__ import annotations

import pytest

import sasl_kit
from sasl_kit import ClientOptions, ServerOptions, UsageError
from sasl_kit.mechanisms.base import DIGEST_CIPHERS, NonceCounts, PasswordTable, default_authorize


def test_defaults_are_the_documented_ones() -> None:
    options = ClientOptions()
    assert (options.username, options.password, options.service, options.host) == (
        "",
        "",
        "smtp",
        "localhost",
    )
    assert (options.min_iterations, options.max_iterations) == (4096, 1_000_000)
    assert (options.qops, options.ciphers, options.maxbuf) == (("auth",), DIGEST_CIPHERS, 65536)
    server = ServerOptions(credentials=PasswordTable({}))
    assert server.authorize is default_authorize  # a function default is not bound as a method
    assert server.authorize("tim", "") and not server.authorize("tim", "root")


def test_reprs_hide_passwords_tokens_and_credentials() -> None:
    client = ClientOptions(username="tim", password="tanstaaftanstaaf", token="ya29.secret")
    assert "tanstaaftanstaaf" not in repr(client) and "ya29" not in repr(client)
    assert repr(client).startswith("ClientOptions(username='tim', authzid=''")
    server = ServerOptions(credentials=PasswordTable({"tim": "tanstaaftanstaaf"}))
    assert "tanstaaftanstaaf" not in repr(server) and "credentials" not in repr(server)
    mechanism = sasl_kit.client("PLAIN", username="tim", password="tanstaaftanstaaf")
    assert "tanstaaftanstaaf" not in repr(mechanism.options)


def test_options_are_frozen_values() -> None:
    options = ClientOptions(username="tim")
    with pytest.raises(AttributeError, match="cannot assign to field 'username'"):
        options.username = "root"  # type: ignore[misc]
    assert options == ClientOptions(username="tim") != ClientOptions(username="chris")
    assert hash(options) == hash(ClientOptions(username="tim"))
    assert options != ServerOptions(credentials=PasswordTable({}))


def test_equality_ignores_the_nonce_counts_and_the_token_validator() -> None:
    store = PasswordTable({})
    one = ServerOptions(credentials=store, nonce_counts=NonceCounts())
    other = ServerOptions(credentials=store, validate_token=lambda user, token: user)
    assert one == other


def test_replace_copies_with_changes() -> None:
    options = ClientOptions(username="tim", password="tanstaaftanstaaf")
    cleared = options.replace(password="")
    assert (cleared.username, cleared.password) == ("tim", "")
    assert options.password == "tanstaaftanstaaf"
    with pytest.raises(TypeError, match="unexpected keyword argument 'pasword'"):
        options.replace(pasword="")


def test_unknown_and_missing_options_raise_in_a_dataclass_words() -> None:
    with pytest.raises(TypeError) as unknown:
        ClientOptions(usrname="tim")  # type: ignore[call-arg]
    assert str(unknown.value) == (
        "ClientOptions.__init__() got an unexpected keyword argument 'usrname'"
    )
    with pytest.raises(TypeError, match=r"missing required keyword-only argument\(s\): 'cred"):
        ServerOptions()  # type: ignore[call-arg]
    with pytest.raises(UsageError) as bad:
        sasl_kit.client("PLAIN", pasword="typo")
    assert str(bad.value) == (
        "bad option for ClientOptions: "
        "ClientOptions.__init__() got an unexpected keyword argument 'pasword'"
    )
    with pytest.raises(UsageError, match="bad option for ServerOptions"):
        sasl_kit.server("PLAIN", {}, nonse="x")
