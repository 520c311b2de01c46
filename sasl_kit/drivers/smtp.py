"""The SMTP driver: ``sasl_kit.smtp.SMTPClient``'s session (greeting, EHLO, STARTTLS or
implicit TLS, EHLO again), its ``authenticate`` running the SMTP profile's exchanges.

Rules: see the package. The SMTP session of the project is
``sasl_kit.smtp.session.ClientSession`` (its reply parser, its STARTTLS
injection check), which ``SMTPClient`` performs on a socket, so this driver
is a view of that client in the ``Session`` shape, not a second SMTP
implementation. The transcript holds secrets (``transcript_secrets``): it is
for ``verify``.
"""

from __future__ import annotations

from sasl_kit.drivers.base import SessionFailed, SessionSettings, StartTLSUnavailable
from sasl_kit.mechanisms.base import ChannelBinding
from sasl_kit.protocols.base import ClientAuth, Result
from sasl_kit.protocols.smtp import PROFILE, SMTPProfile
from sasl_kit.smtp.client import SMTPClient
from sasl_kit.smtp.errors import SMTPError, TLSRequired


class SMTPSession:
    profile: SMTPProfile = PROFILE

    def __init__(self, settings: SessionSettings) -> None:
        self.transcript: list[str] = []
        self.client = SMTPClient(
            settings.host,
            settings.port,
            tls=settings.tls,
            timeout=settings.timeout,
            transcript=self.transcript.append,
            transcript_secrets=True,
            context=settings.context,
        )
        try:
            self.client.connect()
        except TLSRequired:  # no STARTTLS in the EHLO reply
            raise StartTLSUnavailable(f"{settings.host} does not offer STARTTLS") from None
        except SMTPError as exc:
            raise SessionFailed(str(exc)) from None
        before = self.client.extensions_before_tls
        self.mechanisms_before_tls = None if before is None else before.auth
        self.mechanisms = self.client.extensions.auth

    @property
    def encrypted(self) -> bool:
        return self.client.encrypted

    def channel_binding(self, type: str) -> ChannelBinding | None:
        return self.client.channel_binding(type)

    def authenticate(self, auth: ClientAuth) -> Result:
        try:
            return self.client.authenticate(auth)
        except SMTPError as exc:
            raise SessionFailed(str(exc)) from None

    def close(self) -> None:
        self.client.quit()


def open_session(settings: SessionSettings) -> SMTPSession:
    return SMTPSession(settings)
