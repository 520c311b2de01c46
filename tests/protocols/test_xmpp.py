"""The XMPP profile (RFC 6120 section 6) against the RFC's own examples and literal stanzas.

Expected values: the elements and payloads of RFC 6120 sections 6.4, 6.5 and 9
(``rfc6120/*.txt``), the failure conditions' meaning from 6.5, and Prosody 0.12's
habit of writing ``=`` for an empty challenge (its mod_saslauth ``build_reply``).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest

from sasl_kit import verify
from sasl_kit.errors import MutualAuthenticationFailed, UsageError
from sasl_kit.protocols import PROFILES, SCHEMES, profile, xmpp
from sasl_kit.protocols.base import (
    Cancel,
    Challenge,
    Chatter,
    End,
    Outcome,
    Response,
    Start,
)
from sasl_kit.protocols.errors import (
    CredentialsRejected,
    MechanismRefused,
    ProtocolViolation,
    ServerRefused,
    TemporaryFailure,
    TLSRequired,
)
from sasl_kit.protocols.xmpp import (
    DEFAULT_NAMESPACES,
    PROFILE,
    SASL_NS,
    XMLStream,
    XMPPClientAuth,
    features,
    open_stream,
    proceeded,
)
from sasl_kit.registry import default_registry
from tests.protocols.xmpp_examples import EXAMPLES, example, juliet, scram_exchange, server_bytes

SASL = f"xmlns='{SASL_NS}'"


def client(name: str, **options: object) -> XMPPClientAuth:
    mechanism = default_registry.client(name, service="xmpp", **options)
    return PROFILE.client(name, mechanism)


def element_of(data: bytes | str) -> ET.Element:
    """One top-level element, read by the profile's own stream reader."""
    stream = XMLStream(DEFAULT_NAMESPACES)
    stream.feed(data.encode() if isinstance(data, str) else data)
    element = stream.next()
    assert element is not None
    return element


def payload(element: bytes) -> bytes:
    return base64.b64decode(element_of(element).text or "")


def test_the_tables_name_the_xmpp_profile_driver_scheme_and_service() -> None:
    assert PROFILES["xmpp"] == "sasl_kit.protocols.xmpp"
    assert SCHEMES["xmpp"] == ("xmpp", "starttls", 5222)  # RFC 6120 14.7
    assert profile("xmpp") is PROFILE
    assert PROFILE.service == "xmpp"


def test_rfc6120_scram_sha_1_example_gives_the_rfcs_client_elements_and_success() -> None:
    lines, server = scram_exchange()
    rfc_client = [text.encode() for side, text in lines if side == "C"]
    auth = juliet()
    sent = [auth.start(), auth.receive(server)]
    assert [element_of(s).attrib for s in sent] == [element_of(c).attrib for c in rfc_client]
    assert [payload(s) for s in sent] == [payload(c) for c in rfc_client]
    assert auth.result is not None and auth.result.ok
    assert auth.result.additional_data == b"v=pNNDFVEQxuXxCoSEiW8GEZ+1RSo="
    assert auth.leftover == b""


def test_rfc6120_example_split_into_single_bytes_gives_the_same_response() -> None:
    _, server = scram_exchange()
    whole = juliet()
    whole.start()
    expected = whole.receive(server)
    split = juliet()
    split.start()
    assert b"".join(split.receive(server[i : i + 1]) for i in range(len(server))) == expected
    assert split.result is not None and split.result.ok


def test_the_transcript_is_the_wire_and_reads_back_as_the_exchange() -> None:
    _, server = scram_exchange()
    auth = juliet()
    first = auth.start()
    second = auth.receive(server)
    lines = auth.transcript
    assert [line.side for line in lines] == ["C", "S", "C", "S"]
    assert lines[0].text == first.decode() and lines[2].text == second.decode()
    events = [PROFILE.read_line(line.side, line.text) for line in lines]
    assert isinstance(events[0], Start) and events[0].mechanism == "SCRAM-SHA-1"
    assert events[0].initial == first.decode().split(">")[1].split("<")[0]
    assert isinstance(events[1], Challenge) and isinstance(events[2], Response)
    assert isinstance(events[3], End) and events[3].outcome is Outcome.SUCCESS
    assert events[3].additional == "dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289"


def test_redacted_transcript_shows_no_payload() -> None:
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    sent = auth.start()
    secret = base64.b64encode(b"\0juliet\0r0m30myr0m30").decode()
    assert secret.encode() in sent
    assert all(secret not in line.redacted for line in auth.transcript)
    assert "r0m30myr0m30" not in repr(auth.transcript)


