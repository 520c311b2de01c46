"""A real Postfix 3.7 authenticating its SMTP clients through ``sasl-kit auth-server``.

A private Postfix (``tests/interop/mta.py``) with ``smtpd_sasl_type = dovecot`` points
at sasl-kit's auth service instead of Dovecot's. Independent clients log in over
STARTTLS: swaks (and the message is delivered), GNU SASL's ``gsasl --smtp`` (it only
authenticates) and ``sasl-kit send``. A wrong password gets Postfix's 535; an auth
service that is gone gets Postfix's temporary failure (454), never an acceptance.
The handshake Postfix receives is compared with the one Dovecot 2.3 sends, and so is
what each service does with a line of exactly its 16384 bytes and one byte more, and
with an AUTH that has a field after ``resp=``: Dovecot 2.3.19 logs "BUG:
Authentication client ... sent AUTH parameters after 'resp'" and closes the
connection without an answer (auth-request-handler.c: ``resp`` must be the last
parameter), whatever the field (an unknown one, ``secured``, an empty one). The
protocol's document (doc.dovecot.org, "Dovecot Authentication Protocol") says
"Everything after it is ignored"; the server does not ignore it, it disconnects.
An AUTH with request id 0 is closed the same way ("BUG: Authentication client 0 sent
broken AUTH request", auth-request-handler.c: ``id == 0`` is refused with a
malformed id), where ours used to answer it. A message the mechanism cannot parse gets a
bare ``FAIL <id>`` from Dovecot, delayed as a wrong password is (auth-request.c:
``auth_request_fail``), and only its log says why: "plain(?): invalid input",
"cram-md5(?): missing digest", "scram-sha-1(?): Invalid initial client message: Missing
first ',' in GS2 header"; a Postfix in front tells its client "535 5.7.8 Error:
authentication failed: (reason unavailable)". Ours sent reason="Malformed SASL message";
it now answers as Dovecot does and its own log line says what was wrong. A response
that is not base64 gets ``FAIL <id> code=invalid_base64 reason=Invalid base64 data in
initial response`` (or "continued response") at once, logged as that reason; Dovecot's
decoder (lib/base64.c) skips spaces, TABs, CRs and LFs anywhere, wants the padding and
nothing after it, and does not check the unused bits: the tests send the same texts to
both services. ``resp==`` is an empty initial response to Dovecot (auth-request-handler.c:
"=" is what SASL protocols send for one, and Postfix passes ``AUTH PLAIN =`` on so): PLAIN
and SCRAM-SHA-1 then fail it with a bare FAIL ("plain(?): invalid input", "scram-sha-1(?):
Invalid initial client message: Missing first ',' in GS2 header"), LOGIN asks
"Username:" and CRAM-MD5 sends its challenge; an empty ``resp=`` is the same from minor
version 2 on and no initial response before (PLAIN then sends an empty CONT). Ours
answered "Invalid base64 data in initial response" to ``resp==``. A VERSION line that is
not two numbers closes both ("sent invalid VERSION line"). A CONT for no waiting request
(an unknown id, 0, or one that has just failed) gets ``FAIL <id> reason=Authentication
request timed out`` from Dovecot at once, nothing logged, and the connection goes on
(ours closed it); a CONT without an id and data, or with an id that is not a 32-bit
number, closes it ("BUG: Authentication client sent broken CONT request"); the data is
all after the id, TABs included (skipped by the base64 decoder). A non-empty answer to
the final data (SCRAM's ``v=`` sent as a CONT) still gets OK from Dovecot
(auth-request.c: a request that has succeeded ignores its last data); ours failed it.
Dovecot takes no request before the client's CPID ("BUG: Authentication client sent
unknown handshake command: AUTH...") nor a CPID of 0 or not a number ("BUG:
Authentication client said it's PID 0"): it closes; ours answered. ``CANCEL <id>`` makes
Dovecot forget the request and answer nothing (a CONT for it then "timed out"), and
closes on a CANCEL whose id is not a number; ours closed on any CANCEL. A NUL in the
data of a mechanism not flagged ``MECH_SEC_ALLOW_NULS`` (of ours, all but PLAIN and NTLM)
is a bare FAIL before the mechanism sees it (auth-request.c, logged at debug level only,
"Unexpected NUL in auth data"); ours let LOGIN take a user name with a NUL and ask for
the password. Dovecot's CRAM-MD5 and DIGEST-MD5 ignore an initial response and send
their challenge (mech-cram-md5.c, mech-digest-md5.c); ours failed CRAM-MD5's. Dovecot
reads a line as bytes: one that is not UTF-8 is bad base64 in a response and nothing in
a field it does not read; ours closed the connection on any such line (Postfix itself
refuses a command that is not UTF-8, "500 5.5.2 Error: bad UTF-8 syntax", so it never
forwards one).
"""

