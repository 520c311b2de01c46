"""The shape every mechanism has, client side and server side.

Rules of this module:
- A mechanism is sans-I/O: ``step(data)`` takes the peer's message as bytes
  (``None`` when the peer sent nothing, e.g. no initial response) and returns the
  bytes to send (``None`` when there is nothing to send). No sockets, no printing,
  no global state; everything a mechanism knows lives on its object.
- Options reach a mechanism as one frozen value (``ClientOptions`` or
  ``ServerOptions``); secrets in them never show in a ``repr``.
- Stepping a finished mechanism raises ``UsageError`` at once; any error ends
  the exchange. Subclasses implement ``_step``; ``step`` guards it.

Theory of operation, client side: a client-first mechanism (``client_first``)
is stepped first with ``b""`` and returns its initial response. A server-first
mechanism is stepped first with the server's challenge. ``complete`` turns true
when the client has nothing more to send or verify.

Server side: the first ``step`` receives the client's initial response, or
``None`` when there was none. When ``complete`` turns true the client is
authenticated (``authcid``/``authzid`` are set); bytes returned together with
completion are "additional data with success" (RFC 4422 3.6), which a protocol
without that feature sends as a last challenge and expects an empty answer to.
Failure raises ``AuthenticationFailed`` or ``MalformedMessage``.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from sasl_kit.errors import AuthenticationFailed, SASLError, UsageError
from sasl_kit.security_layer import SecurityLayer

# DIGEST-MD5's auth-conf ciphers (RFC 2831 2.4), strongest first; used only with qop auth-conf.
DIGEST_CIPHERS = ("rc4", "3des", "rc4-56", "des", "rc4-40")


@runtime_checkable
class CredentialStore(Protocol):
    """Looks up the shared secret (the password) of a user, or ``None``."""

    def password(self, authcid: str, realm: str) -> str | None: ...


@dataclass(frozen=True)
class PasswordTable:
    """A ``CredentialStore`` over a mapping user -> password, the same in every realm."""

    passwords: Mapping[str, str] = field(repr=False)

    def password(self, authcid: str, realm: str) -> str | None:
        return self.passwords.get(authcid)


@dataclass(frozen=True)
class ScramKeys:
    """What a SCRAM server keeps of a password (RFC 5802 3): never the password itself."""

    salt: bytes
    iterations: int
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)


@runtime_checkable
class ScramCredentialStore(CredentialStore, Protocol):
    """A store that gives SCRAM keys; ``hash_name`` is hashlib's (``"sha256"``).

    A store that holds only keys answers ``password`` with ``None``: mechanisms
    that need the password itself then fail for its users, as they must.
    """

    def scram_keys(self, authcid: str, hash_name: str) -> ScramKeys | None: ...


@dataclass(frozen=True)
class ChannelBinding:
    """TLS channel-binding data for SCRAM-*-PLUS (RFC 5056): its type and its bytes.

    Build it with ``sasl_kit.channel_binding``; mechanisms only ever see this value.
    """

    type: str
    data: bytes

    TYPES: ClassVar[tuple[str, ...]] = ("tls-server-end-point", "tls-unique", "tls-exporter")

    def __post_init__(self) -> None:
        if self.type not in self.TYPES:
            raise UsageError(
                f"unknown channel binding type {self.type!r}; known: {', '.join(self.TYPES)}"
            )
        if not self.data:
            raise UsageError(f"channel binding {self.type!r} without data")


class NonceCounts:
    """The last nonce count accepted for each nonce a server issued (RFC 2831 2.1.3).

    One object shared by a server's exchanges lets DIGEST-MD5 accept subsequent
    authentication (RFC 2831 2.2: an initial response that reuses an earlier
    nonce with a higher count) and reject a replayed count. It keeps the newest
    ``capacity`` nonces; a forgotten nonce gets a fresh challenge instead.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._last: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, nonce: str) -> None:
        """Remember a nonce just sent in a challenge (no count accepted yet)."""
        with self._lock:
            self._last[nonce] = 0
            while len(self._last) > self._capacity:
                self._last.popitem(last=False)

    def known(self, nonce: str) -> bool:
        with self._lock:
            return nonce in self._last

    def fresh(self, nonce: str, count: int) -> bool:
        """Whether ``count`` is higher than any count accepted for this issued nonce."""
        with self._lock:
            last = self._last.get(nonce)
            return last is not None and count > last

    def accept(self, nonce: str, count: int) -> bool:
        """Record a verified count; ``False`` (and nothing recorded) if it is not fresh."""
        with self._lock:
            last = self._last.get(nonce)
            if last is None or count <= last:
                return False
            self._last[nonce] = count
            self._last.move_to_end(nonce)
            return True


