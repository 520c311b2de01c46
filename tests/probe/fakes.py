"""A scripted SMTP server shaped like the seed's Sendmail, for probe and send tests.

Rules of this file:
- It accepts any number of connections (each in its own thread) on 127.0.0.1,
  port 0, and never asserts: tests assert on what the client reports.
- By default it behaves as the seed's Sendmail with Cyrus SASL and
  ``pwcheck_method: saslauthd`` (PEERS.md): EHLO offers
  ``AUTH DIGEST-MD5 CRAM-MD5 LOGIN PLAIN`` and no STARTTLS; PLAIN and LOGIN
  are checked for real (sasl_kit's server mechanisms), CRAM-MD5 and DIGEST-MD5
  run their challenge and then answer ``535 5.7.0 authentication failed``
  whatever the response, as Cyrus does when it has no secret to check against.
- ``Seed`` fields change that: ``saslauthd_down`` makes PLAIN and LOGIN fail
  too, ``unknown`` answers those mechanisms 504 although EHLO offers them,
  ``hang_up`` closes the connection when the client sends that AUTH, and
  ``greet=N`` closes every connection after the N-th before its greeting.
- ``auths`` records the mechanism of every AUTH command, so that a test can
  prove what a client did not retry.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

import sasl_kit
from sasl_kit import AuthenticationFailed, MalformedMessage

REALM = "mail.example.org"
USER, PASSWORD = "alice", "wonderland"
FAILED = "535 5.7.0 authentication failed"


@dataclass(frozen=True)
class Seed:
    """What the fake offers and how it answers (the seed's server by default)."""

    mechanisms: tuple[str, ...] = ("DIGEST-MD5", "CRAM-MD5", "LOGIN", "PLAIN")
    users: Mapping[str, str] = field(default_factory=lambda: {USER: PASSWORD})
    cannot_verify: frozenset[str] = frozenset({"CRAM-MD5", "DIGEST-MD5"})
    saslauthd_down: bool = False
    unknown: frozenset[str] = frozenset()
    hang_up: frozenset[str] = frozenset()
    greet: int | None = None
    """How many connections get a greeting; later ones are closed at once (None: all)."""


class _Hangup(Exception):
    pass


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(10)
        with contextlib.suppress(_Hangup, OSError):
            self._session()

    def _send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def _line(self) -> str:
        raw = self.rfile.readline(1 << 16)
        if not raw:
            raise _Hangup
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def _session(self) -> None:
        seed = self.server.seed
        self.server.connections += 1
        if seed.greet is not None and self.server.connections > seed.greet:
            return
        self._send(f"220 {REALM} ESMTP Sendmail 8.17.1.9/8.17.1.9 (fake)")
        while True:
            line = self._line()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._send(f"250-{REALM} Hello")
                self._send("250-8BITMIME")
                self._send(f"250 AUTH {' '.join(seed.mechanisms)}")
            elif verb == "AUTH":
                self._auth(line.split(" "))
            elif verb == "QUIT":
                self._send("221 2.0.0 closing connection")
                return
            else:
                self._send("500 5.5.1 Command unrecognized")

    def _auth(self, words: list[str]) -> None:
        seed = self.server.seed
        name = words[1].upper()
        self.server.auths.append(name)
        if name in seed.hang_up:
            raise _Hangup
        if name in seed.unknown or name not in seed.mechanisms:
            self._send("504 5.3.3 AUTH mechanism " + name + " not available")
            return
        mechanism = sasl_kit.server(name, seed.users, host=REALM, realms=(REALM,))
        data = None if len(words) < 3 else (b"" if words[2] == "=" else base64.b64decode(words[2]))
        while True:
            if data is not None and name in seed.cannot_verify:
                self._send(FAILED)  # Cyrus has nothing to check this response against
                return
            try:
                challenge = mechanism.step(data)
            except AuthenticationFailed:
                self._send(FAILED)
                return
            except MalformedMessage:
                self._send("501 5.5.4 malformed authentication data")
                return
            if mechanism.complete and seed.saslauthd_down:
                self._send(FAILED)  # the plaintext check asks saslauthd, which is gone
                return
            if mechanism.complete and not challenge:
                self._send("235 2.0.0 OK Authenticated")
                return
            self._send("334 " + base64.b64encode(challenge or b"").decode())
            answer = self._line()
            if answer == "*":
                self._send("501 5.0.0 AUTH aborted")
                return
            if mechanism.complete:
                self._send("235 2.0.0 OK Authenticated")
                return
            data = base64.b64decode(answer)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, seed: Seed) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seed = seed
        self.auths: list[str] = []
        self.connections = 0


class SeedServer:
    """The fake, serving in a thread while the ``with`` block runs."""

    def __init__(self, seed: Seed | None = None) -> None:
        self._server = _Server(seed or Seed())
        self.port: int = self._server.server_address[1]
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def auths(self) -> list[str]:
        """The mechanism of every AUTH command received, in order, over all connections."""
        return self._server.auths

    def __enter__(self) -> SeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port
