"""The POP3 profile (RFC 5034): RFC 5034's exchanges, -ERR codes (RFC 3206), the 255-octet rule."""

from __future__ import annotations

import pytest

from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols import profile
from sasl_kit.protocols.base import Challenge, End, Outcome
from sasl_kit.registry import default_registry
from tests.protocols.exchange import after, lines, replay_client, wire

POP3 = profile("pop3")


RFC_PASSWORD = "test"  # RFC 5034 6: authzid, authcid and password are all "test"


def _plain(length: int = 0) -> ClientMechanism:
    """RFC 5034's PLAIN, or one whose password is ``length`` octets long."""
    password = "p" * length if length else RFC_PASSWORD
    return default_registry.client("PLAIN", username="test", password=password, authzid="test")


def test_rfc_5034_capa_lists_the_sasl_mechanisms() -> None:
    exchange = lines("rfc5034-plain-initial.txt")
    capa = "\r\n".join(t for s, t in exchange[2:7]).encode()
    assert POP3.mechanisms(capa) == ("DIGEST-MD5", "PLAIN")


def test_rfc_5034_plain_with_an_initial_response() -> None:
    auth = POP3.client("PLAIN", _plain())
    replay_client(auth, after("rfc5034-plain-initial.txt", "AUTH"))
    assert auth.result is not None and auth.result.ok


def test_an_initial_response_over_255_octets_answers_the_first_empty_challenge() -> None:
    auth = POP3.client("PLAIN", _plain(200))
    assert auth.start() == b"AUTH PLAIN\r\n"
    assert len(auth.receive(b"+ \r\n")) > 255
    auth.receive(b"+OK Maildrop locked and ready\r\n")
    assert auth.result is not None and auth.result.ok


def test_rfc_5034_plain_challenge_example_as_a_server() -> None:
    server = default_registry.server("PLAIN", {"test": "test"})
    auth = POP3.server("PLAIN", server)
    exchange = lines("rfc5034-plain-challenge.txt")
    assert auth.receive(wire(exchange[0][1])) == wire(exchange[1][1])
    assert auth.receive(wire(exchange[2][1])) == b"+OK Logged in\r\n"
    assert auth.result is not None and auth.result.ok


@pytest.mark.parametrize(
    ("reply", "outcome", "code"),
    [
        ("-ERR [AUTH] Authentication failed", Outcome.REJECTED, "-ERR [AUTH]"),
        ("-ERR Authentication failed", Outcome.REJECTED, "-ERR"),
        ("-ERR [SYS/TEMP] Try later", Outcome.TEMPORARY, "-ERR [SYS/TEMP]"),
        ("-ERR [IN-USE] Mailbox locked", Outcome.TEMPORARY, "-ERR [IN-USE]"),
        ("-ERR [SYS/PERM] Gone", Outcome.FAILED, "-ERR [SYS/PERM]"),
    ],
)
def test_err_response_codes_name_the_guilty_side(reply: str, outcome: Outcome, code: str) -> None:
    auth = POP3.client("PLAIN", _plain())
    auth.start()
    auth.receive(wire(reply))
    assert auth.result is not None and (auth.result.outcome, auth.result.code) == (outcome, code)


def test_cancel_is_a_star_answered_by_err() -> None:
    auth = POP3.client("CRAM-MD5", default_registry.client("CRAM-MD5", username="u", password="p"))
    auth.start()
    assert auth.receive(b"+ \r\n") == b"*\r\n"
    auth.receive(b"-ERR cancelled\r\n")
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED


def test_transcript_lines_read_back_as_events() -> None:
    assert POP3.read_line("S", "+ PDE+") == Challenge("PDE+")
    assert POP3.read_line("S", "+OK Logged in.") == End(Outcome.SUCCESS, "+OK Logged in.")
    assert POP3.read_line("S", "334 abc") is None
