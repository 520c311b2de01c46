"""Transport: STARTTLS, implicit TLS, certificate checks, injection, TLS before credentials."""

from __future__ import annotations

import socket
import threading

import pytest

from sasl_kit.smtp import SMTPClient
from sasl_kit.smtp.errors import (
    CommandRejected,
    ConnectionFailed,
    SMTPProtocolError,
    TemporaryFailure,
    TLSRequired,
)
from tests.smtp.conftest import Certificate
from tests.smtp.fakes import Behaviour, FakeSMTPServer


def test_starttls_verifies_the_certificate_and_says_ehlo_again(certificate: Certificate) -> None:
    lines: list[str] = []
    with (
        FakeSMTPServer(Behaviour(tls=certificate.server_context)) as server,
        SMTPClient(
            "127.0.0.1", server.port, cafile=certificate.cafile, timeout=5, transcript=lines.append
        ) as smtp,
    ):
        assert smtp.encrypted
        assert "STARTTLS" not in smtp.extensions  # learnt again, over TLS
    assert [c.split()[0] for c in server.commands] == ["EHLO", "STARTTLS", "EHLO", "QUIT"]
    assert "C: STARTTLS" in lines


def test_implicit_tls(certificate: Certificate) -> None:
    behaviour = Behaviour(tls=certificate.server_context, implicit_tls=True)
    with (
        FakeSMTPServer(behaviour) as server,
        SMTPClient(
            "127.0.0.1", server.port, tls="implicit", cafile=certificate.cafile, timeout=5
        ) as smtp,
    ):
        assert smtp.encrypted


def test_an_unverified_certificate_fails_unless_the_caller_opts_out(
    certificate: Certificate,
) -> None:
    with (
        FakeSMTPServer(Behaviour(tls=certificate.server_context)) as server,
        pytest.raises(ConnectionFailed, match=r"TLS handshake .* failed"),
    ):
        SMTPClient("127.0.0.1", server.port, timeout=5).connect()
    with (
        FakeSMTPServer(Behaviour(tls=certificate.server_context)) as server,
        SMTPClient("127.0.0.1", server.port, timeout=5, insecure_tls=True) as smtp,
    ):
        assert smtp.encrypted


def test_a_server_without_starttls_is_an_error_not_plaintext() -> None:
    with (
        FakeSMTPServer(Behaviour()) as server,
        pytest.raises(TLSRequired, match="does not offer STARTTLS"),
    ):
        SMTPClient("127.0.0.1", server.port, timeout=5).connect()
    assert [c.split()[0] for c in server.commands] == ["EHLO"]


def test_bytes_injected_after_the_starttls_reply_end_the_session(
    certificate: Certificate,
) -> None:
    behaviour = Behaviour(tls=certificate.server_context, inject_after_starttls=b"250-injected\r\n")
    with FakeSMTPServer(behaviour) as server:
        client = SMTPClient("127.0.0.1", server.port, cafile=certificate.cafile, timeout=5)
        with pytest.raises(SMTPProtocolError, match="STARTTLS response injection"):
            client.connect()
    assert not client.encrypted


def test_credentials_need_tls_unless_the_caller_opts_out() -> None:
    behaviour = Behaviour(mechanisms=("CRAM-MD5",), users={"tim": "pw"})
    with (
        FakeSMTPServer(behaviour) as server,
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5) as smtp,
    ):
        with pytest.raises(TLSRequired, match="without TLS"):
            smtp.login("tim", "pw")
        assert smtp.login("tim", "pw", require_tls=False) == "CRAM-MD5"
    assert [c for c in server.commands if c.startswith("AUTH")] == ["AUTH CRAM-MD5"]


def test_a_silent_server_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    try:
        with pytest.raises(ConnectionFailed, match=r"no reply to the greeting .* within 0.3 s"):
            SMTPClient("127.0.0.1", listener.getsockname()[1], tls="none", timeout=0.3).connect()
    finally:
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_nothing_listening_is_a_connection_failure() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        SMTPClient("127.0.0.1", port, tls="none", timeout=2).connect()


@pytest.mark.parametrize(
    ("greeting", "error"),
    [("421 4.3.2 busy", TemporaryFailure), ("554 5.7.1 go away", CommandRejected)],
)
def test_a_refusing_greeting_is_temporary_or_permanent(
    greeting: str, error: type[Exception]
) -> None:
    with (
        FakeSMTPServer(Behaviour(greeting=greeting)) as server,
        pytest.raises(error, match="refused the session"),
    ):
        SMTPClient("127.0.0.1", server.port, tls="none", timeout=5).connect()
