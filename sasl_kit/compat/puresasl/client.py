"""``puresasl.client.SASLClient``, with sasl-kit's mechanisms behind it.

Rules of this module: those of the package. One ``SASLClient`` is one
negotiation; ``process`` steps the registry's client mechanism, translating
only what pure-sasl's callers expect: ``process(None)`` first (pure-sasl's
start for every mechanism: the initial response of a client-first mechanism,
``None`` for a server-first one), bytes out, and its two error classes.

pure-sasl's mechanism properties map to ``ClientOptions``: ``username``,
``password``, ``realm``, ``identity`` (PLAIN's authzid, as pure-sasl has it),
and sasl-kit's own further options (``cnonce``, ``ciphers``, ...) pass through.
A property missing for the chosen mechanism is asked of ``callback(name)``,
as pure-sasl does; without a callback that is a ``SASLError``.

Quality of protection: pure-sasl's DIGEST-MD5 negotiated only ``auth`` (its
``wrap`` returned data unprotected). Without ``qops`` given, this client does
the same, so that a program that never wraps keeps working; given ``qops``
(names as bytes or str), the strongest one the server also offers is chosen
and ``wrap``/``unwrap`` protect for real (RFC 2831 2.3, 2.4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sasl_kit import errors
from sasl_kit.compat.puresasl import QOP, SASLError, SASLProtocolException
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.registry import MechanismInfo, default_registry

_QOP_ORDER = ("auth-conf", "auth-int", "auth")  # pure-sasl picks the strongest
_DEFAULT_QOPS: tuple[bytes, ...] = (QOP.AUTH,)
_NEEDED = {"password": ("username", "password"), "token": ("username", "token")}
"""The properties each credential kind needs (``MechanismInfo.credential``)."""


def _qop_names(qops: Iterable[bytes | str]) -> tuple[str, ...]:
    names = {q.decode("ascii") if isinstance(q, bytes) else q for q in qops}
    unknown = names - set(_QOP_ORDER)
    if unknown:
        raise SASLError(f"unknown quality of protection: {', '.join(sorted(unknown))}")
    return tuple(q for q in _QOP_ORDER if q in names)


class SASLClient:
    """A SASL client for one negotiation (pure-sasl 0.6's ``SASLClient``)."""

    def __init__(
        self,
        host: str,
        service: str | None = None,
        mechanism: str | None = None,
        authorization_id: str | None = None,
        callback: Callable[[str], Any] | None = None,
        qops: Iterable[bytes | str] | None = None,
        mutual_auth: bool = False,
        max_buffer: int = 65536,
        **mechanism_props: Any,
    ) -> None:
        self.host = host
        self.service = service
        self.authorization_id = authorization_id
        self.mechanism = mechanism
        self.callback = callback
        self.qops = set(_DEFAULT_QOPS if qops is None else qops)
        self._qops = _qop_names(self.qops)
        self.mutual_auth = mutual_auth
        self.max_buffer = max_buffer
        self._mech_props = mechanism_props
        self._chosen_mech: ClientMechanism | None = None
        self._started = False
        if mechanism is not None:
            self._choose(mechanism)

    # --- pure-sasl's API ---------------------------------------------------------------

    def process(self, challenge: bytes | None = None) -> bytes | None:
        """The response to ``challenge`` (``None`` to start)."""
        mech = self._require()
        try:
            if not self._started:
                self._started = True
                if mech.client_first:
                    return mech.step(b"") or b""
                if challenge is None:
                    return None  # the server speaks first; pure-sasl answers nothing yet
            if challenge is None:
                raise SASLProtocolException(f"{self.mechanism}: the server sent no challenge")
            return mech.step(challenge)
        except errors.UsageError as exc:
            raise SASLError(str(exc)) from exc
        except errors.SASLError as exc:
            if isinstance(exc, SASLError | SASLProtocolException):
                raise
            raise SASLProtocolException(str(exc)) from exc

    def wrap(self, outgoing: bytes) -> bytes:
        """``outgoing`` protected as the negotiated qop says (unchanged for ``auth``)."""
        layer = self._require().security_layer
        return outgoing if layer is None else self._layer_call(layer.wrap, outgoing)

    def unwrap(self, incoming: bytes) -> bytes:
        """``incoming`` checked and decrypted as the negotiated qop says."""
        layer = self._require().security_layer
        return incoming if layer is None else self._layer_call(layer.unwrap, incoming)

    @property
    def complete(self) -> bool:
        """The exchange is over, the server's proof (where there is one) verified."""
        return self._require().complete

    def dispose(self) -> None:
        """Drop this client's references to the password and token (the mechanism's
        too). Python cannot wipe a ``str`` in place; this is what pure-sasl does."""
        mech = self._require()
        for name in ("password", "token"):
            self._mech_props.pop(name, None)
        mech.options = mech.options.replace(password="", token="")

    @property
    def qop(self) -> bytes:
        """The negotiated quality of protection, as pure-sasl names it (``b"auth"``...)."""
        layer = self._require().security_layer
        if layer is None:
            return QOP.AUTH
        # DIGEST-MD5's layer (the only one sasl-kit has) knows its qop; a layer
        # that protects without saying how is taken as confidentiality.
        qop: str = getattr(layer, "qop", "auth-conf")
        return qop.encode("ascii")

    def choose_mechanism(
        self,
        mechanism_choices: Iterable[str],
        allow_anonymous: bool = True,
        allow_plaintext: bool = True,
        allow_active: bool = True,
        allow_dictionary: bool = True,
    ) -> None:
        """Choose the strongest of the server's mechanisms that meets every condition.

        The conditions read the registry's rows, as pure-sasl's class attributes:
        anonymous = needs no credential; plaintext = sends the secret in the clear;
        safe against active attacks = binds to the TLS channel (SCRAM-*-PLUS), and
        against passive dictionary attacks = uses no password (EXTERNAL).
        """
        candidates = []
        for name in mechanism_choices:
            if name not in default_registry:
                continue
            info = default_registry.get(name)
            if info.client is None or not _meets(
                info, allow_anonymous, allow_plaintext, allow_active, allow_dictionary
            ):
                continue
            candidates.append(info)
        if not candidates:
            raise SASLError("None of the mechanisms listed meet all required properties")
        self._choose(max(candidates, key=lambda info: info.strength).name)

    # --- the mechanism behind it ---------------------------------------------------------

    def _choose(self, name: str) -> None:
        if name not in default_registry or default_registry.get(name).client is None:
            raise SASLError(f"Unknown mechanism {name}")
        info = default_registry.get(name)
        props = dict(self._mech_props)
        for prop in _NEEDED.get(info.credential, ()):
            if props.get(prop) is None:
                props[prop] = self._ask(prop)
        identity = props.pop("identity", "")
        options: dict[str, object] = {
            "host": self.host,
            "authzid": self.authorization_id or identity or "",
            "qops": self._qops,
            "maxbuf": self.max_buffer,
            **props,
        }
        if self.service is not None:
            options["service"] = self.service
        try:
            self._chosen_mech = default_registry.client(info.name, **options)
        except errors.SASLError as exc:
            raise SASLError(str(exc)) from exc
        self.mechanism = info.name
        self._started = False

    def _ask(self, prop: str) -> Any:
        if self.callback is None:
            raise SASLError(
                f"The following properties are required, but a callback has not been set: {prop}"
            )
        return self.callback(prop)

    def _require(self) -> ClientMechanism:
        if self._chosen_mech is None:
            raise SASLError("A mechanism has not been chosen yet")
        return self._chosen_mech

    @staticmethod
    def _layer_call(method: Callable[[bytes], bytes], data: bytes) -> bytes:
        try:
            return method(data)
        except errors.SASLError as exc:
            raise SASLProtocolException(str(exc)) from exc


def _meets(
    info: MechanismInfo, anonymous: bool, plaintext: bool, active: bool, dictionary: bool
) -> bool:
    return (
        (anonymous or info.credential != "none")
        and (plaintext or not info.plaintext)
        and (active or info.channel_binding)
        and (dictionary or info.credential == "external")
    )
