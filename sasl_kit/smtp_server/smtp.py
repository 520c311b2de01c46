"""aiosmtpd, taught SASL: every server mechanism of the registry behind AUTH.

Rules of this module:
- aiosmtpd speaks SMTP (``session.SASLSMTP``, one per connection); this
  module is its handler. It gets one ``auth_*`` hook per registry mechanism
  that has a server side (so aiosmtpd's own PLAIN and LOGIN never run), named
  from the registry, never from a list here. A hook runs the SMTP profile's
  server side (``sasl_kit.protocols.smtp``: 334, base64, ``*``, the replies)
  over a sasl-kit server mechanism, each line it writes sent and the answer
  read with ``SASLSMTP.challenge``; additional data with success is the
  profile's last 334, answered by an empty line.
- What is offered, and how a server mechanism is made, is
  ``SASLAuthenticator``'s policy (``authenticator.py``, the object any aiosmtpd
  server can take): a mechanism needs a kind of credential the server holds
  (``ServerConfig.credential_kinds``); -PLUS and plaintext ones (PLAIN, LOGIN)
  need TLS, the latter unless ``allow_plaintext_auth``. "TLS" is read from the
  transport, so implicit TLS counts as well as STARTTLS: aiosmtpd's own check looks only at STARTTLS
  (aio-libs/aiosmtpd#281), hence it runs with ``auth_require_tls=False`` and
  this module enforces the policy (538 for a plaintext mechanism in the clear).
- Every AUTH that does not succeed is a failure: logged (logger
  ``sasl_kit.server``) with the mechanism's own error (whose fault and what
  was wrong, never a secret), answered after ``ServerConfig.failure_delay``,
  and the ``MAX_AUTH_FAILURES``-th on a connection is answered 421 instead.
- Strict mode refuses message data with a bare CR or LF (SMTP smuggling) with
  554 and stores nothing.
- A message is answered 250 only once ``MailStore.commit`` has it and its
  envelope on disk; a failure to store is logged with its details and answered
  with a generic 451 4.3.0.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from aiosmtpd.smtp import AuthResult, Envelope, Session, auth_mechanism

from sasl_kit.errors import (
    AuthenticationFailed,
    MalformedMessage,
    PolicyRefused,
    SASLError,
    UsageError,
)
from sasl_kit.mechanisms.base import ChannelBinding, ServerMechanism
from sasl_kit.protocols import smtp as smtp_profile
from sasl_kit.protocols.smtp import SMTPServerAuth
from sasl_kit.smtp_server.authenticator import SASLAuthenticator
from sasl_kit.smtp_server.config import MAX_AUTH_FAILURES, ServerConfig
from sasl_kit.smtp_server.session import (
    DATA_LINE_TOO_LONG,
    SASLSMTP,
    STORE_FAILED,
    TOO_MUCH_DATA,
    Received,
)
from sasl_kit.smtp_server.store import MailStore, Spool

logger = logging.getLogger("sasl_kit.server")

# What a mechanism's error means here: the reply, and whose fault it was (for the log).
REFUSALS: dict[type[SASLError], tuple[str, str]] = {
    MalformedMessage: ("501 5.5.2 Malformed authentication response", "malformed response"),
    AuthenticationFailed: ("535 5.7.8 Authentication credentials invalid", "wrong credentials"),
    PolicyRefused: ("535 5.7.8 Authentication refused by policy", "refused by policy"),
    UsageError: ("454 4.7.0 Temporary authentication failure", "server misconfigured"),
}
BARE_LINE_ENDING = (
    "554 5.6.0 Message refused: bare CR or LF in the data (RFC 5321 2.3.8); nothing stored"
)


FAILURES: dict[str, tuple[str, str]] = {
    "cancelled": ("cancelled", "the client sent '*'"),
    "too-long": ("malformed response", "an answer line over 12288 octets"),
    "base64": ("malformed response", "a line that is not base64"),
    "final": ("malformed response", "non-empty answer to final data"),
    "syntax": ("malformed response", "not an AUTH command"),
}
"""The SMTP profile's failures that are no mechanism's error: (whose fault, what) for the log;
their replies are the profile's (``SMTPServerAuth.replies``)."""


CREDENTIALS_INVALID = REFUSALS[AuthenticationFailed][0]


@dataclass(frozen=True)
class Authenticated:
    """``session.auth_data`` after a successful AUTH."""

    mechanism: str
    authcid: str
    authzid: str


