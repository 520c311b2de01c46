"""AUTH through the registry (RFC 4954) against real server mechanisms in the fake server."""

from __future__ import annotations

import base64
import logging
import ssl

import pytest

from sasl_kit import (
    MalformedMessage,
    MutualAuthenticationFailed,
    PolicyRefused,
    UsageError,
    channel_binding,
)
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.smtp import SMTPClient
from sasl_kit.smtp.errors import (
    CommandRejected,
    CredentialsRejected,
    NoUsableMechanism,
    TemporaryFailure,
    TLSRequired,
)
from tests.smtp.conftest import Certificate
from tests.smtp.fakes import Behaviour, FakeSMTPServer

USERS = {"tim": "tanstaaftanstaaf", "jürgen": "pässwörd-ü"}


def session(
    certificate: Certificate,
    behaviour: Behaviour,
    lines: list[str] | None = None,
    *,
    bound: bool = False,
) -> tuple[FakeSMTPServer, SMTPClient]:
    """A fake server with STARTTLS and a client for it; ``bound``: both have channel binding."""
    behaviour.tls = certificate.server_context
    behaviour.users = behaviour.users or USERS
    if bound:
        behaviour.server_options = {
            "channel_binding": channel_binding.tls_server_end_point(certificate.der)
        }
    server = FakeSMTPServer(behaviour)
    client = SMTPClient(
        "127.0.0.1",
        server.port,
        cafile=certificate.cafile,
        timeout=5,
        transcript=None if lines is None else lines.append,
        channel_binding=_binding if bound else None,
    )
    return server, client


def _binding(tls: ssl.SSLSocket) -> ChannelBinding:
    return channel_binding.from_connection(tls, "tls-server-end-point")


@pytest.mark.parametrize(
    "name", ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM", "SCRAM-SHA-1", "SCRAM-SHA-256"]
)
@pytest.mark.parametrize("user", ["tim", "jürgen"])
def test_each_mechanism_authenticates(certificate: Certificate, name: str, user: str) -> None:
    server, client = session(certificate, Behaviour(mechanisms=(name,)))
    with server, client:
        assert client.login(user, USERS[user]) == name
        assert client.authenticated_as == user


def test_scram_server_signature_arrives_as_a_last_334_and_is_answered_empty(
    certificate: Certificate,
) -> None:
    server, client = session(certificate, Behaviour(mechanisms=("SCRAM-SHA-256",)))
    with server, client:
        client.login("tim", USERS["tim"])
    auth = next(i for i, c in enumerate(server.commands) if c.startswith("AUTH SCRAM-SHA-256 "))
    assert server.commands[auth + 2] == ""  # the empty answer to the v= challenge


def test_scram_plus_gets_the_channel_binding_from_the_tls_socket(
    certificate: Certificate,
) -> None:
    behaviour = Behaviour(mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))
    server, client = session(certificate, behaviour, bound=True)
    with server, client:
        assert client.login("tim", USERS["tim"]) == "SCRAM-SHA-256-PLUS"


def test_a_stripped_plus_mechanism_is_caught_as_a_downgrade(certificate: Certificate) -> None:
    """The server can bind but its -PLUS offer was removed: the client's 'y' gives it away."""
    server, client = session(certificate, Behaviour(mechanisms=("SCRAM-SHA-256",)), bound=True)
    with server, client, pytest.raises(CredentialsRejected):
        client.login("tim", USERS["tim"])


def test_a_plus_mechanism_without_binding_is_passed_over(certificate: Certificate) -> None:
    server, client = session(
        certificate, Behaviour(mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))
    )
    with server, client:
        assert client.login("tim", USERS["tim"]) == "SCRAM-SHA-256"
    assert [c.split()[1] for c in server.commands if c.startswith("AUTH")] == ["SCRAM-SHA-256"]