from __future__ import annotations

import base64
import logging
import smtplib
import socket
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sasl_kit
from sasl_kit.auth_service import AuthService, Listen, ServiceConfig
from sasl_kit.auth_service.protocol import MAX_LINE
from sasl_kit.smtp_server.users import Users
from tests.interop.conftest import require_programs
from tests.interop.mta import DOMAIN, HOST, Dovecot, MailSite, Postfix
from tests.interop.peers import ALICE, ANNA

pytestmark = pytest.mark.interop

SWAKS, GSASL = "/usr/bin/swaks", "/usr/bin/gsasl"
TIMEOUT = 30
SENDER, RECIPIENT = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
SWAKS_MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"]  # swaks has no SCRAM


@dataclass(frozen=True)
class _AuthAddress:
    """What ``Postfix`` reads of its auth service: the port of ``smtpd_sasl_path``."""

    auth_port: int


class PostfixKit(Postfix):
    """A Postfix of its own (its own directory under the site) that asks our service."""

    name = "postfix-kit"


class Service:
    """sasl-kit's auth service on a fixed port, so that it can be stopped and started again."""

    def __init__(self) -> None:
        users = Users.from_passwords({a.user: a.password for a in (ALICE, ANNA)})
        self.config = ServiceConfig(users, Listen(host=HOST), hostname=HOST, failure_delay=0)
        self.running = AuthService(self.config).start()
        self.port = self.running.port

    def restart(self) -> None:
        self.running.stop()
        self.running = AuthService(
            ServiceConfig(
                self.config.users,
                Listen(host=HOST, port=self.port),
                hostname=HOST,
                failure_delay=0,
            )
        ).start()


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    running = Service()
    yield running
    running.running.stop()


@pytest.fixture(scope="module")
def postfix_kit(mail_store: MailSite, service: Service) -> Iterator[Postfix]:
    require_programs(SWAKS, GSASL)
    server = PostfixKit(mail_store, _AuthAddress(service.port))  # type: ignore[arg-type]
    with server:
        server.start()
        yield server


def _handshake(port: int) -> list[str]:
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as conn:
        conn.sendall(b"VERSION\t1\t2\nCPID\t1\n")
        data = b""
        while not data.endswith(b"DONE\n"):
            chunk = conn.recv(65536)
            assert chunk, "the service closed before DONE"
            data += chunk
    return data.decode().splitlines()


def test_the_handshake_has_the_shape_dovecot_gives_postfix(
    service: Service, dovecot: Dovecot
) -> None:
    ours, theirs = _handshake(service.port), _handshake(dovecot.auth_port)
    shape = [line.split("\t")[0] for line in theirs]
    assert [line.split("\t")[0] for line in ours if not line.startswith("MECH")] == [
        word for word in shape if word != "MECH"
    ]
    assert ours[0] == theirs[0] == "VERSION\t1\t2"
    ours_mechs = {line.split("\t")[1]: line.split("\t")[2:] for line in ours if line[:4] == "MECH"}
    dovecots = {line.split("\t")[1]: line.split("\t")[2:] for line in theirs if line[:4] == "MECH"}
    assert set(MECHANISMS) <= set(ours_mechs)
    for name in ("PLAIN", "LOGIN"):  # what Postfix's noplaintext reads: the same words
        assert ours_mechs[name] == dovecots[name] == ["plaintext"]
    for name in ("CRAM-MD5", "DIGEST-MD5"):
        assert {"dictionary", "active"} <= set(ours_mechs[name]) & set(dovecots[name])


HELLO = b"VERSION\t1\t2\nCPID\t1\n"


