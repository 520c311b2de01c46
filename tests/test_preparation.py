"""String preparation: SASLprep by default, PRECIS (RFC 8265) on request, in PLAIN and SCRAM.

RFC 8265's examples are in vectors/precis.json (replayed by tests/test_vectors.py);
here: the mechanisms use the chosen preparation on both sides, and a refusal never
shows the string.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import preparation
from sasl_kit.errors import AuthenticationFailed, MalformedMessage, UsageError


def login(
    mechanism: str, user: str, password: str, stored: dict[str, str], client: str, server: str
) -> None:
    srv = sasl_kit.server(mechanism, stored, preparation=server)
    cli = sasl_kit.client(mechanism, username=user, password=password, preparation=client)
    message = cli.step(b"")
    while not srv.complete:
        challenge = srv.step(message)
        if srv.complete and not challenge:
            break
        message = cli.step(challenge or b"")
    assert srv.complete


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
def test_precis_on_both_sides_maps_the_user_name_case_and_keeps_the_password_nfc(
    mechanism: str,
) -> None:
    # UsernameCaseMapped: "Juliet" is "juliet"; OpaqueString keeps U+2168 ROMAN NUMERAL NINE,
    # which SASLprep (NFKC) would turn into "IX".
    login(mechanism, "Juliet", "\u2168 lives", {"juliet": "\u2168 lives"}, "precis", "precis")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_sides_that_prepare_differently_do_not_agree_on_such_a_password(
    mechanism: str,
) -> None:
    with pytest.raises(AuthenticationFailed):
        login(mechanism, "juliet", "\u2168 lives", {"juliet": "\u2168 lives"}, "precis", "saslprep")


def test_plain_sends_the_password_as_typed_and_the_servers_preparation_decides() -> None:
    # RFC 4616 4: the server prepares both strings; SASLprep (NFKC) makes U+2168 and "IX"
    # equal, PRECIS OpaqueString (NFC) does not.
    stored = {"juliet": "\u2168"}
    login("PLAIN", "juliet", "IX", stored, "precis", "saslprep")
    with pytest.raises(AuthenticationFailed):
        login("PLAIN", "juliet", "IX", stored, "saslprep", "precis")


def test_saslprep_stays_the_default_as_rfc_5802_says() -> None:
    assert (
        sasl_kit.client("SCRAM-SHA-256", username="u", password="p").options.preparation
        == "saslprep"
    )
    assert preparation.password("\u2168") == "IX"  # RFC 4013 3, example 5
    assert preparation.password("\u2168", "precis") == "\u2168"


def test_a_refusal_names_profile_rule_and_position_but_not_the_string() -> None:
    with pytest.raises(MalformedMessage) as caught:
        preparation.password("s3cr\u0009t", "precis")
    message = str(caught.value)
    assert message == "PRECIS OpaqueString: DISALLOWED/controls at position 4"
    with pytest.raises(UsageError, match="the user name is refused by PRECIS UsernameCaseMapped"):
        sasl_kit.client(
            "SCRAM-SHA-256", username="two words", password="p", preparation="precis"
        ).step(b"")


def test_an_unknown_preparation_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="known: saslprep, precis"):
        preparation.username("u", "nfc")


def test_without_precis_i18n_asking_for_precis_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "precis_i18n", None)
    with pytest.raises(UsageError, match=r"pip install 'sasl-kit\[precis\]'"):
        preparation.username("u", "precis")


@given(st.text(max_size=40), st.sampled_from(["saslprep", "precis"]), st.booleans())
def test_any_text_is_prepared_or_refused_with_the_project_error(
    text: str, how: str, user: bool
) -> None:
    prepare = preparation.username if user else preparation.password
    try:
        prepared = prepare(text, how)
    except MalformedMessage:
        return
    assert isinstance(prepared, str)
    assert prepare(prepared, how) == prepared  # idempotent: preparing twice changes nothing
