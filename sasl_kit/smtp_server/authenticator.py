"""Every server mechanism of the registry for any aiosmtpd server: ``SASLAuthenticator``.

Rules of this module:
- One object holds the policy ``sasl-kit serve`` applies, and serve uses it:
  which mechanisms a connection is offered (a mechanism needs a kind of
  credential the server holds; -PLUS needs TLS and this server's channel
  binding; PLAIN and LOGIN need TLS unless ``allow_plaintext``), and how a
  server mechanism is made (service ``smtp``, the host name and realm, shared
  DIGEST-MD5 nonce counts, the OAuth token check).
- ``install(handler)`` teaches a stock aiosmtpd handler: one ``auth_*`` hook per
  offered-able mechanism (named from the registry) and an EHLO hook that lists
  only what this connection may use. The exchange runs the SMTP profile's
  server side (``sasl_kit.protocols.smtp``), which frames every line; the hook
  moves lines between it and aiosmtpd's stream.
- "TLS" is read from the transport (implicit TLS counts as well as STARTTLS):
  aiosmtpd's own check sees only STARTTLS (aio-libs/aiosmtpd#281), so run it
  with ``auth_require_tls=False`` and let this policy refuse a plaintext
  mechanism in the clear (538).
- A failed AUTH is logged (logger ``sasl_kit.server``) with the mechanism's
  reason, never a secret, and answered after ``failure_delay`` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, auth_mechanism

from sasl_kit.mechanisms.base import ChannelBinding, CredentialStore, NonceCounts, ServerMechanism
from sasl_kit.protocols import smtp as smtp_profile
from sasl_kit.registry import Registry, default_registry

logger = logging.getLogger("sasl_kit.server")
ENCRYPTION_REQUIRED = "538 5.7.11 Encryption required for requested authentication mechanism"
_H = TypeVar("_H")


class SASLAuthenticator:
    """The mechanisms of ``registry`` over ``credentials`` (a ``CredentialStore``, a
    ``ScramCredentialStore`` such as ``Users``, or a mapping user -> password).

    ``hostname`` is the name DIGEST-MD5's digest-uri and realm must carry;
    ``channel_binding`` this server's TLS binding (``tls-server-end-point`` of its
    certificate), which lets the -PLUS mechanisms be offered over TLS; ``tokens``
    (user -> OAuth bearer token) enables OAUTHBEARER and XOAUTH2;
    ``allow_anonymous`` ANONYMOUS; ``allow_ntlmv1`` NTLMv1 answers.
    """

    def __init__(
        self,
        credentials: CredentialStore | Mapping[str, str],
        *,
        hostname: str,
        channel_binding: ChannelBinding | None = None,
        tokens: Mapping[str, str] | None = None,
        allow_anonymous: bool = False,
        allow_plaintext: bool = False,
        allow_ntlmv1: bool = False,
        failure_delay: float = 0.0,
        registry: Registry = default_registry,
    ) -> None:
        self.credentials = credentials
        self.hostname = hostname
        self.channel_binding = channel_binding
        self.allow_plaintext = allow_plaintext
        self.allow_ntlmv1 = allow_ntlmv1
        self.failure_delay = failure_delay
        self.registry = registry
        self._tokens = dict(tokens or {})
        self._nonce_counts = NonceCounts()
        kinds = {"password"} | ({"token"} if self._tokens else set())
        self.credential_kinds = frozenset(kinds | ({"none"} if allow_anonymous else set()))

    # --- the policy ------------------------------------------------------------------

    def offered(self, encrypted: bool) -> list[str]:
        """The mechanisms offered on a connection, strongest first."""
        return [
            info.name
            for info in self.registry
            if info.has_server
            and info.credential in self.credential_kinds
            and (not info.channel_binding or (encrypted and self.channel_binding is not None))
            and (encrypted or not info.plaintext or self.allow_plaintext)
        ]

    def refusal(self, name: str, encrypted: bool) -> str | None:
        """The reply refusing ``name`` on this connection, or ``None`` when it is offered."""
        if name in self.offered(encrypted):
            return None
        info = self.registry.get(name)
        if info.plaintext and not encrypted:
            return ENCRYPTION_REQUIRED
        return f"504 5.5.4 {name} is not available on this connection"

    def mechanism(self, name: str, encrypted: bool) -> ServerMechanism:
        """A fresh server mechanism for one AUTH on a connection."""
        from sasl_kit.mechanisms.oauth import TokenTable  # only when tokens are checked

        return self.registry.server(
            name,
            self.credentials,
            service="smtp",
            host=self.hostname,
            realms=(self.hostname,),
            nonce_counts=self._nonce_counts,
            channel_binding=self.channel_binding if encrypted else None,
            validate_token=TokenTable(self._tokens) if self._tokens else None,
            allow_ntlmv1=self.allow_ntlmv1,
        )

    # --- a stock aiosmtpd handler ------------------------------------------------------

    def install(self, handler: _H) -> _H:
        """Give ``handler`` (any aiosmtpd handler object) this server's AUTH; returns it.

        Build the ``SMTP``/``Controller`` after this call and with
        ``auth_require_tls=False`` (this policy decides what needs TLS).
        """
        for info in self.registry:
            if info.has_server:
                hook = functools.partial(self._auth, info.name)
                setattr(
                    handler, f"auth_{info.name.replace('-', '_')}", auth_mechanism(info.name)(hook)
                )
        previous = getattr(handler, "handle_EHLO", None)

        async def handle_EHLO(
            server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            if previous is not None:
                responses = await previous(server, session, envelope, hostname, responses)
            else:
                session.host_name = hostname
            kept = [r for r in responses if not r.startswith("250-AUTH ")]
            offered = self.offered(_encrypted(server))
            if offered:
                kept.insert(-1, "250-AUTH " + " ".join(offered))
            return kept

        setattr(handler, "handle_EHLO", handle_EHLO)  # noqa: B010 - an instance's hook
        return handler

    async def _auth(self, name: str, server: SMTP, args: list[str]) -> AuthResult:
        encrypted = _encrypted(server)
        refusal = self.refusal(name, encrypted)
        if refusal is not None:
            return await self._fail(server, name, "refused by policy", refusal)
        mechanism = self.mechanism(name, encrypted)
        auth = smtp_profile.PROFILE.server(name, mechanism)
        # aiosmtpd split the command; the profile reads it whole, as the client sent it.
        out = auth.receive(" ".join(("AUTH", *args)).encode("utf-8", "surrogateescape") + b"\r\n")
        while auth.result is None:
            await server.push(out.decode("ascii").removesuffix("\r\n"))
            line = await server._reader.readline()
            if not line:
                return AuthResult(success=False, handled=True)  # the client went away
            out = auth.receive(line)
        if auth.result.ok:
            user = mechanism.authcid or ""
            logger.info("AUTH %s succeeded for %r", name, user)
            return AuthResult(success=True, auth_data=(name, user, mechanism.authzid or user))
        error = auth.result.error
        logger.warning("AUTH %s failed: %s", name, error if error is not None else auth.result.code)
        return await self._fail(server, name, None, out.decode("ascii").strip())

    async def _fail(self, server: SMTP, name: str, why: str | None, reply: str) -> AuthResult:
        if why is not None:
            logger.warning("AUTH %s failed: %s", name, why)
        if self.failure_delay:
            await asyncio.sleep(self.failure_delay)
        await server.push(reply)
        return AuthResult(success=False, handled=True)


def _encrypted(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None
