"""The ManageSieve profile (sasl_kit.protocols.sieve) on literal exchanges.

The wire examples are RFC 5804 section 2.1's, read from ``rfc5804/*.txt`` as
the RFC prints them. Their SASL payloads (DIGEST-MD5 for ``chris``, whose
digest-uri the RFC changed without changing the response) are replayed by a
scripted mechanism: what is proved is the framing, not DIGEST-MD5.
"""

from __future__ import annotations

import base64

import pytest

from sasl_kit.errors import MalformedMessage, MutualAuthenticationFailed, UsageError
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.protocols import SCHEMES, profile
from sasl_kit.protocols.base import (
    Cancel,
    Challenge,
    End,
    Outcome,
    Response,
    Start,
    lines_of,
)
from sasl_kit.protocols.errors import (
    CredentialsRejected,
    MechanismRefused,
    ProtocolViolation,
    TemporaryFailure,
    TLSRequired,
)
from sasl_kit.protocols.sieve import (
    MAX_LINE,
    MAX_LITERAL,
    MAX_QUOTED,
    PROFILE,
    ResponseReader,
    capabilities,
)
from sasl_kit.registry import default_registry
from sasl_kit.verify import read
from tests.protocols.sieve_examples import (
    client_words,
    example,
    rfc_digest_script,
    run_exchange,
    scripted,
    server_bytes,
)

# --- the RFC's examples -----------------------------------------------------------------


def test_rfc_capability_list_gives_its_mechanisms_in_any_case() -> None:
    """RFC 5804 1.7's example writes names in mixed case ("SASl", "StaRTTLS")."""
    listed = (
        b'"IMPlemENTATION" "Example1 ManageSieved v001"\r\n"SASl" "DIGEST-MD5 GSSAPI"\r\n'
        b'"SIeVE" "fileinto vacation"\r\n"StaRTTLS"\r\n"NOTIFY" "xmpp mailto"\r\n'
        b'"MAXREdIRECTS" "5"\r\n"VERSION" "1.0"\r\nOK\r\n'
    )
    response = ResponseReader().receive(listed)
    assert response is not None
    found = capabilities(response)
    assert found.mechanisms == PROFILE.mechanisms(listed) == ("DIGEST-MD5", "GSSAPI")
    assert found.starttls
    assert found.value("IMPLEMENTATION") == "Example1 ManageSieved v001"


def test_rfc_plain_example_lists_nothing_before_starttls_and_plain_after() -> None:
    lines = example("plain-after-starttls.txt")
    tls = next(i for i, (side, _) in enumerate(lines) if not side)
    before = server_bytes(lines[:6])
    after = server_bytes(lines[tls + 1 : tls + 6])
    assert PROFILE.mechanisms(before) == ()
    assert PROFILE.mechanisms(after) == ("PLAIN",)
    response = ResponseReader().receive(server_bytes(lines[6:tls]))
    assert response is not None and response.reply.status == "OK" and not response.lines


@pytest.mark.parametrize("split", [0, 1, 7])
def test_rfc_digest_example_with_quoted_strings_and_sasl_success_data(split: int) -> None:
    lines = example("digest-md5-quoted.txt")
    auth = PROFILE.client("DIGEST-MD5", scripted(rfc_digest_script()))
    sent = run_exchange(auth, server_bytes(lines[7:]), split=split)
    assert client_words(sent) == client_words(b"".join(d for s, d in lines[6:] if s == "C"))
    assert auth.result is not None and auth.result.ok
    assert auth.result.additional_data == rfc_digest_script()[1][0]
    assert auth.result.code == "OK (SASL)"


@pytest.mark.parametrize("split", [0, 1, 5])
def test_rfc_digest_example_with_literals_and_a_last_challenge(split: int) -> None:
    lines = example("digest-md5-literal.txt")
    auth = PROFILE.client("DIGEST-MD5", scripted(rfc_digest_script()))
    sent = run_exchange(auth, server_bytes(lines[6:]), split=split)
    # The RFC's client sends {300+}; ours quotes up to 1024 octets: the same words.
    assert client_words(sent) == client_words(b"".join(d for s, d in lines[6:] if s == "C"))
    assert auth.result is not None and auth.result.ok
    assert auth.result.additional_data is None


def test_rfc_plain_example_no_is_rejected_and_bye_is_the_servers_failure() -> None:
    lines = example("plain-after-starttls.txt")
    replies = [data for side, data in lines if side == "S"][-3:]
    outcomes = []
    for reply in replies:
        auth = PROFILE.client("PLAIN", scripted([(b"", b"x")], first=True))
        auth.start()
        auth.receive(reply)
        assert auth.result is not None
        outcomes.append((auth.result.outcome, auth.result.code, auth.result.text))
    assert outcomes == [
        (Outcome.REJECTED, "NO", ""),
        (Outcome.REJECTED, "NO", ""),
        (Outcome.FAILED, "BYE", "Too many failed authentication attempts"),
    ]


