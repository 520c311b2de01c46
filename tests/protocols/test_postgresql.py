"""The PostgreSQL profile: framing, outcomes, the transcript notation, and garbage.

Where the bytes come from: the frontend messages are built by hand from the
formats in PostgreSQL 15's documentation (55.7 Message Formats); the backend
messages marked "captured" are byte for byte what PostgreSQL 15.18 (Debian 12)
sent to sasl-kit in the interop cluster (tests/interop/postgresql.py); the
SCRAM payloads are RFC 7677's example, read from vectors/scram.json.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import verify
from sasl_kit.drivers import DRIVERS
from sasl_kit.errors import MutualAuthenticationFailed, SASLError, UsageError
from sasl_kit.protocols import PROFILES, SCHEMES, profile
from sasl_kit.protocols.base import (
    Cancel,
    Challenge,
    Chatter,
    End,
    Outcome,
    Response,
    Start,
    lines_of,
)
from sasl_kit.protocols.errors import (
    CredentialsRejected,
    ProtocolViolation,
    ServerRefused,
    SessionRefused,
    TemporaryFailure,
)
from sasl_kit.protocols.postgresql import (
    MAX_MESSAGE,
    MAX_START_MESSAGES,
    PROFILE,
    PostgreSQLAuth,
    ServerMessage,
    SessionStart,
    Startup,
    outcome_of,
    ssl_request,
    startup_message,
    terminate,
)
from sasl_kit.vectors import iter_vectors, messages

# Captured from PostgreSQL 15.18: its answer to a StartupMessage without and with TLS.
SASL_PLAIN_TCP = b"R\x00\x00\x00\x17\x00\x00\x00\nSCRAM-SHA-256\x00\x00"
SASL_TLS = b"R\x00\x00\x00*\x00\x00\x00\nSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00"
# Captured: a wrong password, and after AuthenticationOk a database that does not exist.
WRONG_PASSWORD = (
    b"E\x00\x00\x00eSFATAL\x00VFATAL\x00C28P01\x00Mpassword authentication failed for user "
    b'"alice"\x00Fauth.c\x00L334\x00Rauth_failed\x00\x00'
)
NO_DATABASE = (
    b'E\x00\x00\x00ZSFATAL\x00VFATAL\x00C3D000\x00Mdatabase "alice" does not exist\x00'
    b"Fpostinit.c\x00L948\x00RInitPostgres\x00\x00"
)
AUTHENTICATION_OK = b"R\x00\x00\x00\x08\x00\x00\x00\x00"  # captured (and 55.7: Int32(8) Int32(0))
PARAMETER_STATUS = b"S\x00\x00\x00\x16application_name\x00\x00"  # captured, after the Ok


RFC_7677 = "rfc7677-section-3-scram-sha-256"
REFUSED = 'password authentication failed for user "alice"'


def _vector() -> Mapping[str, Any]:
    (vector,) = [v for _, v in iter_vectors("exchange") if v["id"] == RFC_7677]
    return vector


def _backend(code: int, payload: bytes = b"") -> bytes:
    """An Authentication message (55.7): R, Int32 length, Int32 request code, payload."""
    return b"R" + struct.pack("!Ii", 8 + len(payload), code) + payload


def _frontend(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", 4 + len(body)) + body


def _exchange() -> tuple[PostgreSQLAuth, list[bytes], list[bytes]]:
    """A SCRAM-SHA-256 client on RFC 7677's example: (auth, client messages, server messages)."""
    vector = _vector()
    client_first, server_first, client_final, server_final = (m.data for m in messages(vector))
    mechanism = sasl_kit.client("SCRAM-SHA-256", **vector["client"])
    auth = PostgreSQLAuth("SCRAM-SHA-256", mechanism)
    # 55.7 SASLInitialResponse: name NUL, Int32 length, bytes; SASLResponse: the bytes.
    initial = b"SCRAM-SHA-256\0" + struct.pack("!i", len(client_first)) + client_first
    sent = [_frontend(b"p", initial), _frontend(b"p", client_final)]
    received = [_backend(11, server_first), _backend(12, server_final), AUTHENTICATION_OK]
    return auth, sent, received


# --- frontend messages --------------------------------------------------------------------


