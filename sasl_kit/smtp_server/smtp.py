"""aiosmtpd, taught SASL: every server mechanism of the registry behind AUTH.

Rules of this module:
- aiosmtpd speaks SMTP; this module only plugs into its hooks. The handler gets
  one ``auth_*`` hook per registry mechanism that has a server side (so
  aiosmtpd's own PLAIN and LOGIN never run), named from the registry, never
  from a list here. A hook steps a sasl-kit server mechanism, sending each
  challenge with aiosmtpd's ``challenge_auth``; bytes returned with completion
  (additional data with success) go as a last 334, answered by an empty line.
- What is offered depends on the connection: a mechanism needs a kind of
  credential the server holds (``ServerConfig.credential_kinds``); -PLUS and
  plaintext ones (PLAIN, LOGIN) need TLS, the latter unless
  ``allow_plaintext_auth``. "TLS" is read from the transport, so implicit TLS
  counts as well as STARTTLS: aiosmtpd's own check looks only at STARTTLS
  (aio-libs/aiosmtpd#281), hence it runs with ``auth_require_tls=False`` and
  this module enforces the policy (538 for a plaintext mechanism in the clear).
- Every failed authentication is logged (logger ``sasl_kit.server``) with the
  mechanism's own error: whose fault and what was wrong, never a secret.
- Strict mode refuses message data with a bare CR or LF (SMTP smuggling) with
  554 and stores nothing. aiosmtpd splits DATA at CRLF only and keeps the
  bytes as sent (``envelope.original_content``), so a bare one is still there.
- Faults (``faults``) wrap every SMTP command and the end of the data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
from dataclasses import dataclass
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session, auth_mechanism

from sasl_kit.errors import (
    AuthenticationFailed,
    MalformedMessage,
    PolicyRefused,
    SASLError,
    UsageError,
)
from sasl_kit.mechanisms.base import ChannelBinding, NonceCounts, ServerMechanism
from sasl_kit.mechanisms.oauth import TokenTable
from sasl_kit.smtp_server.config import ServerConfig
from sasl_kit.smtp_server.faults import DROP, FaultInjector
from sasl_kit.smtp_server.store import MailStore

logger = logging.getLogger("sasl_kit.server")

# What a mechanism's error means here: the reply, and whose fault it was (for the log).
REFUSALS: dict[type[SASLError], tuple[str, str]] = {
    MalformedMessage: ("501 5.5.2 Malformed authentication response", "malformed response"),
    AuthenticationFailed: ("535 5.7.8 Authentication credentials invalid", "wrong credentials"),
    PolicyRefused: ("535 5.7.8 Authentication refused by policy", "refused by policy"),
    UsageError: ("454 4.7.0 Temporary authentication failure", "server misconfigured"),
}
ENCRYPTION_REQUIRED = "538 5.7.11 Encryption required for requested authentication mechanism"
BARE_LINE_ENDING = (
    "554 5.6.0 Message refused: bare CR or LF in the data (RFC 5321 2.3.8); nothing stored"
)


@dataclass(frozen=True)
class Authenticated:
    """``session.auth_data`` after a successful AUTH."""

    mechanism: str
    authcid: str
    authzid: str


class QuietSession(Session):
    """aiosmtpd's session without the deprecation warning it logs on every AUTH."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class SASLSMTP(SMTP):
    """aiosmtpd's SMTP with the fault injector wrapped around every command."""

    def __init__(self, handler: Handler, injector: FaultInjector, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._injector = injector
        self._step = "greeting"
        self._smtp_methods = {
            verb: self._with_faults(verb, method) for verb, method in self._smtp_methods.items()
        }

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    @property
    def encrypted(self) -> bool:
        """TLS is on, by STARTTLS or from the first byte (implicit TLS)."""
        return self.transport is not None and bool(self.transport.get_extra_info("ssl_object"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first and self._injector.faults.drop_at == "greeting":
            logger.info("%s: hanging up before the greeting (injected fault)", self.session_peer)
            transport.abort()  # type: ignore[attr-defined]

    @property
    def session_peer(self) -> str:
        peer = self.session.peer if self.session is not None else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def fault(self, step: str) -> str | None:
        """The fault planned for ``step``: ``DROP`` (hung up already), a reply to give, or None."""
        self._step = step
        fault = self._injector.decide(step)
        if fault == DROP and self.transport is not None:
            logger.info("%s: hanging up at %s (injected fault)", self.session_peer, step)
            self.transport.abort()  # type: ignore[attr-defined]
        return fault

    def _with_faults(self, verb: str, method: Any) -> Any:
        async def run(arg: str | None) -> None:
            fault = self.fault(verb)
            if fault is None:
                await method(arg)
            elif fault != DROP:
                await self.push(fault)

        return run

    async def push(self, status: AnyStr) -> None:
        delay = self._injector.delay(self._step)
        if delay:
            await asyncio.sleep(delay)
        if self.transport is None or self.transport.is_closing():
            return  # hung up (a fault): nothing more to say
        await super().push(status)
        if (status[:4] if isinstance(status, str) else status[:4].decode()) == "421 ":
            self.transport.close()  # RFC 5321 3.8: 421 closes the transmission channel


class Handler:
    """The aiosmtpd handler: AUTH through the registry, MAIL after AUTH, DATA into the store."""

    def __init__(
        self, config: ServerConfig, store: MailStore, binding: ChannelBinding | None
    ) -> None:
        self.config = config
        self.store = store
        self._binding = binding
        self._nonce_counts = NonceCounts()
        self._validate_token = TokenTable(dict(config.tokens)) if config.tokens else None
        for info in config.registry:
            if info.server is not None:
                hook = functools.partial(self._auth, info.name)
                setattr(self, f"auth_{info.name}", auth_mechanism(info.name)(hook))

    def offered(self, encrypted: bool) -> list[str]:
        """The mechanisms offered on a connection, strongest first."""
        c = self.config
        return [
            info.name
            for info in c.registry
            if info.server is not None
            and info.credential in c.credential_kinds()
            and (encrypted or not info.channel_binding)
            and (encrypted or not info.plaintext or c.allow_plaintext_auth)
        ]

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

    async def handle_DATA(self, server: SASLSMTP, session: Session, envelope: Envelope) -> str:
        fault = server.fault("end-of-data")
        if fault is not None:
            return fault  # a DROP has hung up already: push says nothing more
        data = envelope.original_content or b""
        if self.config.strict and bare_line_ending(data):
            logger.warning(
                "%s: refused a message with a bare CR or LF in its data (strict mode)",
                server.session_peer,
            )
            return BARE_LINE_ENDING
        auth = session.auth_data if isinstance(session.auth_data, Authenticated) else None
        key = self.store.add(
            data,
            sender=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
            user=auth.authcid if auth else None,
            mechanism=auth.mechanism if auth else None,
        )
        return f"250 2.0.0 OK stored as {key}"

    # --- AUTH -----------------------------------------------------------------------

    async def _auth(self, name: str, server: SASLSMTP, args: list[str]) -> AuthResult:
        info = self.config.registry.get(name)
        encrypted = server.encrypted
        if name not in self.offered(encrypted):
            refusal = (
                ENCRYPTION_REQUIRED
                if info.plaintext and not encrypted
                else f"504 5.5.4 {name} is not available on this connection"
            )
            _log_failure(server, name, "refused by policy", refusal[4:])
            await server.push(refusal)
            return AuthResult(success=False, handled=True)
        mechanism = self.config.registry.server(name, self.config.users, **self._options(encrypted))
        data: bytes | None = None
        if len(args) > 1:
            try:
                data = b"" if args[1] == "=" else base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                _log_failure(server, name, "malformed response", "initial response is not base64")
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        while True:
            try:
                challenge = mechanism.step(data)
            except SASLError as exc:
                reply, fault = next(v for k, v in REFUSALS.items() if isinstance(exc, k))
                _log_failure(server, name, fault, str(exc))
                await server.push(reply)
                return AuthResult(success=False, handled=True)
            if mechanism.complete and not challenge:
                return _success(server, mechanism)
            answer = await server.challenge_auth(challenge or b"")
            if answer is MISSING:  # "*" or not base64: aiosmtpd has answered 501
                _log_failure(server, name, "cancelled", "'*' or a line that is not base64")
                return AuthResult(success=False, handled=True)
            assert isinstance(answer, bytes)
            if mechanism.complete:  # the answer to additional data with success
                if answer == b"":
                    return _success(server, mechanism)
                _log_failure(server, name, "malformed response", "non-empty answer to final data")
                await server.push("501 5.5.2 Expected an empty line")
                return AuthResult(success=False, handled=True)
            data = answer

    def _options(self, encrypted: bool) -> dict[str, object]:
        name = self.config.server_name
        return {
            "service": "smtp",
            "host": name,
            "realms": (name,),
            "nonce_counts": self._nonce_counts,
            "channel_binding": self._binding if encrypted else None,
            "validate_token": self._validate_token,
            "allow_ntlmv1": self.config.allow_ntlmv1,
        }


def _success(server: SASLSMTP, mechanism: ServerMechanism) -> AuthResult:
    authcid, authzid = mechanism.authcid or "", mechanism.authzid or ""
    logger.info("%s: AUTH %s succeeded for %r", server.session_peer, mechanism.name, authcid)
    return AuthResult(success=True, auth_data=Authenticated(mechanism.name, authcid, authzid))


def _log_failure(server: SASLSMTP, name: str, fault: str, what: str) -> None:
    logger.warning("%s: AUTH %s failed: %s: %s", server.session_peer, name, fault, what)


def bare_line_ending(data: bytes) -> bool:
    """A CR or LF that is not part of a CRLF pair (RFC 5321 2.3.8)."""
    rest = data.replace(b"\r\n", b"")
    return b"\r" in rest or b"\n" in rest
