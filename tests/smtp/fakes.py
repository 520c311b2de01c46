"""A scripted SMTP server on 127.0.0.1 (a thread, port 0) and a minimal message.

Rules of this file:
- The server plays the replies a test configures and records what it received;
  it never asserts. Tests assert on ``commands`` (every line received, as
  text), ``messages`` (each message's data exactly as it came off the wire)
  and ``received`` (every byte the client sent, decrypted after TLS).
- ``drop`` names the one point where the server hangs up instead of replying:
  ``greeting``, a verb (``EHLO``, ``STARTTLS``, ``AUTH``, ``MAIL``, ``DATA``),
  ``RCPT#n`` (the n-th RCPT of the session), ``MAIL#n`` (likewise), ``data``
  (in the middle of the message data), ``final`` (after the data, before the
  final reply) or ``final#n`` (the same, for the n-th message of the session).
  ``stall`` names a point where it goes silent instead, until the client leaves.
- With ``group=N`` the server, on MAIL, reads the N lines that follow before it
  replies to anything: a client that waits for a reply inside a PIPELINING
  group then times out instead of passing. With ``hold_final=N`` the final
  reply to each of the session's first N messages waits until the line after
  its "." has arrived: a client that waits for it before saying the next MAIL
  then times out.
- AUTH runs real server mechanisms from ``sasl_kit.server``; ``auth_replies``
  answers a mechanism with a fixed reply instead (504, 535, 454, 538 ...), and
  ``skip_success_data`` says 235 without sending the server's final proof.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage


@dataclass(frozen=True)
class Message:
    """The ``OutgoingMessage`` shape the client needs, over literal bytes."""

    sender: str
    recipients: tuple[str, ...]
    body: bytes
    smtputf8: bool = False
    eight_bit: bool = False

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        for start in range(0, len(self.body), size):
            yield self.body[start : start + size]

    def size(self) -> int:
        return len(self.body)


def unstuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2, receiver side: one leading dot off each line of DATA content."""
    return b"".join(line.removeprefix(b".") + b"\r\n" for line in data.split(b"\r\n")[:-1])


class HungUp(Exception):
    """The script decided to hang up here."""


@dataclass
class Behaviour:
    """What the fake server offers and how it answers."""

    extensions: tuple[str, ...] = ("PIPELINING", "8BITMIME", "SIZE 10000000")
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    inject_after_starttls: bytes = b""
    mechanisms: tuple[str, ...] = ()
    users: Mapping[str, str] = field(default_factory=dict)
    server_options: Mapping[str, object] = field(default_factory=dict)
    auth_replies: Mapping[str, str] = field(default_factory=dict)
    skip_success_data: bool = False
    greeting: str = "220 fake.test ESMTP"
    mail_reply: str = "250 2.1.0 ok"
    rcpt_replies: Mapping[str, str] = field(default_factory=dict)
    data_reply: str = "354 go ahead"
    final_reply: str = "250 2.0.0 queued"
    bdat_replies: Mapping[int, str] = field(default_factory=dict)
    drop: str | None = None
    stall: str | None = None
    group: int | None = None
    hold_final: int = 0


