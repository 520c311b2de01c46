"""pure-sasl 0.6's public API over sasl-kit's mechanisms (docs/compat.md).

Rules of this package:
- Names, signatures and behaviour are pure-sasl 0.6.2's, so that a program
  written for it (kazoo, cassandra-driver, thrift_sasl) runs unchanged: the
  same classes (``SASLError``, ``SASLProtocolException``, ``SASLWarning``,
  ``QOP``), ``puresasl.client.SASLClient`` with the same arguments, the same
  ``process``/``wrap``/``unwrap``/``dispose``/``complete``/``qop``.
- Everything SASL is sasl-kit's: the mechanism objects come from the registry,
  nothing is computed here. What pure-sasl got wrong is not copied (its
  DIGEST-MD5 announced auth-int and auth-conf and then sent data unprotected).
- Errors keep pure-sasl's split (``SASLError``: the caller's configuration;
  ``SASLProtocolException``: the exchange failed) and are also sasl-kit's
  ``SASLError``, so either hierarchy catches them.

``install()`` makes ``import puresasl`` and ``import puresasl.client`` resolve
to this package for programs that cannot be edited; the one-liner for those is
in docs/compat.md (a ``.pth`` file that calls it).
"""

from __future__ import annotations

import sys
from typing import ClassVar

from sasl_kit import errors

__version__ = "0.6.2"
__version_info__ = (0, 6, 2)


class SASLError(errors.SASLError):
    """A usage or configuration error: a mechanism not chosen, a property missing."""


class SASLProtocolException(errors.SASLError):
    """The exchange failed: the server's message was wrong, or no qop could be agreed."""


class SASLWarning(Warning):
    """Emitted in potentially fatal circumstances."""


class QOP:
    """pure-sasl's quality-of-protection names (bytes, as it has them)."""

    AUTH = b"auth"
    AUTH_INT = b"auth-int"
    AUTH_CONF = b"auth-conf"

    all = (AUTH, AUTH_INT, AUTH_CONF)

    bit_map: ClassVar[dict[int, bytes]] = {1: AUTH, 2: AUTH_INT, 4: AUTH_CONF}

    name_map: ClassVar[dict[bytes, int]] = {name: bit for bit, name in bit_map.items()}

    @classmethod
    def names_from_bitmask(cls, byt: int) -> set[bytes]:
        return {name for bit, name in cls.bit_map.items() if bit & byt}

    @classmethod
    def flag_from_name(cls, name: bytes) -> int:
        return cls.name_map[name]


def install() -> None:
    """Make ``puresasl`` and ``puresasl.client`` this package, for every later import."""
    from sasl_kit.compat.puresasl import client

    sys.modules["puresasl"] = sys.modules[__name__]
    sys.modules["puresasl.client"] = client