def test_an_initial_response_too_long_for_the_line_waits_for_the_334(
    certificate: Certificate,
) -> None:
    users = {"tim": "x" * 400}
    server, client = session(certificate, Behaviour(mechanisms=("PLAIN",), users=users))
    with server, client:
        client.login("tim", users["tim"])
    assert "AUTH PLAIN" in server.commands  # no initial response on the line
    short_server, short_client = session(certificate, Behaviour(mechanisms=("PLAIN",)))
    with short_server, short_client:
        short_client.login("tim", USERS["tim"])
    assert any(c.startswith("AUTH PLAIN ") for c in short_server.commands)


def test_535_stops_without_trying_another_mechanism(certificate: Certificate) -> None:
    server, client = session(certificate, Behaviour(mechanisms=("CRAM-MD5", "PLAIN")))
    with server, client, pytest.raises(CredentialsRejected, match="rejected the credentials"):
        client.login("tim", "wrong")
    assert [c.split()[1] for c in server.commands if c.startswith("AUTH")] == ["CRAM-MD5"]


@pytest.mark.parametrize("code", ["504 5.5.4 not here", "534 5.7.9 too weak"])
def test_504_and_534_move_on_to_the_next_mechanism(certificate: Certificate, code: str) -> None:
    behaviour = Behaviour(mechanisms=("CRAM-MD5", "PLAIN"), auth_replies={"CRAM-MD5": code})
    server, client = session(certificate, behaviour)
    with server, client:
        assert client.login("tim", USERS["tim"]) == "PLAIN"


def test_every_mechanism_refused_names_each_reason(certificate: Certificate) -> None:
    behaviour = Behaviour(mechanisms=("PLAIN",), auth_replies={"PLAIN": "504 5.5.4 no"})
    server, client = session(certificate, behaviour)
    with server, client, pytest.raises(CommandRejected, match="PLAIN: the server refused it"):
        client.login("tim", USERS["tim"])


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("454 4.7.0 try later", TemporaryFailure),
        ("538 5.7.11 encryption required", TLSRequired),
        ("535 5.7.8 no", CredentialsRejected),
    ],
)
def test_failure_replies_stop_with_their_error(
    certificate: Certificate, reply: str, error: type[Exception]
) -> None:
    behaviour = Behaviour(mechanisms=("CRAM-MD5", "PLAIN"), auth_replies={"CRAM-MD5": reply})
    server, client = session(certificate, behaviour)
    with server, client, pytest.raises(error):
        client.login("tim", USERS["tim"])
    assert sum(c.startswith("AUTH") for c in server.commands) == 1


def test_a_mechanism_that_cannot_continue_cancels_with_a_star(certificate: Certificate) -> None:
    challenge = base64.b64encode(b"not a scram message").decode()
    behaviour = Behaviour(
        mechanisms=("SCRAM-SHA-256",), auth_replies={"SCRAM-SHA-256": f"334 {challenge}"}
    )
    server, client = session(certificate, behaviour)
    with server, client, pytest.raises(MalformedMessage):
        client.login("tim", USERS["tim"])
    assert "*" in server.commands


def test_success_without_the_server_proof_is_refused(certificate: Certificate) -> None:
    behaviour = Behaviour(mechanisms=("SCRAM-SHA-256",), skip_success_data=True)
    server, client = session(certificate, behaviour)
    with server, pytest.raises(MutualAuthenticationFailed, match="did not prove itself"):
        client.connect()
        client.login("tim", USERS["tim"])


def test_plaintext_mechanisms_need_tls_by_the_registry_policy() -> None:
    behaviour = Behaviour(mechanisms=("PLAIN", "LOGIN"), users=USERS)
    with (
        FakeSMTPServer(behaviour) as server,
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5) as smtp,
    ):
        with pytest.raises(NoUsableMechanism, match="in the clear") as refused:
            smtp.login("tim", USERS["tim"], require_tls=False)
        assert isinstance(refused.value, PolicyRefused)
        assert refused.value.offered == ("PLAIN", "LOGIN")
        assert set(refused.value.passed_over) == {"PLAIN", "LOGIN"}
        assert smtp.login("tim", USERS["tim"], require_tls=False, allow_plaintext=True)