def _answers(port: int, *lines: bytes, hello: bytes = HELLO) -> list[bytes]:
    """What a service answers each of ``lines`` after its handshake and the client's
    ``hello``: one line each, b"" for each line from where it closed."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as conn:
        conn.sendall(hello)
        data = b""
        while not data.endswith(b"DONE\n"):
            data += conn.recv(65536)
        answers = []
        try:
            for line in lines:
                conn.sendall(line)
                answer = b""
                while not answer.endswith(b"\n") and (chunk := conn.recv(65536)):
                    answer += chunk
                answers.append(answer)
                if not answer:
                    break
        except ConnectionError:  # closed while we still sent or read: no answer
            answers.append(b"")
        return answers + [b""] * (len(lines) - len(answers))


def _answer(port: int, line: bytes) -> bytes:
    """What a service answers ``line`` after the handshake: one line, or b"" if it closed."""
    return _answers(port, line)[0]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_a_line_at_the_limit_is_answered_and_one_byte_more_closes_as_dovecot_does(
    service: Service, dovecot: Dovecot, ending: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sasl_kit.auth_service")
    response = _plain(ALICE.user, ALICE.password).encode()
    head, tail = b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tpad=", b"\tresp=" + response + ending
    for total, expected in ((MAX_LINE, b"OK\t1\tuser=alice\n"), (MAX_LINE + 1, b"")):
        line = head + b"x" * (total - len(head) - len(tail)) + tail
        assert (_answer(service.port, line), _answer(dovecot.auth_port, line)) == (
            expected,
            expected,
        ), total
    assert "broke the protocol: the client sent a line longer than 16384" in caplog.text
    assert "internal error" not in caplog.text
    assert _handshake(service.port)[-1] == "DONE"  # the service itself goes on


AFTER_RESP = [
    pytest.param("\tfoo=bar", id="unknown"),
    pytest.param("\tsecured", id="secured"),
    pytest.param("\t", id="empty"),
]


def _auth_plain(after: str = "") -> bytes:
    resp = _plain(ALICE.user, ALICE.password)
    return f"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp={resp}{after}\n".encode()


@pytest.mark.parametrize("after", AFTER_RESP)
def test_dovecot_closes_the_connection_on_a_field_after_resp(dovecot: Dovecot, after: str) -> None:
    said = "sent AUTH parameters after 'resp'"
    before = dovecot.log_count(said)
    assert _answer(dovecot.auth_port, _auth_plain()) == b"OK\t1\tuser=alice\n"
    assert _answer(dovecot.auth_port, _auth_plain(after)) == b""  # no FAIL: it closes
    assert dovecot.logged_again(said, before)


@pytest.mark.parametrize("after", AFTER_RESP)
def test_our_service_closes_on_a_field_after_resp_as_dovecot_does(
    service: Service, dovecot: Dovecot, after: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sasl_kit.auth_service")
    line = _auth_plain(after)
    assert (_answer(service.port, line), _answer(dovecot.auth_port, line)) == (b"", b"")
    said = "broke the protocol: AUTH 1 has a field after resp=, which must be last"
    assert said in caplog.text
    assert _answer(service.port, _auth_plain()) == b"OK\t1\tuser=alice\n"  # resp last: fine


def _auth_cram(rid: int) -> bytes:
    return f"AUTH\t{rid}\tCRAM-MD5\tservice=smtp\n".encode()


def test_dovecot_closes_the_connection_on_an_auth_with_id_0(dovecot: Dovecot) -> None:
    said = "sent broken AUTH request"
    before = dovecot.log_count(said)
    assert _answer(dovecot.auth_port, _auth_cram(1)).startswith(b"CONT\t1\t")
    assert _answer(dovecot.auth_port, _auth_cram(0)) == b""  # no FAIL: it closes
    assert dovecot.logged_again(said, before)


def test_our_service_closes_on_an_auth_with_id_0_as_dovecot_does(
    service: Service, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sasl_kit.auth_service")
    for line in (_auth_cram(0), _auth_plain().replace(b"AUTH\t1\t", b"AUTH\t0\t")):
        assert (_answer(service.port, line), _answer(dovecot.auth_port, line)) == (b"", b"")
    assert "broke the protocol: AUTH with request id 0 (ids start at 1)" in caplog.text


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


MALFORMED = [
    pytest.param(
        [b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=" + _b64(b"alicewonderland") + b"\n"],
        "plain(?): invalid input",
        id="plain-initial",
    ),
    pytest.param(
        [b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\n", b"CONT\t1\t" + _b64(b"alice") + b"\n"],
        "plain(?): invalid input",
        id="plain-continued",
    ),
    pytest.param(
        [b"AUTH\t1\tCRAM-MD5\tservice=smtp\n", b"CONT\t1\t" + _b64(b"nospace") + b"\n"],
        "cram-md5(?): missing digest",
        id="cram-md5",
    ),
    pytest.param(
        [b"AUTH\t1\tSCRAM-SHA-1\tservice=smtp\tresp=" + _b64(b"garbage") + b"\n"],
        "scram-sha-1(?): Invalid initial client message: Missing first ',' in GS2 header",
        id="scram",
    ),
]


@pytest.mark.parametrize(("lines", "said"), MALFORMED)
def test_dovecot_answers_a_malformed_sasl_message_with_a_bare_fail(
    dovecot: Dovecot, lines: list[bytes], said: str
) -> None:
    before = dovecot.log_count(said)
    assert _answers(dovecot.auth_port, *lines)[-1] == b"FAIL\t1\n"  # no reason=, no code=
    assert dovecot.logged_again(said, before)


@pytest.mark.parametrize(("lines", "said"), MALFORMED)
def test_our_service_answers_a_malformed_message_as_dovecot_does_and_logs_why(
    service: Service,
    dovecot: Dovecot,
    lines: list[bytes],
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sasl_kit.auth_service")
    ours, theirs = _answers(service.port, *lines), _answers(dovecot.auth_port, *lines)
    assert ours[-1] == theirs[-1] == b"FAIL\t1\n"
    assert [a.split(b"\t")[:2] for a in ours[:-1]] == [a.split(b"\t")[:2] for a in theirs[:-1]]
    assert "got a malformed message" in caplog.text


def _plain_with(where: str, text: str) -> list[bytes]:
    """A PLAIN request whose response is ``text``: in ``resp=``, or in a CONT."""
    if where == "resp":
        return [f"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp={text}\n".encode()]
    return [b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\n", f"CONT\t1\t{text}\n".encode()]


def test_dovecot_fails_a_response_that_is_not_base64_at_once_with_a_code(
    dovecot: Dovecot,
) -> None:
    for where, said in (("resp", "initial response"), ("cont", "continued response")):
        logged = f"plain(?): Invalid base64 data in {said}"
        before = dovecot.log_count(logged)
        assert _answers(dovecot.auth_port, *_plain_with(where, "!!!!"))[-1] == (
            f"FAIL\t1\tcode=invalid_base64\treason=Invalid base64 data in {said}\n".encode()
        )
        assert dovecot.logged_again(logged, before)


_SPACED = _b64(f"\0{ALICE.user}\0{ALICE.password}".encode()).decode()
BASE64_TEXTS = [
    pytest.param("!!!!", id="not-base64"),
    pytest.param("QUFB=", id="padding-after-a-whole-quantum"),
    pytest.param("QUFBQQ", id="padding-missing"),
    pytest.param("QUFBQQ= =", id="space-inside-the-padding"),
    pytest.param("QR==", id="unused-bits-set"),
    pytest.param(" ", id="only-a-space"),
    pytest.param(f"{_SPACED[:4]} {_SPACED[4:9]}\r{_SPACED[9:]} ", id="spaces-inside"),
]


@pytest.mark.parametrize("where", ["resp", "cont"])
@pytest.mark.parametrize("text", BASE64_TEXTS)
def test_our_service_reads_base64_as_dovecot_does(
    service: Service, dovecot: Dovecot, where: str, text: str
) -> None:
    lines = _plain_with(where, text)
    assert _answers(service.port, *lines) == _answers(dovecot.auth_port, *lines)


def _hello(minor: int) -> bytes:
    return f"VERSION\t1\t{minor}\nCPID\t1\n".encode()


EMPTY_INITIAL = [  # (minor version, mechanism, resp=): Dovecot 2.3.19's first answer
    pytest.param(2, "PLAIN", "=", b"FAIL\t1\n", id="equals-plain"),
    pytest.param(0, "PLAIN", "=", b"FAIL\t1\n", id="equals-plain-minor-0"),
    pytest.param(2, "LOGIN", "=", b"CONT\t1\tVXNlcm5hbWU6\n", id="equals-login"),
    pytest.param(2, "SCRAM-SHA-1", "=", b"FAIL\t1\n", id="equals-scram"),
    pytest.param(2, "CRAM-MD5", "=", b"CONT\t1\t", id="equals-cram-md5"),
    pytest.param(2, "PLAIN", "", b"FAIL\t1\n", id="empty-plain"),
    pytest.param(0, "PLAIN", "", b"CONT\t1\t\n", id="empty-plain-minor-0"),
]


def _auth_with(mechanism: str, resp: str) -> bytes:
    return f"AUTH\t1\t{mechanism}\tservice=smtp\tsecured\tresp={resp}\n".encode()


@pytest.mark.parametrize(("minor", "mechanism", "resp", "first"), EMPTY_INITIAL)
def test_dovecot_takes_resp_equals_for_an_empty_initial_response(
    dovecot: Dovecot, minor: int, mechanism: str, resp: str, first: bytes
) -> None:
    (answer,) = _answers(dovecot.auth_port, _auth_with(mechanism, resp), hello=_hello(minor))
    assert answer.startswith(first) and answer.endswith(b"\n")


@pytest.mark.parametrize(("minor", "mechanism", "resp", "first"), EMPTY_INITIAL)
def test_our_service_reads_an_empty_initial_response_as_dovecot_does(
    service: Service, dovecot: Dovecot, minor: int, mechanism: str, resp: str, first: bytes
) -> None:
    line, hello = _auth_with(mechanism, resp), _hello(minor)
    (ours,), (theirs,) = (_answers(p, line, hello=hello) for p in (service.port, dovecot.auth_port))
    if mechanism == "CRAM-MD5":  # a challenge of its own: compare up to it
        ours, theirs = ours[: len(first)], theirs[: len(first)]
    assert ours == theirs


@pytest.mark.parametrize("version", [b"VERSION\t1\tx\n", b"VERSION\t1\t2\tx\n", b"VERSION\t1\n"])
def test_a_version_line_not_of_two_numbers_closes_both_services(
    service: Service, dovecot: Dovecot, version: bytes
) -> None:
    line, said = _auth_cram(1), "sent invalid VERSION line"
    before = dovecot.log_count(said)
    assert (
        _answers(service.port, line, hello=version + b"CPID\t1\n"),
        _answers(dovecot.auth_port, line, hello=version + b"CPID\t1\n"),
    ) == ([b""], [b""])
    assert dovecot.logged_again(said, before)


_OK_PLAIN = _b64(f"\0{ALICE.user}\0{ALICE.password}".encode())
_TIMED_OUT = b"reason=Authentication request timed out\n"


def test_dovecot_fails_a_cont_for_no_request_as_timed_out_and_goes_on(dovecot: Dovecot) -> None:
    auth = b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=" + _OK_PLAIN + b"\n"
    assert _answers(dovecot.auth_port, b"CONT\t7\tAAAA\n", auth, b"CONT\t1\t\n") == [
        b"FAIL\t7\t" + _TIMED_OUT,
        b"OK\t1\tuser=alice\n",
        b"FAIL\t1\t" + _TIMED_OUT,  # done with: as unknown as one never started
    ]


def test_dovecot_closes_on_a_cont_without_an_id_and_data(dovecot: Dovecot) -> None:
    said = "sent broken CONT request"
    before = dovecot.log_count(said)
    assert _answers(dovecot.auth_port, b"CONT\t7\n") == [b""]
    assert dovecot.logged_again(said, before)


CONTS = [
    pytest.param([b"CONT\t7\tAAAA\n", b"CONT\t0\t\n"], id="no-such-request"),
    pytest.param(
        [b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=" + _b64(b"x") + b"\n", b"CONT\t1\t\n"],
        id="after-its-fail",
    ),
    pytest.param(
        [
            b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\n",
            b"CONT\t1\t" + _OK_PLAIN[:8] + b"\t" + _OK_PLAIN[8:] + b"\n",
        ],
        id="data-split-by-a-tab",
    ),
    pytest.param([b"CONT\t7\n"], id="no-data"),
    pytest.param([b"CONT\tx\tAAAA\n"], id="not-a-number"),
    pytest.param([b"CONT\t4294967296\tAAAA\n"], id="over-32-bits"),
]


@pytest.mark.parametrize("lines", CONTS)
def test_our_service_answers_a_cont_as_dovecot_does(
    service: Service, dovecot: Dovecot, lines: list[bytes]
) -> None:
    assert _answers(service.port, *lines) == _answers(dovecot.auth_port, *lines)


def _scram_answering_the_final_data(port: int, answer: bytes) -> list[bytes]:
    """A SCRAM-SHA-256 login whose client answers the server's v= with ``answer``: the
    service's four answers (server-first, v=, the answer's, and to a CONT after it)."""
    client = sasl_kit.client("SCRAM-SHA-256", username=ALICE.user, password=ALICE.password)
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as conn:
        conn.sendall(b"VERSION\t1\t2\nCPID\t1\n")
        reader = conn.makefile("rb")
        while reader.readline() != b"DONE\n":
            pass

        def send(line: bytes) -> bytes:
            conn.sendall(line + b"\n")
            return reader.readline()

        first = client.step(b"")
        assert first is not None
        server_first = send(b"AUTH\t1\tSCRAM-SHA-256\tservice=smtp\tresp=" + _b64(first))
        final = client.step(base64.b64decode(server_first.split(b"\t")[2]))
        assert final is not None
        verifier = send(b"CONT\t1\t" + _b64(final))
        return [server_first, verifier, send(b"CONT\t1\t" + _b64(answer)), send(b"CONT\t1\t")]


def test_dovecot_says_ok_to_a_non_empty_answer_to_the_final_data(dovecot: Dovecot) -> None:
    answers = _scram_answering_the_final_data(dovecot.auth_port, b"not empty")
    assert [a.split(b"\t")[0] for a in answers[:2]] == [b"CONT", b"CONT"]
    assert answers[2:] == [b"OK\t1\tuser=alice\n", b"FAIL\t1\t" + _TIMED_OUT]


def test_our_service_says_ok_to_a_non_empty_answer_to_the_final_data_as_dovecot_does(
    service: Service, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sasl_kit.auth_service")
    ours, theirs = (
        _scram_answering_the_final_data(p, b"x") for p in (service.port, dovecot.auth_port)
    )
    assert ours[2:] == theirs[2:]
    assert "a non-empty answer to the final data, ignored" in caplog.text


HELLOS = [  # a client handshake Dovecot refuses, and what it logs
    pytest.param(b"VERSION\t1\t2\n", "sent unknown handshake command: AUTH", id="no-cpid"),
    pytest.param(b"VERSION\t1\t2\nCPID\t0\n", "said it's PID 0", id="cpid-0"),
    pytest.param(b"VERSION\t1\t2\nCPID\tx\n", "said it's PID 0", id="cpid-not-a-number"),
]


@pytest.mark.parametrize(("hello", "said"), HELLOS)
def test_dovecot_closes_a_connection_whose_handshake_lacks_a_cpid(
    dovecot: Dovecot, hello: bytes, said: str
) -> None:
    before = dovecot.log_count(said)
    assert _answers(dovecot.auth_port, _auth_cram(1), hello=hello) == [b""]
    assert dovecot.logged_again(said, before)


@pytest.mark.parametrize(("hello", "said"), HELLOS)
def test_our_service_closes_without_a_cpid_as_dovecot_does(
    service: Service, dovecot: Dovecot, hello: bytes, said: str
) -> None:
    line = _auth_cram(1)
    assert (
        _answers(service.port, line, hello=hello),
        _answers(dovecot.auth_port, line, hello=hello),
    ) == ([b""], [b""])


CANCELS = [  # CANCEL is never answered: each goes with the line after it
    pytest.param([_auth_cram(1), b"CANCEL\t1\nCONT\t1\tAAAA\n"], id="then-its-cont"),
    pytest.param([b"CANCEL\t9\n" + _auth_cram(1)], id="unknown-id"),
    pytest.param([b"CANCEL\tx\n"], id="not-a-number"),
]


def test_dovecot_forgets_a_cancelled_request_without_an_answer(dovecot: Dovecot) -> None:
    answers = _answers(dovecot.auth_port, _auth_cram(1), b"CANCEL\t1\n" + _auth_cram(1))
    assert [a.split(b"\t")[:2] for a in answers] == [[b"CONT", b"1"], [b"CONT", b"1"]]


@pytest.mark.parametrize("lines", CANCELS)
def test_our_service_takes_cancel_as_dovecot_does(
    service: Service, dovecot: Dovecot, lines: list[bytes]
) -> None:
    ours, theirs = (_answers(port, *lines) for port in (service.port, dovecot.auth_port))
    assert [_unchallenged(a) for a in ours] == [_unchallenged(a) for a in theirs]


def _unchallenged(answer: bytes) -> bytes:
    """An answer without the challenge of a CONT (each server makes its own)."""
    return answer.rpartition(b"\t")[0] if answer.startswith(b"CONT\t") else answer


NULS = [  # a NUL in the data of a mechanism that takes none: Dovecot's answers
    pytest.param(
        [b"AUTH\t1\tLOGIN\tservice=smtp\tsecured\tresp=" + _b64(b"al\0ice") + b"\n"], id="login"
    ),
    pytest.param(
        [b"AUTH\t1\tLOGIN\tservice=smtp\tsecured\n", b"CONT\t1\t" + _b64(b"al\0ice") + b"\n"],
        id="login-continued",
    ),
    pytest.param(
        [
            b"AUTH\t1\tCRAM-MD5\tservice=smtp\n",
            b"CONT\t1\t" + _b64(b"alice\0 " + b"0" * 32) + b"\n",
        ],
        id="cram-md5",
    ),
    pytest.param(
        [b"AUTH\t1\tSCRAM-SHA-256\tservice=smtp\tresp=" + _b64(b"n,,n=al\0ice,r=abc") + b"\n"],
        id="scram",
    ),
]


@pytest.mark.parametrize("lines", NULS)
def test_dovecot_fails_a_nul_in_a_mechanism_that_takes_none(
    dovecot: Dovecot, lines: list[bytes]
) -> None:
    assert _answers(dovecot.auth_port, *lines)[-1] == b"FAIL\t1\n"


@pytest.mark.parametrize("lines", NULS)
def test_our_service_fails_a_nul_as_dovecot_does(
    service: Service, dovecot: Dovecot, lines: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sasl_kit.auth_service")
    ours, theirs = (_answers(port, *lines) for port in (service.port, dovecot.auth_port))
    assert [_unchallenged(a) for a in ours] == [_unchallenged(a) for a in theirs]
    assert "got a NUL, which it takes none of" in caplog.text


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5"])
def test_an_initial_response_to_a_server_first_mechanism_is_ignored_by_both(
    service: Service, dovecot: Dovecot, mechanism: str
) -> None:
    line = f"AUTH\t1\t{mechanism}\tservice=smtp\tresp={_b64(b'alice').decode()}\n".encode()
    ours, theirs = (_answer(port, line) for port in (service.port, dovecot.auth_port))
    assert _unchallenged(ours) == _unchallenged(theirs) == b"CONT\t1"  # the challenge
    assert len(ours) > len(b"CONT\t1\t\n") and len(theirs) > len(b"CONT\t1\t\n")


def test_postfix_answers_cram_md5_with_an_initial_response_the_same_through_either_service(
    postfix: Postfix, postfix_kit: Postfix, mail_store: MailSite
) -> None:
    theirs = _smtp_auth(postfix, mail_store, "CRAM-MD5 " + _b64(b"alice").decode())
    ours = _smtp_auth(postfix_kit, mail_store, "CRAM-MD5 " + _b64(b"alice").decode())
    assert (ours[0], theirs[0]) == (334, 334)  # each its own challenge


NOT_UTF8 = [  # bytes that are not UTF-8, which Dovecot reads as bytes
    pytest.param([b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp=\xff\xfe==\n"], id="resp"),
    pytest.param([b"AUTH\t1\tPLAIN\tservice=smtp\tsecured\n", b"CONT\t1\t\xc3(\n"], id="continued"),
    pytest.param(
        [b"AUTH\t1\tPLAIN\tservice=smtp\tlip=\xff\tsecured\tresp=" + _OK_PLAIN + b"\n"],
        id="a-field-not-read",
    ),
]


@pytest.mark.parametrize("lines", NOT_UTF8)
def test_our_service_reads_bytes_that_are_not_utf8_as_dovecot_does(
    service: Service, dovecot: Dovecot, lines: list[bytes]
) -> None:
    ours, theirs = (_answers(port, *lines) for port in (service.port, dovecot.auth_port))
    assert ours == theirs
    assert theirs[-1].startswith((b"FAIL\t1\tcode=invalid_base64\t", b"OK\t1\t"))


def _smtp_auth(postfix: Postfix, site: MailSite, argument: str) -> tuple[int, bytes]:
    """Postfix's first answer to ``AUTH argument`` (a challenge is then cancelled)."""
    with smtplib.SMTP(HOST, postfix.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=site.cafile))
        smtp.ehlo()
        answer = smtp.docmd("AUTH", argument)
        if answer[0] == 334:
            assert smtp.docmd("*")[0] == 501  # RFC 4954 4: the client cancels
        return answer


