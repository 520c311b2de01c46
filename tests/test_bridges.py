"""sasl_kit.bridges without a real server: the adapters as the libraries drive them.

The POP3 exchange runs against a scripted server on a socket pair that embeds a
sasl-kit server mechanism; the smtplib and imaplib adapters are called exactly
as those libraries call them. Real servers: tests/interop/test_dovecot.py and
tests/interop/test_postfix.py.
"""

from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

import sasl_kit
from sasl_kit import MalformedMessage, MutualAuthenticationFailed, UsageError, bridges
from sasl_kit.mechanisms.base import ClientMechanism, ClientOptions
from tests.smtp.fakes import Behaviour, FakeSMTPServer

USERS = {"tim": "tanstaaftanstaaf"}
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256")


def exchange(name: str, **options: object) -> bridges.Exchange:
    client = sasl_kit.client(name, username="tim", password=USERS["tim"], **options)
    return bridges.Exchange(name, client)


# --- the smtplib and imaplib adapters, called as the libraries call them -------------------


@pytest.mark.parametrize("name", MECHANISMS)
def test_smtplib_authobject_completes_every_mechanism(name: str) -> None:
    authobject = bridges.SMTPAuthObject(exchange(name))
    server = sasl_kit.server(name, USERS)
    initial = authobject()  # smtplib asks for an initial response first, then base64s it
    challenge = server.step(None if initial is None else initial.encode("ascii"))
    while not server.complete:
        challenge = server.step(authobject(challenge or b"").encode("ascii"))
    if challenge:  # success data travels as one more 334, answered empty
        assert authobject(challenge) == ""
    authobject.exchange.succeeded("fake")
    assert server.authcid == "tim"


@pytest.mark.parametrize("name", MECHANISMS)
def test_imap_authobject_answers_the_first_continuation_with_the_initial_response(
    name: str,
) -> None:
    authobject = bridges.IMAPAuthObject(exchange(name))
    server = sasl_kit.server(name, USERS)
    challenge = server.step(None)  # no SASL-IR in imaplib: "+ " first
    while not server.complete:
        answer = authobject(challenge or b"")
        assert answer is not None, authobject.error
        challenge = server.step(answer)
    if challenge:
        assert authobject(challenge) == b""
    authobject.exchange.succeeded("fake")


def test_imap_authobject_cancels_on_a_mechanism_error() -> None:
    authobject = bridges.IMAPAuthObject(exchange("DIGEST-MD5"))
    assert authobject(b"not a digest challenge") is None  # imaplib then sends "*"
    assert isinstance(authobject.error, MalformedMessage)


def test_smtplib_authobject_refuses_non_ascii_output() -> None:
    client = sasl_kit.client("PLAIN", username="anna", password="pässwörd")
    with pytest.raises(UsageError, match="only ASCII"):
        bridges.SMTPAuthObject(bridges.Exchange("PLAIN", client))()


class Chatty(ClientMechanism):
    """A server-first mechanism that never finishes: more rounds than smtplib allows."""

    name = "X-CHATTY"

    def _step(self, data: bytes | None) -> bytes | None:
        return b"more"


def test_smtplib_authobject_refuses_a_sixth_response() -> None:
    authobject = bridges.SMTPAuthObject(bridges.Exchange("X-CHATTY", Chatty(ClientOptions())))
    assert authobject() is None
    for _ in range(bridges.SMTPLIB_MAX_ROUNDS):
        assert authobject(b"again") == "more"
    with pytest.raises(UsageError, match="more than 5 responses"):
        authobject(b"again")


def test_a_challenge_where_the_initial_response_is_due_is_the_servers_fault() -> None:
    with pytest.raises(MalformedMessage, match="initial response was due"):
        exchange("PLAIN").respond(b"unexpected")


def test_success_before_the_server_proved_itself_is_refused() -> None:
    scram = exchange("SCRAM-SHA-256")
    server = sasl_kit.server("SCRAM-SHA-256", USERS)
    scram.respond(server.step(scram.initial_response()) or b"")
    with pytest.raises(MutualAuthenticationFailed, match="did not prove itself"):
        scram.succeeded("fake")


# --- POP3 AUTH (RFC 5034) against a scripted server ------------------------------------------


Script = Callable[["FakePOP3"], None]


