"""The IMAP driver: greeting, CAPABILITY, STARTTLS (RFC 9051 6.2.1), then the profile's
AUTHENTICATE.

Rules: see the package. ``IMAPDialogue`` is what the session says, sans-I/O,
for this socket driver and the asyncio one (``sasl_kit.drivers.aio``). The
capability list is asked for again after TLS (RFC 9051 6.2.1: the client must
discard what it knew); ``SASL-IR`` in it lets the profile send initial
responses. Each command gets a fresh tag ``P001``, ``P002``, ...; ``prepare``
gives the exchange its tag and the server's SASL-IR before it starts.
Untagged lines in between are read and kept in the transcript, which holds
secrets: it is for ``verify`` and never shown as is.
"""

from __future__ import annotations

from sasl_kit.drivers.base import (
    LineDialogue,
    LineSession,
    ReadLine,
    Send,
    SessionFailed,
    SessionSettings,
    StartTLS,
    StartTLSUnavailable,
    Steps,
)
from sasl_kit.protocols import TLSMode
from sasl_kit.protocols.base import ClientAuth
from sasl_kit.protocols.imap import PROFILE, IMAPClientAuth, IMAPProfile


class IMAPDialogue(LineDialogue):
    profile: IMAPProfile = PROFILE

    def __init__(self, host: str, tls: TLSMode) -> None:
        super().__init__(host, tls)
        self._tags = 0
        self.sasl_ir = False

    def opening(self) -> Steps[None]:
        host = self.host
        greeting = yield ReadLine()
        if not greeting.upper().startswith(("* OK", "* PREAUTH")):
            raise SessionFailed(f"{host} did not greet with * OK")
        capabilities = yield from self._capabilities()
        if self.tls == "starttls":
            if "STARTTLS" not in self.profile.capabilities(capabilities):
                raise StartTLSUnavailable(f"{host} does not offer STARTTLS")
            status, reply, _ = yield from self._command("STARTTLS")
            if status != "OK":
                raise SessionFailed(f"{host} refused STARTTLS: {reply}")
            self.mechanisms_before_tls = self.profile.mechanisms(capabilities)
            yield StartTLS()
            capabilities = yield from self._capabilities()
        self.mechanisms = self.profile.mechanisms(capabilities)
        self.sasl_ir = "SASL-IR" in self.profile.capabilities(capabilities)

    def _tag(self) -> str:
        self._tags += 1
        return f"P{self._tags:03d}"

    def _command(self, command: str) -> Steps[tuple[str, str, list[str]]]:
        """The tagged status (upper-case), the tagged line and the untagged lines before it."""
        tag = self._tag()
        yield Send(f"{tag} {command}")
        untagged: list[str] = []
        while not (line := (yield ReadLine())).startswith(f"{tag} "):
            untagged.append(line)
        return line[len(tag) + 1 :].partition(" ")[0].upper(), line, untagged

    def _capabilities(self) -> Steps[bytes]:
        status, reply, untagged = yield from self._command("CAPABILITY")
        if status != "OK":
            raise SessionFailed(f"{self.host} refused CAPABILITY: {reply}")
        return "\r\n".join([*untagged, reply]).encode("utf-8")

    def prepare(self, auth: ClientAuth) -> None:
        if isinstance(auth, IMAPClientAuth):
            auth.tag, auth.initial_response = self._tag(), self.sasl_ir


class IMAPSession(LineSession):
    profile: IMAPProfile = PROFILE
    dialogue = IMAPDialogue


def open_session(settings: SessionSettings) -> IMAPSession:
    return IMAPSession(settings)
