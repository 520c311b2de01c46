"""The shape every mechanism has, client side and server side.

Rules of this module:
- A mechanism is sans-I/O: ``step(data)`` takes the peer's message as bytes
  (``None`` when the peer sent nothing, e.g. no initial response) and returns the
  bytes to send (``None`` when there is nothing to send). No sockets, no printing,
  no global state; everything a mechanism knows lives on its object.
- Options reach a mechanism as one frozen value (``ClientOptions`` or
  ``ServerOptions``); secrets in them never show in a ``repr``. A
  ``ClientFromFields`` made by the registry gets that value's fields, checked,
  and builds the value when ``options`` is first read.
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

from sasl_kit.errors import AuthenticationFailed, SASLError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (7 ms of start-up)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, Self, TypeVar, dataclass_transform

    from sasl_kit.mechanisms.values import ChannelBinding as ChannelBinding
    from sasl_kit.mechanisms.values import CredentialStore as CredentialStore
    from sasl_kit.mechanisms.values import NonceCounts as NonceCounts
    from sasl_kit.mechanisms.values import PasswordTable as PasswordTable
    from sasl_kit.mechanisms.values import ScramCredentialStore as ScramCredentialStore
    from sasl_kit.mechanisms.values import ScramKeys as ScramKeys
    from sasl_kit.mechanisms.values import as_store as as_store
    from sasl_kit.security_layer import SecurityLayer

    _O = TypeVar("_O", bound="_Options")
else:

    def dataclass_transform(**_: object):  # what type checkers read, nothing at run time
        return lambda cls: cls


_VALUES = frozenset(
    (
        "ChannelBinding",
        "CredentialStore",
        "NonceCounts",
        "PasswordTable",
        "ScramCredentialStore",
        "ScramKeys",
        "as_store",
    )
)


def __getattr__(name: str) -> object:
    """The names of ``sasl_kit.mechanisms.values``, imported when first asked for."""
    if name in _VALUES:
        from sasl_kit.mechanisms import values

        return getattr(values, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# DIGEST-MD5's auth-conf ciphers (RFC 2831 2.4), strongest first; used only with qop auth-conf.
DIGEST_CIPHERS = ("rc4", "3des", "rc4-56", "des", "rc4-40")


def default_authorize(authcid: str, authzid: str) -> bool:
    """Without a policy, a user may act only as itself."""
    return authzid in ("", authcid)


_new, _set = object.__new__, object.__setattr__  # module names: read faster than attributes


@dataclass_transform(kw_only_default=True, frozen_default=True)
class _Options:
    """A frozen value of keyword options: one check and one dict update (docs/bench.md).

    A subclass declares its fields as annotated class attributes with their
    defaults (a field without one is required) and names in ``_hidden`` those
    whose value a ``repr`` must not show, in ``_uncompared`` those that equality
    ignores. Unknown and missing options raise ``TypeError`` in the words a
    dataclass would use; type checkers see a frozen keyword-only dataclass, but
    it is none: copy one with ``replace``, not ``dataclasses.replace``.
    """

    _hidden: ClassVar[frozenset[str]] = frozenset()
    _uncompared: ClassVar[frozenset[str]] = frozenset()
    _fields: ClassVar[tuple[str, ...]]
    _names: ClassVar[frozenset[str]]
    _compared: ClassVar[tuple[str, ...]]
    _required: ClassVar[frozenset[str]]
    _bound: ClassVar[dict[str, object]]
    _of: ClassVar[Callable[[dict[str, object]], _Options]]
    """``cls(**options)``, taking the dict ``options`` itself as the new value's fields.

    The registry's path: its ``**options`` is a dict of its own already, and
    calling the class would copy it again (docs/bench.md: making a client).
    """

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(n for n in cls.__annotations__ if not n.startswith("_"))
        cls._names = frozenset(cls._fields)
        cls._compared = tuple(n for n in cls._fields if n not in cls._uncompared)
        cls._required = frozenset(n for n in cls._fields if n not in cls.__dict__)
        # A default is read from the class, unless reading it there would bind it (a function).
        defaults = {n: cls.__dict__[n] for n in cls._names - cls._required}
        cls._bound = {n: value for n, value in defaults.items() if hasattr(value, "__get__")}
        cls._of = _maker(cls)

    def __init__(self, **options: object) -> None:
        _set(self, "__dict__", type(self)._of(options).__dict__)

    @classmethod
    def _refuse(cls, options: dict[str, object]) -> None:
        where = f"{cls.__qualname__}.__init__()"
        for name in options:
            if name not in cls._names:
                raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
        missing = ", ".join(repr(n) for n in cls._fields if n in cls._required - options.keys())
        raise TypeError(f"{where} missing required keyword-only argument(s): {missing}")

    def replace(self, **changes: object) -> Self:
        """A copy with ``changes`` (what ``dataclasses.replace`` does for a dataclass)."""
        return type(self)(**{**vars(self), **changes})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        shown = (f"{n}={getattr(self, n)!r}" for n in self._fields if n not in self._hidden)
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._compared)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self._compared))


# What ``object.__setattr__(value, "__dict__", fields)`` does, bound once: 40 ns less a value.
_set_fields = _Options.__dict__["__dict__"].__set__


def _maker(cls: type[_O]) -> Callable[[dict[str, object]], _O]:
    """``cls._of``: the class's checks held in the closure, read faster than class attributes."""
    names, required, bound, refuse = cls._names, cls._required, cls._bound, cls._refuse

    def of(options: dict[str, object]) -> _O:
        if not names.issuperset(options) or (required and not required <= options.keys()):
            refuse(options)
        made = _new(cls)
        _set_fields(made, {**bound, **options} if bound else options)
        return made

    return of


