"""The SMTP profile (RFC 4954): RFC 4954 section 7's exchanges, outcomes, cancel, limits."""

from __future__ import annotations

import pytest

from sasl_kit import MalformedMessage, MutualAuthenticationFailed
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols import errors, profile
from sasl_kit.protocols.base import Challenge, End, Outcome, Start
from sasl_kit.registry import default_registry
from tests.protocols.exchange import after, lines, replay_client, wire

SMTP = profile("smtp")
RFC_PLAIN = {"username": "test", "password": "1234", "authzid": "test"}  # RFC 4954 7


def _plain(**options: str) -> ClientMechanism:
    return default_registry.client("PLAIN", **(RFC_PLAIN | options))


def test_rfc_4954_plain_with_an_initial_response() -> None:
    auth = SMTP.client("PLAIN", _plain())
    replay_client(auth, after("rfc4954-plain-initial.txt", "AUTH"))
    assert auth.result is not None and auth.result.ok
    assert (auth.result.code, auth.result.text) == ("235", "2.7.0 Authentication successful")


def test_rfc_4954_plain_answering_the_empty_334_when_the_line_is_too_long() -> None:
    # RFC 4954 4: an initial response that does not fit in 512 octets waits for the first 334.
    mechanism = _plain(password="x" * 400)
    auth = SMTP.client("PLAIN", mechanism)
    assert auth.start() == b"AUTH PLAIN\r\n"
    answer = auth.receive(b"334 \r\n")
    assert answer.endswith(b"\r\n") and len(answer) > 512
    assert auth.receive(b"235 2.7.0 Authentication successful\r\n") == b""
    assert auth.result is not None and auth.result.ok


def test_rfc_4954_plain_challenge_example_as_a_server() -> None:
    server = default_registry.server("PLAIN", {"test": "1234"})
    auth = SMTP.server("PLAIN", server)
    exchange = lines("rfc4954-plain-challenge.txt")
    assert auth.receive(wire(exchange[0][1])) == wire(exchange[1][1])  # "334 "
    assert auth.receive(wire(exchange[2][1])).startswith(b"235 ")
    assert auth.result is not None and auth.result.ok and server.authcid == "test"


def test_an_empty_initial_response_is_an_equals_sign() -> None:
    auth = SMTP.client("EXTERNAL", default_registry.client("EXTERNAL"))
    assert auth.start() == b"AUTH EXTERNAL =\r\n"


def test_the_ehlo_auth_keyword_lists_the_mechanisms_in_order() -> None:
    ehlo = "".join(f"{side}: {text}\n" for side, text in lines("rfc4954-cram-md5.txt")[2:4])
    reply = "\r\n".join(line[3:] for line in ehlo.splitlines()).encode()
    assert SMTP.mechanisms(reply) == ("CRAM-MD5", "DIGEST-MD5")
    assert SMTP.mechanisms(b"250-mx\r\n250-AUTH=PLAIN LOGIN\r\n250 AUTH plain CRAM-MD5\r\n") == (
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
    )
    assert SMTP.mechanisms(b"250 AUTH PLAIN\r\n") == ()  # the first line greets


@pytest.mark.parametrize(
    ("reply", "outcome", "error"),
    [
        (
            "535 5.7.8 Authentication credentials invalid",
            Outcome.REJECTED,
            errors.CredentialsRejected,
        ),
        (
            "534 5.7.9 Authentication mechanism is too weak",
            Outcome.REFUSED,
            errors.MechanismRefused,
        ),
        ("504 5.5.4 Unrecognized authentication type", Outcome.REFUSED, errors.MechanismRefused),
        ("538 5.7.11 Encryption required", Outcome.TLS_REQUIRED, errors.TLSRequired),
        ("454 4.7.0 Temporary authentication failure", Outcome.TEMPORARY, errors.TemporaryFailure),
        ("432 4.7.12 A password transition is needed", Outcome.TEMPORARY, errors.TemporaryFailure),
        ("530 5.7.0 Authentication required", Outcome.FAILED, errors.ServerRefused),
    ],
)
def test_each_rfc_4954_reply_code_names_the_guilty_side(
    reply: str, outcome: Outcome, error: type[errors.ServerRefused]
) -> None:
    auth = SMTP.client("PLAIN", _plain())
    auth.start()
    auth.receive(wire(reply))
    assert auth.result is not None and auth.result.outcome is outcome
    with pytest.raises(error) as raised:
        auth.result.raise_for_outcome("mx.example")
    assert raised.value.code == reply[:3] and "1234" not in str(raised.value)


