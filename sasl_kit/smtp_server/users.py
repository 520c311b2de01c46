"""The users file of ``sasl-kit serve`` (docs/serve.md): passwords or SCRAM keys per user.

Rules of this module:
- One line per entry, ``user:secret``; the user name ends at the first colon,
  the secret is the rest of the line. Blank lines and lines starting with
  ``#`` are skipped. The file is UTF-8.
- A secret of the form ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``
  (RFC 5803, base64 fields) is SCRAM keys, not a password: that user can then
  log in only with that SCRAM mechanism (and its -PLUS twin). Any other secret
  is a password, from which SCRAM keys are derived once, at load.
- Errors name the line, never its secret.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sasl_kit.errors import UsageError
from sasl_kit.mechanisms.base import ScramKeys
from sasl_kit.mechanisms.scram import HASHES, ScramKeyTable, scram_keys
from sasl_kit.saslprep import saslprep

# RFC 5803 3: scheme "$" iteration-count ":" salt "$" stored-key ":" server-key
_KEYS = re.compile(r"SCRAM-(SHA-1|SHA-256|SHA-512)\$([1-9][0-9]*):([^$:]+)\$([^$:]+):([^$:]+)")


@dataclass(frozen=True)
class Users:
    """A ``ScramCredentialStore`` over the users file: passwords and SCRAM keys."""

    passwords: Mapping[str, str] = field(repr=False)
    keys: Mapping[str, Mapping[str, ScramKeys]] = field(repr=False)

    @classmethod
    def from_passwords(cls, passwords: Mapping[str, str], iterations: int = 4096) -> Users:
        return cls.parse("\n".join(f"{u}:{p}" for u, p in passwords.items()), iterations)

    @classmethod
    def load(cls, path: Path, iterations: int = 4096) -> Users:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read users file {str(path)!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"users file {str(path)!r} is not UTF-8") from None
        return cls.parse(text, iterations)

    @classmethod
    def parse(cls, text: str, iterations: int = 4096) -> Users:
        passwords: dict[str, str] = {}
        keys: dict[str, dict[str, ScramKeys]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            user, colon, secret = line.partition(":")
            if not colon or not user:
                raise UsageError(f"users file line {number}: expected user:secret")
            match = _KEYS.fullmatch(secret)
            if match:
                hash_name = HASHES[match[1]]
                keys.setdefault(user, {})[hash_name] = _keys(match, number)
            else:
                passwords[user] = secret
        derived = ScramKeyTable.from_passwords(passwords, iterations=iterations).keys
        for user, by_hash in derived.items():
            keys[user] = {**by_hash, **keys.get(user, {})}
        return cls(passwords, keys)

    def password(self, authcid: str, realm: str) -> str | None:
        return self.passwords.get(authcid)

    def scram_keys(self, authcid: str, hash_name: str) -> ScramKeys | None:
        return self.keys.get(authcid, {}).get(hash_name)

    def __len__(self) -> int:
        return len(self.passwords.keys() | self.keys.keys())


def _keys(match: re.Match[str], number: int) -> ScramKeys:
    try:
        salt, stored, server = (base64.b64decode(match[i], validate=True) for i in (3, 4, 5))
    except (binascii.Error, ValueError):
        raise UsageError(f"users file line {number}: SCRAM keys are not valid base64") from None
    return ScramKeys(salt, int(match[2]), stored, server)


def scram_line(
    user: str, password: str, mechanism: str = "SCRAM-SHA-256", iterations: int = 4096
) -> str:
    """A users-file line holding SCRAM keys for ``password`` (a fresh salt), not the password."""
    hash_key = mechanism.upper().removeprefix("SCRAM-").removesuffix("-PLUS")
    if hash_key not in HASHES:
        raise UsageError(f"{mechanism!r} is not a SCRAM mechanism")
    salt = secrets.token_bytes(16)
    k = scram_keys(HASHES[hash_key], saslprep(password, allow_unassigned=True), salt, iterations)
    b64 = [base64.b64encode(v).decode("ascii") for v in (k.salt, k.stored_key, k.server_key)]
    return f"{user}:SCRAM-{hash_key}${iterations}:{b64[0]}${b64[1]}:{b64[2]}"