def as_store(credentials: CredentialStore | Mapping[str, str]) -> CredentialStore:
    """Accept a ready store or a plain ``{user: password}`` mapping."""
    if isinstance(credentials, CredentialStore):
        return credentials
    return PasswordTable(dict(credentials))


def default_authorize(authcid: str, authzid: str) -> bool:
    """Without a policy, a user may act only as itself."""
    return authzid in ("", authcid)


@dataclass(frozen=True)
class ClientOptions:
    """Everything a client mechanism may need; each uses what applies to it.

    ``service`` and ``host`` name the server for mechanisms that bind to it
    (DIGEST-MD5's ``digest-uri`` is ``service/host[/serv_name]``). ``cnonce``
    fixes the client nonce, for vectors and offline checks only.

    SCRAM: ``channel_binding`` is this connection's TLS binding (required by the
    -PLUS mechanisms); ``server_offers_plus`` says whether the server advertised
    a -PLUS mechanism, which decides the downgrade flag ``y``/``n``;
    ``min_iterations``/``max_iterations`` bound the iteration count a server may ask for.

    OAUTHBEARER/XOAUTH2: ``token`` is the OAuth 2.0 bearer token (a secret, like
    the password); OAUTHBEARER also sends ``host`` and ``port`` (RFC 7628 3.1).
    ANONYMOUS: ``trace`` is the optional trace information (RFC 4505 2).

    DIGEST-MD5 security layers: ``qops`` lists the qops the client accepts, in
    order of preference ("auth", "auth-int", "auth-conf"); ``ciphers`` the
    auth-conf ciphers, likewise; ``maxbuf`` the largest layer message it accepts.

    NTLM: ``domain`` and ``workstation`` go into the AUTHENTICATE_MESSAGE (the
    domain may instead come as ``DOMAIN\\user`` in ``username``);
    ``allow_ntlmv1`` lets the client answer a server without TargetInfo with
    NTLMv1 (docs/mechanisms/ntlm.md).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    authzid: str = ""
    service: str = "smtp"
    host: str = "localhost"
    serv_name: str | None = None
    realm: str | None = None
    cnonce: str | None = None
    channel_binding: ChannelBinding | None = None
    server_offers_plus: bool = False
    min_iterations: int = 4096
    max_iterations: int = 1_000_000
    token: str = field(default="", repr=False)
    port: int | None = None
    trace: str = ""
    qops: tuple[str, ...] = ("auth",)
    ciphers: tuple[str, ...] = DIGEST_CIPHERS
    maxbuf: int = 65536
    domain: str = ""
    workstation: str = ""
    allow_ntlmv1: bool = False


@dataclass(frozen=True)
class ServerOptions:
    """Everything a server mechanism may need; each uses what applies to it.

    ``nonce`` fixes the server nonce (CRAM-MD5 challenge, DIGEST-MD5 nonce, the
    part SCRAM appends to the client nonce), for vectors and tests only; left
    ``None``, nonces come from ``secrets``.

    SCRAM: ``channel_binding`` is this connection's TLS binding; a server that has
    one offers the -PLUS mechanisms and so refuses a client's ``y`` flag.
    ``iterations`` and ``salt`` apply when the store gives passwords rather than
    ``ScramKeys``: keys are then derived per login with that count, and with
    ``salt`` (fixed, for vectors and tests only) or a salt made per user from a
    random per-process key.

    OAUTHBEARER/XOAUTH2: ``validate_token(user, token)`` returns the identity the
    bearer token was issued to, or ``None`` to refuse it (``user`` is the one the
    client names, possibly empty); ``oauth_scope`` and ``openid_configuration``
    go into the RFC 7628 3.2.2 error. A client's ``host``/``port`` must match
    ``host`` and ``port`` (when set). EXTERNAL: ``external_identity`` is the
    identity established outside SASL (a TLS client certificate, ...), ``None``
    when there is none.

    DIGEST-MD5 security layers: ``qops`` and ``ciphers`` are offered in this
    order; ``maxbuf`` is the largest layer message the server accepts.

    NTLM: ``allow_ntlmv1`` accepts NTLMv1 responses (refused by default);
    ``nonce`` is then the ServerChallenge in hex.
    """

    credentials: CredentialStore = field(repr=False)
    service: str = "smtp"
    host: str = "localhost"
    realms: tuple[str, ...] = ()
    nonce: str | None = None
    authorize: Callable[[str, str], bool] = default_authorize
    channel_binding: ChannelBinding | None = None
    iterations: int = 4096
    salt: bytes | None = None
    nonce_counts: NonceCounts | None = field(default=None, compare=False)
    validate_token: Callable[[str, str], str | None] | None = field(default=None, compare=False)
    oauth_scope: str | None = None
    openid_configuration: str | None = None
    port: int | None = None
    external_identity: str | None = None
    qops: tuple[str, ...] = ("auth",)
    ciphers: tuple[str, ...] = DIGEST_CIPHERS
    maxbuf: int = 65536
    allow_ntlmv1: bool = False


class Mechanism:
    """What client and server mechanisms share: a name, ``step`` and a finished flag.

    ``security_layer`` is the layer negotiated by a completed exchange, ``None``
    when there is none (sasl_kit.security_layer).
    """

    name: ClassVar[str]
    complete: bool

    def __init__(self) -> None:
        self.complete = False
        self._finished = False
        self.security_layer: SecurityLayer | None = None

    def step(self, data: bytes | None) -> bytes | None:
        """Take the peer's message, return ours; any error ends the exchange."""
        if self._finished:
            raise UsageError(f"{self.name} exchange is already finished; no further step")
        try:
            return self._step(data)
        except SASLError:
            self._finished = True
            raise

    def _step(self, data: bytes | None) -> bytes | None:
        raise NotImplementedError

    def _finish(self) -> None:
        self.complete = True
        self._finished = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} complete={self.complete}>"


