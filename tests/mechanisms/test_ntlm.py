"""NTLM (MS-NLMP): round trips, the NTLMv1 policy, the MIC, and strict parsing."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage, PolicyRefused, UsageError
from sasl_kit.mechanisms import ntlm

USERS = {"alice": "Sëcret-42"}


def _server(**options: object) -> sasl_kit.ServerMechanism:
    return sasl_kit.server(
        "NTLM", USERS, host="mail.example.org", realms=("EXAMPLE.ORG",), **options
    )


def _exchange(
    client: sasl_kit.ClientMechanism, server: sasl_kit.ServerMechanism
) -> tuple[bytes, bytes, bytes]:
    assert server.step(None) == b""
    negotiate = client.step(b"") or b""
    challenge = server.step(negotiate) or b""
    return negotiate, challenge, client.step(challenge) or b""


def test_ntlmv2_round_trip_sends_a_mic_and_names_the_domain() -> None:
    client = sasl_kit.client("NTLM", username="EXAMPLE\\alice", password="Sëcret-42")
    server = _server()
    _, _, authenticate = _exchange(client, server)
    assert server.step(authenticate) is None
    assert (server.complete, server.authcid, server.domain) == (True, "alice", "EXAMPLE")
    assert client.complete
    assert authenticate[72:88] != b"\0" * 16  # the server's TargetInfo had a timestamp


def test_server_refuses_a_wrong_password() -> None:
    client = sasl_kit.client("NTLM", username="alice", password="wrong")
    server = _server()
    *_, authenticate = _exchange(client, server)
    with pytest.raises(AuthenticationFailed, match="wrong password"):
        server.step(authenticate)


def test_server_refuses_an_altered_message_through_the_mic() -> None:
    client = sasl_kit.client("NTLM", username="alice", password="Sëcret-42", workstation="PC")
    server = _server()
    *_, authenticate = _exchange(client, server)
    # The workstation name is not covered by the NTLMv2 proof, only by the MIC.
    altered = authenticate.replace("PC".encode("utf-16-le"), "XX".encode("utf-16-le"))
    with pytest.raises(AuthenticationFailed, match="MIC"):
        server.step(altered)


def test_server_refuses_a_response_made_for_another_challenge() -> None:
    client = sasl_kit.client("NTLM", username="alice", password="Sëcret-42")
    *_, authenticate = _exchange(client, _server())
    other = _server()
    other.step(None)
    other.step(sasl_kit.client("NTLM", username="alice").step(b""))
    with pytest.raises(AuthenticationFailed):
        other.step(authenticate)


def test_ntlmv1_is_refused_unless_the_server_allows_it() -> None:
    # A challenge without TargetInfo is answered with NTLMv1 only by a client that allows it.
    challenge = ntlm.build_challenge(
        ntlm.UNICODE | ntlm.NTLM_FLAG | ntlm.EXTENDED_SESSIONSECURITY, bytes(8), "S", []
    )
    no_info = challenge[:20] + struct.pack("<I", ntlm.UNICODE | ntlm.NTLM_FLAG) + challenge[24:]
    v1 = sasl_kit.client("NTLM", username="alice", password="x", allow_ntlmv1=True)
    v1.step(b"")
    assert len(ntlm.parse_authenticate(v1.step(no_info)).nt_response) == 24
    v2 = sasl_kit.client("NTLM", username="alice", password="x")
    v2.step(b"")
    assert len(ntlm.parse_authenticate(v2.step(no_info)).nt_response) > 24


@pytest.mark.parametrize("allowed", [False, True])
def test_server_takes_ntlmv1_with_extended_session_security_only_when_allowed(
    allowed: bool,
) -> None:
    server = _server(allow_ntlmv1=allowed)
    server.step(None)
    negotiate = ntlm.build_negotiate(ntlm.CLIENT_FLAGS)
    challenge = ntlm.parse_challenge(server.step(negotiate))
    client_challenge = bytes(range(8))
    key = ntlm.ntowfv1("Sëcret-42")
    nt = ntlm.ntlmv1_ess_response(key, challenge.server_challenge, client_challenge)
    message = _authenticate(challenge.flags, client_challenge + bytes(16), nt, "alice")
    if allowed:
        server.step(message)
        assert server.authcid == "alice"
    else:
        with pytest.raises(PolicyRefused, match="NTLMv1"):
            server.step(message)


def _authenticate(flags: int, lm: bytes, nt: bytes, user: str) -> bytes:
    header = ntlm.SIGNATURE + struct.pack("<I", ntlm.AUTHENTICATE) + bytes(48)
    header += struct.pack("<I", flags) + bytes(24)
    parts = [b"", user.encode("utf-16-le"), b"", lm, nt, b""]
    return ntlm._payload(header, parts, [28, 36, 44, 12, 20, 52])


def test_domain_given_twice_is_a_usage_error() -> None:
    client = sasl_kit.client("NTLM", username="A\\alice", domain="B")
    with pytest.raises(UsageError, match="domain once"):
        client.step(b"")


@pytest.mark.parametrize(
    ("message", "what"),
    [
        (b"NTLMSSP", "shorter"),
        (b"XTLMSSP\0" + struct.pack("<I", 1) + bytes(20), "signature"),
        (b"NTLMSSP\0" + struct.pack("<I", 3) + bytes(20), "expected NEGOTIATE_MESSAGE"),
        (b"NTLMSSP\0" + struct.pack("<II", 1, 0) + bytes(16), "neither UNICODE nor OEM"),
        (
            b"NTLMSSP\0" + struct.pack("<II", 1, 1) + struct.pack("<HHI", 4, 4, 30) + bytes(8),
            "out of bounds",
        ),
    ],
)
def test_server_names_what_is_wrong_with_a_negotiate_message(message: bytes, what: str) -> None:
    server = _server()
    with pytest.raises(MalformedMessage, match=what):
        server.step(message)


def test_server_refuses_a_field_pointing_into_the_fixed_header() -> None:
    server = _server()
    server.step(None)
    server.step(ntlm.build_negotiate(ntlm.CLIENT_FLAGS))
    bad = bytearray(_authenticate(ntlm.UNICODE, b"", bytes(30), "alice"))
    struct.pack_into("<HHI", bad, 36, 10, 10, 8)  # UserName at offset 8
    with pytest.raises(MalformedMessage, match=r"UserName.*out of bounds"):
        server.step(bytes(bad))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_client_raises_only_malformed_message_on_any_challenge(data: bytes) -> None:
    client = sasl_kit.client("NTLM", username="alice", password="x")
    client.step(b"")
    with contextlib.suppress(MalformedMessage):
        client.step(ntlm.SIGNATURE + struct.pack("<I", 2) + data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_server_raises_only_project_errors_on_any_authenticate(data: bytes) -> None:
    server = _server(allow_ntlmv1=True)
    server.step(None)
    server.step(ntlm.build_negotiate(ntlm.CLIENT_FLAGS))
    with contextlib.suppress(MalformedMessage, AuthenticationFailed, PolicyRefused):
        server.step(ntlm.SIGNATURE + struct.pack("<I", 3) + data)
    assert server.authcid is None
