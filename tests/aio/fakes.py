"""A scripted IMAP and POP3 server on loopback, for the asyncio drivers' wire tests.

Rules of this file:
- It accepts any number of connections (each in its own thread) on 127.0.0.1,
  port 0, and never asserts: it records every line each connection sent, as
  bytes, for the tests to compare (``take``).
- ``script`` says what it offers and how the exchange ends. With a TLS
  context it does TLS for real: ``tls="starttls"`` lists STARTTLS/STLS and
  starts TLS when asked, ``tls="implicit"`` starts every connection with the
  handshake; lines are recorded as sent inside TLS. Its challenges
  are fixed, so that deterministic mechanisms give the same bytes every time:
  PLAIN one empty challenge (RFC 4616 3), LOGIN ``Username:`` and
  ``Password:`` (draft-murchison-sasl-login 2), CRAM-MD5 the nonce of RFC 2195
  2's example. An initial response answers the first challenge. ``*`` cancels
  (BAD / -ERR). It checks no credential: ``accept`` decides the outcome.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from types import TracebackType

from sasl_kit.protocols import TLSMode

CHALLENGES: dict[str, tuple[bytes, ...]] = {
    "PLAIN": (b"",),
    "LOGIN": (b"Username:", b"Password:"),
    "CRAM-MD5": (b"<1896.697170952@postoffice.reston.mci.net>",),
}


@dataclass(frozen=True)
class Script:
    protocol: str = "imap"  # or "pop3"
    sasl_ir: bool = True
    tls: TLSMode = "none"
    raw: bytes | None = None
    """Sent instead of the whole session, then end of stream (bad input); what the
    client sends is read until it closes, so that no reset races the end of stream."""
    accept: bool = True


class _Hangup(Exception):
    pass


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(10)
        self.sent: list[bytes] = []
        with self.server.lock:
            self.server.received.append(self.sent)
        with contextlib.suppress(_Hangup, OSError):
            if self.server.script.raw is not None:
                self.wfile.write(self.server.script.raw)
                self.request.shutdown(socket.SHUT_WR)
                while self.rfile.read(4096):
                    pass
                return
            if self.server.script.tls == "implicit":
                self._start_tls()
            if self.server.script.protocol == "imap":
                self._imap()
            else:
                self._pop3()

    def _start_tls(self) -> None:
        if self.server.tls is None:
            raise _Hangup  # a TLS script needs FakeLineServer(tls=...)
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        self.rfile = self.request.makefile("rb")
        self.wfile = self.request.makefile("wb")

    @property
    def _encrypted(self) -> bool:
        return isinstance(self.request, ssl.SSLSocket)

    def _send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def _line(self) -> str:
        raw = self.rfile.readline(1 << 16)
        if not raw:
            raise _Hangup
        self.sent.append(raw)
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def _imap(self) -> None:
        script = self.server.script
        self._send("* OK fake IMAP ready")
        while True:
            tag, _, command = self._line().partition(" ")
            verb, *words = command.split()
            if verb.upper() == "CAPABILITY":
                starttls = script.tls == "starttls" and not self._encrypted
                extra = " SASL-IR" * script.sasl_ir + " STARTTLS" * starttls
                names = " ".join(f"AUTH={name}" for name in CHALLENGES)
                self._send(f"* CAPABILITY IMAP4rev1{extra} {names}")
                self._send(f"{tag} OK Capability completed")
            elif verb.upper() == "AUTHENTICATE" and words:
                ok = self._exchange(words, "BAD Authentication cancelled")
                if ok is not None:
                    self._send(
                        f"{tag} OK Logged in"
                        if ok
                        else f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed"
                    )
            elif verb.upper() == "STARTTLS" and script.tls == "starttls":
                self._send(f"{tag} OK Begin TLS negotiation now")
                self._start_tls()
            else:
                self._send(f"{tag} BAD Unknown command")

    def _pop3(self) -> None:
        script = self.server.script
        self._send("+OK fake POP3 ready")
        while True:
            verb, *words = self._line().split() or [""]
            if verb.upper() == "CAPA":
                for line in (
                    "+OK",
                    "USER",
                    *["STLS"] * (script.tls == "starttls" and not self._encrypted),
                    "SASL " + " ".join(CHALLENGES),
                    ".",
                ):
                    self._send(line)
            elif verb.upper() == "AUTH" and words:
                ok = self._exchange(words, "-ERR Authentication cancelled")
                if ok is not None:
                    self._send("+OK Logged in" if ok else "-ERR [AUTH] Authentication failed")
            elif verb.upper() == "STLS" and script.tls == "starttls":
                self._send("+OK Begin TLS negotiation")
                self._start_tls()
            else:
                self._send("-ERR Unknown command")

    def _exchange(self, words: list[str], cancelled: str) -> bool | None:
        """The challenges of the mechanism named first in ``words``; ``None`` if cancelled."""
        challenges = CHALLENGES.get(words[0].upper(), ())
        for challenge in challenges[1:] if len(words) > 1 else challenges:
            self._send(f"+ {base64.b64encode(challenge).decode()}".rstrip())
            if self._line() == "*":
                self._send(cancelled)
                return None
        return self.server.script.accept


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.script = Script()
        self.lock = threading.Lock()
        self.received: list[list[bytes]] = []


class FakeLineServer:
    """``with FakeLineServer(tls) as fake``: ``fake.port``, ``fake.script``, ``fake.take()``;
    ``tls`` is the server context a TLS script uses."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server(tls)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def script(self) -> Script:
        return self._server.script

    @script.setter
    def script(self, script: Script) -> None:
        self._server.script = script

    def take(self) -> list[list[bytes]]:
        """The lines each connection since the last ``take`` sent, oldest first."""
        with self._server.lock:
            received, self._server.received = self._server.received, []
        return received

    def __enter__(self) -> FakeLineServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