def test_initial_response_is_base64_equals_sign_when_empty_and_absent_for_server_first() -> None:
    plain = client("PLAIN", username="juliet", password="r0m30myr0m30")
    assert payload(plain.start()) == b"\0juliet\0r0m30myr0m30"
    external = client("EXTERNAL")  # an empty authzid: an empty initial response (RFC 4422 A.1)
    assert external.start() == f'<auth xmlns="{SASL_NS}" mechanism="EXTERNAL">=</auth>'.encode()
    cram = client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    assert cram.start() == f'<auth xmlns="{SASL_NS}" mechanism="CRAM-MD5"/>'.encode()
    assert PROFILE.read_line("C", cram.transcript[0].text) == Start("CRAM-MD5", None)
    assert PROFILE.read_line("C", external.transcript[0].text) == Start("EXTERNAL", "=")


def test_server_first_challenge_is_answered_and_an_equals_challenge_is_empty() -> None:
    # RFC 2195 2's challenge and response, carried in <challenge/> and <response/>.
    cram = client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    cram.start()
    challenge = base64.b64encode(b"<1896.697170952@postoffice.reston.mci.net>").decode()
    answer = cram.receive(f"<challenge {SASL}>{challenge}</challenge>".encode())
    assert payload(answer) == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert cram.receive(f"<success {SASL}/>".encode()) == b""
    assert cram.result is not None and cram.result.ok
    assert cram.result.additional_data is None
    plain = client("PLAIN", username="tim", password="tanstaaftanstaaf")
    plain.start()
    plain.receive(f"<success {SASL}>=</success>".encode())  # empty additional data (6.4.6)
    assert plain.result is not None and plain.result.ok
    login = client("LOGIN", username="tim", password="tanstaaftanstaaf")
    login.start()
    # Prosody writes an empty challenge as '=' (mod_saslauth build_reply).
    assert payload(login.receive(f"<challenge {SASL}>=</challenge>".encode())) == b"tim"


@pytest.mark.parametrize(
    ("condition", "outcome", "error"),
    [
        # RFC 6120 6.5, by guilty side.
        ("account-disabled", Outcome.REJECTED, CredentialsRejected),
        ("credentials-expired", Outcome.REJECTED, CredentialsRejected),
        ("encryption-required", Outcome.TLS_REQUIRED, TLSRequired),
        ("incorrect-encoding", Outcome.FAILED, ServerRefused),
        ("invalid-authzid", Outcome.REJECTED, CredentialsRejected),
        ("invalid-mechanism", Outcome.REFUSED, MechanismRefused),
        ("malformed-request", Outcome.FAILED, ServerRefused),
        ("mechanism-too-weak", Outcome.REFUSED, MechanismRefused),
        ("not-authorized", Outcome.REJECTED, CredentialsRejected),
        ("temporary-auth-failure", Outcome.TEMPORARY, TemporaryFailure),
        ("aborted", Outcome.FAILED, ServerRefused),  # an abort we never sent
        ("no-such-condition", Outcome.FAILED, ServerRefused),
    ],
)
def test_each_failure_condition_of_rfc6120_names_the_guilty_side(
    condition: str, outcome: Outcome, error: type[ServerRefused]
) -> None:
    failures = {element_of(text)[0].tag.split("}")[1]: text for _, text in example("failures.txt")}
    element = failures.get(condition, f"<failure {SASL}><{condition}/></failure>")
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    auth.start()
    assert auth.receive(element.encode()) == b""
    assert auth.result is not None
    assert auth.result.outcome is outcome and auth.result.code == condition
    with pytest.raises(error) as raised:
        auth.result.raise_for_outcome()
    assert raised.value.code == condition


def test_failure_text_is_kept_and_read_line_maps_failures_too() -> None:
    text = dict(enumerate(t for _, t in example("failures.txt")))[1]
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    auth.start()
    auth.receive(text.encode())
    assert auth.result is not None
    assert auth.result.text == "Call 212-555-1212 for assistance."
    event = PROFILE.read_line("S", text)
    assert isinstance(event, End) and event.outcome is Outcome.REJECTED


def test_a_mechanism_error_sends_abort_and_the_aborted_failure_ends_it_cancelled() -> None:
    lines, _ = scram_exchange()
    challenge = lines[1][1].encode()
    auth = juliet(min_iterations=10_000)  # the RFC's server asks for 4096
    auth.start()
    assert auth.receive(challenge) == f'<abort xmlns="{SASL_NS}"/>'.encode()
    assert PROFILE.read_line("C", auth.transcript[-1].text) == Cancel()
    assert auth.receive(f"<challenge {SASL}>=</challenge>".encode()) == b""  # crossed on the wire
    auth.receive(example("failures.txt")[0][1].encode())
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert auth.result.error is not None
    with pytest.raises(type(auth.result.error)):
        auth.result.raise_for_outcome()