class FakeSMTPServer:
    """One connection, served in a thread. Use as a context manager around the client."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.commands: list[str] = []
        self.messages: list[bytes] = []
        self.received = bytearray()
        self.failure: BaseException | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._buffer = b""
        self._rcpts = 0
        self._mails = 0
        self._bdat = bytearray()
        self._bdat_count = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeSMTPServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.join(timeout=10)
        self._listener.close()
        if self.failure is not None and exc_type is None:
            raise AssertionError("the fake server broke") from self.failure

    # --- plumbing ------------------------------------------------------------

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
            conn.settimeout(10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
            try:
                self._session()
            finally:
                self._conn.close()
        except (HungUp, OSError):
            pass
        except BaseException as exc:  # surfaced by __exit__
            self.failure = exc

    def _send(self, *lines: str) -> None:
        assert self._conn is not None
        self._conn.sendall(b"".join(line.encode("utf-8") + b"\r\n" for line in lines))

    def _fill(self) -> None:
        assert self._conn is not None
        data = self._conn.recv(1 << 16)
        if not data:
            raise HungUp
        self.received += data
        self._buffer += data

    def _line(self) -> str:
        while b"\r\n" not in self._buffer:
            self._fill()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        text = line.decode("utf-8", errors="replace")
        self.commands.append(text)
        return text

    def _exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._fill()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _hang_up_if(self, point: str) -> None:
        if self.behaviour.drop == point:
            raise HungUp
        if self.behaviour.stall == point:
            while True:  # silent until the client gives up and leaves
                self._fill()

    def _tls(self) -> None:
        assert self._conn is not None and self.behaviour.tls is not None
        self._conn = self.behaviour.tls.wrap_socket(self._conn, server_side=True)
        self._buffer = b""

    # --- the session -------------------------------------------------------

    def _session(self) -> None:
        b = self.behaviour
        if b.implicit_tls:
            self._tls()
        self._hang_up_if("greeting")
        self._send(b.greeting)
        while True:
            line = self._line()
            verb = line.split(" ", 1)[0].upper()
            if verb == "MAIL" and b.group:
                self._group([line, *(self._line() for _ in range(b.group))])
                continue
            if verb == "BDAT":
                self._chunk(line)
                continue
            if verb == "AUTH":
                self._hang_up_if("AUTH")
                self._auth(line)
                continue
            reply = self._reply(line)
            if verb == "STARTTLS" and b.tls is not None:
                assert self._conn is not None
                self._conn.sendall(reply.encode() + b"\r\n" + b.inject_after_starttls)
                self._tls()
                continue
            self._send(reply)
            if verb == "QUIT":
                return
            if verb == "DATA" and b.data_reply.startswith("354"):
                self._data()

    def _group(self, group: list[str]) -> None:
        """A PIPELINING group read whole: the replies go out in one write, up to a hang-up."""
        replies: list[str] = []
        try:
            for cmd in group:
                replies.append(self._reply(cmd))
        finally:
            if replies:
                self._send(*replies)
        if group[-1].upper() == "DATA" and self.behaviour.data_reply.startswith("354"):
            self._data()

    def _reply(self, line: str) -> str:
        """The reply to one command line."""
        b = self.behaviour
        verb = line.split(" ", 1)[0].upper()
        if verb == "RCPT":
            self._rcpts += 1
            self._hang_up_if(f"RCPT#{self._rcpts}")
        elif verb == "MAIL":
            self._mails += 1
            self._hang_up_if(f"MAIL#{self._mails}")
            self._hang_up_if(verb)
        else:
            self._hang_up_if(verb)
        if verb == "EHLO":
            offered = list(b.extensions)
            if b.tls is not None and not isinstance(self._conn, ssl.SSLSocket):
                offered.append("STARTTLS")
            if b.mechanisms:
                offered.append("AUTH " + " ".join(b.mechanisms))
            return "\r\n".join(
                f"250{'-' if i < len(offered) else ' '}{text}"
                for i, text in enumerate(["fake.test", *offered])
            )
        if verb == "STARTTLS":
            return "220 2.0.0 ready"
        if verb == "MAIL":
            self._bdat, self._bdat_count = bytearray(), 0
            return b.mail_reply
        if verb == "RCPT":
            address = line.split("<", 1)[1].split(">", 1)[0]
            return b.rcpt_replies.get(address, "250 2.1.5 ok")
        if verb == "DATA":
            return b.data_reply
        if verb == "RSET":
            return "250 2.0.0 reset"
        if verb == "QUIT":
            return "221 2.0.0 bye"
        return "500 5.5.1 unknown command"

    def _data(self) -> None:
        data = bytearray()
        while True:
            while b"\r\n" not in self._buffer:
                self._fill()
            line, self._buffer = self._buffer.split(b"\r\n", 1)
            if line == b".":
                break
            data += line + b"\r\n"
            if self.behaviour.drop == "data" and len(data) > 1 << 16:
                raise HungUp
        self.messages.append(bytes(data))
        self._hang_up_if("final")
        self._hang_up_if(f"final#{len(self.messages)}")
        if len(self.messages) <= self.behaviour.hold_final:
            while b"\r\n" not in self._buffer:
                self._fill()
        self._send(self.behaviour.final_reply)

    def _chunk(self, line: str) -> None:
        words = line.split()
        self._bdat_count += 1
        if self.behaviour.drop == "data":
            self._exact(min(int(words[1]), 1 << 16))
            raise HungUp
        self._bdat += self._exact(int(words[1]))
        if len(words) > 2:
            self.messages.append(bytes(self._bdat))
            self._hang_up_if("final")
            self._send(self.behaviour.final_reply)
        else:
            self._send(self.behaviour.bdat_replies.get(self._bdat_count, "250 2.0.0 chunk ok"))

    def _auth(self, line: str) -> None:
        b = self.behaviour
        words = line.split(" ")
        name = words[1].upper()
        if name in b.auth_replies:
            self._send(b.auth_replies[name])
            return
        mechanism = sasl_kit.server(name, b.users, host="127.0.0.1", **b.server_options)
        data: bytes | None = None
        if len(words) > 2:
            data = b"" if words[2] == "=" else base64.b64decode(words[2])
        while True:
            try:
                challenge = mechanism.step(data)
            except AuthenticationFailed:
                self._send("535 5.7.8 authentication failed")
                return
            except MalformedMessage:
                self._send("501 5.5.2 malformed")
                return
            if mechanism.complete and (not challenge or b.skip_success_data):
                self._send("235 2.7.0 authenticated")
                return
            self._send("334 " + base64.b64encode(challenge or b"").decode())
            answer = self._line()
            if answer == "*":
                self._send("501 5.7.0 cancelled")
                return
            if mechanism.complete:  # additional data with success, answered with an empty line
                self._send(
                    "235 2.7.0 authenticated" if answer == "" else "501 5.5.2 expected empty"
                )
                return
            data = base64.b64decode(answer)