def test_the_caller_limits_the_mechanisms(certificate: Certificate) -> None:
    server, client = session(certificate, Behaviour(mechanisms=("CRAM-MD5", "PLAIN")))
    with server, client:
        assert client.login("tim", USERS["tim"], mechanisms=["plain"]) == "PLAIN"


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"])
def test_the_transcript_never_shows_the_password_or_its_base64(
    certificate: Certificate, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[str] = []
    server, client = session(certificate, Behaviour(mechanisms=(name,)), lines)
    caplog.set_level(logging.DEBUG, logger="sasl_kit.smtp")
    with server, client:
        client.login("jürgen", USERS["jürgen"])
    secret = USERS["jürgen"].encode()
    forbidden = [
        USERS["jürgen"],
        base64.b64encode(secret).decode(),
        base64.b64encode(b"\0j\xc3\xbcrgen\0" + secret).decode(),
    ]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == lines
    assert (
        f"C: AUTH {name}" + (" <redacted>" if name in ("PLAIN", "SCRAM-SHA-256") else "") in lines
    )
    assert all(
        line.startswith(("C: AUTH", "C: EHLO", "C: STARTTLS", "C: QUIT")) or line == "C: <redacted>"
        for line in lines
        if line.startswith("C:")
    )
    assert all(line == "S: 334 <redacted>" for line in lines if line.startswith("S: 334"))
    assert not any(f in line for f in forbidden for line in lines)


def test_a_server_without_auth_says_so(certificate: Certificate) -> None:
    server, client = session(certificate, Behaviour())
    with server, client, pytest.raises(PolicyRefused, match="offers no AUTH"):
        client.login("tim", USERS["tim"])


def _token_owner(user: str, token: str) -> str | None:
    return user if token == "good-token" else None


@pytest.mark.parametrize("name", ["OAUTHBEARER", "XOAUTH2"])
@pytest.mark.parametrize(("token", "accepted"), [("good-token", True), ("bad-token", False)])
def test_oauth_mechanisms_answer_the_error_challenge_and_fail_with_535(
    certificate: Certificate, name: str, token: str, accepted: bool
) -> None:
    lines: list[str] = []
    behaviour = Behaviour(mechanisms=(name,))
    server, client = session(certificate, behaviour, lines)
    behaviour.server_options = {"validate_token": _token_owner}
    with server, client:
        if accepted:
            assert client.login("tim", "", token=token, mechanisms=[name]) == name
        else:
            # The 535 says little; the JSON status of the error challenge is kept
            # (RFC 7628 3.2.2 for OAUTHBEARER, Google's HTTP-like status for XOAUTH2).
            status = {"OAUTHBEARER": "invalid_token", "XOAUTH2": "401"}[name]
            with pytest.raises(CredentialsRejected, match=f"535.*error: status '{status}'"):
                client.login("tim", "", token=token, mechanisms=[name])
    assert not any(token in line or line.removeprefix("C: ") == "*" for line in lines)


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ({"channel_binding": ChannelBinding("tls-unique", bytes(12))}, "from this connection"),
        ({"server_offers_plus": True}, "reads in the server's offer"),
    ],
)
def test_an_option_the_login_knows_itself_is_refused_not_replaced(
    certificate: Certificate, option: dict[str, object], said: str
) -> None:
    # Before, the connection's own value silently replaced the option (sasl_kit.login_plan).
    server, client = session(certificate, Behaviour(mechanisms=("SCRAM-SHA-256",)))
    with server, client:
        with pytest.raises(UsageError, match=said):
            client.login("tim", USERS["tim"], **option)
        assert client.authenticated_as is None