def test_a_mechanism_failure_cancels_with_a_star_and_keeps_its_error() -> None:
    auth = SMTP.client("CRAM-MD5", default_registry.client("CRAM-MD5", username="u", password="p"))
    assert auth.start() == b"AUTH CRAM-MD5\r\n"
    assert auth.receive(b"334 \r\n") == b"*\r\n"  # CRAM-MD5 refuses an empty challenge
    assert auth.result is None
    assert auth.receive(b"501 5.7.0 Authentication cancelled\r\n") == b""
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, MalformedMessage)


def test_a_challenge_that_is_not_base64_is_cancelled_as_a_protocol_violation() -> None:
    auth = SMTP.client("CRAM-MD5", default_registry.client("CRAM-MD5", username="u", password="p"))
    auth.start()
    assert auth.receive(b"334 not base64!\r\n") == b"*\r\n"
    auth.receive(b"501 cancelled\r\n")
    assert auth.result is not None and isinstance(auth.result.error, errors.ProtocolViolation)


def test_success_before_the_server_proved_itself_is_a_mutual_authentication_failure() -> None:
    scram = default_registry.client("SCRAM-SHA-256", username="u", password="p")
    auth = SMTP.client("SCRAM-SHA-256", scram)
    auth.start()
    auth.receive(b"235 2.7.0 ok\r\n")
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    with pytest.raises(MutualAuthenticationFailed):
        auth.result.raise_for_outcome()


def test_a_multi_line_reply_is_one_outcome_and_bytes_after_it_are_leftover() -> None:
    auth = SMTP.client("PLAIN", _plain())
    auth.start()
    assert auth.receive(b"535-5.7.8 no\r\n535 5.7.8 really\r\n250 next") == b""
    assert auth.result is not None and auth.result.text == "5.7.8 no 5.7.8 really"
    assert auth.leftover == b"250 next"


def test_broken_replies_are_protocol_violations() -> None:
    for data in (b"535-a\r\n250 b\r\n", b"hello\r\n", b"2" * 9000):
        auth = SMTP.client("PLAIN", _plain())
        auth.start()
        with pytest.raises(errors.ProtocolViolation):
            auth.receive(data)


def test_a_whole_scram_exchange_through_both_sides_ends_with_an_empty_answer() -> None:
    # No additional data with success in SMTP: the server-final message is a last 334.
    server = default_registry.server("SCRAM-SHA-256", {"u": "p"})
    client = default_registry.client("SCRAM-SHA-256", username="u", password="p")
    server_auth = SMTP.server("SCRAM-SHA-256", server)
    client_auth = SMTP.client("SCRAM-SHA-256", client)
    sent = [client_auth.start()]
    while client_auth.result is None:
        sent.append(client_auth.receive(server_auth.receive(sent[-1])))
    assert client_auth.result.ok and server_auth.result is not None and server_auth.result.ok
    assert sent[-2] == b"\r\n"
    shown = [line.redacted for line in client_auth.transcript]
    assert shown[0] == "C: AUTH SCRAM-SHA-256 <redacted>" and shown[1] == "S: 334 <redacted>"


@pytest.mark.parametrize(
    ("line", "reply", "outcome"),
    [
        (b"*\r\n", b"501 ", Outcome.CANCELLED),
        (b"not base64!\r\n", b"501 ", Outcome.FAILED),
        (b"AHRlc3QAd3Jvbmc=\r\n", b"535 5.7.8 ", Outcome.REJECTED),
        (b"x" * 13000 + b"\r\n", b"500 5.5.6 ", Outcome.FAILED),
    ],
)
def test_the_server_side_answers_each_failure_in_rfc_4954_terms(
    line: bytes, reply: bytes, outcome: Outcome
) -> None:
    auth = SMTP.server("PLAIN", default_registry.server("PLAIN", {"test": "1234"}))
    auth.receive(b"AUTH PLAIN\r\n")
    assert auth.receive(line).startswith(reply)
    assert auth.result is not None and auth.result.outcome is outcome


def test_transcript_lines_read_back_as_rfc_4954_events() -> None:
    assert SMTP.read_line("C", "AUTH plain dGVzdAB0ZXN0ADEyMzQ=") == Start(
        "PLAIN", "dGVzdAB0ZXN0ADEyMzQ="
    )
    assert SMTP.read_line("S", "334 PENCeUxFREJo") == Challenge("PENCeUxFREJo")
    assert SMTP.read_line("S", "235 2.7.0 ok") == End(Outcome.SUCCESS, "235 2.7.0 ok")
    assert SMTP.read_line("S", "+OK POP3") is None