def test_success_without_the_servers_proof_or_with_a_wrong_one_is_not_accepted() -> None:
    lines, _ = scram_exchange()
    challenge = lines[1][1].encode()
    bare = juliet()
    bare.start()
    bare.receive(challenge)
    bare.receive(f"<success {SASL}/>".encode())
    assert bare.result is not None and bare.result.outcome is Outcome.CANCELLED
    assert isinstance(bare.result.error, MutualAuthenticationFailed)
    forged = juliet()
    forged.start()
    forged.receive(challenge)
    wrong = base64.b64encode(b"v=" + base64.b64encode(bytes(20))).decode()
    forged.receive(f"<success {SASL}>{wrong}</success>".encode())
    assert forged.result is not None and forged.result.outcome is Outcome.CANCELLED
    assert isinstance(forged.result.error, MutualAuthenticationFailed)


def test_bytes_after_success_are_left_over_for_the_restarted_stream() -> None:
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    auth.start()
    auth.receive(f"<success {SASL}/><?xml version='1.0'?><stream:str".encode())
    assert auth.result is not None and auth.result.ok
    assert auth.leftover == b"<?xml version='1.0'?><stream:str"
    with pytest.raises(UsageError):
        auth.receive(b"eam>")


def test_a_stream_error_ends_the_exchange_and_a_closed_stream_is_a_violation() -> None:
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    auth.start()
    auth.receive(
        b"<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"</stream:error>"
    )
    assert auth.result is not None and auth.result.outcome is Outcome.FAILED
    assert auth.result.code == "policy-violation"
    closed = client("PLAIN", username="juliet", password="r0m30myr0m30")
    closed.start()
    with pytest.raises(ProtocolViolation, match="closed the XML stream"):
        closed.receive(b"</stream:stream>")


@pytest.mark.parametrize(
    "element",
    [
        b"<iq type='result' id='1'/>",
        b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>",
    ],
)
def test_an_element_that_does_not_belong_to_the_exchange_is_a_violation(element: bytes) -> None:
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    auth.start()
    with pytest.raises(ProtocolViolation):
        auth.receive(element)


def test_a_challenge_that_is_not_base64_makes_the_client_abort() -> None:
    auth = client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    auth.start()
    assert auth.receive(f"<challenge {SASL}>not base64!</challenge>".encode()).startswith(
        b"<abort "
    )
    auth.receive(f"<failure {SASL}><aborted/></failure>".encode())
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, ProtocolViolation)


def test_features_read_starttls_and_mechanisms_in_the_servers_order() -> None:
    lines = example("starttls.txt")
    stream = XMLStream()
    stream.feed(server_bytes(lines))
    header = stream.next()
    assert header is not None
    assert stream.header is not None and stream.header["id"] == "t7AMCin9zjMNwQKDnplntZPIDEI="
    offered = features(header)
    assert offered.starttls and offered.tls_required and offered.mechanisms == ()
    proceed = stream.next()
    assert proceed is not None
    proceeded(proceed)
    after_tls = server_bytes(example("scram-sha-1.txt")[:1])
    assert PROFILE.mechanisms(after_tls) == ("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN")
    whole = b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
    assert PROFILE.mechanisms(whole + after_tls) == ("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN")


def test_a_refused_starttls_and_a_stream_error_at_features_raise_the_servers_refusal() -> None:
    stream = XMLStream({"stream": "http://etherx.jabber.org/streams"})
    stream.feed(
        b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"</stream:error>"
    )
    failure, error = stream.next(), stream.next()
    assert failure is not None and error is not None
    with pytest.raises(ServerRefused, match="STARTTLS"):
        proceeded(failure)
    with pytest.raises(ServerRefused, match="host-unknown") as raised:
        features(error)
    assert raised.value.code == "host-unknown"


def test_open_stream_is_rfc6120s_initial_header_to_the_domain() -> None:
    header = open_stream("im.example.com")
    stream = XMLStream()
    stream.feed(header)
    assert stream.next() is None
    assert stream.header == {"to": "im.example.com", "version": "1.0"}
    assert stream.namespaces == {"": "jabber:client", "stream": "http://etherx.jabber.org/streams"}