def test_postfix_answers_a_malformed_plain_the_same_through_either_service(
    postfix: Postfix, postfix_kit: Postfix, mail_store: MailSite
) -> None:
    argument = "PLAIN " + _b64(b"alicewonderland").decode()
    theirs = _smtp_auth(postfix, mail_store, argument)
    assert _smtp_auth(postfix_kit, mail_store, argument) == theirs
    assert theirs == (535, b"5.7.8 Error: authentication failed: (reason unavailable)")


def test_postfix_answers_an_empty_initial_response_the_same_through_either_service(
    postfix: Postfix, postfix_kit: Postfix, mail_store: MailSite
) -> None:
    theirs = _smtp_auth(postfix, mail_store, "PLAIN =")  # Postfix passes "=" on as resp==
    assert _smtp_auth(postfix_kit, mail_store, "PLAIN =") == theirs
    assert theirs[0] == 535, theirs


def test_postfix_answers_a_wrong_password_the_same_through_either_service(
    postfix: Postfix, postfix_kit: Postfix, mail_store: MailSite, dovecot: Dovecot
) -> None:
    wrong = _b64(f"\0{ALICE.user}\0not-{ALICE.password}".encode()).decode()
    line = f"AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp={wrong}\n".encode()
    # Dovecot names the user in its FAIL, ours does not (our mechanisms keep no name
    # after a failure); Postfix tells its client the same either way.
    assert _answer(dovecot.auth_port, line) == b"FAIL\t1\tuser=alice\n"
    theirs = _smtp_auth(postfix, mail_store, "PLAIN " + wrong)
    assert _smtp_auth(postfix_kit, mail_store, "PLAIN " + wrong) == theirs
    assert theirs == (535, b"5.7.8 Error: authentication failed: (reason unavailable)")


