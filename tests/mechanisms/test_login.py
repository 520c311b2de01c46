"""LOGIN: answered by position, whatever the prompts say."""

from __future__ import annotations

import pytest

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"Username:", b"Password:"),
        (b"User Name\0", b"Password\0"),
        (b"username:", b"password:"),
        (b"", b""),
        (b"Password:", b"Username:"),  # wording is ignored, position counts
    ],
)
def test_client_answers_by_position(first: bytes, second: bytes) -> None:
    mech = sasl_kit.client("LOGIN", username="tim", password="tanstaaf")
    assert not mech.client_first
    assert mech.step(first) == b"tim"
    assert not mech.complete
    assert mech.step(second) == b"tanstaaf"
    assert mech.complete


def test_server_prompts_then_verifies() -> None:
    srv = sasl_kit.server("LOGIN", {"tim": "tanstaaf"})
    assert srv.step(None) == b"Username:"
    assert srv.step(b"tim") == b"Password:"
    assert srv.step(b"tanstaaf") is None
    assert srv.complete and srv.authcid == "tim"


def test_server_takes_an_initial_response_as_the_user_name() -> None:
    srv = sasl_kit.server("LOGIN", {"tim": "tanstaaf"})
    assert srv.step(b"tim") == b"Password:"
    srv.step(b"tanstaaf")
    assert srv.complete


def test_server_rejects_a_wrong_password() -> None:
    srv = sasl_kit.server("LOGIN", {"tim": "tanstaaf"})
    srv.step(None)
    srv.step(b"tim")
    with pytest.raises(AuthenticationFailed, match="'tim'"):
        srv.step(b"wrong")


def test_server_rejects_an_empty_user_name_and_non_utf8() -> None:
    srv = sasl_kit.server("LOGIN", {"tim": "tanstaaf"})
    srv.step(None)
    with pytest.raises(MalformedMessage, match="empty user name"):
        srv.step(b"")
    srv = sasl_kit.server("LOGIN", {"tim": "tanstaaf"})
    with pytest.raises(MalformedMessage, match="user name is not UTF-8"):
        srv.step(b"\xfftim")
