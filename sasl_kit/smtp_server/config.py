"""What a ``sasl-kit serve`` server is told: one frozen value, checked once."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sasl_kit.errors import UsageError
from sasl_kit.registry import Registry, default_registry
from sasl_kit.smtp_server.faults import Faults
from sasl_kit.smtp_server.users import Users

DEFAULT_FAILURE_DELAY = 2.0  # Dovecot's auth_failure_delay
MAX_AUTH_FAILURES = 10  # Postfix's smtpd_soft_error_limit


@dataclass(frozen=True)
class ServerConfig:
    """Options of the server (docs/serve.md).

    ``hostname`` names the server in its greeting and to the mechanisms that
    bind to a server name (DIGEST-MD5's digest-uri ``smtp/HOSTNAME`` and realm,
    OAUTHBEARER's host, NTLM's target); it defaults to ``host``. Without
    ``tls_cert``/``tls_key`` a self-signed certificate for ``hostname``,
    ``localhost`` and 127.0.0.1 is made at start. ``tokens`` (user -> OAuth
    bearer token) enables OAUTHBEARER and XOAUTH2; ``allow_anonymous`` enables
    ANONYMOUS. ``allow_ntlmv1`` accepts NTLMv1 answers (swaks and GNU SASL send
    them), refused by default.

    Limits, as Postfix and Dovecot have them: ``idle_timeout`` seconds without
    a line from the client end the session with 421 (Postfix's
    ``smtpd_timeout``, 300 s); past ``max_connections`` open sessions a new
    one gets 421 at once; each failed AUTH is answered after
    ``auth_failure_delay`` seconds (Dovecot's ``auth_failure_delay``; ``None``:
    2 s unless ``host`` is a loopback address, where it is 0, so local test
    suites stay fast), and the ``MAX_AUTH_FAILURES``-th on one connection ends
    it with 421.
    """

    users: Users = field(repr=False)
    maildir: Path
    host: str = "127.0.0.1"
    port: int = 0
    hostname: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    implicit_tls: bool = False
    allow_plaintext_auth: bool = False
    strict: bool = True
    faults: Faults = field(default_factory=Faults)
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    allow_anonymous: bool = False
    allow_ntlmv1: bool = False
    idle_timeout: float = 300.0
    max_connections: int = 300
    auth_failure_delay: float | None = None
    registry: Registry = field(default=default_registry, repr=False)

    def __post_init__(self) -> None:
        if not self.idle_timeout > 0:
            raise UsageError(f"idle timeout {self.idle_timeout} is not a positive number")
        if self.max_connections < 1:
            raise UsageError(f"max connections {self.max_connections} is not at least 1")
        if self.auth_failure_delay is not None and not self.auth_failure_delay >= 0:
            raise UsageError(f"auth failure delay {self.auth_failure_delay} is negative")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UsageError("give both a TLS certificate and its key, or neither")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port {self.port} is not a TCP port")

    @property
    def server_name(self) -> str:
        return self.hostname or self.host

    @property
    def failure_delay(self) -> float:
        """Seconds before answering a failed AUTH (``auth_failure_delay`` resolved)."""
        if self.auth_failure_delay is not None:
            return self.auth_failure_delay
        return 0.0 if _loopback(self.host) else DEFAULT_FAILURE_DELAY

    def credential_kinds(self) -> frozenset[str]:
        """The kinds of credential (``MechanismInfo.credential``) this server can check."""
        kinds = {"password"}
        if self.tokens:
            kinds.add("token")
        if self.allow_anonymous:
            kinds.add("none")
        return frozenset(kinds)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything
