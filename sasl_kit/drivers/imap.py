"""The IMAP driver: greeting, CAPABILITY, STARTTLS (RFC 9051 6.2.1), then the profile's
AUTHENTICATE.

Rules: see the package. The capability list is asked for again after TLS (RFC
9051 6.2.1: the client must discard what it knew); ``SASL-IR`` in it lets the
profile send initial responses. Each command gets a fresh tag ``P001``,
``P002``, ...; ``authenticate`` gives the exchange its tag and the server's
SASL-IR before it starts. Untagged lines in between are read and kept in the
transcript, which holds secrets: it is for ``verify`` and never shown as is.
"""

from __future__ import annotations

from sasl_kit.drivers.base import (
    LineSession,
    SessionFailed,
    SessionSettings,
    StartTLSUnavailable,
)
from sasl_kit.protocols.base import ClientAuth, Result
from sasl_kit.protocols.imap import PROFILE, IMAPClientAuth, IMAPProfile


class IMAPSession(LineSession):
    profile: IMAPProfile = PROFILE

    def __init__(self, settings: SessionSettings) -> None:
        self._tags = 0
        self.sasl_ir = False
        super().__init__(settings)

    def _open(self, settings: SessionSettings) -> None:
        host = settings.host
        if not self._connection.read().upper().startswith(("* OK", "* PREAUTH")):
            raise SessionFailed(f"{host} did not greet with * OK")
        capabilities = self._capabilities()
        if settings.tls == "starttls":
            if "STARTTLS" not in self.profile.capabilities(capabilities):
                raise StartTLSUnavailable(f"{host} does not offer STARTTLS")
            status, reply = self._command("STARTTLS")
            if status != "OK":
                raise SessionFailed(f"{host} refused STARTTLS: {reply}")
            self.mechanisms_before_tls = self.profile.mechanisms(capabilities)
            self._connection.start_tls()
            capabilities = self._capabilities()
        self.mechanisms = self.profile.mechanisms(capabilities)
        self.sasl_ir = "SASL-IR" in self.profile.capabilities(capabilities)

    def _tag(self) -> str:
        self._tags += 1
        return f"P{self._tags:03d}"

    def _command(self, command: str) -> tuple[str, str]:
        """The tagged status (upper-case) and the whole tagged line; untagged ones are read."""
        tag = self._tag()
        self._connection.send(f"{tag} {command}")
        while True:
            line = self._connection.read()
            if line.startswith(f"{tag} "):
                return line[len(tag) + 1 :].partition(" ")[0].upper(), line

    def _capabilities(self) -> bytes:
        start = len(self.transcript)
        status, reply = self._command("CAPABILITY")
        if status != "OK":
            raise SessionFailed(f"{self._connection.settings.host} refused CAPABILITY: {reply}")
        return "\r\n".join(line[3:] for line in self.transcript[start:]).encode("utf-8")

    def authenticate(self, auth: ClientAuth) -> Result:
        if isinstance(auth, IMAPClientAuth):
            auth.tag, auth.initial_response = self._tag(), self.sasl_ir
        return super().authenticate(auth)


def open_session(settings: SessionSettings) -> IMAPSession:
    return IMAPSession(settings)
