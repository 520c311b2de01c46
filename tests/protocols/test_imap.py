"""The IMAP profile (RFC 9051/3501 AUTHENTICATE, RFC 4959 SASL-IR): RFC 4959's exchanges."""

from __future__ import annotations

import pytest

from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols import errors, profile
from sasl_kit.protocols.base import Challenge, Chatter, End, Outcome, Start
from sasl_kit.registry import default_registry
from tests.protocols.exchange import after, lines, replay_client, wire

IMAP = profile("imap")


def _plain() -> ClientMechanism:
    # RFC 4959 3: authzid, authcid and password are all "test"
    return default_registry.client("PLAIN", username="test", password="test", authzid="test")


def test_rfc_4959_plain_with_an_initial_response_when_the_server_lists_sasl_ir() -> None:
    capability = "\r\n".join(t for s, t in lines("rfc4959-plain-initial.txt") if s == "S").encode()
    assert "SASL-IR" in IMAP.capabilities(capability)
    auth = IMAP.client("PLAIN", _plain(), tag="A01", sasl_ir=True)
    replay_client(auth, after("rfc4959-plain-initial.txt", "A01"))
    assert auth.result is not None and auth.result.ok
    assert (auth.result.code, auth.result.text) == ("OK", "Success (tls protection)")


def test_rfc_4959_plain_without_sasl_ir_answers_the_first_continuation() -> None:
    auth = IMAP.client("PLAIN", _plain(), tag="A01", sasl_ir=False)
    replay_client(auth, after("rfc4959-plain-challenge.txt", "A01"))
    assert auth.result is not None and auth.result.ok


def test_rfc_4959_external_with_an_empty_initial_response() -> None:
    auth = IMAP.client("EXTERNAL", default_registry.client("EXTERNAL"), tag="A01", sasl_ir=True)
    replay_client(auth, lines("rfc4959-external-empty.txt"))
    assert auth.result is not None and auth.result.ok


def test_rfc_4959_exchanges_as_a_server() -> None:
    for name in ("rfc4959-plain-initial.txt", "rfc4959-plain-challenge.txt"):
        server = default_registry.server("PLAIN", {"test": "test"})
        auth = IMAP.server("PLAIN", server)
        replies = b"".join(auth.receive(wire(t)) for s, t in after(name, "A01") if s == "C")
        assert replies.endswith(b"A01 OK Logged in\r\n") and server.authcid == "test"


def test_untagged_data_and_other_tags_are_chatter_and_the_next_line_is_leftover() -> None:
    auth = IMAP.client("PLAIN", _plain(), tag="a2", sasl_ir=True)
    auth.start()
    assert (
        auth.receive(b"* CAPABILITY IMAP4rev1\r\na1 OK done\r\na2 OK [CAPABILITY X] in\r\n* 1")
        == b""
    )
    assert auth.result is not None and auth.result.ok and auth.leftover == b"* 1"


@pytest.mark.parametrize(
    ("reply", "outcome", "code"),
    [
        (
            "NO [AUTHENTICATIONFAILED] Authentication failed.",
            Outcome.REJECTED,
            "NO [AUTHENTICATIONFAILED]",
        ),
        ("NO Authentication failed.", Outcome.REJECTED, "NO"),
        ("NO [UNAVAILABLE] Try later", Outcome.TEMPORARY, "NO [UNAVAILABLE]"),
        ("NO [PRIVACYREQUIRED] TLS first", Outcome.TLS_REQUIRED, "NO [PRIVACYREQUIRED]"),
        ("NO [CANNOT] Not with this mechanism", Outcome.REFUSED, "NO [CANNOT]"),
        ("BAD Unknown command", Outcome.FAILED, "BAD"),
    ],
)
def test_tagged_outcomes_and_rfc_5530_codes_name_the_guilty_side(
    reply: str, outcome: Outcome, code: str
) -> None:
    auth = IMAP.client("PLAIN", _plain(), tag="t1", sasl_ir=True)
    auth.start()
    auth.receive(wire(f"t1 {reply}"))
    assert auth.result is not None and (auth.result.outcome, auth.result.code) == (outcome, code)


def test_cancel_is_a_star_answered_by_bad() -> None:
    mechanism = default_registry.client("CRAM-MD5", username="u", password="p")
    auth = IMAP.client("CRAM-MD5", mechanism, tag="a1")
    assert auth.start() == b"a1 AUTHENTICATE CRAM-MD5\r\n"
    assert auth.receive(b"+ \r\n") == b"*\r\n"
    auth.receive(b"a1 BAD Authentication cancelled\r\n")
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    server = IMAP.server("PLAIN", default_registry.server("PLAIN", {"u": "p"}))
    assert server.receive(b"a9 AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert server.receive(b"*\r\n") == b"a9 BAD Authentication cancelled\r\n"


def test_a_bad_tag_is_the_callers_mistake_and_garbage_from_the_server_a_violation() -> None:
    with pytest.raises(errors.SASLError):
        IMAP.client("PLAIN", _plain(), tag="a b")
    auth = IMAP.client("PLAIN", _plain(), tag="a1")
    auth.start()
    with pytest.raises(errors.ProtocolViolation):
        auth.receive(b"HTTP/1.1 400\r\n")


def test_mechanisms_from_capability_responses_and_response_codes() -> None:
    data = b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN auth=SCRAM-SHA-1] ready\r\n"
    assert IMAP.mechanisms(data) == ("PLAIN", "SCRAM-SHA-1")
    assert IMAP.mechanisms(b"* CAPABILITY IMAP4rev1 AUTH=X AUTH=X STARTTLS\r\n") == ("X",)


def test_transcript_lines_read_back_as_events() -> None:
    assert IMAP.read_line("C", "A01 AUTHENTICATE PLAIN dGVzdA==") == Start(
        "PLAIN", "dGVzdA==", tag="A01"
    )
    assert IMAP.read_line("S", "+") == Challenge("")
    assert IMAP.read_line("S", "* CAPABILITY IMAP4rev1") == Chatter()
    assert IMAP.read_line("S", "A01 OK fine") == End(Outcome.SUCCESS, "A01 OK fine", tag="A01")
    assert IMAP.read_line("S", "235 2.7.0 Authentication successful") is None