class Handler:
    """The aiosmtpd handler: AUTH through the registry, MAIL after AUTH, DATA into the store."""

    def __init__(
        self, config: ServerConfig, store: MailStore, binding: ChannelBinding | None
    ) -> None:
        self.config = config
        self.store = store
        self._binding = binding
        # The AUTH policy, the one any aiosmtpd server can take (authenticator.py).
        self.authenticator = SASLAuthenticator(
            config.users,
            hostname=config.server_name,
            channel_binding=binding,
            tokens=config.tokens,
            allow_anonymous=config.allow_anonymous,
            allow_plaintext=config.allow_plaintext_auth,
            allow_ntlmv1=config.allow_ntlmv1,
            failure_delay=config.failure_delay,
            registry=config.registry,
        )
        for info in config.registry:
            if info.server is not None:
                hook = functools.partial(self._auth, info.name)
                setattr(self, f"auth_{info.name}", auth_mechanism(info.name)(hook))

    def offered(self, encrypted: bool) -> list[str]:
        """The mechanisms offered on a connection, strongest first."""
        return self.authenticator.offered(encrypted)

    # --- aiosmtpd hooks -----------------------------------------------------------

    async def handle_EHLO(
        self,
        server: SASLSMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        kept = [r for r in responses if not r.startswith("250-AUTH ")]
        offered = self.offered(server.encrypted)
        if offered:
            kept.insert(-1, "250-AUTH " + " ".join(offered))
        return kept

    async def handle_MAIL(
        self,
        server: SASLSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def deliver(
        self,
        server: SASLSMTP,
        session: Session,
        envelope: Envelope,
        spool: Spool,
        received: Received,
    ) -> str:
        """The final reply to a message whose data is in ``spool``; 250 once it is stored."""
        fault = server.fault("end-of-data")
        if fault is not None:
            return fault  # a DROP has hung up already: push says nothing more
        if received.too_long:
            return DATA_LINE_TOO_LONG
        if received.too_much:
            return TOO_MUCH_DATA
        if self.config.strict and received.bare_line_ending:
            logger.warning(
                "%s: refused a message with a bare CR or LF in its data (strict mode)",
                server.session_peer,
            )
            return BARE_LINE_ENDING
        auth = session.auth_data if isinstance(session.auth_data, Authenticated) else None
        commit = functools.partial(
            self.store.commit,
            spool,
            sender=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
            user=auth.authcid if auth else None,
            mechanism=auth.mechanism if auth else None,
        )
        try:
            key = await asyncio.to_thread(commit)  # fsync: the other sessions go on meanwhile
        except OSError as exc:
            logger.error("%s: could not store a message: %s", server.session_peer, exc)
            return STORE_FAILED
        return f"250 2.0.0 OK stored as {key}"

    # --- AUTH -----------------------------------------------------------------------

    async def _auth(self, name: str, server: SASLSMTP, args: list[str]) -> AuthResult:
        info = self.config.registry.get(name)
        encrypted = server.encrypted
        refusal = self.authenticator.refusal(name, encrypted)
        if refusal is not None:
            return await self._fail(server, name, "refused by policy", refusal[4:], refusal)
        mechanism = self.authenticator.mechanism(name, encrypted)
        auth = smtp_profile.PROFILE.server(name, mechanism)
        # The command as the client sent it (aiosmtpd split it): the profile reads it first.
        out = auth.receive(" ".join(("AUTH", *args)).encode("utf-8", "surrogateescape") + b"\r\n")
        while auth.result is None:
            challenged = bool(auth.last_challenge)
            line = await server.challenge(out.decode("ascii").removesuffix("\r\n"))
            if line is not None and not line.strip() and challenged and info.credential == "token":
                # A token mechanism's only non-empty challenge is its JSON error. RFC 7628
                # 3.2.3 has the client answer %x01; msmtp sends an empty line. Either way
                # the client has read the error: the AUTH has failed.
                what = "the token was refused; the client acknowledged the error"
                return await self._fail(
                    server, name, "wrong credentials", what, CREDENTIALS_INVALID
                )
            out = auth.too_long() if line is None else auth.receive(line)
        if auth.result.ok:
            return _success(server, mechanism)
        fault, what = _failure(auth)
        return await self._fail(server, name, fault, what, out.decode("ascii").strip())

    async def _fail(
        self, server: SASLSMTP, name: str, fault: str, what: str, reply: str
    ) -> AuthResult:
        """Log a failed AUTH, wait the failure delay, answer (421 at the last failure allowed)."""
        logger.warning("%s: AUTH %s failed: %s: %s", server.session_peer, name, fault, what)
        server.auth_failures += 1
        if self.config.failure_delay:
            await asyncio.sleep(self.config.failure_delay)
        if server.auth_failures >= MAX_AUTH_FAILURES:
            logger.warning(
                "%s: %d failed AUTH, closing the connection", server.session_peer, MAX_AUTH_FAILURES
            )
            reply = f"421 4.7.0 {server.hostname} Error: too many failed authentications"
        await server.push(reply)
        return AuthResult(success=False, handled=True)


def _success(server: SASLSMTP, mechanism: ServerMechanism) -> AuthResult:
    authcid, authzid = mechanism.authcid or "", mechanism.authzid or ""
    logger.info("%s: AUTH %s succeeded for %r", server.session_peer, mechanism.name, authcid)
    return AuthResult(success=True, auth_data=Authenticated(mechanism.name, authcid, authzid))


def _failure(auth: SMTPServerAuth) -> tuple[str, str]:
    """Whose fault a failed exchange was and what was wrong, for the log (never a secret)."""
    error = auth.result.error if auth.result is not None else None
    if auth.failure in FAILURES:
        return FAILURES[auth.failure]
    fault = next((v[1] for k, v in REFUSALS.items() if isinstance(error, k)), "malformed response")
    return fault, str(error)
