"""What a ``sasl-kit serve`` server is told: one frozen value, checked once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sasl_kit.errors import UsageError
from sasl_kit.registry import Registry, default_registry
from sasl_kit.smtp_server.faults import Faults
from sasl_kit.smtp_server.users import Users


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
    registry: Registry = field(default=default_registry, repr=False)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UsageError("give both a TLS certificate and its key, or neither")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port {self.port} is not a TCP port")

    @property
    def server_name(self) -> str:
        return self.hostname or self.host

    def credential_kinds(self) -> frozenset[str]:
        """The kinds of credential (``MechanismInfo.credential``) this server can check."""
        kinds = {"password"}
        if self.tokens:
            kinds.add("token")
        if self.allow_anonymous:
            kinds.add("none")
        return frozenset(kinds)