def test_rfc_transcripts_read_back_as_events() -> None:
    lines = example("plain-after-starttls.txt")
    first = next(i for i, (_, data) in enumerate(lines) if data.startswith(b"Authenticate"))
    events = [
        PROFILE.read_line(side, data.decode().rstrip("\r\n")) for side, data in lines[first:-1]
    ]
    assert events[0] == Start("PLAIN", "QJIrweAPyo6Q1T9xu")
    assert events[1] == End(Outcome.REJECTED, "NO", None)
    assert events[-1] == End(Outcome.FAILED, 'BYE "Too many failed authentication attempts"')
    quoted = example("digest-md5-quoted.txt")
    read = [PROFILE.read_line(side, data.decode().rstrip("\r\n")) for side, data in quoted[6:]]
    assert [type(e) for e in read] == [Start, Challenge, Response, End]
    end = read[-1]
    assert isinstance(end, End) and end.outcome is Outcome.SUCCESS
    assert end.additional == "cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZA=="


def test_rfc_two_line_literal_form_is_refused_by_the_transcript_reader() -> None:
    with pytest.raises(ProtocolViolation, match="literals are written as quoted strings"):
        PROFILE.read_line("C", 'AUTHENTICATE "GSSAPI" {1488+}')


# --- real mechanisms --------------------------------------------------------------------


def plain(password: str = "wonderland") -> ClientMechanism:  # noqa: S107 (a test password)
    return default_registry.client("PLAIN", username="alice", password=password, service="sieve")


def test_plain_goes_as_initial_response_and_the_transcript_hides_it() -> None:
    auth = PROFILE.client("PLAIN", plain())
    # RFC 4616 2: [authzid] NUL authcid NUL passwd.
    message = base64.b64encode(b"\0alice\0wonderland").decode()
    assert auth.start() == f'AUTHENTICATE "PLAIN" "{message}"\r\n'.encode()
    assert auth.receive(b'OK "Logged in."\r\n') == b""
    assert auth.result is not None and auth.result.ok and auth.result.text == "Logged in."
    assert lines_of(auth.transcript) == ['C: AUTHENTICATE "PLAIN" <redacted>', 'S: OK "Logged in."']
    assert lines_of(auth.transcript, redact=False)[0] == f'C: AUTHENTICATE "PLAIN" "{message}"'
    assert "wonderland" not in repr(auth.transcript)


def test_transcript_reads_back_to_the_events_of_the_exchange() -> None:
    auth = PROFILE.client("DIGEST-MD5", scripted(rfc_digest_script()))
    run_exchange(auth, server_bytes(example("digest-md5-literal.txt")[6:]))
    events = [PROFILE.read_line(line.side, line.text) for line in auth.transcript]
    assert [type(e) for e in events] == [Start, Challenge, Response, Challenge, Response, End]
    assert events[-2] == Response("")


@pytest.mark.parametrize(
    ("reply", "outcome", "error"),
    [
        (b'NO "Authentication failed."', Outcome.REJECTED, CredentialsRejected),
        (b'NO (AUTH-TOO-WEAK) "no"', Outcome.REFUSED, MechanismRefused),
        (b'NO (TRANSITION-NEEDED) "log in with PLAIN once"', Outcome.REFUSED, MechanismRefused),
        (b"NO (ENCRYPT-NEEDED)", Outcome.TLS_REQUIRED, TLSRequired),
        (b'NO (TRYLATER) "later"', Outcome.TEMPORARY, TemporaryFailure),
        (b'BYE (TRYLATER) "later"', Outcome.TEMPORARY, TemporaryFailure),
        (b'NO (TRYLATER/DATABASE) "later"', Outcome.TEMPORARY, TemporaryFailure),
        (b'NO (X-UNKNOWN 1 (2 "3")) "odd"', Outcome.REJECTED, CredentialsRejected),
    ],
)
def test_failures_map_to_the_guilty_side(
    reply: bytes, outcome: Outcome, error: type[Exception]
) -> None:
    auth = PROFILE.client("PLAIN", plain("wrong"))
    auth.start()
    auth.receive(reply + b"\r\n")
    assert auth.result is not None and auth.result.outcome is outcome
    with pytest.raises(error):
        auth.result.raise_for_outcome()
    event = PROFILE.read_line("S", reply.decode())
    assert isinstance(event, End) and event.outcome is outcome


def test_a_mechanism_error_cancels_with_a_star_and_waits_for_the_no() -> None:
    auth = PROFILE.client("DIGEST-MD5", scripted([(b"expected", b"never")]))
    auth.start()
    challenge = base64.b64encode(b"something else")
    assert auth.receive(b'"' + challenge + b'"\r\n') == b'"*"\r\n'
    assert auth.result is None
    auth.receive(b'NO "Authentication aborted by client."\r\n')
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    with pytest.raises(MalformedMessage, match="scripted"):
        auth.result.raise_for_outcome()
    assert PROFILE.read_line("C", '"*"') == Cancel()


def test_ok_before_the_mechanism_finished_is_a_failed_mutual_authentication() -> None:
    auth = PROFILE.client("DIGEST-MD5", scripted([(b"a", b"b"), (b"c", None)]))
    auth.start()
    auth.receive(b'"' + base64.b64encode(b"a") + b'"\r\nOK\r\n')
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, MutualAuthenticationFailed)


def test_success_data_the_mechanism_refuses_fails_the_exchange() -> None:
    auth = PROFILE.client("DIGEST-MD5", scripted([(b"a", b"b"), (b"c", None)]))
    auth.start()
    wrong = base64.b64encode(b"not c")
    auth.receive(b'"' + base64.b64encode(b"a") + b'"\r\nOK (SASL "' + wrong + b'")\r\n')
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert lines_of(auth.transcript)[-1] == "S: OK (SASL <redacted>)"


def test_a_challenge_after_the_last_step_is_cancelled() -> None:
    auth = PROFILE.client("PLAIN", plain())
    auth.start()
    assert auth.receive(b'""\r\n') == b'"*"\r\n'
    auth.receive(b"NO\r\n")
    assert auth.result is not None and isinstance(auth.result.error, MalformedMessage)


def test_bytes_after_the_outcome_are_left_over() -> None:
    auth = PROFILE.client("PLAIN", plain())
    auth.start()
    auth.receive(b'OK "Logged in."\r\n"IMPLEMENTATION" "x"\r\n')
    assert auth.leftover == b'"IMPLEMENTATION" "x"\r\n'
    with pytest.raises(UsageError, match="ended"):
        auth.receive(b"more")


def test_a_long_response_goes_as_a_client_literal() -> None:
    long = b"x" * (MAX_QUOTED)  # base64 of it is longer than a quoted string may be
    auth = PROFILE.client("DIGEST-MD5", scripted([(b"a", long)]))
    auth.start()
    sent = auth.receive(b'"' + base64.b64encode(b"a") + b'"\r\n')
    encoded = base64.b64encode(long)
    assert sent == b"{%d+}\r\n" % len(encoded) + encoded + b"\r\n"
    assert client_words(sent) == [(("string", encoded),)]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"x" * (MAX_LINE + 2), "longer than"),
        (b"{%d}\r\n" % (MAX_LITERAL + 1), "literal over"),
        (b"{4+}\r\nabcd\r\n", "client literal"),
        (b'"' + b"a" * (MAX_QUOTED + 1) + b'"\r\n', "quoted string longer"),
        (b'"a\\b"\r\n', "escaping"),
        (b'"a\nb"\r\n', "NUL, CR or LF"),
        (b'"not base64!"\r\n', "not base64"),
        (b'"a" "b"\r\n', "neither a challenge"),
        (b"MAYBE\r\n", "not OK, NO or BYE"),
        (b"OK (SASL)\r\n", "exactly one string"),
        (b'OK (SASL ""\r\n', "closing parenthesis"),
        (b'NO "a" "b"\r\n', "more than a code"),
        (b"\x01\r\n", "octet 0x01"),
        (b"OK\rX", "CR not followed by LF"),
        (b"{12x}\r\n", "literal marker"),
    ],
)
def test_broken_server_lines_are_protocol_violations(data: bytes, match: str) -> None:
    auth = PROFILE.client("CRAM-MD5", default_registry.client("CRAM-MD5", password="p"))
    auth.start()
    with pytest.raises(ProtocolViolation, match=match):
        auth.receive(data)


def test_an_endless_capability_list_is_cut_off() -> None:
    reader = ResponseReader()
    with pytest.raises(ProtocolViolation, match="more than 256 lines"):
        reader.receive(b'"X-FILLER" "y"\r\n' * 300)


def test_the_tables_name_the_profile_and_the_url_scheme() -> None:
    assert profile("sieve") is PROFILE
    assert PROFILE.service == "sieve"
    assert SCHEMES["sieve"] == ("sieve", "starttls", 4190)


def test_the_profile_refuses_options_and_bad_names() -> None:
    with pytest.raises(UsageError, match="no options"):
        PROFILE.client("PLAIN", plain(), tag="x")
    with pytest.raises(UsageError, match="not a SASL mechanism name"):
        PROFILE.client('PLAIN" "x', plain())


def test_verify_reads_the_rfc_example_as_a_sieve_exchange() -> None:
    """sasl-kit verify's reader, through this profile: the quoted response decodes."""
    text = "\n".join(f"{s}: {d.decode().rstrip()}" for s, d in example("digest-md5-quoted.txt"))
    (found,) = read(text)
    assert (found.protocol, found.mechanism, found.outcome.success) == ("sieve", "DIGEST-MD5", True)
    script = rfc_digest_script()
    assert [m.data() for m in found.messages] == [script[0][0], script[0][1]]


def test_payloads_are_strict_base64_without_imaps_equals_sign() -> None:
    assert PROFILE.payload("", "the response") == b""
    assert PROFILE.payload(PROFILE.written(b"\0alice"), "the response") == b"\0alice"
    with pytest.raises(ProtocolViolation, match="the response is not base64"):
        PROFILE.payload("=", "the response")
