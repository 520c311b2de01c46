"""The LDAP driver's StartTLS: slapd's "operations are outstanding" refusal is asked again.

slapd 2.5 answered StartTLS with ``operationsError (1)`` ("cannot start TLS when
operations are outstanding") in a loaded CI run, right after the root DSE search
whose searchResDone the driver had read; the live StartTLS is tests/interop/test_ldap.py.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from sasl_kit.drivers import ldap
from sasl_kit.drivers.base import SessionSettings, StartTLSUnavailable
from sasl_kit.protocols.errors import ServerRefused

OUTSTANDING = ServerRefused(
    "the server refused StartTLS (operationsError (1): cannot start TLS when operations "
    "are outstanding)",
    code="operationsError (1)",
)
NO_CERTIFICATE = ServerRefused("the server refused StartTLS", code="protocolError (2)")


class _Context:
    def wrap_socket(self, sock: socket.socket, server_hostname: str) -> socket.socket:
        return sock


@pytest.fixture
def ours() -> Iterator[socket.socket]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield ours


def _session(
    monkeypatch: pytest.MonkeyPatch, ours: socket.socket, answers: list[ServerRefused | None]
) -> Any:
    session = ldap.LDAPSession(ours, SessionSettings("127.0.0.1", 389, "starttls"))
    asked: list[object] = []

    def operation(op: object) -> None:
        asked.append(op)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    monkeypatch.setattr(session, "_operation", operation)
    monkeypatch.setattr(ldap.time, "sleep", lambda seconds: None)
    session.asked = asked
    return session


def test_start_tls_refused_as_outstanding_operations_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, ours: socket.socket
) -> None:
    session = _session(monkeypatch, ours, [OUTSTANDING, OUTSTANDING, None])
    session.start_tls(_Context())
    assert len(session.asked) == 3 and session.encrypted


@pytest.mark.parametrize(
    ("answers", "asked"),
    [
        ([NO_CERTIFICATE], 1),
        ([OUTSTANDING] * (ldap.STARTTLS_RETRIES + 1), ldap.STARTTLS_RETRIES + 1),
    ],
)
def test_start_tls_refused_otherwise_or_for_good_is_start_tls_unavailable(
    monkeypatch: pytest.MonkeyPatch,
    ours: socket.socket,
    answers: list[ServerRefused | None],
    asked: int,
) -> None:
    session = _session(monkeypatch, ours, answers)
    with pytest.raises(StartTLSUnavailable):
        session.start_tls(ssl.create_default_context())
    assert len(session.asked) == asked and not session.encrypted
