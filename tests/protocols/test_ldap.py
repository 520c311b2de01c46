"""The LDAP profile against literal BER captured from slapd (tests/protocols/slapd_captures.json).

Each capture is replayed: the client must write the captured bytes exactly
(its nonces are fixed to the captured ones) and reach the captured outcome,
whatever the split of the server's bytes. Variations of a captured message
change one byte of it (the resultCode, the messageID) and say so; the few
messages slapd would not send (an unsolicited notice, an oversized frame) are
built with pyasn1's encoder from RFC 4511's definitions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyasn1.codec.ber import encoder  # type: ignore[import-untyped]
from pyasn1_modules import rfc2251  # type: ignore[import-untyped]

import sasl_kit
from sasl_kit import verify
from sasl_kit.errors import MutualAuthenticationFailed, PolicyRefused, SASLError, UsageError
from sasl_kit.protocols import profile
from sasl_kit.protocols.base import (
    Cancel,
    Challenge,
    End,
    Outcome,
    Response,
    Start,
    b64decode,
    lines_of,
)
from sasl_kit.protocols.errors import (
    CredentialsRejected,
    MechanismRefused,
    ProtocolViolation,
    TemporaryFailure,
    TLSRequired,
)
from sasl_kit.protocols.ldap import PROFILE, LDAPClientAuth, RootDSE, StartTLS, unbind
from sasl_kit.protocols.ldap_messages import MAX_MESSAGE, MessageReader

CAPTURES = json.loads((Path(__file__).parent / "slapd_captures.json").read_text())
EXCHANGES: dict[str, Any] = CAPTURES["exchanges"]
SLAPD_MECHANISMS = (
    "SCRAM-SHA-512", "SCRAM-SHA-384", "SCRAM-SHA-256", "SCRAM-SHA-224", "SCRAM-SHA-1",
    "DIGEST-MD5", "CRAM-MD5", "NTLM", "PLAIN", "LOGIN", "ANONYMOUS",
)  # fmt: skip
# The captured CRAM-MD5 rejection: BindResponse(6) invalidCredentials; byte 9 is the resultCode.
REJECTION = bytes.fromhex(EXCHANGES["CRAM-MD5"]["messages"][3][1])
RESULT_CODE_AT = 9


def messages(capture: dict[str, Any], side: str) -> list[bytes]:
    return [bytes.fromhex(data) for who, data in capture["messages"] if who == side]


def auth_for(name: str) -> LDAPClientAuth:
    capture = EXCHANGES[name]
    mechanism = sasl_kit.client(
        name, username="alice", password=capture["password"], service="ldap", **capture["options"]
    )
    return PROFILE.client(name, mechanism, message_id=capture["message_id"])


def replay(name: str, chunk: int = 0) -> tuple[LDAPClientAuth, list[bytes]]:
    """Run a captured exchange; the server's messages are fed ``chunk`` bytes at a time
    (0: whole). Returns the auth and what the client wrote."""
    auth = auth_for(name)
    written = [auth.start()]
    for data in messages(EXCHANGES[name], "S"):
        pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
        out = b"".join(auth.receive(piece) for piece in pieces)
        if out:
            written.append(out)
    return auth, written


def with_byte(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1 :]


def bind_response(message_id: int, code: int, creds: bytes | None = None) -> bytes:
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    response = message["protocolOp"]["bindResponse"]
    response["resultCode"] = code
    response["matchedDN"] = ""
    response["errorMessage"] = ""
    if creds is not None:
        response["serverSaslCreds"] = creds
    encoded: bytes = encoder.encode(message)
    return encoded


def started(name: str = "CRAM-MD5", message_id: int = 5) -> LDAPClientAuth:
    auth = PROFILE.client(
        name, sasl_kit.client(name, username="alice", password="x"), message_id=message_id
    )
    auth.start()
    return auth


# --- replays of slapd's bytes --------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXCHANGES))
@pytest.mark.parametrize("chunk", [0, 1, 7])
def test_a_captured_exchange_replays_byte_for_byte(name: str, chunk: int) -> None:
    auth, written = replay(name, chunk)
    assert written == messages(EXCHANGES[name], "C")
    assert auth.result is not None
    assert auth.result.outcome.value == EXCHANGES[name]["outcome"]
    assert auth.leftover == b""


def test_scram_success_data_comes_with_result_code_0_and_nothing_follows() -> None:
    auth, written = replay("SCRAM-SHA-1")
    assert auth.result is not None and auth.result.ok
    assert auth.result.code == "success (0)"
    assert auth.result.additional_data == b"v=gtuEPs2kR1byE4c3zQ3fOgWe2z0="
    assert auth.mechanism.complete
    assert len(written) == 2  # the initial bind and the client-final bind, nothing after v=


def test_a_wrong_password_is_invalid_credentials_with_cyrus_words() -> None:
    auth, _ = replay("CRAM-MD5")
    assert auth.result is not None
    assert auth.result.code == "invalidCredentials (49)"
    assert auth.result.text == "SASL(-13): authentication failure: incorrect digest response"
    with pytest.raises(CredentialsRejected):
        auth.result.raise_for_outcome()


def test_a_mechanism_that_fails_aborts_with_an_empty_mechanism() -> None:
    auth, written = replay("SCRAM-SHA-256")
    assert written[-1] == bytes.fromhex("300e02010860090201030400a3020400")  # mechanism ""
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, PolicyRefused)  # the iteration count, not the server
    assert auth.result.code == "authMethodNotSupported (7)"
    with pytest.raises(PolicyRefused):
        auth.result.raise_for_outcome()


def test_the_root_dse_search_and_its_mechanisms() -> None:
    (request,), (reply,) = messages(CAPTURES["root_dse"], "C"), messages(CAPTURES["root_dse"], "S")
    search = RootDSE(1)
    assert search.start() == request
    search.receive(reply)
    assert search.done and search.mechanisms == SLAPD_MECHANISMS
    assert PROFILE.mechanisms(reply) == SLAPD_MECHANISMS


def test_start_tls_request_and_its_success() -> None:
    (request,), (reply,) = (
        messages(CAPTURES["start_tls"], "C"),
        messages(CAPTURES["start_tls"], "S"),
    )
    operation = StartTLS(1)
    assert operation.start() == request
    operation.receive(reply)
    assert operation.done
    assert [str(line) for line in operation.transcript] == [
        "C: extendedReq(1) 1.3.6.1.4.1.1466.20037",
        "S: extendedResp(1) success (0)",
    ]


def test_a_refused_start_tls_is_the_servers_error() -> None:
    (reply,) = messages(CAPTURES["start_tls"], "S")
    operation = StartTLS(1)
    operation.start()
    with pytest.raises(SASLError, match=r"StartTLS \(unavailable \(52\)\)"):
        operation.receive(with_byte(reply, RESULT_CODE_AT, 52))  # resultCode 0 -> 52


def test_unbind_is_rfc_4511_unbind_request() -> None:
    assert unbind(9) == bytes.fromhex("30050201094200")  # [APPLICATION 2] NULL


# --- outcomes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome", "error"),
    [
        (49, Outcome.REJECTED, CredentialsRejected),
        (7, Outcome.REFUSED, MechanismRefused),
        (13, Outcome.TLS_REQUIRED, TLSRequired),
        (51, Outcome.TEMPORARY, TemporaryFailure),
        (52, Outcome.TEMPORARY, TemporaryFailure),
        (80, Outcome.FAILED, SASLError),
        (53, Outcome.FAILED, SASLError),
    ],
)
def test_result_codes_map_to_the_guilty_side(code: int, outcome: Outcome, error: type) -> None:
    auth = started(message_id=6)
    auth.receive(with_byte(REJECTION, RESULT_CODE_AT, code))
    assert auth.result is not None and auth.result.outcome is outcome
    with pytest.raises(error):
        auth.result.raise_for_outcome()


def test_success_without_the_server_proof_is_mutual_authentication_failure() -> None:
    name = "SCRAM-SHA-1"
    auth, server = auth_for(name), messages(EXCHANGES[name], "S")
    auth.start()
    auth.receive(server[0])
    assert auth.receive(bind_response(3, 0)) == b""  # success (0) with no serverSaslCreds
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, MutualAuthenticationFailed)


def test_a_bad_server_proof_with_success_is_the_mechanisms_error() -> None:
    name = "SCRAM-SHA-1"
    auth, server = auth_for(name), messages(EXCHANGES[name], "S")
    auth.start()
    auth.receive(server[0])
    auth.receive(bind_response(3, 0, b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, MutualAuthenticationFailed)


def test_a_challenge_after_the_mechanism_is_done_aborts() -> None:
    auth = PROFILE.client("PLAIN", sasl_kit.client("PLAIN", username="a", password="b"))
    auth.start()
    out = auth.receive(bind_response(1, 14, b"more?"))
    assert out == bytes.fromhex("300e02010260090201030400a3020400")
    auth.receive(bind_response(2, 7))
    assert auth.result is not None and isinstance(auth.result.error, ProtocolViolation)


def test_an_unsolicited_notice_of_disconnection_ends_the_bind() -> None:
    message = rfc2251.LDAPMessage()
    message["messageID"] = 0  # RFC 4511 4.4.1
    notice = message["protocolOp"]["extendedResp"]
    notice["resultCode"] = 52
    notice["matchedDN"] = ""
    notice["errorMessage"] = "shutting down"
    notice["responseName"] = b"1.3.6.1.4.1.1466.20036"
    auth = started()
    auth.receive(encoder.encode(message))
    assert auth.result is not None and auth.result.outcome is Outcome.TEMPORARY
    assert auth.result.text == "shutting down"


def test_a_response_to_another_message_id_is_a_protocol_violation() -> None:
    auth = started(message_id=6)
    with pytest.raises(ProtocolViolation, match=r"bindRequest\(6\).*bindResponse\(7\)"):
        auth.receive(with_byte(REJECTION, 4, 7))  # messageID 6 -> 7


def test_bytes_after_the_outcome_are_leftover() -> None:
    auth = started(message_id=6)
    auth.receive(REJECTION + b"\x30\x05")
    assert auth.result is not None and auth.leftover == b"\x30\x05"


def test_a_mechanism_that_cannot_start_sends_nothing() -> None:
    mechanism = sasl_kit.client("SCRAM-SHA-1-PLUS", username="a", password="b")
    auth = PROFILE.client("SCRAM-SHA-1-PLUS", mechanism)
    assert auth.start() == b""
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED


def test_unknown_client_options_are_refused() -> None:
    mechanism = sasl_kit.client("PLAIN", username="a", password="b")
    with pytest.raises(UsageError):
        PROFILE.client("PLAIN", mechanism, tag="A1")
    with pytest.raises(UsageError):
        PROFILE.client("PLAIN", mechanism, message_id=0)


# --- limits ---------------------------------------------------------------------


def test_a_message_declaring_more_than_the_limit_is_cut_off_at_its_header() -> None:
    auth = started()
    with pytest.raises(ProtocolViolation, match="more than the limit"):
        auth.receive(b"\x30\x84\x7f\xff\xff\xff")  # SEQUENCE of 2**31 - 1 bytes


def test_an_endless_message_is_cut_off_at_the_limit() -> None:
    reader = MessageReader(limit=1024)
    reader.feed(b"\x30\x82\x04\x01")  # 1025 bytes declared: over at once
    with pytest.raises(ProtocolViolation):
        list(reader.messages())
    assert MAX_MESSAGE == 256 * 1024


def test_an_endless_stream_of_search_entries_is_cut_off() -> None:
    (reply,) = messages(CAPTURES["root_dse"], "S")
    entry = reply.removesuffix(bytes.fromhex("300c02010165070a010004000400"))  # less its done
    search = RootDSE(1)
    search.start()
    with pytest.raises(ProtocolViolation, match="longer than"):
        for _ in range(MAX_MESSAGE // len(entry) + 1):
            search.receive(entry)
    assert not search.done


def test_indefinite_length_is_refused() -> None:
    with pytest.raises(ProtocolViolation, match="indefinite"):
        started().receive(b"\x30\x80\x02\x01\x05")


def test_a_request_from_the_server_is_not_a_response() -> None:
    auth = started()
    with pytest.raises(ProtocolViolation):
        auth.receive(unbind(5))


# --- the transcript notation -----------------------------------------------------


def test_the_transcript_reads_back_as_the_exchange() -> None:
    auth, _ = replay("SCRAM-SHA-1")
    events = [PROFILE.read_line(line.side, line.text) for line in auth.transcript]
    assert [type(e) for e in events] == [Start, Challenge, Response, End]
    start, end = events[0], events[-1]
    assert isinstance(start, Start) and start.mechanism == "SCRAM-SHA-1"
    assert start.initial is not None
    assert b64decode(start.initial, "initial") == b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL"
    assert isinstance(end, End) and end.outcome is Outcome.SUCCESS
    assert end.additional is not None
    assert b64decode(end.additional, "additional") == b"v=gtuEPs2kR1byE4c3zQ3fOgWe2z0="
    assert [str(line).split(" ")[1] for line in auth.transcript] == [
        "bindRequest(2)", "bindResponse(2)", "bindRequest(3)", "bindResponse(3)",
    ]  # fmt: skip


def test_the_shown_transcript_hides_every_payload() -> None:
    auth, _ = replay("SCRAM-SHA-1")
    assert lines_of(auth.transcript) == [
        "C: bindRequest(2) SASL SCRAM-SHA-1 <redacted>",
        'S: bindResponse(2) saslBindInProgress (14) <redacted> "SASL(0): successful result: '
        'user: alice@example.test property: slapAuthzDN not found in sasldb"',
        "C: bindRequest(3) SASL SCRAM-SHA-1 (continued) <redacted>",
        "S: bindResponse(3) success (0) <redacted>",
    ]


def test_an_abort_and_its_answer_read_back() -> None:
    auth, _ = replay("SCRAM-SHA-256")
    events = [PROFILE.read_line(line.side, line.text) for line in auth.transcript]
    assert [type(e) for e in events] == [Start, Challenge, Cancel, End]
    assert isinstance(events[-1], End) and events[-1].outcome is Outcome.REFUSED
    assert events[-1].reply == "authMethodNotSupported (7) no SASL mechanism provided"


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ("bindRequest(1) SASL DIGEST-MD5", Start("DIGEST-MD5")),
        ("bindRequest(1) SASL ANONYMOUS =", Start("ANONYMOUS", "=")),
        ("bindRequest(4) SASL CRAM-MD5 (continued) YWxpY2U=", Response("YWxpY2U=")),
        ('bindRequest(9) SASL "" (abort)', Cancel()),
    ],
)
def test_client_lines(line: str, event: object) -> None:
    assert PROFILE.read_line("C", line) == event


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ("bindResponse(1) saslBindInProgress (14) PDE+", Challenge("PDE+")),
        ("bindResponse(1) saslBindInProgress (14) =", Challenge("=")),
        ("bindResponse(1) success (0)", End(Outcome.SUCCESS, "success (0)")),
        (
            'bindResponse(2) confidentialityRequired (13) "TLS first"',
            End(Outcome.TLS_REQUIRED, "confidentialityRequired (13) TLS first"),
        ),
        ("extendedResp(0) unavailable (52)", End(Outcome.TEMPORARY, "unavailable (52)")),
    ],
)
def test_server_lines(line: str, event: object) -> None:
    assert PROFILE.read_line("S", line) == event


@pytest.mark.parametrize(
    ("side", "line"),
    [
        ("C", 'searchRequest(1) "" baseObject (objectClass=*) supportedSASLMechanisms'),
        ("S", "searchResDone(1) success (0)"),
        ("C", "extendedReq(2) 1.3.6.1.4.1.1466.20037"),
        ("S", "extendedResp(2) success (0)"),
        ("C", "AUTH PLAIN"),
        ("S", "+ "),
    ],
)
def test_session_and_foreign_lines_are_not_part_of_an_exchange(side: str, line: str) -> None:
    assert PROFILE.read_line(side, line) is None


@pytest.mark.parametrize(
    ("side", "line"),
    [
        ("C", "bindRequest(x) SASL PLAIN"),
        ("C", "bindRequest(1) SASL PLAIN dGlt extra"),
        ("S", "bindResponse(1) success"),
        ("S", 'bindResponse(1) success (0) "unterminated'),
    ],
)
def test_lines_not_of_the_notation_are_not_read(side: str, line: str) -> None:
    assert PROFILE.read_line(side, line) is None


def test_a_payload_comes_back_as_written_for_verify_to_judge() -> None:
    transcript = "C: bindRequest(1) SASL PLAIN not*base64\nS: bindResponse(1) success (0)\n"
    (exchange,) = verify.read(transcript)
    assert (exchange.protocol, exchange.mechanism) == ("ldap", "PLAIN")
    diagnosis = verify.diagnose(exchange, password="x")
    assert (diagnosis.verdict, diagnosis.side) == ("malformed", "client")


def test_the_profile_is_in_the_table_with_its_service_name() -> None:
    assert profile("ldap") is PROFILE
    assert (PROFILE.name, PROFILE.service) == ("ldap", "ldap")
