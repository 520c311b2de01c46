"""PLAIN (RFC 4616): client message layout and the server's refusals."""

from __future__ import annotations

import pytest

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage, UsageError

USERS = {"tim": "tanstaaftanstaaf", "jürgen": "pässwörd"}


def _server() -> sasl_kit.ServerMechanism:
    return sasl_kit.server("PLAIN", USERS)


def test_client_sends_authzid_authcid_password_separated_by_nul() -> None:
    mech = sasl_kit.client("PLAIN", username="tim", password="pw", authzid="admin")
    assert mech.client_first
    assert mech.step(b"") == b"admin\0tim\0pw"
    assert mech.complete


def test_client_refuses_a_second_step() -> None:
    mech = sasl_kit.client("PLAIN", username="tim", password="pw")
    mech.step(b"")
    with pytest.raises(UsageError, match="already finished"):
        mech.step(b"")


def test_server_asks_for_the_message_when_there_is_no_initial_response() -> None:
    srv = _server()
    assert srv.step(None) == b""
    assert srv.step(b"\0tim\0tanstaaftanstaaf") is None
    assert srv.complete and srv.authcid == "tim" and srv.authzid == "tim"


def test_server_accepts_utf8_credentials() -> None:
    srv = _server()
    srv.step("\0jürgen\0pässwörd".encode())
    assert srv.authcid == "jürgen"


def test_server_compares_after_saslprep() -> None:
    srv = sasl_kit.server("PLAIN", {"tim": "IX"})
    srv.step("\0tim\0I\u00adX".encode())  # RFC 4013 3 #1: SOFT HYPHEN maps to nothing
    assert srv.complete


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"tim\0tanstaaftanstaaf", "expected 2 NUL separators, found 1"),
        (b"\0tim\0tans\0taaf", "expected 2 NUL separators, found 3"),
        (b"\0\0tanstaaftanstaaf", "empty authcid"),
        (b"\0tim\0", "empty password"),
        (b"\0t\xffm\0tanstaaftanstaaf", "authcid is not UTF-8"),
        (b"\xc3\0tim\0tanstaaftanstaaf", "authzid is not UTF-8"),
    ],
)
def test_server_rejects_malformed_messages(message: bytes, reason: str) -> None:
    srv = _server()
    with pytest.raises(MalformedMessage, match=reason):
        srv.step(message)
    with pytest.raises(UsageError):
        srv.step(message)


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    with pytest.raises(AuthenticationFailed) as wrong:
        _server().step(b"\0tim\0nope")
    with pytest.raises(AuthenticationFailed) as unknown:
        _server().step(b"\0bob\0nope")
    assert str(wrong.value).replace("tim", "X") == str(unknown.value).replace("bob", "X")


def test_server_refuses_acting_as_another_user_by_default() -> None:
    with pytest.raises(AuthenticationFailed, match="may not act as"):
        _server().step(b"admin\0tim\0tanstaaftanstaaf")


def test_server_authorization_policy_can_allow_proxying() -> None:
    srv = sasl_kit.server("PLAIN", USERS, authorize=lambda authcid, authzid: authcid == "tim")
    srv.step(b"admin\0tim\0tanstaaftanstaaf")
    assert (srv.authcid, srv.authzid) == ("tim", "admin")
