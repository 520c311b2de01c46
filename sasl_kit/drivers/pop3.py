"""The POP3 driver: greeting, CAPA (RFC 2449), STLS (RFC 2595 4), then the profile's AUTH.

Rules: see the package. ``POP3Dialogue`` is what the session says, sans-I/O,
for this socket driver and the asyncio one (``sasl_kit.drivers.aio``). CAPA
is asked again after TLS (RFC 2595 4: the client must discard what it knew).
The transcript holds secrets: it is for ``verify`` and is never shown as is.
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
from sasl_kit.protocols.pop3 import PROFILE, POP3Profile

MAX_CAPA_LINES = 1000


class POP3Dialogue(LineDialogue):
    profile: POP3Profile = PROFILE

    def opening(self) -> Steps[None]:
        host = self.host
        greeting = yield ReadLine()
        if not greeting.startswith("+OK"):
            raise SessionFailed(f"{host} did not greet with +OK")
        capabilities = yield from self._capa()
        if self.tls == "starttls":
            if not any(line.upper() == "STLS" for line in capabilities.decode().splitlines()):
                raise StartTLSUnavailable(f"{host} does not offer STLS")
            yield Send("STLS")
            reply = yield ReadLine()
            if not reply.startswith("+OK"):
                raise SessionFailed(f"{host} refused STLS: {reply}")
            self.mechanisms_before_tls = self.profile.mechanisms(capabilities)
            yield StartTLS()
            capabilities = yield from self._capa()
        self.mechanisms = self.profile.mechanisms(capabilities)

    def _capa(self) -> Steps[bytes]:
        """The CAPA reply, its ``+OK`` line first, without the ending ``.``."""
        yield Send("CAPA")
        lines = [(yield ReadLine())]
        if not lines[0].startswith("+OK"):
            raise SessionFailed(f"{self.host} refused CAPA: {lines[0]}")
        while (line := (yield ReadLine())) != ".":
            if len(lines) > MAX_CAPA_LINES:
                raise SessionFailed(f"{self.host} sent an endless CAPA")
            lines.append(line)
        return "\r\n".join(lines).encode("utf-8")


class POP3Session(LineSession):
    profile: POP3Profile = PROFILE
    dialogue = POP3Dialogue


def open_session(settings: SessionSettings) -> POP3Session:
    return POP3Session(settings)