def test_ssl_request_is_length_8_and_the_code_1234_5679() -> None:
    assert ssl_request() == struct.pack("!IHH", 8, 1234, 5679)


def test_startup_message_is_version_3_0_and_name_value_pairs() -> None:
    body = b"\x00\x03\x00\x00user\0alice\0database\0postgres\0\0"
    expected = struct.pack("!I", 4 + len(body)) + body
    assert startup_message({"user": "alice", "database": "postgres"}) == expected


def test_startup_refuses_a_nul_in_a_parameter() -> None:
    with pytest.raises(UsageError):
        startup_message({"user": "al\0ice"})


def test_terminate_is_x_and_length_4() -> None:
    assert terminate() == b"X\x00\x00\x00\x04"


def test_the_database_defaults_to_the_user_as_postgresql_does() -> None:
    assert Startup("alice", "").parameters == {"user": "alice", "database": "alice"}


# --- the exchange -------------------------------------------------------------------------


def test_scram_sha_256_exchange_frames_rfc_7677_as_postgresql_messages() -> None:
    auth, sent, received = _exchange()
    assert auth.start() == sent[0]
    assert auth.receive(received[0]) == sent[1]
    assert auth.receive(received[1]) == b""
    assert auth.result is None  # the outcome is AuthenticationOk, not the SASLFinal
    assert auth.receive(received[2]) == b""
    assert auth.result is not None and auth.result.ok
    assert auth.result.additional_data == messages(_vector())[3].data
    auth.result.raise_for_outcome()


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_any_split_of_the_server_bytes_gives_the_same_exchange(cuts: list[int]) -> None:
    auth, sent, received = _exchange()
    stream = b"".join(received) + PARAMETER_STATUS
    auth.start()
    out = b""
    at = 0
    for cut in [*sorted(cuts), len(stream)]:
        if auth.result is None and cut > at:
            out += auth.receive(stream[at:cut])
            at = cut
    assert out == sent[1]
    assert auth.result is not None and auth.result.ok
    # What came with the outcome, and what the driver reads after it, is the session's.
    assert auth.leftover + stream[at:] == PARAMETER_STATUS


def test_the_transcript_names_each_message_and_redacts_the_client() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(b"".join(received))
    lines = lines_of(auth.transcript, redact=False)
    assert [line.split(" ")[:2] for line in lines] == [
        ["C:", "SASLInitialResponse"],
        ["S:", "AuthenticationSASLContinue"],
        ["C:", "SASLResponse"],
        ["S:", "AuthenticationSASLFinal"],
        ["S:", "AuthenticationOk"],
    ]
    # base64 of RFC 7677's client-first message, n,,n=user,r=rOprNGfwEbeRWgbNEkqO
    first = "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8="
    assert lines[0] == f"C: SASLInitialResponse SCRAM-SHA-256 {first}"
    assert lines_of(auth.transcript)[0] == "C: SASLInitialResponse SCRAM-SHA-256 <redacted>"
    assert lines_of(auth.transcript)[2] == "C: SASLResponse <redacted>"


def test_read_line_reads_the_transcript_back() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(b"".join(received))
    events = [PROFILE.read_line(line.side, line.text) for line in auth.transcript]
    first, server_first, client_final, server_final = (
        line.text.rsplit(" ", 1)[1] for line in auth.transcript[:4]
    )
    assert events == [
        Start("SCRAM-SHA-256", first),
        Challenge(server_first),
        Response(client_final),
        End(Outcome.SUCCESS, "AuthenticationSASLFinal", server_final),
        End(Outcome.SUCCESS, "AuthenticationOk"),
    ]


