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

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TypeVar

from sasl_kit.errors import PolicyRefused, UnknownMechanism, UsageError
from sasl_kit.mechanisms.anonymous import AnonymousClient, AnonymousServer
from sasl_kit.mechanisms.base import (
    ClientMechanism,
    ClientOptions,
    CredentialStore,
    ServerMechanism,
    ServerOptions,
    as_store,
)
from sasl_kit.mechanisms.cram_md5 import CramMD5Client, CramMD5Server
from sasl_kit.mechanisms.digest_md5 import DigestMD5Client, DigestMD5Server
from sasl_kit.mechanisms.external import ExternalClient, ExternalServer
from sasl_kit.mechanisms.login import LoginClient, LoginServer
from sasl_kit.mechanisms.ntlm import NTLMClient, NTLMServer
from sasl_kit.mechanisms.oauth import (
    OAuthBearerClient,
    OAuthBearerServer,
    XOAuth2Client,
    XOAuth2Server,
)
from sasl_kit.mechanisms.plain import PlainClient, PlainServer
from sasl_kit.mechanisms.scram import (
    ScramSHA1Client,
    ScramSHA1PlusClient,
    ScramSHA1PlusServer,
    ScramSHA1Server,
    ScramSHA256Client,
    ScramSHA256PlusClient,
    ScramSHA256PlusServer,
    ScramSHA256Server,
    ScramSHA512Client,
    ScramSHA512PlusClient,
    ScramSHA512PlusServer,
    ScramSHA512Server,
)

ENTRY_POINT_GROUP = "sasl_kit.mechanisms"
CREDENTIALS = ("password", "token", "external", "none")
"""What a mechanism needs from its caller (``MechanismInfo.credential``, ``choose``)."""
_NEEDS = {
    "password": "needs a password, and the caller has none",
    "token": "needs an OAuth bearer token, and the caller has none",
    "external": "needs an identity established outside SASL (TLS client certificate, ...), "
    "and the caller did not ask for one",
    "none": "authenticates no one (anonymous), and the caller did not ask for that",
}
_T = TypeVar("_T")


@dataclass(frozen=True)
class MechanismInfo:
    """One registry row. ``strength`` orders mechanisms: higher is preferred.

    ``plaintext``: the password crosses the wire in the clear (needs TLS).
    ``channel_binding``: the mechanism binds to the TLS channel (SCRAM-*-PLUS)
    and can be used only with binding data.
    ``credential``: what the caller must have, one of ``CREDENTIALS``.
    """

    name: str
    client: type[ClientMechanism] | None
    server: type[ServerMechanism] | None
    strength: int
    plaintext: bool = False
    channel_binding: bool = False
    credential: str = "password"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.upper())
        if self.credential not in CREDENTIALS:
            raise UsageError(
                f"{self.name}: unknown credential {self.credential!r}; known: "
                f"{', '.join(CREDENTIALS)}"
            )


