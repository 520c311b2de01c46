"""Mechanism names -> classes, their strength order, and negotiation.

Rules of this module:
- This is the only place that knows which mechanisms exist and how strong each
  is. Protocol layers ask it for a mechanism and never compare names themselves.
- A name is matched case-insensitively and stored upper-case (RFC 4422 3.1).
- Plaintext mechanisms (``plaintext=True``) are never chosen for a connection
  that is not encrypted unless the caller opts in; ``choose`` says why a
  mechanism the server offered was passed over.
- A mechanism is chosen only when the caller has the kind of credential it
  uses (``credential``: a password, a bearer token, an identity established
  outside SASL, or none at all); by default a caller has a password only.
- Third-party mechanisms come from the entry-point group ``sasl_kit.mechanisms``;
  each entry point loads a ``MechanismInfo``.
"""

from __future__ import annotations

from importlib import import_module

from sasl_kit.errors import PolicyRefused, UnknownMechanism, UsageError
from sasl_kit.mechanisms.base import (
    ClientFromFields,
    ClientMechanism,
    ClientOptions,
    ServerOptions,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (7 ms of start-up)
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping
    from importlib.metadata import EntryPoint

    from sasl_kit.mechanisms.base import CredentialStore, ServerMechanism

ENTRY_POINT_GROUP = "sasl_kit.mechanisms"
CREDENTIALS = ("password", "token", "external", "none")
"""What a mechanism needs from its caller (``MechanismInfo.credential``, ``choose``)."""


def credential_kinds(
    password: str = "", token: object = None, anonymous: bool = False
) -> list[str]:
    """The ``credentials`` for ``Registry.choose`` of a caller holding these: a password
    makes the password mechanisms usable, a token OAUTHBEARER/XOAUTH2, ``anonymous``
    ANONYMOUS."""
    return [
        kind
        for kind, have in (("password", password), ("token", token), ("none", anonymous))
        if have
    ]


_NEEDS = {
    "password": "needs a password, and the caller has none",
    "token": "needs an OAuth bearer token, and the caller has none",
    "external": "needs an identity established outside SASL (TLS client certificate, ...), "
    "and the caller did not ask for one",
    "none": "authenticates no one (anonymous), and the caller did not ask for that",
}
_CLIENT_FIELDS = ClientOptions._names
_new = object.__new__
_FIELDS = ("name", "client", "server", "strength", "plaintext", "channel_binding", "credential")


class MechanismInfo:
    """One registry row. ``strength`` orders mechanisms: higher is preferred.

    ``client``/``server``: the mechanism's classes, ``None`` for a side it does not
    have, or a reference ``"package.module:Class"`` imported when first read
    (the built-ins are listed that way, so listing them imports none).
    ``plaintext``: the password crosses the wire in the clear (needs TLS).
    ``channel_binding``: the mechanism binds to the TLS channel (SCRAM-*-PLUS)
    and can be used only with binding data.
    ``credential``: what the caller must have, one of ``CREDENTIALS``.
    Rows are frozen values: compared, hashed and shown by their fields.
    """

    __slots__ = (
        "_client_ref",
        "_server_ref",
        "channel_binding",
        "client",
        "credential",
        "name",
        "plaintext",
        "server",
        "strength",
    )

    def __init__(
        self,
        name: str,
        client: type[ClientMechanism] | str | None,
        server: type[ServerMechanism] | str | None,
        strength: int,
        plaintext: bool = False,
        channel_binding: bool = False,
        credential: str = "password",
    ) -> None:
        if credential not in CREDENTIALS:
            raise UsageError(
                f"{name.upper()}: unknown credential {credential!r}; known: "
                f"{', '.join(CREDENTIALS)}"
            )
        _set = object.__setattr__
        _set(self, "name", name.upper())
        _set(self, "_client_ref", client)
        _set(self, "_server_ref", server)
        _set(self, "strength", strength)
        _set(self, "plaintext", plaintext)
        _set(self, "channel_binding", channel_binding)
        _set(self, "credential", credential)
        for side, given in (("client", client), ("server", server)):
            if not isinstance(given, str):
                _set(self, side, given)

    name: str
    strength: int
    plaintext: bool
    channel_binding: bool
    credential: str
    client: type[ClientMechanism] | None
    """The client class, or ``None``; a reference is imported at the first read."""
    server: type[ServerMechanism] | None
    """The server class, or ``None``; a reference is imported at the first read."""
    _client_ref: type[ClientMechanism] | str | None
    _server_ref: type[ServerMechanism] | str | None

    def __getattr__(self, name: str) -> object:
        """Called only for a side not read yet: import its reference, keep the class."""
        if name not in ("client", "server"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        reference = getattr(self, f"_{name}_ref")
        object.__setattr__(self, name, _resolve(reference))
        return getattr(self, name)

    @property
    def has_client(self) -> bool:
        """Whether there is a client side, without importing it."""
        return self._client_ref is not None

    @property
    def has_server(self) -> bool:
        """Whether there is a server side, without importing it."""
        return self._server_ref is not None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def _key(self) -> tuple[object, ...]:
        return (
            self.name,
            _name_of(self._client_ref),
            _name_of(self._server_ref),
            self.strength,
            self.plaintext,
            self.channel_binding,
            self.credential,
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, MechanismInfo)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={v!r}" for f, v in zip(_FIELDS, self._key(), strict=True))
        return f"MechanismInfo({fields})"


def _resolve(reference: str) -> type:
    module, _, attribute = reference.partition(":")
    cls: type = getattr(import_module(module), attribute)
    return cls


def _name_of(side: type | str | None) -> str | None:
    """A side as its ``module:Class`` reference, so a loaded row equals a lazy one."""
    if side is None or isinstance(side, str):
        return side
    return f"{side.__module__}:{side.__qualname__}"


def _builtin(name: str, module: str, classes: str, strength: int, **flags: object) -> MechanismInfo:
    """A built-in row: ``classes`` names the client and server classes of ``module``."""
    client, server = (f"sasl_kit.mechanisms.{module}:{cls}" for cls in classes.split())
    return MechanismInfo(name, client, server, strength, **flags)  # type: ignore[arg-type]


BUILTINS: tuple[MechanismInfo, ...] = (
    _builtin(
        "SCRAM-SHA-512-PLUS",
        "scram",
        "ScramSHA512PlusClient ScramSHA512PlusServer",
        90,
        channel_binding=True,
    ),
    _builtin(
        "SCRAM-SHA-256-PLUS",
        "scram",
        "ScramSHA256PlusClient ScramSHA256PlusServer",
        85,
        channel_binding=True,
    ),
    _builtin(
        "SCRAM-SHA-1-PLUS",
        "scram",
        "ScramSHA1PlusClient ScramSHA1PlusServer",
        80,
        channel_binding=True,
    ),
    _builtin("SCRAM-SHA-512", "scram", "ScramSHA512Client ScramSHA512Server", 70),
    _builtin("SCRAM-SHA-256", "scram", "ScramSHA256Client ScramSHA256Server", 65),
    _builtin("SCRAM-SHA-1", "scram", "ScramSHA1Client ScramSHA1Server", 60),
    _builtin("EXTERNAL", "external", "ExternalClient ExternalServer", 55, credential="external"),
    _builtin(
        "OAUTHBEARER",
        "oauth",
        "OAuthBearerClient OAuthBearerServer",
        50,
        plaintext=True,
        credential="token",
    ),
    _builtin(
        "XOAUTH2", "oauth", "XOAuth2Client XOAuth2Server", 45, plaintext=True, credential="token"
    ),
    _builtin("DIGEST-MD5", "digest_md5", "DigestMD5Client DigestMD5Server", 40),
    # NTLMv2 binds a client challenge, a timestamp and (MIC) all three messages, which
    # CRAM-MD5 does not; unlike DIGEST-MD5 the server never proves itself.
    _builtin("NTLM", "ntlm", "NTLMClient NTLMServer", 35),
    _builtin("CRAM-MD5", "cram_md5", "CramMD5Client CramMD5Server", 30),
    _builtin("PLAIN", "plain", "PlainClient PlainServer", 20, plaintext=True),
    _builtin("LOGIN", "login", "LoginClient LoginServer", 10, plaintext=True),
    _builtin("ANONYMOUS", "anonymous", "AnonymousClient AnonymousServer", 1, credential="none"),
)


class Choice:
    """The outcome of negotiation: usable mechanisms, strongest first, and why others were not.

    ``offers_channel_binding``: the server offered a channel-binding mechanism
    (a SCRAM client's ``y``/``n`` flag).
    """

    __slots__ = ("offers_channel_binding", "passed_over", "usable")

    def __init__(
        self,
        usable: tuple[MechanismInfo, ...],
        passed_over: Mapping[str, str],
        offers_channel_binding: bool = False,
    ) -> None:
        self.usable = usable
        self.passed_over = passed_over
        self.offers_channel_binding = offers_channel_binding

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Choice):
            return NotImplemented
        return (self.usable, self.passed_over, self.offers_channel_binding) == (
            other.usable,
            other.passed_over,
            other.offers_channel_binding,
        )

    __hash__ = None  # type: ignore[assignment]  # passed_over is a mapping

    def __repr__(self) -> str:
        return (
            f"Choice(usable={self.usable!r}, passed_over={self.passed_over!r}, "
            f"offers_channel_binding={self.offers_channel_binding!r})"
        )

    @property
    def best(self) -> MechanismInfo:
        if not self.usable:
            reasons = "; ".join(f"{n}: {why}" for n, why in self.passed_over.items())
            raise PolicyRefused(
                "no usable mechanism among those offered" + (f" ({reasons})" if reasons else "")
            )
        return self.usable[0]


class Registry:
    """A table of mechanisms. ``default_registry`` holds the built-ins and entry points.

    ``entry_point_group``: a group whose entry points are loaded when the table is
    first listed or asked for a name it does not hold, not before (reading the
    installed packages' metadata costs more than the rest of ``import sasl_kit``).
    Loaded that way, an entry point never replaces a row already in the table,
    so what a name means cannot depend on what was asked first.
    """

    def __init__(
        self, infos: Iterable[MechanismInfo] = (), *, entry_point_group: str | None = None
    ) -> None:
        self._table: dict[str, MechanismInfo] = {}
        # A row's client class, and the same class again when it is made from its
        # fields alone, by the row's name, once a client was made (``client``).
        self._clients: dict[str, tuple[type[ClientMechanism], type[ClientFromFields] | None]] = {}
        self._pending_group = entry_point_group
        for info in infos:
            self.register(info)

    def register(self, info: MechanismInfo) -> None:
        if not isinstance(info, MechanismInfo):
            raise UsageError(f"can only register a MechanismInfo, not {type(info).__name__}")
        self._table[info.name] = info
        self._clients.pop(info.name, None)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register every third-party ``MechanismInfo`` published under ``group``."""
        for ep in entry_points(group=group):
            self.register(ep.load())

    def _load_pending(self) -> bool:
        """Load the lazy entry-point group, once; whether there was one to load."""
        group, self._pending_group = self._pending_group, None
        if group is None:
            return False
        for ep in entry_points(group=group):
            info = ep.load()
            if not isinstance(info, MechanismInfo) or info.name not in self._table:
                self.register(info)
        return True

    def _find(self, name: str) -> MechanismInfo | None:
        key = name.upper()
        info = self._table.get(key)
        if info is None and self._load_pending():
            info = self._table.get(key)
        return info

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __iter__(self) -> Iterator[MechanismInfo]:
        """Rows strongest first."""
        self._load_pending()
        return iter(sorted(self._table.values(), key=lambda i: (-i.strength, i.name)))

    def get(self, name: str) -> MechanismInfo:
        info = self._table.get(name.upper()) or self._find(name)
        if info is None:
            raise UnknownMechanism(f"no mechanism named {name!r} is registered")
        return info

    def client(self, name: str, **options: object) -> ClientMechanism:
        """A new client mechanism; ``options`` are the fields of ``ClientOptions``."""
        try:
            cls, from_fields = self._clients[name]
        except KeyError:
            cls, from_fields = self._client_class(name)
        # Every ClientOptions field has a default: known names make valid options.
        if from_fields is not None and _CLIENT_FIELDS.issuperset(options):
            made = _new(from_fields)
            made._fields = options  # what ClientFromFields.options is built over
            return made
        try:
            checked = ClientOptions._of(options)
        except TypeError as exc:
            raise UsageError(f"bad option for ClientOptions: {exc}") from None
        return cls(checked)

    def _client_class(
        self, name: str
    ) -> tuple[type[ClientMechanism], type[ClientFromFields] | None]:
        """The client class of ``name``'s row, and that class again if ``client`` may
        make it from its fields alone: a ``ClientFromFields`` whose ``__init__`` and
        ``__new__`` are the inherited ones, which would only keep the options."""
        info = self.get(name)
        cls = info.client
        if cls is None:
            raise UnknownMechanism(f"{name.upper()} has no client side here")
        from_fields = (
            cls
            if issubclass(cls, ClientFromFields)
            and cls.__init__ is ClientMechanism.__init__
            and cls.__new__ is object.__new__
            else None
        )
        if name == info.name:  # the name as registered: other spellings take this path
            self._clients[name] = (cls, from_fields)
        return cls, from_fields

    def server(
        self,
        name: str,
        credentials: CredentialStore | Mapping[str, str],
        **options: object,
    ) -> ServerMechanism:
        """A new server mechanism; ``options`` are the other fields of ``ServerOptions``."""
        cls = self.get(name).server
        if cls is None:
            raise UnknownMechanism(f"{name.upper()} has no server side here")
        from sasl_kit.mechanisms.values import as_store  # stores: the first server imports them

        try:
            checked = ServerOptions._of({**options, "credentials": as_store(credentials)})
        except TypeError as exc:
            raise UsageError(f"bad option for ServerOptions: {exc}") from None
        return cls(checked)

    def choose(
        self,
        offered: Iterable[str],
        *,
        encrypted: bool,
        allow_plaintext: bool = False,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        channel_binding: bool = False,
        credentials: Collection[str] = ("password",),
    ) -> Choice:
        """Which of the server's offered mechanisms this client may use, strongest first.

        ``channel_binding``: the caller has TLS channel-binding data to offer.
        ``credentials``: the kinds of credential the caller has (``CREDENTIALS``):
        add ``"token"`` for OAUTHBEARER/XOAUTH2, ``"external"`` for EXTERNAL,
        ``"none"`` for ANONYMOUS.
        """
        unknown = set(credentials) - set(CREDENTIALS)
        if unknown:
            raise UsageError(
                f"unknown credential kind(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(CREDENTIALS)}"
            )
        allowed = None if allow is None else {n.upper() for n in allow}
        denied = {n.upper() for n in deny}
        usable: list[MechanismInfo] = []
        passed: dict[str, str] = {}
        offers_binding = False
        for name in dict.fromkeys(n.upper() for n in offered):
            info = self._find(name)
            if info is not None and info.channel_binding:
                offers_binding = True
            if info is None or not info.has_client:
                passed[name] = "no client side registered"
            elif allowed is not None and name not in allowed:
                passed[name] = "not in the allow list"
            elif name in denied:
                passed[name] = "in the deny list"
            elif info.credential not in credentials:
                passed[name] = _NEEDS[info.credential]
            elif info.plaintext and not encrypted and not allow_plaintext:
                passed[name] = "sends its secret in the clear on an unencrypted connection"
            elif info.channel_binding and not channel_binding:
                passed[name] = "needs TLS channel-binding data, and there is none"
            else:
                usable.append(info)
        usable.sort(key=lambda i: -i.strength)
        return Choice(tuple(usable), passed, offers_binding)


def entry_points(group: str) -> Iterable[EntryPoint]:
    """``importlib.metadata.entry_points``, imported only when entry points are read."""
    from importlib.metadata import entry_points as read

    return read(group=group)


default_registry = Registry(BUILTINS, entry_point_group=ENTRY_POINT_GROUP)