def test_read_line_tells_the_stream_and_chatter_from_other_protocols() -> None:
    for side, text in example("starttls.txt"):
        assert PROFILE.read_line(side, text) == Chatter()
    for text in ("235 2.7.0 Authentication successful", "+ ", "AUTH PLAIN =", "", "<a", "<?xml"):
        assert PROFILE.read_line("S", text) is None
        assert PROFILE.read_line("C", text) is None
    assert PROFILE.read_line("C", f"<challenge {SASL}>x</challenge>") is None  # wrong side
    assert PROFILE.read_line("S", f"<success {SASL}>=</success>") == End(
        Outcome.SUCCESS, f"<success {SASL}>=</success>", "="
    )


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b"<!DOCTYPE stream [<!ENTITY e 'x'>]><stream:stream>", "DTD"),
        (b"<!-- hello --><stream:stream>", "DTD or a comment"),
        (b"<?xml-stylesheet href='x'?><stream:stream>", "processing instruction"),
        (b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><?pi x?>", "processing"),
        (b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><!-- c -->", "comment"),
        (
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a>&e;</a>",
            "well-formed",
        ),
        (b"<html><body>", "did not open an XMPP stream"),
        (b"\xff\xfe<\x00", "UTF-8"),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>", "UTF-8"),
    ],
)
def test_restricted_xml_of_rfc6120_11_1_is_refused(wire: bytes, problem: str) -> None:
    stream = XMLStream()
    stream.feed(wire)
    with pytest.raises(ProtocolViolation, match=problem):
        while stream.next() is not None:
            pass


def test_limits_cut_off_deep_big_and_endless_input() -> None:

    deep = XMLStream(xmpp.DEFAULT_NAMESPACES)
    deep.feed(b"<a>" * xmpp.MAX_DEPTH)
    with pytest.raises(ProtocolViolation, match="nests deeper"):
        deep.next()
    big = XMLStream(xmpp.DEFAULT_NAMESPACES)
    big.feed(b"<challenge>" + b"A" * xmpp.MAX_ELEMENT_BYTES)
    with pytest.raises(ProtocolViolation, match="without completing an element"):
        big.next()
    keepalive = XMLStream(xmpp.DEFAULT_NAMESPACES)
    with pytest.raises(ProtocolViolation, match="without completing an element"):
        for _ in range(xmpp.MAX_ELEMENT_BYTES + 1):
            keepalive.feed(b" ")
            keepalive.next()
    endless = XMLStream(xmpp.DEFAULT_NAMESPACES)
    with pytest.raises(ProtocolViolation, match=f"passed {xmpp.MAX_STREAM_BYTES} bytes"):
        for _ in range(xmpp.MAX_STREAM_BYTES):
            endless.feed(b"<r/>" * 256)
            while endless.next() is not None:
                pass
    endless.feed(b"<r/>")
    with pytest.raises(ProtocolViolation):  # and it stays cut off
        endless.next()


def test_a_second_exchange_continues_the_stream_with_its_prefixes() -> None:
    stream = XMLStream()
    stream.feed(b"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>")
    assert stream.next() is None
    auth = client("PLAIN", username="juliet", password="r0m30myr0m30")
    auth.continue_stream(stream.continuation())
    auth.start()
    auth.receive(b"<s:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></s:error>")
    assert auth.result is not None and auth.result.code == "conflict"
    with pytest.raises(UsageError):
        auth.continue_stream(XMLStream())


def test_client_takes_only_the_stream_option() -> None:
    mechanism = default_registry.client("PLAIN", username="u", password="p")
    with pytest.raises(UsageError):
        PROFILE.client("PLAIN", mechanism, host="example.org")


def test_verify_reads_rfc6120s_example_as_xmpp_and_finds_the_proof_right() -> None:
    transcript = (EXAMPLES / "scram-sha-1.txt").read_text("utf-8")
    (exchange,) = verify.read(transcript)
    assert (exchange.protocol, exchange.mechanism) == ("xmpp", "SCRAM-SHA-1")
    assert exchange.outcome.success
    assert exchange.steps[0].data() == b"n,,n=juliet,r=oMsTAAwAAAAMAAAANP0TAAAAAABPU0AA"
    assert exchange.steps[2].data().endswith(b",p=UA57tM/SvpATBkH2FXs0WDXvJYw=")
    diagnosis = verify.diagnose(exchange, password="r0m30myr0m30")
    assert diagnosis.verdict == "correct"
    assert verify.diagnose(exchange, password="juliet").verdict == "wrong"


def test_payload_takes_a_response_line_or_its_text_and_nothing_else() -> None:
    assert PROFILE.payload(f"<response {SASL}>dGlt</response>", "it") == b"tim"
    assert PROFILE.payload(f"<response {SASL}/>", "it") == b""
    assert PROFILE.payload("=", "it") == b""
    with pytest.raises(ProtocolViolation, match="not an XMPP <response/>"):
        PROFILE.payload(f"<success {SASL}>dGlt</success>", "it")


def test_a_mechanism_that_cannot_start_sends_nothing_and_is_cancelled() -> None:
    auth = client("SCRAM-SHA-1-PLUS", username="juliet", password="r0m30myr0m30")  # no binding
    assert auth.start() == b""
    assert auth.result is not None and auth.result.outcome is Outcome.CANCELLED
    assert isinstance(auth.result.error, UsageError) and auth.transcript == []
