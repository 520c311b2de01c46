"""One login's negotiation, sans-I/O: which mechanisms to try, in which order, made how.

Rules of this module:
- No I/O and no protocol. A login (the SMTP session, the asyncio drivers, the
  bridges) hands ``plan_login`` what the server offered and what its caller
  has; the registry chooses (``Registry.choose``) and makes each mechanism
  (``Registry.client``). What happens after an outcome (try the next
  mechanism, stop, which error) is the protocol's, and stays with the login.
- Every mechanism of one login is made with the same settings, and who gives
  way to whom is decided here alone: the protocol's ``service``, the server's
  ``host`` and ``authzid`` give way to the caller's ``options`` (further
  ``ClientOptions`` fields: ``token``, ``realm`` ...). What the login knows
  itself is never an option: ``username``, ``password``, this connection's
  ``channel_binding`` and ``server_offers_plus`` (``Choice.offers_channel_binding``);
  an option naming one is ``UsageError``, not silently overridden (a
  ``channel_binding`` option equal to the login's binding, as the sync bridges
  pass it, is that binding).
- A mechanism is made only when the login reaches it, strongest first, on the
  registry's fast path (``Registry.client`` with known fields only). The plan
  is the one object a login adds, and it holds the password: no ``repr`` of
  its fields, no ``__dict__``.
"""

from __future__ import annotations

from sasl_kit.errors import UsageError
from sasl_kit.registry import credential_kinds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping

    from sasl_kit.mechanisms.base import ChannelBinding, ClientMechanism
    from sasl_kit.registry import Choice, MechanismInfo, Registry


class LoginPlan:
    """The registry's ``choice`` for one login, and its mechanisms to try.

    Iterating yields ``(name, mechanism)`` for each usable mechanism, strongest
    first, each made when it is reached; with none usable, ``iter`` raises
    ``PolicyRefused`` naming every mechanism passed over and why.
    """

    __slots__ = ("_registry", "_settings", "choice")

    def __init__(self, choice: Choice, registry: Registry, settings: dict[str, object]) -> None:
        self.choice = choice
        self._registry = registry
        self._settings = settings

    def client(self, name: str) -> ClientMechanism:
        """A new client of mechanism ``name`` made with this login's settings."""
        return self._registry.client(name, **self._settings)

    def __iter__(self) -> Iterator[tuple[str, ClientMechanism]]:
        usable = self.choice.usable
        if not usable:
            _ = self.choice.best  # PolicyRefused, with every reason
        return map(self._made, usable)  # no generator: one left suspended costs its close

    def _made(self, info: MechanismInfo) -> tuple[str, ClientMechanism]:
        return info.name, self._registry.client(info.name, **self._settings)


_THE_LOGINS_OWN = {
    "username": "is the login's own argument",
    "password": "is the login's own argument",
    "channel_binding": "comes from this connection (binding_type, or the client's "
    "channel_binding hook)",
    "server_offers_plus": "is what the login reads in the server's offer",
}
"""What a login knows itself, each with where it comes from: never an option (``plan_login``)."""


def plan_login(
    registry: Registry,
    offered: Collection[str],
    *,
    encrypted: bool,
    username: str,
    password: str,
    service: str,
    host: str,
    options: Mapping[str, object],
    authzid: str = "",
    binding: ChannelBinding | None = None,
    allow_plaintext: bool = False,
    allow: Collection[str] | None = None,
    anonymous: bool = False,
) -> LoginPlan:
    """The plan of a login to a server that offered ``offered``.

    ``encrypted``, ``allow_plaintext`` and ``allow`` (the caller's limit on the
    names) are ``Registry.choose``'s. What the caller has decides what is usable
    (``credential_kinds``): a ``password`` the password mechanisms, a ``token``
    among ``options`` OAUTHBEARER/XOAUTH2, ``anonymous`` ANONYMOUS, ``binding``
    (this connection's channel binding) the -PLUS ones. ``service``, ``host`` and
    ``authzid`` give way to ``options``; see the module's rules.
    """
    for name, source in _THE_LOGINS_OWN.items():
        if name in options and not (name == "channel_binding" and options[name] is binding):
            raise UsageError(f"{name} {source}: it cannot be given as an option too")
    choice = registry.choose(
        offered,
        encrypted=encrypted,
        allow_plaintext=allow_plaintext,
        allow=allow,
        channel_binding=binding is not None,
        credentials=credential_kinds(password, options.get("token"), anonymous),
    )
    settings = {
        "service": service,
        "host": host,
        "authzid": authzid,
        **options,
        "username": username,
        "password": password,
        "channel_binding": binding,
        "server_offers_plus": choice.offers_channel_binding,
    }
    return LoginPlan(choice, registry, settings)