@pytest.mark.parametrize(
    ("side", "text", "event"),
    [
        ("C", "SSLRequest", None),
        ("S", "SSLResponse S", Chatter()),
        ("C", "StartupMessage user=alice database=postgres", None),
        ("S", "AuthenticationSASL SCRAM-SHA-256-PLUS SCRAM-SHA-256", Chatter()),
        ("S", "AuthenticationMD5Password", Chatter()),
        ("C", "SASLInitialResponse GSSAPI", Start("GSSAPI", None)),
        ("C", "SASLInitialResponse PLAIN =", Start("PLAIN", "=")),
        ("C", "SASLResponse =", Response("=")),
        ("S", "AuthenticationSASLContinue", Challenge("")),
        ("C", "(closes the connection)", Cancel()),
        ("S", "NoticeResponse 01000 WARNING careful", Chatter()),
        ("S", "ParameterStatus", None),
        (
            "S",
            f"ErrorResponse 28P01 FATAL {REFUSED}",
            End(Outcome.REJECTED, f"28P01 FATAL {REFUSED}"),
        ),
        (
            "S",
            "ErrorResponse 53300 FATAL sorry, too many clients already",
            End(Outcome.TEMPORARY, "53300 FATAL sorry, too many clients already"),
        ),
        ("S", "", None),
    ],
)
def test_read_line_of_each_kind_of_line(side: str, text: str, event: object) -> None:
    assert PROFILE.read_line(side, text) == event


def test_a_wrong_password_is_rejected_with_the_sqlstate() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(received[0])
    auth.receive(WRONG_PASSWORD)
    assert auth.result is not None
    assert auth.result.outcome is Outcome.REJECTED
    assert (auth.result.code, auth.result.text) == ("28P01", REFUSED)
    with pytest.raises(CredentialsRejected, match="28P01"):
        auth.result.raise_for_outcome()
    assert str(auth.transcript[-1]) == f"S: ErrorResponse 28P01 FATAL {REFUSED}"


@pytest.mark.parametrize(
    ("sqlstate", "outcome"),
    [
        ("28P01", Outcome.REJECTED),  # invalid_password
        ("28000", Outcome.FAILED),  # invalid_authorization_specification: pg_hba.conf, binding
        ("53300", Outcome.TEMPORARY),  # too_many_connections
        ("53200", Outcome.TEMPORARY),  # out_of_memory
        ("57P03", Outcome.TEMPORARY),  # cannot_connect_now
        ("08P01", Outcome.FAILED),  # protocol_violation
        ("", Outcome.FAILED),
    ],
)
def test_sqlstates_name_the_guilty_side(sqlstate: str, outcome: Outcome) -> None:
    assert outcome_of(sqlstate) is outcome


def test_a_bad_server_signature_cancels_by_closing() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(received[0])
    assert auth.receive(_backend(12, b"v=" + b"A" * 44)) == b""
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, MutualAuthenticationFailed)
    assert str(auth.transcript[-1]) == "C: (closes the connection)"


def test_authentication_ok_before_the_server_proved_itself_is_refused() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(received[0] + AUTHENTICATION_OK)
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    with pytest.raises(MutualAuthenticationFailed, match="did not prove itself"):
        auth.result.raise_for_outcome()


def test_a_notice_is_recorded_and_ignored() -> None:
    auth, sent, received = _exchange()
    notice = _frontend(b"N", b"SWARNING\x00VWARNING\x00C01000\x00Mcareful\x00\x00")
    auth.start()
    assert auth.receive(notice + received[0]) == sent[1]
    assert str(auth.transcript[1]) == "S: NoticeResponse 01000 WARNING careful"


def test_an_oversized_length_is_refused_before_its_body_arrives() -> None:
    auth, _, _ = _exchange()
    auth.start()
    with pytest.raises(ProtocolViolation, match="length 65537"):
        auth.receive(b"R" + struct.pack("!I", MAX_MESSAGE + 1))


def test_a_length_below_four_is_refused() -> None:
    auth, _, _ = _exchange()
    auth.start()
    with pytest.raises(ProtocolViolation):
        auth.receive(b"R\x00\x00\x00\x03")


def test_a_second_sasl_final_is_a_protocol_violation() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(received[0] + received[1])
    with pytest.raises(ProtocolViolation, match="SASLFinal after AuthenticationSASLFinal"):
        auth.receive(received[1])


def test_a_mechanism_without_initial_response_sends_length_minus_one() -> None:
    mechanism = sasl_kit.client("CRAM-MD5", username="alice", password="x")
    auth = PROFILE.client("CRAM-MD5", mechanism)
    assert auth.start() == _frontend(b"p", b"CRAM-MD5\0\xff\xff\xff\xff")
    assert str(auth.transcript[0]) == "C: SASLInitialResponse CRAM-MD5"


# --- before the exchange ------------------------------------------------------------------


