"""The connection dropped at each step: the right error, and never "sent"."""

from __future__ import annotations

import pytest

from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp.errors import ConnectionFailed, OutcomeUnknown
from tests.smtp.conftest import Certificate
from tests.smtp.fakes import Behaviour, FakeSMTPServer, Message

USERS = {"tim": "pw"}
TWO = ("b@example.org", "c@example.org")
BIG = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n" * (1 << 18)


def run(behaviour: Behaviour, certificate: Certificate, body: bytes = b"hello\n") -> object:
    """Connect (STARTTLS), log in, send one message; return the result."""
    behaviour.tls = certificate.server_context
    behaviour.mechanisms = ("CRAM-MD5",)
    behaviour.users = USERS
    with FakeSMTPServer(behaviour) as server:
        smtp = SMTPClient("127.0.0.1", server.port, cafile=certificate.cafile, timeout=3)
        try:
            smtp.connect()
            smtp.login("tim", "pw")
            return smtp.send(Message("a@example.org", TWO, body))
        finally:
            smtp.close()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
@pytest.mark.parametrize(
    "drop", ["greeting", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT#1", "RCPT#2", "DATA"]
)
def test_a_drop_before_the_data_is_a_connection_failure(
    certificate: Certificate, drop: str, pipelining: bool
) -> None:
    extensions = ("PIPELINING",) if pipelining else ()
    with pytest.raises(ConnectionFailed):
        run(Behaviour(extensions=extensions, drop=drop), certificate)


@pytest.mark.parametrize("extensions", [(), ("CHUNKING",)], ids=["DATA", "BDAT"])
def test_a_drop_in_the_middle_of_the_data_is_a_connection_failure(
    certificate: Certificate, extensions: tuple[str, ...]
) -> None:
    # The end of the data never left: nothing can have been delivered.
    with pytest.raises(ConnectionFailed):
        run(Behaviour(extensions=extensions, drop="data"), certificate, BIG)


@pytest.mark.parametrize("extensions", [(), ("CHUNKING",), ("PIPELINING",)])
def test_a_drop_after_the_data_before_the_final_reply_is_outcome_unknown(
    certificate: Certificate, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(OutcomeUnknown, match="may have been accepted") as caught:
        run(Behaviour(extensions=extensions, drop="final"), certificate)
    result = caught.value.result
    assert result.status is Status.UNKNOWN and not result.sent
    assert result.accepted == TWO
    assert not isinstance(caught.value, ConnectionFailed)  # a retry may duplicate


def test_a_stalled_final_reply_is_outcome_unknown_after_the_timeout(
    certificate: Certificate,
) -> None:
    behaviour = Behaviour(stall="final", extensions=())
    behaviour.tls = certificate.server_context
    with FakeSMTPServer(behaviour) as server:
        smtp = SMTPClient("127.0.0.1", server.port, cafile=certificate.cafile, timeout=0.3)
        with smtp, pytest.raises(OutcomeUnknown, match=r"within 0\.3 s"):
            smtp.send(Message("a@example.org", TWO, b"x"))


def test_garbage_instead_of_the_final_reply_is_outcome_unknown(certificate: Certificate) -> None:
    with pytest.raises(OutcomeUnknown, match="not a reply"):
        run(Behaviour(final_reply="ok, I guess"), certificate)
