"""sasl-kit: SASL mechanisms as sans-I/O objects, a registry, vectors and verification.

>>> import sasl_kit
>>> mech = sasl_kit.client("PLAIN", username="tim", password="tanstaaftanstaaf")
>>> mech.step(b"")
b'\\x00tim\\x00tanstaaftanstaaf'
"""

from __future__ import annotations

from sasl_kit.errors import (
    AuthenticationFailed,
    MalformedMessage,
    MutualAuthenticationFailed,
    PolicyRefused,
    SASLError,
    UnknownMechanism,
    UsageError,
)
from sasl_kit.mechanisms.base import ClientMechanism, ClientOptions, ServerMechanism, ServerOptions
from sasl_kit.registry import Choice, MechanismInfo, Registry, default_registry

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (7 ms of start-up)
if TYPE_CHECKING:
    from sasl_kit.mechanisms.values import CredentialStore, PasswordTable

__all__ = [
    "AuthenticationFailed",
    "Choice",
    "ClientMechanism",
    "ClientOptions",
    "CredentialStore",
    "MalformedMessage",
    "MechanismInfo",
    "MutualAuthenticationFailed",
    "PasswordTable",
    "PolicyRefused",
    "Registry",
    "SASLError",
    "ServerMechanism",
    "ServerOptions",
    "UnknownMechanism",
    "UsageError",
    "client",
    "default_registry",
    "server",
]


def __getattr__(name: str) -> object:
    """The credential stores, imported when first asked for (they need ``dataclasses``)."""
    if name in ("CredentialStore", "PasswordTable"):
        from sasl_kit.mechanisms import values

        return getattr(values, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


client = default_registry.client
"""A client mechanism from the default registry; ``options`` as in ``ClientOptions``.

The default registry's own method, not a function calling it: a wrapper would
copy the options once more (0.4 µs, a fifth of a CRAM-MD5 answer: docs/bench.md).
"""
server = default_registry.server
"""A server mechanism from the default registry; ``options`` as in ``ServerOptions``."""
