"""The XMPP driver's refusals, against a scripted server on loopback.

What only a misbehaving server can show: bytes injected after ``<proceed/>``
(they would be read as if they came through TLS), features without
``<starttls/>``, a STARTTLS refused. The driver's work with a real server is in
tests/interop/test_prosody.py.
"""

from __future__ import annotations

import pytest

from sasl_kit.drivers import open_session
from sasl_kit.drivers.base import SessionSettings, StartTLSUnavailable
from sasl_kit.protocols.errors import ProtocolViolation, ServerRefused
from tests.drivers import test_sieve_driver

server = test_sieve_driver.server  # the scripted one-connection server, as a fixture here

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' from='example.test' id='1' version='1.0'>"
)
STARTTLS = b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
PLAIN_ONLY = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)


def settings(port: int, tls: str = "starttls") -> SessionSettings:
    return SessionSettings("127.0.0.1", port, tls, timeout=5.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "server",
    [[HEADER + STARTTLS, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><evil/>"]],
    indirect=True,
)
def test_bytes_after_proceed_are_refused_before_tls(server: int) -> None:
    with pytest.raises(ProtocolViolation, match="sent more after <proceed/>"):
        open_session("xmpp", settings(server))


@pytest.mark.parametrize("server", [[HEADER + PLAIN_ONLY]], indirect=True)
def test_features_without_starttls_are_refused_before_any_authentication(server: int) -> None:
    with pytest.raises(StartTLSUnavailable, match="does not offer STARTTLS"):
        open_session("xmpp", settings(server))


@pytest.mark.parametrize(
    "server",
    [[HEADER + STARTTLS, b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"]],
    indirect=True,
)
def test_a_refused_starttls_is_the_servers_refusal(server: int) -> None:
    with pytest.raises(ServerRefused, match="refused STARTTLS"):
        open_session("xmpp", settings(server))


@pytest.mark.parametrize("server", [[HEADER + PLAIN_ONLY]], indirect=True)
def test_without_tls_the_mechanisms_are_read_from_the_first_features(server: int) -> None:
    session = open_session("xmpp", settings(server, "none"))
    try:
        assert session.mechanisms == ("PLAIN",) and session.mechanisms_before_tls is None
        assert not session.encrypted and session.channel_binding("tls-unique") is None
    finally:
        session.close()