class FakePOP3:
    """The server end of a socket pair: reads lines, writes lines, records what it read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.lines: list[str] = []

    def read(self) -> str:
        line = self.file.readline().decode().rstrip("\r\n")
        self.lines.append(line)
        return line

    def write(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")


def sasl_server(name: str, *, success_data: bool = True, **options: object) -> Script:
    """Serve one AUTH with a sasl-kit server mechanism, RFC 5034 framing."""

    def script(server: FakePOP3) -> None:
        mechanism = sasl_kit.server(name, USERS, **options)
        command = server.read().split(" ")
        initial = None if len(command) < 3 else b"" if command[2] == "=" else command[2]
        try:
            out = mechanism.step(None if initial is None else base64.b64decode(initial))
            while not mechanism.complete:
                server.write("+ " + base64.b64encode(out or b"").decode())
                out = mechanism.step(base64.b64decode(server.read()))
        except sasl_kit.SASLError:
            server.write("-ERR [AUTH] Authentication failed.")
            return
        if out and success_data:
            server.write("+ " + base64.b64encode(out).decode())
            assert server.read() == ""
        server.write("+OK Logged in.")

    return script


@contextmanager
def pop3(script: Script) -> Iterator[tuple[poplib.POP3, FakePOP3]]:
    ours, theirs = socket.socketpair()
    server = FakePOP3(theirs)
    thread = threading.Thread(target=script, args=(server,), daemon=True)
    thread.start()
    pop = poplib.POP3.__new__(poplib.POP3)  # the connected state, without connecting
    pop.host, pop.encoding, pop.sock, pop.file = "fake", "UTF-8", ours, ours.makefile("rb")
    ours.settimeout(10)
    try:
        yield pop, server
    finally:
        thread.join(10)
        ours.close()
        theirs.close()


@pytest.mark.parametrize("name", MECHANISMS)
def test_pop3_auth_completes_every_mechanism(name: str) -> None:
    with pop3(sasl_server(name)) as (pop, _):
        assert bridges.pop3_auth(pop, exchange(name)) == b"+OK Logged in."


def test_pop3_auth_sends_the_initial_response_on_the_command_line() -> None:
    with pop3(sasl_server("PLAIN")) as (pop, server):
        bridges.pop3_auth(pop, exchange("PLAIN"))
    assert server.lines == ["AUTH PLAIN " + base64.b64encode(b"\0tim\0tanstaaftanstaaf").decode()]


def test_pop3_auth_holds_back_an_initial_response_too_long_for_the_line() -> None:
    users = {"t" * 200: "secret"}

    def script(server: FakePOP3) -> None:
        assert server.read() == "AUTH PLAIN"
        server.write("+ ")
        assert base64.b64decode(server.read()) == b"\0" + b"t" * 200 + b"\0secret"
        server.write("+OK")

    client = sasl_kit.client("PLAIN", username="t" * 200, password=users["t" * 200])
    with pop3(script) as (pop, _):
        bridges.pop3_auth(pop, bridges.Exchange("PLAIN", client))


def test_pop3_auth_cancels_with_a_star_when_the_mechanism_fails() -> None:
    def script(server: FakePOP3) -> None:
        server.read()
        server.write("+ " + base64.b64encode(b"no digest challenge").decode())
        assert server.read() == "*"
        server.write("-ERR cancelled")

    with pop3(script) as (pop, server), pytest.raises(MalformedMessage):
        bridges.pop3_auth(pop, exchange("DIGEST-MD5"))
    assert server.lines[-1] == "*"


def test_pop3_auth_cancels_a_challenge_that_is_not_base64() -> None:
    def script(server: FakePOP3) -> None:
        server.read()
        server.write("+ not*base64")
        server.read()
        server.write("-ERR cancelled")

    with pop3(script) as (pop, server), pytest.raises(MalformedMessage, match="not base64"):
        bridges.pop3_auth(pop, exchange("CRAM-MD5"))
    assert server.lines[-1] == "*"


def test_pop3_err_is_poplibs_error() -> None:
    with pop3(sasl_server("CRAM-MD5")) as (pop, _):
        client = sasl_kit.client("CRAM-MD5", username="tim", password="wrong")
        with pytest.raises(poplib.error_proto, match="Authentication failed"):
            bridges.pop3_auth(pop, bridges.Exchange("CRAM-MD5", client))


def test_pop3_ok_before_the_server_proved_itself_is_refused() -> None:
    with (
        pop3(sasl_server("SCRAM-SHA-256", success_data=False)) as (pop, _),
        pytest.raises(MutualAuthenticationFailed),
    ):
        bridges.pop3_auth(pop, exchange("SCRAM-SHA-256"))


# --- a refused OAuth token: the server's status reaches each library's error --------------

OAUTH = ["OAUTHBEARER", "XOAUTH2"]
STATUS = {"OAUTHBEARER": "status 'invalid_token'", "XOAUTH2": "status '401'"}


def _token_owner(user: str, token: str) -> str | None:
    return user if token == "good-token" else None


@pytest.mark.parametrize("name", OAUTH)
def test_pop3_err_carries_the_oauth_status(name: str) -> None:
    with (
        pop3(sasl_server(name, validate_token=_token_owner)) as (pop, _),
        pytest.raises(poplib.error_proto) as caught,
    ):
        bridges.pop3_auth(pop, exchange(name, token="bad-token"))
    assert caught.value.args[0] == (
        f"-ERR [AUTH] Authentication failed.; its {name} error: {STATUS[name]}".encode()
    )


@pytest.mark.parametrize("name", OAUTH)
def test_a_token_alone_makes_the_oauth_mechanisms_usable(name: str) -> None:
    behaviour = Behaviour(
        mechanisms=(name, "PLAIN"), server_options={"validate_token": _token_owner}
    )
    with FakeSMTPServer(behaviour) as server, smtplib.SMTP("127.0.0.1", server.port) as smtp:
        chosen = bridges.smtp_authenticate(
            smtp, "tim", "", token="good-token", allow_plaintext=True
        )
    assert chosen == name  # PLAIN, with no password, is not chosen


@pytest.mark.parametrize("name", OAUTH)
def test_smtplib_535_carries_the_oauth_status(name: str) -> None:
    behaviour = Behaviour(mechanisms=(name,), server_options={"validate_token": _token_owner})
    with (
        FakeSMTPServer(behaviour) as server,
        smtplib.SMTP("127.0.0.1", server.port) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as caught,
    ):
        bridges.smtp_authenticate(smtp, "tim", "", token="bad-token", allow_plaintext=True)
    assert caught.value.smtp_code == 535
    assert caught.value.smtp_error.endswith(f"; its {name} error: {STATUS[name]}".encode())


def _imap_server(listener: socket.socket, name: str) -> None:
    """One IMAP session: CAPABILITY, then an AUTHENTICATE run by a sasl-kit server."""
    conn, _ = listener.accept()
    with conn, conn.makefile("rb") as lines:
        conn.sendall(b"* OK fake ready\r\n")
        while line := lines.readline().decode().rstrip("\r\n"):
            tag, command = line.split(" ")[:2]
            if command == "CAPABILITY":
                conn.sendall(f"* CAPABILITY IMAP4rev1 AUTH={name}\r\n{tag} OK done\r\n".encode())
            elif command == "AUTHENTICATE":
                mechanism = sasl_kit.server(
                    name, USERS, validate_token=_token_owner, host="127.0.0.1"
                )
                out = mechanism.step(None)
                try:
                    while not mechanism.complete:
                        conn.sendall(b"+ " + base64.b64encode(out or b"") + b"\r\n")
                        out = mechanism.step(base64.b64decode(lines.readline().strip()))
                except sasl_kit.SASLError:
                    conn.sendall(f"{tag} NO [AUTHENTICATIONFAILED] failed\r\n".encode())
            else:
                conn.sendall(f"{tag} OK bye\r\n".encode())
                return


@pytest.mark.parametrize("name", OAUTH)
def test_imaplib_no_carries_the_oauth_status(name: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=_imap_server, args=(listener, name), daemon=True)
        thread.start()
        imap = imaplib.IMAP4("127.0.0.1", listener.getsockname()[1], timeout=10)
        with pytest.raises(imaplib.IMAP4.error) as caught:
            bridges.imap_authenticate(imap, "tim", "", token="bad-token", allow_plaintext=True)
        imap.shutdown()
        thread.join(10)
    assert str(caught.value).endswith(f"; its {name} error: {STATUS[name]}")
