"""The POP3 driver: greeting, CAPA (RFC 2449), STLS (RFC 2595 4), then the profile's AUTH.

Rules: see the package. CAPA is asked again after TLS (RFC 2595 4: the
client must discard what it knew). The transcript holds secrets: it is for
``verify`` and is never shown as is.
"""

from __future__ import annotations

from sasl_kit.drivers.base import (
    LineSession,
    SessionFailed,
    SessionSettings,
    StartTLSUnavailable,
)
from sasl_kit.protocols.pop3 import PROFILE, POP3Profile

MAX_CAPA_LINES = 1000


class POP3Session(LineSession):
    profile: POP3Profile = PROFILE

    def _open(self, settings: SessionSettings) -> None:
        host = settings.host
        if not self._connection.read().startswith("+OK"):
            raise SessionFailed(f"{host} did not greet with +OK")
        capabilities = self._capa()
        if settings.tls == "starttls":
            if not any(line.upper() == "STLS" for line in capabilities.decode().splitlines()):
                raise StartTLSUnavailable(f"{host} does not offer STLS")
            self._connection.send("STLS")
            reply = self._connection.read()
            if not reply.startswith("+OK"):
                raise SessionFailed(f"{host} refused STLS: {reply}")
            self.mechanisms_before_tls = self.profile.mechanisms(capabilities)
            self._connection.start_tls()
            capabilities = self._capa()
        self.mechanisms = self.profile.mechanisms(capabilities)

    def _capa(self) -> bytes:
        """The CAPA reply, its ``+OK`` line first, without the ending ``.``."""
        self._connection.send("CAPA")
        lines = [self._connection.read()]
        if not lines[0].startswith("+OK"):
            raise SessionFailed(f"{self._connection.settings.host} refused CAPA: {lines[0]}")
        while (line := self._connection.read()) != ".":
            if len(lines) > MAX_CAPA_LINES:
                raise SessionFailed(f"{self._connection.settings.host} sent an endless CAPA")
            lines.append(line)
        return "\r\n".join(lines).encode("utf-8")


def open_session(settings: SessionSettings) -> POP3Session:
    return POP3Session(settings)
