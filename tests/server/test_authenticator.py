"""``SASLAuthenticator`` on a stock aiosmtpd ``Controller``: every registry mechanism, serve's
policies (TLS before PLAIN/LOGIN, -PLUS with this server's channel binding)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller

import sasl_kit
from sasl_kit import channel_binding
from sasl_kit.certificates import self_signed
from sasl_kit.smtp import SMTPClient
from sasl_kit.smtp_server import SASLAuthenticator, Users

USER, PASSWORD = "tim", "tanstaaftanstaaf"
PASSWORD_MECHANISMS = [
    info.name
    for info in sasl_kit.default_registry
    if info.has_server and info.has_client and info.credential == "password"
]


class Collect:
    """The application's own handler: keeps what it gets, and who sent it."""

    def __init__(self) -> None:
        self.received: list[tuple[object, bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.received.append(
            (getattr(session, "auth_data", None), getattr(envelope, "content", b""))
        )
        return "250 OK"


@dataclass
class Running:
    port: int
    cafile: str
    handler: Collect


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("tls")
    made = self_signed(("127.0.0.1",))
    cert, key = made.write(directory)
    der = made.der
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    authenticator = SASLAuthenticator(
        Users.from_passwords({USER: PASSWORD}), hostname="127.0.0.1",
        channel_binding=channel_binding.tls_server_end_point(der),
    )  # fmt: skip
    handler = authenticator.install(Collect())
    with socket.socket() as probe:  # a free port: aiosmtpd's Controller checks it connects
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        yield Running(port, str(cert), handler)
    finally:
        controller.stop()


def _client(running: Running, **kwargs: object) -> SMTPClient:
    return SMTPClient("127.0.0.1", running.port, cafile=running.cafile, timeout=10,
                      channel_binding=channel_binding.hook("tls-server-end-point"),
                      **kwargs)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("mechanism", PASSWORD_MECHANISMS)
def test_every_password_mechanism_logs_in_on_a_stock_controller(
    running: Running, mechanism: str
) -> None:
    with _client(running) as smtp:
        assert smtp.login(USER, PASSWORD, mechanisms=[mechanism]) == mechanism
        smtp.send(_Message())
    auth_data, content = running.handler.received[-1]
    assert auth_data == (mechanism, USER, USER)
    assert b"Hello" in content


def test_a_wrong_password_is_535(running: Running) -> None:
    with _client(running) as smtp, pytest.raises(sasl_kit.AuthenticationFailed):
        smtp.login(USER, "wrong", mechanisms=["SCRAM-SHA-256"])


def test_plaintext_mechanisms_wait_for_tls_and_plus_needs_it(running: Running) -> None:
    with smtplib.SMTP("127.0.0.1", running.port, timeout=10) as smtp:
        smtp.ehlo()
        before = smtp.esmtp_features["auth"].split()
        assert smtp.docmd("AUTH", "PLAIN")[0] == 538
        smtp.starttls(context=ssl.create_default_context(cafile=running.cafile))
        smtp.ehlo()
        after = smtp.esmtp_features["auth"].split()
    assert "PLAIN" not in before and "SCRAM-SHA-256-PLUS" not in before and "CRAM-MD5" in before
    assert {"PLAIN", "LOGIN", "SCRAM-SHA-256-PLUS"} <= set(after)


def test_smtplib_authenticates_through_its_own_login(running: Running) -> None:
    with smtplib.SMTP("127.0.0.1", running.port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=running.cafile))
        smtp.login(USER, PASSWORD)  # smtplib's own CRAM-MD5
        smtp.sendmail("a@example.test", ["b@example.test"], b"Subject: x\r\n\r\nHello\r\n")
    assert running.handler.received[-1][0] == ("CRAM-MD5", USER, USER)


class _Message:
    sender = "a@example.test"
    recipients = ("b@example.test",)
    smtputf8 = False
    eight_bit = False

    def chunks(self) -> Iterator[bytes]:
        yield b"Subject: x\r\n\r\nHello\r\n"

    def size(self) -> int:
        return len(b"Subject: x\r\n\r\nHello\r\n")