def _ehlo_auth(postfix: Postfix, site: MailSite) -> list[str]:
    with smtplib.SMTP(HOST, postfix.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=site.cafile))
        smtp.ehlo()
        return smtp.esmtp_features["auth"].split()


def test_postfix_offers_what_the_service_announces(
    postfix_kit: Postfix, mail_store: MailSite, service: Service
) -> None:
    offered = [info.name for info in service.config.offered()]
    assert _ehlo_auth(postfix_kit, mail_store) == offered


def _swaks(postfix: Postfix, site: MailSite, mechanism: str, password: str, marker: str) -> str:
    extra = {
        "DIGEST-MD5": ["--auth-extra", f"realm={HOST},dmd5-serv-type=smtp,dmd5-host={HOST}"],
    }.get(mechanism, [])
    run = subprocess.run(
        [SWAKS, "--server", HOST, "--port", str(postfix.smtp_port), "--tls",
         "--tls-ca-path", site.cafile, "--from", SENDER, "--to", RECIPIENT,
         "--header", f"Subject: {marker}", "--auth", mechanism,
         "--auth-user", ALICE.user, "--auth-password", password, *extra],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    return run.stdout + run.stderr


@pytest.mark.parametrize("mechanism", SWAKS_MECHANISMS)
def test_swaks_logs_in_and_its_mail_is_delivered(
    postfix_kit: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    marker = uuid.uuid4().hex
    output = _swaks(postfix_kit, mail_store, mechanism, ALICE.password, marker)
    assert "235 2.7.0 Authentication successful" in output, output
    mail_store.wait_for_mail("bob", marker)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_gsasl_logs_in_through_postfix(
    postfix_kit: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    run = subprocess.run(
        [GSASL, "--smtp", f"--connect={HOST}:{postfix_kit.smtp_port}",
         f"--mechanism={mechanism}", "-a", ANNA.user, "-p", ANNA.password,
         f"--x509-ca-file={mail_store.cafile}", f"--hostname={HOST}", f"--realm={HOST}",
         "--quality-of-protection=qop-auth",
         *(["--no-cb"] if mechanism.startswith("SCRAM") else [])],
        input="", capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert "235 2.7.0 Authentication successful" in run.stdout, run.stdout + run.stderr


def _send(
    postfix: Postfix, site: MailSite, mechanism: str, password: str, marker: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sasl_kit", "send", "--server", f"smtp://{HOST}:{postfix.smtp_port}",
         "--cafile", site.cafile, "--username", ALICE.user, "--password-file", "/dev/stdin",
         "--mechanism", mechanism, "--from", SENDER, "--to", RECIPIENT, "--subject", marker,
         "--body", "through sasl-kit auth-server"],
        input=password + "\n", capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_sasl_kit_send_logs_in_and_its_mail_is_delivered(
    postfix_kit: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    marker = uuid.uuid4().hex
    run = _send(postfix_kit, mail_store, mechanism, ALICE.password, marker)
    assert run.returncode == 0, run.stdout + run.stderr
    delivered = mail_store.wait_for_mail("bob", marker)
    assert delivered["From"] == SENDER


@pytest.mark.parametrize("mechanism", ["PLAIN", "CRAM-MD5", "SCRAM-SHA-256"])
def test_a_wrong_password_gets_postfixs_535(
    postfix_kit: Postfix, mail_store: MailSite, mechanism: str
) -> None:
    run = _send(postfix_kit, mail_store, mechanism, "not-" + ALICE.password, uuid.uuid4().hex)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "535 5.7.8" in run.stderr
    assert ALICE.password not in run.stdout + run.stderr


def test_a_service_gone_mid_session_is_postfixs_temporary_failure(
    postfix_kit: Postfix, mail_store: MailSite, service: Service
) -> None:
    try:
        with smtplib.SMTP(HOST, postfix_kit.smtp_port, timeout=TIMEOUT) as smtp:
            smtp.starttls(context=ssl.create_default_context(cafile=mail_store.cafile))
            smtp.ehlo()
            service.running.stop()  # the service dies between EHLO and AUTH
            code, text = smtp.docmd("AUTH", "PLAIN " + _plain(ALICE.user, ALICE.password))
            assert code == 454, (code, text)
            assert b"Temporary authentication failure" in text  # not 235: no acceptance
    finally:
        service.restart()
    assert "SCRAM-SHA-256" in _ehlo_auth(postfix_kit, mail_store)  # back in service


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_postfixs_log_shows_the_logins(postfix_kit: Postfix) -> None:
    log = Path(postfix_kit.maillog).read_text(errors="replace")
    assert "sasl_username=alice" in log
