"""``sasl-kit demo``: the embedded server and the project's own client, every mechanism in turn.

Rules of this module:
- Nothing leaves the machine: the server (``sasl_kit.smtp_server``) listens on
  127.0.0.1 and a free port, with a fresh self-signed certificate, a user made
  here (a ``secrets`` password beyond ASCII, a bearer token) and a maildir in a
  temporary directory that is removed at the end.
- The mechanisms come from the server, as its AUTH list after STARTTLS; what
  each needs (a password, a token, nothing) comes from the registry. No
  mechanism is named here.
- Each mechanism gets a session of its own with ``SMTPClient``: STARTTLS with
  the certificate as CA file, channel binding ``tls-server-end-point`` for
  -PLUS, AUTH, one mail (To, Cc, Bcc, an attachment), QUIT. A round trip is a
  334 challenge the client answered, counted in the client's transcript.
- The maildir is read back: every message must lack a Bcc header and any trace
  of the Bcc address, and carry the attachment with the sha256 that was sent.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sasl_kit.channel_binding import hook
from sasl_kit.errors import SASLError
from sasl_kit.mail import Attachment, OutgoingMessage, compose
from sasl_kit.registry import Registry, default_registry
from sasl_kit.smtp import SMTPClient, Status
from sasl_kit.smtp_server import MailServer, ReceivedMessage, ServerConfig, Users

TIMEOUT = 10.0
DOMAIN = "example.test"
TO, CC, BCC = f"to@{DOMAIN}", f"cc@{DOMAIN}", f"bcc@{DOMAIN}"
# The Bcc address as an address of its own: not the tail of a longer local part, as
# in a Message-ID <...hex@example.test> whose random hex ends in "bcc" (1 in 4096).
_BCC_ADDRESS = re.compile(rb"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])" + re.escape(BCC.encode()))
FILENAME = "Prüfbericht März €.bin"
ATTACHMENT_SIZE = 48 * 1024


@dataclass(frozen=True)
class Attempt:
    """One mechanism's session: ``seconds`` is the AUTH exchange alone."""

    mechanism: str
    ok: bool
    detail: str
    round_trips: int
    seconds: float


@dataclass(frozen=True)
class Readback:
    """One stored message, checked against what was sent."""

    key: str
    mechanism: str | None
    bcc_header: bool
    bcc_in_data: bool
    bcc_in_envelope: bool
    filename: str | None
    sent_sha256: str
    stored_sha256: str | None

    @property
    def ok(self) -> bool:
        return (
            not self.bcc_header
            and not self.bcc_in_data
            and self.bcc_in_envelope
            and self.filename == FILENAME
            and self.stored_sha256 == self.sent_sha256
        )


@dataclass(frozen=True)
class Report:
    """What the demo did: the server's address, one attempt per mechanism, the maildir read back."""

    host: str
    port: int
    user: str
    attempts: tuple[Attempt, ...]
    readbacks: tuple[Readback, ...]

    @property
    def sent(self) -> int:
        return sum(a.ok for a in self.attempts)

    @property
    def ok(self) -> bool:
        return (
            bool(self.attempts)
            and all(a.ok for a in self.attempts)
            and len(self.readbacks) == self.sent
            and all(r.ok for r in self.readbacks)
        )


def run(registry: Registry = default_registry) -> Report:
    """Start the server, send through every mechanism it offers, read the maildir back."""
    user = f"demo-{secrets.token_hex(3)}"
    password = f"{secrets.token_urlsafe(12)}-Grüße-€"
    token = secrets.token_urlsafe(24)
    attachment = secrets.token_bytes(ATTACHMENT_SIZE)
    with tempfile.TemporaryDirectory(prefix="sasl-kit-demo-") as scratch:
        config = ServerConfig(
            users=Users.from_passwords({user: password}),
            maildir=Path(scratch) / "maildir",
            tokens={user: token},
            allow_anonymous=True,
            registry=registry,
        )
        with MailServer(config) as server:
            assert server.cafile is not None
            session = _Session(server.host, server.port, str(server.cafile), registry)
            attempts = tuple(
                session.attempt(name, user, password, token, attachment)
                for name in session.offered()
            )
            sent = hashlib.sha256(attachment).hexdigest()
            readbacks = tuple(_read_back(m, sent) for m in server.messages())
        return Report(server.host, server.port, user, attempts, readbacks)


class _Session:
    """Opens ``SMTPClient`` sessions against the demo's server."""

    def __init__(self, host: str, port: int, cafile: str, registry: Registry) -> None:
        self.host, self.port, self.cafile, self.registry = host, port, cafile, registry

    def client(self, transcript: list[str]) -> SMTPClient:
        return SMTPClient(
            self.host,
            self.port,
            cafile=self.cafile,
            timeout=TIMEOUT,
            transcript=transcript.append,
            registry=self.registry,
            channel_binding=hook("tls-server-end-point"),
        )

    def offered(self) -> tuple[str, ...]:
        """The server's AUTH list after STARTTLS, strongest first."""
        with self.client([]) as smtp:
            return smtp.extensions.auth

    def attempt(
        self, name: str, user: str, password: str, token: str, attachment: bytes
    ) -> Attempt:
        credential = self.registry.get(name).credential
        lines: list[str] = []
        trips, seconds = 0, 0.0
        try:
            with self.client(lines) as smtp:
                start = len(lines)
                began = time.perf_counter()
                smtp.login(
                    user,
                    password if credential == "password" else "",
                    mechanisms=[name],
                    token=token if credential == "token" else "",
                    anonymous=credential == "none",
                    trace=f"{user}@{DOMAIN}" if credential == "none" else "",
                )
                seconds = time.perf_counter() - began
                trips = sum(line.startswith("S: 334") for line in lines[start:])
                result = smtp.send(_message(user, name, attachment))
        except SASLError as exc:
            return Attempt(name, False, str(exc), trips, seconds)
        if result.status is not Status.SENT:
            return Attempt(name, False, f"{result.status.value}: {result.text}", trips, seconds)
        return Attempt(name, True, "sent", trips, seconds)


def _message(user: str, mechanism: str, attachment: bytes) -> OutgoingMessage:
    return compose(
        sender=f"Demo Ünïcode <{user}@{DOMAIN}>",
        to=f"Tö <{TO}>",
        cc=CC,
        bcc=BCC,
        subject=f"sasl-kit demo: {mechanism}",
        text=f"Sent through AUTH {mechanism}, with an attachment.\n",
        attachments=[Attachment(data=attachment, filename=FILENAME)],
    )


def _read_back(stored: ReceivedMessage, sent_sha256: str) -> Readback:
    parsed = stored.message
    files = list(parsed.iter_attachments())
    content = files[0].get_content() if len(files) == 1 else None
    return Readback(
        key=stored.key,
        mechanism=stored.mechanism,
        bcc_header="Bcc" in parsed,
        bcc_in_data=_BCC_ADDRESS.search(stored.data) is not None,
        bcc_in_envelope=BCC in stored.recipients,
        filename=files[0].get_filename() if len(files) == 1 else None,
        sent_sha256=sent_sha256,
        stored_sha256=hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else None,
    )