def test_startup_learns_the_captured_mechanism_lists() -> None:
    for captured, names in [
        (SASL_PLAIN_TCP, ("SCRAM-SHA-256",)),
        (SASL_TLS, ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),
    ]:
        startup = Startup("alice", "postgres")
        startup.start()
        startup.receive(captured)
        assert startup.mechanisms == names
        assert PROFILE.mechanisms(captured) == names
        assert str(startup.transcript[-1]) == "S: AuthenticationSASL " + " ".join(names)


def test_tls_answers_s_and_n_and_nothing_else() -> None:
    startup = Startup("alice", "postgres")
    assert startup.request_tls() == ssl_request()
    assert startup.tls_answer(b"S") is True
    assert startup.tls_answer(b"N") is False
    with pytest.raises(ProtocolViolation):
        startup.tls_answer(b"E")


def test_an_error_at_startup_raises_by_its_sqlstate() -> None:
    fatal = b"SFATAL\x00VFATAL\x00"
    too_many = _frontend(b"E", fatal + b"C53300\x00Msorry, too many clients already\x00\x00")
    hba = _frontend(b"E", fatal + b'C28000\x00Mno pg_hba.conf entry for host "127.0.0.1"\x00\x00')
    for message, error in [(too_many, TemporaryFailure), (hba, ServerRefused)]:
        startup = Startup("alice", "postgres")
        startup.start()
        with pytest.raises(error) as raised:
            startup.receive(message)
        assert raised.value.code in ("53300", "28000")


def test_a_password_method_offers_no_sasl_mechanism() -> None:
    startup = Startup("alice", "postgres")
    startup.receive(_backend(5, b"salt"))  # 55.7 AuthenticationMD5Password: 4 bytes of salt
    assert startup.mechanisms == ()
    assert startup.request == "AuthenticationMD5Password"


def test_trust_authentication_leaves_the_session_to_the_driver() -> None:
    startup = Startup("alice", "postgres")
    startup.receive(AUTHENTICATION_OK + PARAMETER_STATUS)
    assert startup.mechanisms == ()
    assert startup.leftover == PARAMETER_STATUS


def test_bytes_after_authentication_sasl_are_a_protocol_violation() -> None:
    startup = Startup("alice", "postgres")
    with pytest.raises(ProtocolViolation):
        startup.receive(SASL_PLAIN_TCP + AUTHENTICATION_OK)


def test_error_fields_are_read_as_documented() -> None:
    message = ServerMessage.parse(NO_DATABASE[5:])
    assert (message.code, message.severity) == ("3D000", "FATAL")
    assert message.text == 'database "alice" does not exist'
    assert message.fields["R"] == "InitPostgres"


# --- after AuthenticationOk: the session's start-up (55.2.1) -----------------------------

BACKEND_KEY = b"K" + struct.pack("!Iii", 12, 4711, 271828)  # 55.7: Int32 pid, Int32 key
READY = b"Z\x00\x00\x00\x05I"  # 55.7 ReadyForQuery, idle


def test_the_session_is_ready_at_ready_for_query_with_the_parameters() -> None:
    start = SessionStart()
    start.receive(PARAMETER_STATUS + BACKEND_KEY)
    assert not start.ready
    start.receive(READY)
    assert start.ready and start.parameters == {"application_name": ""}


def test_an_error_after_authentication_ok_is_session_refused_with_its_sqlstate() -> None:
    start = SessionStart()
    with pytest.raises(SessionRefused, match='3D000 database "alice" does not exist') as caught:
        start.receive(PARAMETER_STATUS + NO_DATABASE)  # captured: what PostgreSQL 15 sends
    assert (caught.value.code, caught.value.text) == ("3D000", 'database "alice" does not exist')
    assert isinstance(caught.value, ServerRefused) and not start.ready


