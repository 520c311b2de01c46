"""Strict mode, failed-authentication logs, SCRAM keys in the users file, injected faults."""

from __future__ import annotations

import base64
import logging
import smtplib
import socket
import ssl

import pytest

import sasl_kit
from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp.errors import ConnectionFailed, OutcomeUnknown
from sasl_kit.smtp_server import Faults, MailServer, Users, scram_line
from tests.smtp.fakes import Message

PLAIN = {"allow_plaintext_auth": True}
BODY = b"Subject: test\r\n\r\nHello.\r\n"


def _logged_in(server: MailServer) -> smtplib.SMTP:
    smtp = smtplib.SMTP(server.host, server.port, timeout=10)
    smtp.ehlo()
    smtp.auth("PLAIN", lambda challenge=None: f"\0{SMTP_USER}\0{SMTP_PASSWORD}")
    return smtp


@pytest.mark.smtp_server(**PLAIN)
@pytest.mark.parametrize(
    "data", [b"one\n.\r\nMAIL FROM:<x@evil.test>\r\n", b"one\r\n.\nsmuggled\r\n", b"a\rb\r\n"]
)
def test_strict_mode_refuses_bare_line_endings_and_stores_nothing(
    smtp_server: MailServer, data: bytes
) -> None:
    with _logged_in(smtp_server) as smtp:
        smtp.mail("user@example.test")
        smtp.rcpt("to@example.test")
        assert smtp.docmd("DATA")[0] == 354
        smtp.send(data + b".\r\n")
        code, text = smtp.getreply()
    assert code == 554 and b"bare CR or LF" in text
    assert smtp_server.messages() == []


@pytest.mark.smtp_server(strict=False, **PLAIN)
def test_no_strict_stores_bare_line_endings_as_received(smtp_server: MailServer) -> None:
    with _logged_in(smtp_server) as smtp:
        smtp.mail("user@example.test")
        smtp.rcpt("to@example.test")
        smtp.docmd("DATA")
        smtp.send(b"one\ntwo\r\n.\r\n")
        assert smtp.getreply()[0] == 250
    assert smtp_server.messages()[0].data == b"one\ntwo\r\n"


@pytest.mark.smtp_server(**PLAIN)
@pytest.mark.parametrize(
    ("mechanism", "options", "logged"),
    [
        ("CRAM-MD5", {"password": "wrong"}, "wrong credentials"),
        ("DIGEST-MD5", {"host": "elsewhere.test"}, "digest-uri"),
        ("DIGEST-MD5", {"realm": "other.test"}, "realm"),
        ("SCRAM-SHA-256", {"password": "wrong"}, "wrong credentials"),
    ],
)
def test_failed_authentication_is_logged_with_the_reason_not_the_secret(
    smtp_server: MailServer,
    caplog: pytest.LogCaptureFixture,
    mechanism: str,
    options: dict[str, str],
    logged: str,
) -> None:
    client_options = {"username": SMTP_USER, "password": SMTP_PASSWORD, "host": "127.0.0.1"}
    client = sasl_kit.client(mechanism, **{**client_options, **options})
    caplog.set_level(logging.WARNING, logger="sasl_kit.server")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.ehlo()
        code, text = smtp.docmd("AUTH", mechanism)
        while code == 334:
            answer = client.step(base64.b64decode(text))
            code, text = smtp.docmd(base64.b64encode(answer or b"").decode())
    assert code == 535
    (record,) = [r for r in caplog.records if r.name == "sasl_kit.server"]
    assert logged in record.getMessage() and f"AUTH {mechanism} failed" in record.getMessage()
    assert SMTP_PASSWORD not in record.getMessage()


@pytest.mark.smtp_server(**PLAIN)
def test_a_malformed_response_is_logged_as_such(
    smtp_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sasl_kit.server")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.ehlo()
        code, _ = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(b"no-separators").decode())
    assert code == 501
    assert "malformed response: PLAIN: expected 2 NUL separators" in caplog.records[-1].getMessage()


def test_users_stored_as_scram_keys_log_in_with_that_mechanism_only(
    smtp_server_factory: object,
) -> None:
    users = Users.parse(scram_line("kim", "s3cret", "SCRAM-SHA-256") + "\n")
    server = smtp_server_factory(users=users)  # type: ignore[operator]
    with SMTPClient(server.host, server.port, cafile=str(server.cafile), timeout=10) as smtp:
        assert smtp.login("kim", "s3cret", mechanisms=["SCRAM-SHA-256"]) == "SCRAM-SHA-256"
    with (
        SMTPClient(server.host, server.port, cafile=str(server.cafile), timeout=10) as smtp,
        pytest.raises(sasl_kit.AuthenticationFailed),
    ):
        smtp.login("kim", "s3cret", mechanisms=["CRAM-MD5"])


@pytest.mark.parametrize("code", [421, 451, 452, 554])
def test_an_injected_fault_code_reaches_the_client(smtp_server_factory: object, code: int) -> None:
    faults = Faults(rate=1.0, codes=(code,), commands=("MAIL",))
    server = smtp_server_factory(faults=faults)  # type: ignore[operator]
    with SMTPClient(server.host, server.port, cafile=str(server.cafile), timeout=10) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        result = smtp.send(Message("user@example.test", ("to@example.test",), BODY))
    assert result.status is (Status.TEMPORARY if code < 500 else Status.REJECTED)
    assert server.messages() == []


def test_a_seeded_fault_rate_picks_the_same_commands_each_run(smtp_server_factory: object) -> None:
    def codes() -> list[int]:
        faults = Faults(rate=0.5, codes=(451,), commands=("NOOP",), seed=7)
        server = smtp_server_factory(faults=faults)  # type: ignore[operator]
        with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
            return [smtp.noop()[0] for _ in range(20)]

    first = codes()
    assert first == codes() and set(first) == {250, 451}


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ("greeting", ConnectionFailed),
        ("EHLO", ConnectionFailed),
        ("AUTH", ConnectionFailed),
        ("end-of-data", OutcomeUnknown),  # the data was sent: the client cannot know
    ],
)
def test_a_connection_dropped_at_a_step_is_seen_by_the_client(
    smtp_server_factory: object, step: str, error: type[Exception]
) -> None:
    server = smtp_server_factory(faults=Faults(drop_at=step))  # type: ignore[operator]
    with (
        pytest.raises(error),
        SMTPClient(server.host, server.port, cafile=str(server.cafile), timeout=10) as smtp,
    ):
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send(Message("user@example.test", ("to@example.test",), BODY))
    assert server.messages() == []


def test_a_delayed_reply_outlasts_a_short_client_timeout(smtp_server_factory: object) -> None:
    server = smtp_server_factory(faults=Faults(delay=5.0, delay_at="greeting"))  # type: ignore[operator]
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)


def test_implicit_tls_offers_and_accepts_plain(smtp_server_factory: object) -> None:
    server = smtp_server_factory(implicit_tls=True)  # type: ignore[operator]
    context = ssl.create_default_context(cafile=str(server.cafile))
    with smtplib.SMTP_SSL(server.host, server.port, context=context, timeout=10) as smtp:
        smtp.ehlo()
        assert "STARTTLS" not in smtp.esmtp_features
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        smtp.auth("PLAIN", lambda challenge=None: f"\0{SMTP_USER}\0{SMTP_PASSWORD}")
