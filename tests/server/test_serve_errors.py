"""Errors of ``sasl-kit serve``: over-long lines, STARTTLS inside TLS, internal errors.

Each over-long line is followed, in the same write, by a command whose reply
proves the session is still in sync: the client gets exactly one reply for
the long line, then the reply to that command.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from typing import Any

import pytest

from sasl_kit.pytest_plugin import SMTP_PASSWORD, SMTP_USER
from sasl_kit.smtp_server import MailServer
from sasl_kit.smtp_server.smtp import Handler
from sasl_kit.smtp_server.store import Spool
from tests.server.running import Serve

LONG = 70 * 1024  # past the 64 KiB at which aiosmtpd's readline gave up (issue 12)
BODY = b"Subject: after\r\n\r\nHello.\r\n"
LEAKS = ("Error: (", "Errno", "Traceback", "/", "Exception", "RuntimeError")


def test_an_over_long_command_gets_one_500_and_the_next_command_its_own_reply(
    serve: Serve,
) -> None:
    with serve.wire() as wire:
        wire.start()
        wire.send(b"NOOP " + b"x" * LONG + b"\r\nNOOP\r\n")
        assert wire.reply().startswith("500 5.5.6 ")
        assert wire.reply() == "250 OK"
        assert wire.command("NOOP " + "x" * 600).startswith("500 5.5.6 ")  # RFC 5321: 512
        assert wire.command("NOOP").startswith("250 ")


def test_an_over_long_auth_answer_gets_one_500_5_5_6_and_the_session_stays_in_sync(
    serve: Serve,
) -> None:
    with serve.wire() as wire:
        wire.start()
        assert wire.command("AUTH CRAM-MD5").startswith("334 ")
        wire.send(b"A" * LONG + b"\r\nNOOP\r\n")
        reply = wire.reply()
        assert reply == "500 5.5.6 Authentication Exchange line is too long"  # RFC 4954 4
        assert wire.reply() == "250 OK"
        wire.login()  # AUTH works again afterwards
    assert "Separator" not in serve.log_text()


def test_an_auth_answer_of_12288_octets_is_read_as_an_answer(serve: Serve) -> None:
    with serve.wire() as wire:
        wire.start()
        assert wire.command("AUTH PLAIN").startswith("334 ")
        answer = base64.b64encode(b"\0alice\0" + b"p" * 9000)
        assert len(answer) + 2 <= 12288
        assert wire.command(answer).startswith("535 ")  # a wrong password, not a long line


def test_an_over_long_message_line_is_refused_after_the_data_and_nothing_is_stored(
    serve: Serve,
) -> None:
    body = b"Subject: long line\r\n\r\n" + b"z" * 5000 + b"\r\nend\r\n.\r\nNOOP\r\n"
    before = len(serve.messages())
    with serve.wire() as wire:
        wire.start()
        wire.login()
        assert wire.mail(body).startswith("500 5.5.6 ")
        assert wire.reply() == "250 OK"
        assert wire.mail(BODY + b".\r\n").startswith("250 ")
    assert [m.data for m in serve.messages()[before:]] == [BODY]


@pytest.mark.parametrize("implicit", [False, True])
def test_starttls_inside_tls_is_refused_and_the_session_goes_on(
    serve: Serve, tmp_path_factory: pytest.TempPathFactory, implicit: bool
) -> None:
    server = Serve(tmp_path_factory.mktemp("implicit"), "--implicit-tls") if implicit else serve
    try:
        context = ssl.create_default_context(cafile=server.cafile)
        if implicit:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=20)
            smtp.starttls(context=context)
        with smtp:
            assert smtp.docmd("STARTTLS") == (554, b"5.5.1 Error: TLS already active")
            assert smtp.noop()[0] == 250
            smtp.login("alice", "wonderland")
    finally:
        if implicit:
            server.stop()
    assert "Traceback" not in server.log_text()


# An internal error cannot be caused from outside a correct server: these two put one in,
# in-process (real sockets still), and check what the client gets and that serving goes on.


def _logged_in(server: MailServer) -> smtplib.SMTP:
    smtp = smtplib.SMTP(server.host, server.port, timeout=20)
    smtp.starttls(context=ssl.create_default_context(cafile=str(server.cafile)))
    smtp.login(SMTP_USER, SMTP_PASSWORD)
    return smtp


def test_an_internal_error_in_a_command_is_a_bare_451_and_the_session_goes_on(
    smtp_server: MailServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("secret detail at /srv/mail")

    monkeypatch.setattr(Handler, "handle_MAIL", broken)  # hooks are bound per connection
    with _logged_in(smtp_server) as smtp:
        code, text = smtp.docmd("MAIL", "FROM:<a@example.test>")
        assert (code, text) == (451, b"4.3.0 Error: local error in processing")
        assert smtp.noop()[0] == 250
    monkeypatch.undo()
    with _logged_in(smtp_server) as smtp:
        smtp.sendmail("a@example.test", ["b@example.test"], BODY)
    assert "secret detail at /srv/mail" in caplog.text  # the details are in the log
    assert len(smtp_server.messages()) == 1


def test_an_internal_error_while_the_data_arrives_is_a_421_and_the_server_goes_on(
    smtp_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Spool, data: bytes) -> None:
        raise RuntimeError("secret detail at /srv/mail")

    with _logged_in(smtp_server) as smtp:
        smtp.mail("a@example.test")
        smtp.rcpt("b@example.test")
        assert smtp.docmd("DATA")[0] == 354
        monkeypatch.setattr(Spool, "write", broken)
        smtp.send(BODY + b".\r\n")
        code, text = smtp.getreply()
    assert code == 421 and not any(leak.encode() in text for leak in LEAKS), text
    monkeypatch.undo()
    with _logged_in(smtp_server) as smtp:
        smtp.sendmail("a@example.test", ["b@example.test"], BODY)
    assert len(smtp_server.messages()) == 1


def test_a_failed_tls_handshake_closes_that_connection_only_and_frees_its_place(
    small_serve: Serve,
) -> None:
    for _ in range(3):  # more than --max-connections 2: each place must come back
        with small_serve.wire() as wire:
            wire.start(tls=False)
            assert wire.command("STARTTLS").startswith("220 ")
            wire.send(b"not a TLS ClientHello\r\n" * 10)
            assert wire.closed()
    with small_serve.wire() as wire:
        wire.start()
        wire.login()
    assert "TLS handshake failed" in small_serve.log_text()
    assert "Traceback" not in small_serve.log_text()


def test_the_fifth_unrecognized_command_is_answered_421_and_the_connection_closes(
    serve: Serve,
) -> None:
    with serve.wire() as wire:
        wire.start()
        replies = [wire.command(f"BOGUS{n}") for n in range(5)]
        assert replies[:4] == ["502 5.5.2 Error: command not recognized"] * 4
        assert replies[4].startswith("421 4.7.0 ")
        assert wire.closed()