BUILTINS: tuple[MechanismInfo, ...] = (
    MechanismInfo(
        "SCRAM-SHA-512-PLUS",
        ScramSHA512PlusClient,
        ScramSHA512PlusServer,
        strength=90,
        channel_binding=True,
    ),
    MechanismInfo(
        "SCRAM-SHA-256-PLUS",
        ScramSHA256PlusClient,
        ScramSHA256PlusServer,
        strength=85,
        channel_binding=True,
    ),
    MechanismInfo(
        "SCRAM-SHA-1-PLUS",
        ScramSHA1PlusClient,
        ScramSHA1PlusServer,
        strength=80,
        channel_binding=True,
    ),
    MechanismInfo("SCRAM-SHA-512", ScramSHA512Client, ScramSHA512Server, strength=70),
    MechanismInfo("SCRAM-SHA-256", ScramSHA256Client, ScramSHA256Server, strength=65),
    MechanismInfo("SCRAM-SHA-1", ScramSHA1Client, ScramSHA1Server, strength=60),
    MechanismInfo(
        "EXTERNAL", ExternalClient, ExternalServer, strength=55, credential="external"
    ),
    MechanismInfo(
        "OAUTHBEARER",
        OAuthBearerClient,
        OAuthBearerServer,
        strength=50,
        plaintext=True,
        credential="token",
    ),
    MechanismInfo(
        "XOAUTH2", XOAuth2Client, XOAuth2Server, strength=45, plaintext=True, credential="token"
    ),
    MechanismInfo("DIGEST-MD5", DigestMD5Client, DigestMD5Server, strength=40),
    # NTLMv2 binds a client challenge, a timestamp and (MIC) all three messages, which
    # CRAM-MD5 does not; unlike DIGEST-MD5 the server never proves itself.
    MechanismInfo("NTLM", NTLMClient, NTLMServer, strength=35),
    MechanismInfo("CRAM-MD5", CramMD5Client, CramMD5Server, strength=30),
    MechanismInfo("PLAIN", PlainClient, PlainServer, strength=20, plaintext=True),
    MechanismInfo("LOGIN", LoginClient, LoginServer, strength=10, plaintext=True),
    MechanismInfo("ANONYMOUS", AnonymousClient, AnonymousServer, strength=1, credential="none"),
)


@dataclass(frozen=True)
class Choice:
    """The outcome of negotiation: usable mechanisms, strongest first, and why others were not."""

    usable: tuple[MechanismInfo, ...]
    passed_over: Mapping[str, str]
    offers_channel_binding: bool = False
    """The server offered a channel-binding mechanism (a SCRAM client's ``y``/``n`` flag)."""

    @property
    def best(self) -> MechanismInfo:
        if not self.usable:
            reasons = "; ".join(f"{n}: {why}" for n, why in self.passed_over.items())
            raise PolicyRefused(
                "no usable mechanism among those offered" + (f" ({reasons})" if reasons else "")
            )
        return self.usable[0]


class Registry:
    """A table of mechanisms. ``default_registry`` holds the built-ins and entry points."""

    def __init__(self, infos: Iterable[MechanismInfo] = ()) -> None:
        self._table: dict[str, MechanismInfo] = {}
        for info in infos:
            self.register(info)

    def register(self, info: MechanismInfo) -> None:
        if not isinstance(info, MechanismInfo):
            raise UsageError(f"can only register a MechanismInfo, not {type(info).__name__}")
        self._table[info.name] = info

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register every third-party ``MechanismInfo`` published under ``group``."""
        for ep in entry_points(group=group):
            self.register(ep.load())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.upper() in self._table

    def __iter__(self) -> Iterator[MechanismInfo]:
        """Rows strongest first."""
        return iter(sorted(self._table.values(), key=lambda i: (-i.strength, i.name)))

    def get(self, name: str) -> MechanismInfo:
        try:
            return self._table[name.upper()]
        except KeyError:
            raise UnknownMechanism(f"no mechanism named {name!r} is registered") from None

    def client(self, name: str, **options: object) -> ClientMechanism:
        """A new client mechanism; ``options`` are the fields of ``ClientOptions``."""
        cls = self.get(name).client
        if cls is None:
            raise UnknownMechanism(f"{name.upper()} has no client side here")
        return cls(_build(ClientOptions, options))

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
        return cls(_build(ServerOptions, {"credentials": as_store(credentials), **options}))

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
        for name in dict.fromkeys(n.upper() for n in offered):
            info = self._table.get(name)
            if info is None or info.client is None:
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
        offers_binding = any(
            info.channel_binding for n in offered if (info := self._table.get(n.upper()))
        )
        return Choice(tuple(usable), passed, offers_binding)


def _build(kind: Callable[..., _T], options: Mapping[str, object]) -> _T:
    try:
        return kind(**options)
    except TypeError as exc:
        raise UsageError(f"bad option for {getattr(kind, '__name__', kind)}: {exc}") from None


def _default() -> Registry:
    registry = Registry(BUILTINS)
    registry.load_entry_points()
    return registry


default_registry = _default()