def test_the_exchange_succeeds_and_what_follows_stays_for_the_session() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(b"".join(received) + NO_DATABASE)
    assert auth.result is not None and auth.result.ok
    assert auth.leftover == NO_DATABASE


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"S\x00\x00\x00\x0aa\x00b\x00c\x00", id="parameter-status-3-strings"),
        pytest.param(b"S\x00\x00\x00\x07ab\x00c", id="parameter-status-unterminated"),
        pytest.param(b"K\x00\x00\x00\x08" + b"\x00" * 4, id="backend-key-short"),
        pytest.param(b"Z\x00\x00\x00\x05X", id="ready-bad-status"),
        pytest.param(b"Z\x00\x00\x00\x04", id="ready-no-status"),
        pytest.param(AUTHENTICATION_OK, id="a-second-authentication-ok"),
        pytest.param(READY + PARAMETER_STATUS, id="bytes-after-ready"),
        pytest.param(PARAMETER_STATUS * (MAX_START_MESSAGES + 1), id="endless-parameters"),
    ],
)
def test_a_broken_session_start_is_a_protocol_violation(data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        SessionStart().receive(data)


def test_the_tables_name_the_profile_the_schemes_and_the_driver() -> None:
    assert PROFILES["postgresql"] == "sasl_kit.protocols.postgresql"
    assert SCHEMES["postgresql"] == SCHEMES["postgres"] == ("postgresql", "none", 5432)
    assert DRIVERS["postgresql"] == "sasl_kit.drivers.postgresql"
    assert profile("postgresql") is PROFILE
    assert (PROFILE.name, PROFILE.service) == ("postgresql", "postgres")


# --- garbage ------------------------------------------------------------------------------


def _server_messages() -> st.SearchStrategy[bytes]:
    """Well-framed backend messages of any type and body, and raw garbage."""
    framed = st.builds(
        lambda kind, body: kind + struct.pack("!I", 4 + len(body)) + body,
        st.sampled_from([b"R", b"E", b"N", b"S", b"K", b"Z", b"v"]),
        st.one_of(
            st.binary(max_size=80),
            st.builds(
                lambda code, rest: struct.pack("!i", code) + rest,
                st.integers(min_value=-2, max_value=13),
                st.binary(max_size=60),
            ),
        ),
    )
    return st.one_of(framed, st.binary(max_size=80))


@given(st.lists(_server_messages(), max_size=6))
@example([SASL_TLS[:10]])
@example([_backend(11, b"r=x,s=,i=1")])
def test_garbage_into_the_exchange_gives_only_project_errors(chunks: list[bytes]) -> None:
    auth, _, _ = _exchange()
    auth.start()
    try:
        for chunk in chunks:
            auth.receive(chunk)
    except SASLError:
        pass


@given(st.lists(_server_messages(), max_size=6))
def test_garbage_into_startup_gives_only_project_errors(chunks: list[bytes]) -> None:
    startup = Startup("alice", "postgres")
    try:
        for chunk in chunks:
            startup.receive(chunk)
    except SASLError:
        pass


@given(st.lists(_server_messages(), max_size=6))
@example([PARAMETER_STATUS, NO_DATABASE[:9], NO_DATABASE[9:]])
@example([b"S\x00\x00\x00\x05\xff", READY])
def test_garbage_after_authentication_ok_gives_only_project_errors(chunks: list[bytes]) -> None:
    start = SessionStart()
    try:
        for chunk in chunks:
            start.receive(chunk)
    except SASLError:
        pass


@given(st.binary(max_size=200))
@example(SASL_TLS[:-1])
def test_garbage_as_a_mechanism_list_or_error_gives_only_project_errors(data: bytes) -> None:
    for parse in (PROFILE.mechanisms, ServerMessage.parse):
        with contextlib.suppress(SASLError):
            parse(data)


@given(st.integers(min_value=0, max_value=len(b"".join(_exchange()[2])) - 1))
def test_a_truncated_exchange_waits_for_more(length: int) -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(b"".join(received)[:length])
    assert auth.result is None


@given(st.sampled_from(["C", "S"]), st.text(max_size=120))
def test_read_line_never_raises(side: str, text: str) -> None:
    PROFILE.read_line(side, text)


def test_verify_reads_the_transcript_as_postgresql_with_the_payloads() -> None:
    auth, _, received = _exchange()
    auth.start()
    auth.receive(b"".join(received))
    startup = ["C: StartupMessage user=user", "S: AuthenticationSASL SCRAM-SHA-256"]
    (exchange,) = verify.read("\n".join([*startup, *lines_of(auth.transcript, redact=False)]))
    assert (exchange.protocol, exchange.mechanism, exchange.outcome.success) == (
        "postgresql",
        "SCRAM-SHA-256",
        True,
    )
    assert [m.data() for m in exchange.steps] == [m.data for m in messages(_vector())[:3]]
