"""The ManageSieve driver's refusals, against a scripted server on loopback.

What only a misbehaving server can show: bytes injected after STARTTLS's OK
(they would be read as if they came through TLS), a greeting without STARTTLS,
a greeting that ends in BYE. The driver's work with a real server is in
tests/interop/test_sieve.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import SessionFailed, SessionSettings, StartTLSUnavailable
from sasl_kit.errors import UsageError
from sasl_kit.protocols.errors import ProtocolViolation

GREETING = b'"IMPLEMENTATION" "scripted"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\nOK\r\n'


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A one-connection server that sends ``request.param`` (a list of replies, the
    first at once, each later one after a line from the client); yields its port."""
    replies: list[bytes] = request.param
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):  # the client may hang up at any point
            conn.sendall(replies[0])
            for reply in replies[1:]:
                conn.recv(1024)
                conn.sendall(reply)
            conn.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)


def settings(port: int, tls: str = "starttls") -> SessionSettings:
    return SessionSettings("127.0.0.1", port, tls, timeout=5.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "server", [[GREETING, b'OK\r\n"IMPLEMENTATION" "evil"\r\n']], indirect=True
)
def test_bytes_after_starttls_ok_are_refused_before_tls(server: int) -> None:
    with pytest.raises(ProtocolViolation, match="sent more after its STARTTLS"):
        open_session("sieve", settings(server))


@pytest.mark.parametrize("server", [[GREETING.replace(b'"STARTTLS"\r\n', b"")]], indirect=True)
def test_a_server_without_starttls_is_refused(server: int) -> None:
    with pytest.raises(StartTLSUnavailable, match="does not offer STARTTLS"):
        open_session("sieve", settings(server))


@pytest.mark.parametrize("server", [[b'BYE (TRYLATER) "busy"\r\n']], indirect=True)
def test_a_greeting_ending_in_bye_is_refused_with_its_code(server: int) -> None:
    with pytest.raises(SessionFailed, match=r"greeting with BYE \(TRYLATER\) busy"):
        open_session("sieve", settings(server))


@pytest.mark.parametrize("server", [[GREETING, b"NO\r\n"]], indirect=True)
def test_without_tls_the_greeting_is_the_list(server: int) -> None:
    session = open_session("sieve", settings(server, "none"))
    try:
        assert (session.encrypted, session.mechanisms_before_tls) == (False, None)
        assert session.mechanisms == ("PLAIN",)
        assert session.channel_binding("tls-server-end-point") is None
    finally:
        session.close()


def test_there_is_no_implicit_tls() -> None:
    with pytest.raises(UsageError, match="no implicit TLS"):
        open_session("sieve", settings(4190, "implicit"))
