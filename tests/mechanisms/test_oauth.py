"""OAUTHBEARER and XOAUTH2: message forms, validation, both error flows, secrets, parsers."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage, UsageError
from sasl_kit.mechanisms.oauth import OAuthError, TokenTable, parse_error, parse_kvpairs
from sasl_kit.selftest import handshake

TOKEN = "ya29.Secret-Token_value~42+/=="
HOST, PORT = "mail.example.org", 993
USERS = {"alice": TOKEN}


def _client(name: str, **options: Any) -> sasl_kit.ClientMechanism:
    defaults: dict[str, Any] = {"username": "alice", "token": TOKEN, "host": HOST, "port": PORT}
    return sasl_kit.client(name, **{**defaults, **options})


def _server(name: str, **options: Any) -> sasl_kit.ServerMechanism:
    defaults: dict[str, Any] = {"host": HOST, "port": PORT, "validate_token": TokenTable(USERS)}
    return sasl_kit.server(name, {}, **{**defaults, **options})


def _bearer(header: str, *pairs: str) -> bytes:
    return (header + "\x01" + "".join(p + "\x01" for p in pairs) + "\x01").encode()


# --- OAUTHBEARER client -------------------------------------------------------------------


def test_oauthbearer_initial_response_has_gs2_header_host_port_and_token() -> None:
    assert _client("OAUTHBEARER").step(b"") == _bearer(
        "n,a=alice,", f"host={HOST}", f"port={PORT}", f"auth=Bearer {TOKEN}"
    )


def test_oauthbearer_names_the_authzid_before_the_user_and_escapes_it() -> None:
    message = _client("OAUTHBEARER", authzid="ops,team=a").step(b"") or b""
    assert message.startswith(b"n,a=ops=2Cteam=3Da,\x01")


def test_oauthbearer_leaves_out_host_and_port_it_does_not_have() -> None:
    message = _client("OAUTHBEARER", username="", host="", port=None).step(b"")
    assert message == _bearer("n,,", f"auth=Bearer {TOKEN}")


def test_oauthbearer_without_token_sends_the_empty_discovery_query() -> None:
    assert _client("OAUTHBEARER", token="").step(b"") == _bearer(
        "n,a=alice,", f"host={HOST}", f"port={PORT}", "auth="
    )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"token": "not a b64token"}, "b64token"),
        ({"token": "tök"}, "b64token"),
        ({"port": 0}, "port 0"),
        ({"port": 70000}, "port 70000"),
        ({"host": "bad\x01host"}, "control character"),
    ],
)
def test_oauthbearer_client_refuses_options_it_cannot_send(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(UsageError, match=named) as caught:
        _client("OAUTHBEARER", **options).step(b"")
    assert TOKEN not in str(caught.value)


def test_oauth_client_is_complete_after_its_initial_response() -> None:
    client = _client("OAUTHBEARER")
    client.step(b"")
    assert client.complete and client.answers_errors
    with pytest.raises(UsageError, match="nothing more"):
        client.step(b"")


def test_oauth_client_refuses_a_server_that_speaks_first() -> None:
    with pytest.raises(MalformedMessage, match="spoke before"):
        _client("OAUTHBEARER").step(b"{}")


@pytest.mark.parametrize(("name", "answer"), [("OAUTHBEARER", b"\x01"), ("XOAUTH2", b"")])
def test_client_answers_the_error_then_fails_with_the_status_and_no_token(
    name: str, answer: bytes
) -> None:
    client = _client(name)
    client.step(b"")
    error = b'{"status":"invalid_token","scope":"mail","openid-configuration":"https://x/"}'
    assert client.step(error) == answer
    assert not client.complete
    assert client.error == OAuthError("invalid_token", "mail", "https://x/")  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationFailed, match="status 'invalid_token'") as caught:
        client.step(b"")
    assert TOKEN not in str(caught.value) and "scope 'mail'" in str(caught.value)


@pytest.mark.parametrize(
    "challenge", [b"not json", b"[1]", b'{"scope":"x"}', b'{"status":1}', b"\xff"]
)
def test_client_refuses_a_challenge_that_is_not_an_rfc7628_error(challenge: bytes) -> None:
    client = _client("OAUTHBEARER")
    client.step(b"")
    with pytest.raises(MalformedMessage):
        client.step(challenge)


def test_client_reduces_the_servers_status_to_printable_ascii() -> None:
    client = _client("OAUTHBEARER")
    client.step(b"")
    client.step(json.dumps({"status": "bad\nline\x1b[31m" + "x" * 300}).encode())
    with pytest.raises(AuthenticationFailed) as caught:
        client.step(b"")
    message = str(caught.value)
    assert message.isprintable() and len(message) < 200


# --- XOAUTH2 client ----------------------------------------------------------------------


def test_xoauth2_initial_response_is_user_and_bearer() -> None:
    assert _client("XOAUTH2").step(b"") == f"user=alice\x01auth=Bearer {TOKEN}\x01\x01".encode()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"token": ""}, "needs a bearer token"),
        ({"username": ""}, "user name"),
        ({"username": "a\x01b"}, "user name"),
    ],
)
def test_xoauth2_client_refuses_what_it_cannot_send(options: dict[str, Any], named: str) -> None:
    with pytest.raises(UsageError, match=named):
        _client("XOAUTH2", **options).step(b"")


# --- Servers -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["OAUTHBEARER", "XOAUTH2"])
def test_server_accepts_a_good_token_in_one_message(name: str) -> None:
    server = _server(name)
    result = handshake(_client(name), server)
    assert (result.round_trips, server.authcid, server.authzid) == (0, "alice", "alice")


def test_server_takes_the_identity_the_validator_returns() -> None:
    server = _server("OAUTHBEARER", validate_token=lambda user, token: "alice@idp")
    server.step(_client("OAUTHBEARER", username="").step(b""))
    assert (server.authcid, server.authzid) == ("alice@idp", "alice@idp")


def test_server_checks_the_requested_authzid_against_the_policy() -> None:
    with pytest.raises(AuthenticationFailed, match="may not act as 'bob'"):
        _server("OAUTHBEARER", validate_token=lambda u, t: "alice").step(
            _client("OAUTHBEARER", authzid="bob").step(b"")
        )


@pytest.mark.parametrize(
    ("name", "answer", "error"),
    [
        (
            "OAUTHBEARER",
            b"\x01",
            {
                "status": "invalid_token",
                "scope": "mail",
                "openid-configuration": "https://idp/.well-known/x",
            },
        ),
        ("XOAUTH2", b"", {"status": "401", "schemes": "bearer", "scope": "mail"}),
    ],
)
def test_server_refuses_a_bad_token_with_the_json_error_then_fails(
    name: str, answer: bytes, error: dict[str, str]
) -> None:
    server = _server(name, oauth_scope="mail", openid_configuration="https://idp/.well-known/x")
    challenge = server.step(_client(name, token="wrong-token").step(b"")) or b""
    assert json.loads(challenge) == error and not server.complete
    with pytest.raises(AuthenticationFailed, match="refused for 'alice'") as caught:
        server.step(answer)
    assert "wrong-token" not in str(caught.value) and server.authcid is None


@pytest.mark.parametrize("name", ["OAUTHBEARER", "XOAUTH2"])
def test_a_wrong_token_fails_both_sides_through_the_handshake(name: str) -> None:
    client, server = _client(name, token="wrong"), _server(name)
    with pytest.raises(AuthenticationFailed):
        handshake(client, server)
    assert client.error is not None and not client.complete  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["OAUTHBEARER", "XOAUTH2"])
def test_server_wants_the_error_answer_and_nothing_else(name: str) -> None:
    server = _server(name)
    server.step(_client(name, token="wrong").step(b""))
    with pytest.raises(MalformedMessage, match="after the error"):
        server.step(b"something else")


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"host": "other.example.org"}, "invalid_request"),
        ({"port": 25}, "invalid_request"),
        ({"token": ""}, "invalid_token"),
    ],
)
def test_oauthbearer_server_refuses_another_host_port_or_no_token(
    options: dict[str, Any], status: str
) -> None:
    challenge = _server("OAUTHBEARER").step(_client("OAUTHBEARER", **options).step(b""))
    assert json.loads(challenge or b"")["status"] == status


def test_server_ignores_unknown_and_reserved_pairs_and_any_bearer_case() -> None:
    server = _server("OAUTHBEARER")
    server.step(_bearer("n,a=alice,", "path=/", "xyz=1", f"auth=bEaReR {TOKEN}"))
    assert server.authcid == "alice"


@pytest.mark.parametrize(
    "message",
    [
        b"\x01",
        b"p=tls-unique,a=alice,\x01auth=Bearer x\x01\x01",
        b"n,alice,\x01auth=Bearer x\x01\x01",
        b"n,a=alice,auth=Bearer x\x01\x01",
        b"n,a=al=ice,\x01auth=Bearer x\x01\x01",
        b"n,a=alice,\x01auth=Bearer x\x01",
        b"n,a=alice,\x01auth=Bearer x\x01host=h",
        b"n,a=alice,\x01host=h\x01\x01",
        b"n,a=alice,\x01auth=a\x01auth=b\x01\x01",
        b"n,a=alice,\x01au th=x\x01\x01",
        b"n,a=alice,\x01auth=Bearer \x00\x01\x01",
        b"n,a=alice,\x01auth=Bearer \xff\x01\x01",
    ],
)
def test_oauthbearer_server_refuses_malformed_messages(message: bytes) -> None:
    with pytest.raises(MalformedMessage):
        _server("OAUTHBEARER").step(message)


@pytest.mark.parametrize(
    "message", [b"auth=Bearer x\x01\x01", b"user=\x01auth=Bearer x\x01\x01", b"user=a\x01\x01"]
)
def test_xoauth2_server_refuses_malformed_messages(message: bytes) -> None:
    with pytest.raises(MalformedMessage):
        _server("XOAUTH2").step(message)


@pytest.mark.parametrize("name", ["OAUTHBEARER", "XOAUTH2"])
def test_server_without_a_validator_is_a_usage_error(name: str) -> None:
    with pytest.raises(UsageError, match="validate_token"):
        sasl_kit.server(name, {}).step(None)


def test_server_asks_for_the_initial_response_with_an_empty_challenge() -> None:
    assert _server("OAUTHBEARER").step(None) == b""


def test_token_never_shows_in_reprs() -> None:
    options = sasl_kit.ClientOptions(username="alice", token=TOKEN)
    table = TokenTable(USERS)
    for text in (repr(options), repr(_client("XOAUTH2")), repr(table), repr(_server("XOAUTH2"))):
        assert TOKEN not in text


def test_token_table_needs_the_user_and_the_exact_token() -> None:
    table = TokenTable(USERS)
    assert table("alice", TOKEN) == "alice"
    assert table("alice", TOKEN + "x") is None and table("", TOKEN) is None


# --- Parsers, by property ----------------------------------------------------------------

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC", min_size=1, max_size=8)
values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
b64tokens = st.from_regex(r"[A-Za-z0-9\-._~+/]{1,40}={0,2}", fullmatch=True)


@given(st.dictionaries(keys, values, max_size=5))
def test_kvpairs_round_trip(pairs: dict[str, str]) -> None:
    text = "".join(f"{k}={v}\x01" for k, v in pairs.items()) + "\x01"
    assert parse_kvpairs(text, "X") == pairs


@given(st.text(max_size=80))
def test_kvpairs_parser_raises_only_malformed_message(text: str) -> None:
    with contextlib.suppress(MalformedMessage):
        parse_kvpairs(text, "X")


@given(st.binary(max_size=200))
def test_error_parser_raises_only_malformed_message(data: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        assert isinstance(parse_error(data, "X").status, str)


@given(
    user=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
    token=b64tokens,
    port=st.integers(1, 65535),
)
def test_any_user_token_and_port_reach_the_validator_unchanged(
    user: str, token: str, port: int
) -> None:
    seen: list[tuple[str, str]] = []

    def validate(claimed: str, presented: str) -> str:
        seen.append((claimed, presented))
        return claimed

    client = sasl_kit.client("OAUTHBEARER", authzid=user, token=token, host=HOST, port=port)
    server = _server("OAUTHBEARER", port=port, validate_token=validate)
    server.step(client.step(b""))
    assert seen == [(user, token)] and server.authcid == user
