"""The values mechanisms take besides their options: credential stores, SCRAM keys, bindings.

Rules of this module:
- Frozen dataclasses and protocols only; no mechanism logic.
- It is imported when a mechanism first needs one of these (a server's store,
  SCRAM, a channel binding): ``sasl_kit.mechanisms.base`` re-exports every name
  here without importing it, so a client of CRAM-MD5 or PLAIN never pays for
  ``dataclasses`` and ``typing`` (22 ms of start-up, docs/bench.md).
- A secret (a password, StoredKey, ServerKey) never shows in a ``repr``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from sasl_kit.errors import UsageError


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
