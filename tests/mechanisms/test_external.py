"""EXTERNAL: the client sends its authzid, the server authenticates the external identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage
from sasl_kit.selftest import handshake


def _server(**options: object) -> sasl_kit.ServerMechanism:
    return sasl_kit.server("EXTERNAL", {}, **{"external_identity": "alice", **options})


def test_client_sends_its_authzid_as_initial_response_and_is_done() -> None:
    client = sasl_kit.client("EXTERNAL", authzid="fred")
    assert client.client_first and client.step(b"") == b"fred" and client.complete


def test_client_without_authzid_sends_an_empty_message() -> None:
    assert sasl_kit.client("EXTERNAL", username="ignored").step(b"") == b""


def test_server_authenticates_the_external_identity_acting_as_itself() -> None:
    server = _server()
    result = handshake(sasl_kit.client("EXTERNAL"), server)
    assert (result.round_trips, server.authcid, server.authzid) == (0, "alice", "alice")


def test_server_asks_for_the_message_without_initial_response() -> None:
    server = _server()
    assert server.step(None) == b""
    server.step(b"alice")
    assert server.complete and server.authzid == "alice"


def test_server_hands_another_authzid_to_the_policy() -> None:
    with pytest.raises(AuthenticationFailed, match="may not act as 'bob'"):
        _server().step(b"bob")
    server = _server(authorize=lambda authcid, authzid: (authcid, authzid) == ("alice", "bob"))
    server.step(b"bob")
    assert (server.authcid, server.authzid) == ("alice", "bob")


def test_server_without_an_external_identity_refuses_everyone() -> None:
    with pytest.raises(AuthenticationFailed, match="no identity was established"):
        sasl_kit.server("EXTERNAL", {}).step(b"")


@pytest.mark.parametrize("message", [b"\xff", b"al\x00ice"])
def test_server_refuses_an_authzid_that_is_not_utf8_text(message: bytes) -> None:
    with pytest.raises(MalformedMessage):
        _server().step(message)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
def test_any_authzid_reaches_the_policy_unchanged(authzid: str) -> None:
    seen: list[str] = []
    server = _server(authorize=lambda authcid, requested: seen.append(requested) is None)
    server.step(sasl_kit.client("EXTERNAL", authzid=authzid).step(b""))
    assert seen == [authzid] and server.authcid == "alice"