class ClientMechanism(Mechanism):
    """Client side. Subclasses implement ``_step``.

    ``answers_errors``: the server may answer the client's last message with an
    error challenge (RFC 7628 3.2.3) although the client is ``complete``; stepping
    it with that challenge takes ``complete`` back and returns the answer that
    lets the server fail the exchange.
    """

    client_first: ClassVar[bool] = False
    answers_errors: ClassVar[bool] = False

    def __init__(self, options: ClientOptions) -> None:
        super().__init__()
        self.options = options

    @property
    def server_reason(self) -> str | None:
        """Why the server failed the exchange, in the mechanism's own terms, if it said.

        Only a mechanism whose failure carries data has one (OAUTHBEARER and
        XOAUTH2: the JSON status, RFC 7628 3.2.2). Protocol layers add it to
        their failure message, since the protocol's own reply is generic.
        """
        return None


class ServerMechanism(Mechanism):
    """Server side. Subclasses implement ``_step``; on success call ``_accept``."""

    def __init__(self, options: ServerOptions) -> None:
        super().__init__()
        self.options = options
        self.authcid: str | None = None
        self.authzid: str | None = None

    def _accept(self, authcid: str, authzid: str) -> None:
        """Record an authenticated user after the authorization policy agrees."""
        if not self.options.authorize(authcid, authzid):
            raise AuthenticationFailed(
                f"{self.name}: user {authcid!r} may not act as {authzid!r}"
            )
        self.authcid = authcid
        self.authzid = authzid or authcid
        self._finish()

    def _reject(self, message: str) -> AuthenticationFailed:
        """The error to raise when the credentials do not match."""
        return AuthenticationFailed(f"{self.name}: {message}")


def secrets_equal(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time comparison for anything derived from a secret."""
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