class ClientOptions(_Options):
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
    NTLMv1 (docs/mechanisms/ntlm.md); ``timestamp`` fixes the NTLMv2 time the
    client sends when the server gives none (16 hex digits, the 8-octet FILETIME),
    for vectors and offline checks only, as ``cnonce`` fixes its ClientChallenge.

    PLAIN and SCRAM: ``preparation`` is how the user name and password are
    prepared, ``"saslprep"`` (RFC 4013, the default) or ``"precis"`` (RFC 8265;
    ``sasl_kit.preparation``); the server must prepare the same way.
    """

    username: str = ""
    password: str = ""
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
    token: str = ""
    port: int | None = None
    trace: str = ""
    qops: tuple[str, ...] = ("auth",)
    ciphers: tuple[str, ...] = DIGEST_CIPHERS
    maxbuf: int = 65536
    domain: str = ""
    workstation: str = ""
    allow_ntlmv1: bool = False
    timestamp: str | None = None
    preparation: str = "saslprep"

    _hidden = frozenset(("password", "token"))
    _of: ClassVar[Callable[[dict[str, object]], ClientOptions]]


class ServerOptions(_Options):
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

    PLAIN and SCRAM: ``preparation`` prepares the presented and the stored user
    name and password, ``"saslprep"`` (the default) or ``"precis"`` (RFC 8265),
    as the clients do (``ClientOptions.preparation``).
    """

    credentials: CredentialStore
    service: str = "smtp"
    host: str = "localhost"
    realms: tuple[str, ...] = ()
    nonce: str | None = None
    authorize: Callable[[str, str], bool] = default_authorize
    channel_binding: ChannelBinding | None = None
    iterations: int = 4096
    salt: bytes | None = None
    nonce_counts: NonceCounts | None = None
    validate_token: Callable[[str, str], str | None] | None = None
    oauth_scope: str | None = None
    openid_configuration: str | None = None
    port: int | None = None
    external_identity: str | None = None
    qops: tuple[str, ...] = ("auth",)
    ciphers: tuple[str, ...] = DIGEST_CIPHERS
    maxbuf: int = 65536
    allow_ntlmv1: bool = False
    preparation: str = "saslprep"

    _hidden = frozenset(("credentials",))
    _uncompared = frozenset(("nonce_counts", "validate_token"))
    _of: ClassVar[Callable[[dict[str, object]], ServerOptions]]


class Mechanism:
    """What client and server mechanisms share: a name, ``step`` and a finished flag.

    ``security_layer`` is the layer negotiated by a completed exchange, ``None``
    when there is none (sasl_kit.security_layer).
    """

    name: ClassVar[str]
    # Class-level starting values: an object sets its own only when they change.
    complete: bool = False
    _finished: bool = False
    security_layer: SecurityLayer | None = None

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
        self.options = options

    @property
    def server_reason(self) -> str | None:
        """Why the server failed the exchange, in the mechanism's own terms, if it said.

        Only a mechanism whose failure carries data has one (OAUTHBEARER and
        XOAUTH2: the JSON status, RFC 7628 3.2.2). Protocol layers add it to
        their failure message, since the protocol's own reply is generic.
        """
        return None


class ClientFromFields(ClientMechanism):
    """A client whose steps read its options' fields (``_fields``), not ``options``.

    A ``ClientOptions`` value keeps its fields in one dict, the options given to it,
    and reads a field that is not there from the class, its default. The registry
    makes a client of this kind without that value: it checks the names as
    ``ClientOptions`` does and hands the same dict over as ``_fields``; ``options``
    is built over that dict when first read, so it equals what ``cls(options)``
    would hold. One object fewer per login (docs/bench.md: making a client).
    Setting ``options`` sets the fields with it. The fields live in a slot, out
    of ``vars()``, since they hold the password. A subclass with its own
    ``__init__`` is made through it, as any client.
    """

    __slots__ = ("_fields", "_options")
    _fields: dict[str, Any]
    _options: ClientOptions

    @property
    def options(self) -> ClientOptions:
        try:
            return self._options
        except AttributeError:  # made from its fields: build the value once, now
            self._options = made = ClientOptions._of(self._fields)
            return made

    @options.setter
    def options(self, options: ClientOptions) -> None:
        self._fields = vars(options)
        self._options = options


class ServerMechanism(Mechanism):
    """Server side. Subclasses implement ``_step``; on success call ``_accept``."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.authcid: str | None = None
        self.authzid: str | None = None

    def _accept(self, authcid: str, authzid: str) -> None:
        """Record an authenticated user after the authorization policy agrees."""
        if not self.options.authorize(authcid, authzid):
            raise AuthenticationFailed(f"{self.name}: user {authcid!r} may not act as {authzid!r}")
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
