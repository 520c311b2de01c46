"""SCRAM (RFC 5802, RFC 7677): SCRAM-SHA-1/-256/-512 and their -PLUS variants, both sides.

Rules of this module:
- One family, one module. The hash and the -PLUS flag come from the mechanism's
  name; nothing else differs between the six mechanisms.
- Formulas are pure functions next to their RFC section; the classes parse,
  keep the three messages AuthMessage is made of, and call the formulas. The
  client's login path (``ClientKeys.derive``, ``ScramClient._client_final``)
  writes the same hashlib/hmac calls out instead: a fresh-salt login runs cold
  after PBKDF2, where every call layer costs (docs/bench.md); the RFC vectors
  and tests/mechanisms/test_scram_fast_paths.py hold it to the formulas.
- Every HMAC is made by OpenSSL's HMAC object (``_hmac_new``, ``hmac_digest``),
  not ``hmac.digest``, whose one-shot costs more on OpenSSL 3.0.
- The usual well-formed server message is read by str methods (a fast path);
  anything else goes the general way, the regexes, which word every error. The
  client reads and checks its usual server-first message in one function
  (``_usual_server_first``) and verifies its usual server-final message by one
  constant-time comparison of the bytes it expects.
- The gs2 header's channel-binding flag follows RFC 5802 6: a -PLUS client sends
  ``p=type``; any other client sends ``y`` when it has binding data but the
  server offered no -PLUS, else ``n``. A server that has binding data offers
  -PLUS, so it refuses ``y`` (someone removed -PLUS from its list); ``p=`` is
  refused outside -PLUS, and ``c=`` must be the gs2 header plus the binding data.
- SASLprep (query profile, unassigned code points allowed, as GNU SASL does) is
  applied to the user name and the password; RFC 5802 2.2 says "stored string",
  which would refuse every password holding a code point newer than Unicode 3.2.
- The server keeps only ``ScramKeys`` (salt, iterations, StoredKey, ServerKey).
  A store that gives passwords has them turned into keys per login, with a
  per-user salt, and the password goes out of scope; ``ScramKeyTable`` never
  holds one. An unknown user gets a made-up salt and fails at the proof, as a
  wrong password does.
- PBKDF2 (``pbkdf2``) runs in cryptography's OpenSSL when the process has
  already loaded it, else in hashlib's: the same bytes either way, and on this
  project's machines (Debian 12's OpenSSL 3.0 under hashlib, OpenSSL 4.0 in
  cryptography's wheel) 0.4x-0.5x the time. cryptography is never imported for it:
  loading it costs 20-30 ms, as much as 25 logins gain (docs/mechanisms/scram.md).
- The one piece of process state is ``SALTED_PASSWORDS``: a bounded, thread-safe
  (lock-free) LRU of the client's SaltedPassword and the ClientKey, StoredKey and
  ServerKey derived from it (RFC 5802 5.1 allows caching them), keyed by an
  HMAC-SHA-256 of the password under a random per-process key, never the password.
- Proofs and signatures are compared in constant time. Errors name the field
  that was wrong, never its value; the one exception is the server's own
  ``e=`` reason, which the client reports (reduced to printable ASCII).

Theory of operation. Client: ``step(b"")`` -> client-first message; ``step(server-first)``
-> client-final message; ``step(server-final)`` verifies ``v=`` and completes.
Server: ``step(None)`` -> ``b""`` (asks for the client-first message);
``step(client-first)`` -> server-first; ``step(client-final)`` verifies the proof
and completes, returning ``v=`` as additional data with success.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

from sasl_kit import preparation
from sasl_kit.errors import (
    AuthenticationFailed,
    MalformedMessage,
    MutualAuthenticationFailed,
    PolicyRefused,
    UsageError,
)
from sasl_kit.mechanisms.base import (
    ChannelBinding,
    ClientFromFields,
    ClientOptions,
    ScramCredentialStore,
    ScramKeys,
    ServerMechanism,
    ServerOptions,
)
from sasl_kit.mechanisms.plain import decode_utf8

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.hashes import HashAlgorithm
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

HASHES: Mapping[str, str] = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
"""The hash in a SCRAM mechanism's name -> hashlib's name for it."""

_HASH_CONSTRUCTORS: Mapping[str, Callable[[bytes], hashlib._Hash]] = {
    name: getattr(hashlib, name) for name in HASHES.values()
}
"""hashlib's constructor of each hash in ``HASHES``: ``hashlib.new`` without its lookup."""

# RFC 5802 7: saslname escapes "," and "=".
_SASLNAME = re.compile(r"(?:[^,=]|=2C|=3D)+")
_CB_NAME = re.compile(r"[A-Za-z0-9.\-]+")
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]+")

_PROCESS_KEY = secrets.token_bytes(32)


class _Mac(Protocol):
    def digest(self) -> bytes: ...


_hmac_new: Callable[[bytes, bytes, str], _Mac]
"""HMAC(key, message, hashlib's name) as an object: OpenSSL's own, which ``hmac.new`` wraps.

``hmac.digest`` calls OpenSSL's one-shot ``HMAC()``, which OpenSSL 3.0 runs through ``EVP_Q_mac``,
fetching the MAC by name on every call, and ``hmac.new`` adds a layer of Python: 2.0 us per
HMAC-SHA-256 for either here, against 1.2 us, and a cold login makes five
(docs/mechanisms/scram.md, "A cold login's HMACs").
"""
try:
    import _hashlib

    _hmac_new = _hashlib.hmac_new
except ImportError:  # a Python built without OpenSSL: hmac's own, the same bytes
    _hmac_new = hmac.new

_CRYPTOGRAPHY_OPENSSL = "cryptography.hazmat.bindings._rust"
"""The module that holds cryptography's OpenSSL: in ``sys.modules`` once anything loaded it."""
_CRYPTOGRAPHY_HASHES = frozenset(HASHES.values())
"""The hashes ``cryptography_pbkdf2`` takes: SCRAM's."""


# --- Formulas (RFC 5802 3), bytes in and bytes out -----------------------------------


def pbkdf2(hash_name: str, secret: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 2.2: Hi(str, salt, i), which is PBKDF2 with HMAC and the hash's own length.

    In cryptography's OpenSSL when the process has loaded it already, else in
    hashlib's (module rules): the same bytes, at less than half the time where
    hashlib runs over OpenSSL 3.0 (docs/mechanisms/scram.md).
    """
    if _CRYPTOGRAPHY_OPENSSL in sys.modules and hash_name in _CRYPTOGRAPHY_HASHES:
        return cryptography_pbkdf2(hash_name, secret, salt, iterations)
    return hashlib.pbkdf2_hmac(hash_name, secret, salt, iterations)


def cryptography_pbkdf2(hash_name: str, secret: bytes, salt: bytes, iterations: int) -> bytes:
    """``pbkdf2`` in cryptography's OpenSSL (which this imports): SCRAM's hashes only."""
    derive, algorithm = _cryptography_kdf(hash_name)
    return derive(algorithm, algorithm.digest_size, salt, iterations).derive(secret)


@functools.cache
def _cryptography_kdf(hash_name: str) -> tuple[type[PBKDF2HMAC], HashAlgorithm]:
    """cryptography's PBKDF2 class and its algorithm for ``hash_name``, imported once."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    algorithms: dict[str, Callable[[], HashAlgorithm]] = {
        "sha1": hashes.SHA1,
        "sha256": hashes.SHA256,
        "sha512": hashes.SHA512,
    }
    return PBKDF2HMAC, algorithms[hash_name]()


def salted_password(hash_name: str, password: str, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i), Hi being PBKDF2."""
    return pbkdf2(hash_name, password.encode("utf-8"), salt, iterations)


def hmac_digest(key: bytes, message: bytes, hash_name: str) -> bytes:
    """HMAC(key, message) with hashlib's ``hash_name``: ``hmac.digest``, made by ``_hmac_new``."""
    return _hmac_new(key, message, hash_name).digest()


def client_key(hash_name: str, salted: bytes) -> bytes:
    """RFC 5802 3: ClientKey := HMAC(SaltedPassword, "Client Key")."""
    return hmac_digest(salted, b"Client Key", hash_name)


def stored_key(hash_name: str, client_key_: bytes) -> bytes:
    """RFC 5802 3: StoredKey := H(ClientKey)."""
    new = _HASH_CONSTRUCTORS.get(hash_name)
    return (hashlib.new(hash_name, client_key_) if new is None else new(client_key_)).digest()


def server_key(hash_name: str, salted: bytes) -> bytes:
    """RFC 5802 3: ServerKey := HMAC(SaltedPassword, "Server Key")."""
    return hmac_digest(salted, b"Server Key", hash_name)


def client_signature(hash_name: str, stored_key_: bytes, auth_message: bytes) -> bytes:
    """RFC 5802 3: ClientSignature := HMAC(StoredKey, AuthMessage)."""
    return hmac_digest(stored_key_, auth_message, hash_name)


def client_proof(hash_name: str, client_key_: bytes, auth_message: bytes) -> bytes:
    """RFC 5802 3: ClientProof := ClientKey XOR ClientSignature."""
    stored = stored_key(hash_name, client_key_)
    return _xor(client_key_, client_signature(hash_name, stored, auth_message))


def server_signature(hash_name: str, server_key_: bytes, auth_message: bytes) -> bytes:
    """RFC 5802 3: ServerSignature := HMAC(ServerKey, AuthMessage)."""
    return hmac_digest(server_key_, auth_message, hash_name)


def proof_matches(hash_name: str, keys: ScramKeys, auth_message: bytes, proof: bytes) -> bool:
    """RFC 5802 3: recover ClientKey = ClientProof XOR ClientSignature; H(ClientKey) = StoredKey?"""
    signature = client_signature(hash_name, keys.stored_key, auth_message)
    if len(proof) != len(signature):
        return False
    return hmac.compare_digest(stored_key(hash_name, _xor(proof, signature)), keys.stored_key)


def scram_keys(hash_name: str, password: str, salt: bytes, iterations: int) -> ScramKeys:
    """What a server stores for a (normalized) password: RFC 5802 3, RFC 5803."""
    salted = salted_password(hash_name, password, salt, iterations)
    return ScramKeys(
        salt=salt,
        iterations=iterations,
        stored_key=stored_key(hash_name, client_key(hash_name, salted)),
        server_key=server_key(hash_name, salted),
    )


def escape_saslname(name: str) -> str:
    """RFC 5802 5.1: "=" -> "=3D" and "," -> "=2C" (in that order)."""
    return name.replace("=", "=3D").replace(",", "=2C")


def unescape_saslname(text: str, what: str) -> str:
    """RFC 5802 5.1: undo ``escape_saslname``; an "=" not starting =2C or =3D is refused."""
    if not _SASLNAME.fullmatch(text):
        raise MalformedMessage(f"SCRAM: {what} is empty or has '=' not followed by 2C or 3D")
    return re.sub("=2C|=3D", lambda m: "," if m.group() == "=2C" else "=", text)


def gs2_header(cbind_flag: str, authzid: str) -> str:
    """RFC 5802 7: gs2-header = gs2-cbind-flag "," [ authzid ] ","."""
    return f"{cbind_flag},{'a=' + escape_saslname(authzid) if authzid else ''},"


def _printable(text: str) -> bool:
    """RFC 5802 7: printable = %x21-2B / %x2D-7E, one or more (a nonce: no comma, no space)."""
    return (
        text.isascii() and text.isprintable() and " " not in text and "," not in text and text != ""
    )


def _is_count(text: str) -> bool:
    """RFC 5802 7's iteration-count as at most 10 ASCII digits without a leading zero."""
    return text.isascii() and text.isdigit() and len(text) <= 10 and text[0] != "0"


def _xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise ValueError("_xor: inputs differ in length")
    # One big-integer XOR: several times faster than a byte loop (bench/scram.py, warm login).
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data)[:-1].decode()  # no keyword: its parsing costs more


def _unb64(text: str, what: str, mechanism: str) -> bytes:
    """Canonical base64 only, so that no two texts stand for the same proof.

    A text that encodes back to itself is canonical, hence strict, base64: it is
    read by the lenient decoder alone; anything else goes to ``_strict_unb64``,
    which refuses it in its own words.
    """
    try:
        data = binascii.a2b_base64(text)
    except (binascii.Error, ValueError):
        return _strict_unb64(text, what, mechanism)
    if binascii.b2a_base64(data) == (text + "\n").encode():
        return data
    return _strict_unb64(text, what, mechanism)


def _strict_unb64(text: str, what: str, mechanism: str) -> bytes:
    """``_unb64`` the long way: strict base64, then the canonical form."""
    try:
        # base64.b64decode(text, validate=True) without its wrapper (half its cost).
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedMessage(f"{mechanism}: {what} is not base64") from None
    if _b64(data) != text:
        raise MalformedMessage(f"{mechanism}: {what} is not canonical base64")
    return data


@functools.cache
def _attribute_pattern(order: str) -> re.Pattern[str]:
    """``k=v,...`` with the attributes of ``order`` first and in that order, extensions after."""
    known = ",".join(f"{key}=([^,]*)" for key in order)
    return re.compile(known + r"(?:,[A-Za-z]=[^,]*)*")


def _attributes(text: str, order: str, what: str, mechanism: str) -> list[str]:
    """The values of ``order``'s attributes in ``text`` (``_attribute_pattern``)."""
    match = _attribute_pattern(order).fullmatch(text)
    if match is None:
        raise _attribute_error(text, order, what, mechanism)
    return list(match.groups())


def _server_first_attributes(text: str) -> list[str] | None:
    """r=, s= and i= of a server-first message that holds them alone, in order; else ``None``.

    The usual message, read without the regex: ``_attributes(text, "rsi", ...)``
    gives the same values for it, and reads (or refuses) every other message.
    """
    values = text.split(",")
    if (
        len(values) == 3
        and values[0][:2] == "r="
        and values[1][:2] == "s="
        and values[2][:2] == "i="
    ):
        return [values[0][2:], values[1][2:], values[2][2:]]
    return None


def _usual_server_first(text: str, cnonce: str) -> tuple[str, bytes, int] | None:
    """The nonce, salt and iteration count of the usual, valid server-first message; else
    ``None``: r=, s= and i= alone and in order, a nonce that extends ``cnonce``, printable,
    a salt in canonical base64, a count by RFC 5802 7's grammar.

    One function, no regex, for the message nearly every login reads; whatever it
    takes, ``ScramClient._read_server_first`` (the general way, which words every
    refusal) reads as the same values (tests/mechanisms/test_scram_fast_paths.py).
    """
    values = text.split(",")
    if len(values) != 3:
        return None
    nonce, salt_text, count = values
    if nonce[:2] != "r=" or salt_text[:2] != "s=" or count[:2] != "i=":
        return None
    nonce, salt_text, count = nonce[2:], salt_text[2:], count[2:]
    if not (
        nonce.startswith(cnonce)
        and nonce != cnonce
        and nonce.isascii()
        and nonce.isprintable()
        and " " not in nonce
        and count.isascii()
        and count.isdigit()
        and len(count) <= 10
        and count[0] != "0"
    ):
        return None
    try:
        salt = binascii.a2b_base64(salt_text)
    except (binascii.Error, ValueError):
        return None
    if not salt or binascii.b2a_base64(salt) != (salt_text + "\n").encode():
        return None
    return nonce, salt, int(count)


def _server_final_attributes(text: str) -> list[str] | None:
    """v= of a server-final message that holds it alone; else ``None`` (as above)."""
    if text[:2] == "v=" and "," not in text:
        return [text[2:]]
    return None


def _attribute_error(text: str, order: str, what: str, mechanism: str) -> MalformedMessage:
    """Why ``text`` does not match ``_attribute_pattern(order)``, first problem first."""
    parts = text.split(",")
    if len(parts) < len(order):
        return MalformedMessage(f"{mechanism}: {what} lacks attributes ({', '.join(order)})")
    for position, (key, part) in enumerate(zip(order, parts, strict=False), 1):
        if not part.startswith(key + "="):
            return MalformedMessage(f"{mechanism}: {what} needs '{key}=' as attribute {position}")
    return MalformedMessage(f"{mechanism}: {what} has a malformed extension attribute")


def _prepare(text: str, what: str, mechanism: str, how: str = "saslprep") -> str:
    """Our caller's user name or password, prepared (RFC 5802 5.1: SASLprep, or PRECIS on
    request); a refusal is a usage error."""
    prepare = preparation.username if what == "user name" else preparation.password
    try:
        return prepare(text, how)
    except MalformedMessage as exc:
        raise UsageError(f"{mechanism}: the {what} is refused by {exc}") from None


def _variant(name: str) -> tuple[str, bool]:
    """ "SCRAM-SHA-256-PLUS" -> ("sha256", True)."""
    base = name.removesuffix("-PLUS")
    return HASHES[base.removeprefix("SCRAM-")], base != name


# --- The client's SaltedPassword cache (RFC 5802 5.1) ---------------------------------


class ClientKeys(NamedTuple):
    """SaltedPassword and the keys a client derives from it (RFC 5802 3); the repr shows none.

    A named tuple: the cache makes one per PBKDF2, and a tuple is the cheapest value
    to make (a frozen dataclass sets each field through ``object.__setattr__``).
    """

    salted_password: bytes
    client_key: bytes
    stored_key: bytes
    server_key: bytes

    def __repr__(self) -> str:
        return "ClientKeys(<secret>)"

    @classmethod
    def derive(cls, hash_name: str, password: str, salt: bytes, iterations: int) -> ClientKeys:
        """The formulas of RFC 5802 3 (``salted_password`` ... ``server_key``), written out:
        this runs on every cold login, right after PBKDF2, where each call layer costs."""
        salted = pbkdf2(hash_name, password.encode("utf-8"), salt, iterations)
        client_key_ = _hmac_new(salted, b"Client Key", hash_name).digest()
        return cls(
            salted,
            client_key_,
            _HASH_CONSTRUCTORS[hash_name](client_key_).digest(),  # StoredKey := H(ClientKey)
            _hmac_new(salted, b"Server Key", hash_name).digest(),
        )


class SaltedPasswordCache:
    """A bounded, thread-safe LRU of ``ClientKeys`` per (hash, password, salt, iterations).

    RFC 5802 5.1 lets a client cache ClientKey and ServerKey: a hit costs neither
    PBKDF2 nor the three derivations after it. The password is never a key: the
    key holds an HMAC-SHA-256 of it under a random key made at import, so the
    cache tells nothing about a password on its own.

    Thread-safe without a lock, as ``re``'s cache is: each step is one dict
    operation, atomic in CPython, and the dict keeps insertion order, so its first
    key is the least recently used. A race costs at most one more PBKDF2 (a
    lookup that runs while another thread moves the same entry to the end), never
    a wrong key: an entry only ever holds what its own key derives.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: dict[tuple[str, bytes, bytes, int], ClientKeys] = {}

    def keys(self, hash_name: str, password: str, salt: bytes, iterations: int) -> ClientKeys:
        # HMAC-SHA-256 under the process key: without the key its digest says nothing of
        # the password. Keyed BLAKE2b costs a third of it when warm, but a fresh-salt login
        # runs cold, and this shares its code with the login's own HMACs and PBKDF2 (the
        # SHA-256 compression stays warm): 4-6 us less a cold login (docs/bench.md). The
        # dict compares digests in variable time, which is harmless: they are keyed, so
        # their timing tells nothing about the password to anyone without the process key.
        mac = _hmac_new(_PROCESS_KEY, password.encode("utf-8"), "sha256").digest()
        key = (hash_name, mac, salt, iterations)
        entries = self._entries
        keys = entries.pop(key, None)
        if keys is None:
            keys = ClientKeys.derive(hash_name, password, salt, iterations)
        entries[key] = keys  # at the end: the most recently used
        while len(entries) > self._size:
            oldest = next(iter(entries), None)  # None, or gone by now: another thread took it
            if oldest is not None:
                entries.pop(oldest, None)
        return keys

    def salted_password(self, hash_name: str, password: str, salt: bytes, iterations: int) -> bytes:
        """SaltedPassword alone, through the same cache as ``keys``."""
        return self.keys(hash_name, password, salt, iterations).salted_password

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


SALTED_PASSWORDS = SaltedPasswordCache()


# --- A store that never holds a password -----------------------------------------------


@dataclass(frozen=True)
class ScramKeyTable:
    """A ``ScramCredentialStore`` over user -> hashlib name -> ``ScramKeys``; no passwords."""

    keys: Mapping[str, Mapping[str, ScramKeys]] = field(repr=False)

    @classmethod
    def from_passwords(
        cls,
        passwords: Mapping[str, str],
        *,
        hash_names: tuple[str, ...] = tuple(HASHES.values()),
        iterations: int = 4096,
    ) -> ScramKeyTable:
        """Derive every user's keys with a fresh salt each; the passwords are not kept."""
        return cls(
            {
                user: {
                    name: scram_keys(
                        name,
                        _prepare(password, "password", "SCRAM"),
                        secrets.token_bytes(16),
                        iterations,
                    )
                    for name in hash_names
                }
                for user, password in passwords.items()
            }
        )

    def scram_keys(self, authcid: str, hash_name: str) -> ScramKeys | None:
        return self.keys.get(authcid, {}).get(hash_name)

    def password(self, authcid: str, realm: str) -> str | None:
        return None


# --- Client -----------------------------------------------------------------------------


class ScramClient(ClientFromFields):
    """The client side of every SCRAM mechanism; subclasses only name it.

    A client is made on every login, so it has no ``__init__`` of its own (the
    registry makes it from its fields alone, ``ClientFromFields``, and its steps
    read them there, a default when absent): its state starts as the class
    attributes below and changes as it steps, turn by turn through ``_TURNS``.
    """

    client_first = True
    _hash: ClassVar[str]
    _plus: ClassVar[bool]
    _turn = 0  # index into _TURNS
    _channel = ""  # the client-final message's c= attribute, made with the gs2 header
    _cnonce = ""
    _first_bare = ""
    _expected_signature = b""
    _expected_final = b""  # the server-final message that verifies, as the server sends it
    _TURNS: ClassVar[tuple[Callable[[ScramClient, bytes | None], bytes | None], ...]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._hash, cls._plus = _variant(cls.name)

    def _step(self, data: bytes | None) -> bytes | None:
        return self._TURNS[self._turn](self, data)

    def _cbind_flag(self, binding: ChannelBinding | None) -> str:
        """RFC 5802 6: p= in -PLUS; y when we could bind but the server offered no -PLUS."""
        if self._plus:
            if binding is None:
                raise UsageError(
                    f"{self.name} needs this connection's channel binding "
                    "(ClientOptions.channel_binding)"
                )
            return f"p={binding.type}"
        return "y" if binding is not None and not self.options.server_offers_plus else "n"

    def _client_first(self, data: bytes | None) -> bytes:
        if data:
            raise MalformedMessage(f"{self.name}: the server spoke before the client-first message")
        fields = self._fields
        username = fields.get("username", ClientOptions.username)
        how = fields.get("preparation", ClientOptions.preparation)
        if not (how == "saslprep" and username.isascii() and username.isprintable()):
            username = _prepare(username, "user name", self.name, how)  # else: as it is
        if not username:
            raise UsageError(f"{self.name}: the user name is empty")
        cnonce = fields.get("cnonce", ClientOptions.cnonce) or secrets.token_urlsafe(24)
        if not _printable(cnonce):
            raise UsageError(f"{self.name}: cnonce must be printable ASCII without ','")
        binding, authzid = (
            fields.get("channel_binding", ClientOptions.channel_binding),
            fields.get("authzid", ClientOptions.authzid),
        )
        if binding is None and not self._plus and not authzid:
            header = "n,,"  # gs2_header("n", ""): no binding, no authzid, the usual login
            self._channel = "c=biws"  # base64 of "n,,"
        else:
            header = gs2_header(self._cbind_flag(binding), authzid)
            # RFC 5802 7: c= is the base64 of the gs2 header and, in -PLUS, the binding data
            cbind_input = header.encode("utf-8")
            if self._plus and binding is not None:
                cbind_input += binding.data
            self._channel = f"c={binascii.b2a_base64(cbind_input)[:-1].decode()}"
        self._cnonce = cnonce
        # RFC 5802 7: client-first-message-bare = username "," nonce
        if "," in username or "=" in username:
            username = escape_saslname(username)
        self._first_bare = f"n={username},r={cnonce}"
        self._turn = 1
        return (header + self._first_bare).encode("utf-8")

    def _server_attributes(self, text: str, order: str, what: str) -> list[str]:
        """A server message the fast readers left: an error (e=), an m=, or ``_attributes``."""
        if text.startswith("e="):
            reason = _NOT_PRINTABLE.sub(" ", text[2:].split(",")[0])[:100]
            raise AuthenticationFailed(f"{self.name}: the server refused: {reason}")
        if text.startswith("m="):
            raise MalformedMessage(f"{self.name}: the server demands an unknown extension (m=)")
        return _attributes(text, order, what, self.name)

    def _read_server_first(self, text: str) -> tuple[str, bytes, int]:
        """The nonce, salt and iteration count of any server-first message, or the error
        that says what is wrong with it (``_usual_server_first`` reads the usual one)."""
        nonce, salt_text, count = _server_first_attributes(text) or self._server_attributes(
            text, "rsi", "server-first message"
        )
        # RFC 5802 5.1: the server's nonce extends ours; an equal one adds no freshness.
        if not nonce.startswith(self._cnonce) or nonce == self._cnonce:
            raise MalformedMessage(f"{self.name}: the server's nonce does not extend the client's")
        if not _printable(nonce):
            raise MalformedMessage(f"{self.name}: the server's nonce has a non-printable character")
        salt = _unb64(salt_text, "salt (s=)", self.name)
        if not salt:
            raise MalformedMessage(f"{self.name}: the salt (s=) is empty")
        if not _is_count(count):
            raise MalformedMessage(f"{self.name}: the iteration count (i=) is not a number")
        return nonce, salt, int(count)

    def _client_final(self, data: bytes | None) -> bytes:
        fields = self._fields
        server_first = decode_utf8(data or b"", "server-first message", self.name)
        nonce, salt, iterations = _usual_server_first(
            server_first, self._cnonce
        ) or self._read_server_first(server_first)
        low = fields.get("min_iterations", ClientOptions.min_iterations)
        high = fields.get("max_iterations", ClientOptions.max_iterations)
        if not low <= iterations <= high:
            raise PolicyRefused(
                f"{self.name}: the server asks for {iterations} iterations, outside the "
                f"allowed {low}..{high}"
            )
        password = fields.get("password", ClientOptions.password)
        how = fields.get("preparation", ClientOptions.preparation)
        if not (how == "saslprep" and password.isascii() and password.isprintable()):
            password = _prepare(password, "password", self.name, how)  # else: as it is
        # RFC 5802 7: client-final-message-without-proof = channel-binding "," nonce
        without_proof = f"{self._channel},r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        h = self._hash
        _, client_key_, stored, server_key_ = SALTED_PASSWORDS.keys(h, password, salt, iterations)
        # RFC 5802 3, written out (client_proof, server_signature): ClientProof :=
        # ClientKey XOR HMAC(StoredKey, AuthMessage), as one big-integer XOR (``_xor``).
        signature = int.from_bytes(_hmac_new(stored, auth_message, h).digest(), "big")
        proof = (int.from_bytes(client_key_, "big") ^ signature).to_bytes(len(client_key_), "big")
        expected = _hmac_new(server_key_, auth_message, h).digest()  # ServerSignature
        self._expected_signature = expected
        self._expected_final = b"v=" + binascii.b2a_base64(expected)[:-1]
        self._turn = 2
        return f"{without_proof},p={binascii.b2a_base64(proof)[:-1].decode()}".encode()

    def _verify_server(self, data: bytes | None) -> None:
        # The usual message is exactly v= and the signature in canonical base64: one
        # constant-time comparison of the bytes. Anything else is read the general way,
        # which accepts what verifies and says what is wrong with the rest.
        expected_final = self._expected_final  # set by the client-final step, before this one
        if data is not None and expected_final and hmac.compare_digest(data, expected_final):
            self._finish()
            return
        server_final = decode_utf8(data or b"", "server-final message", self.name)
        (signature_text,) = _server_final_attributes(server_final) or self._server_attributes(
            server_final, "v", "server-final message"
        )
        signature = _unb64(signature_text, "server signature (v=)", self.name)
        if not hmac.compare_digest(signature, self._expected_signature):
            raise MutualAuthenticationFailed(
                f"{self.name}: the server signature does not verify; the server does not know "
                "the password"
            )
        self._finish()


ScramClient._TURNS = (
    ScramClient._client_first,
    ScramClient._client_final,
    ScramClient._verify_server,
)


# --- Server -----------------------------------------------------------------------------


class ScramServer(ServerMechanism):
    """The server side of every SCRAM mechanism; subclasses only name it."""

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)
        self._hash, self._plus = _variant(self.name)
        self._next: Callable[[bytes | None], bytes | None] = self._server_first
        self._cbind_input = b""
        self._nonce = ""
        self._auth_prefix = ""
        self._username = ""
        self._authzid = ""
        self._keys: ScramKeys | None = None

    def _step(self, data: bytes | None) -> bytes | None:
        return self._next(data)

    def _server_first(self, data: bytes | None) -> bytes:
        if self._plus and self.options.channel_binding is None:
            raise UsageError(
                f"{self.name} needs this connection's channel binding "
                "(ServerOptions.channel_binding)"
            )
        if data is None:
            return b""  # RFC 4422 3.3: an empty challenge asks for the client-first message
        text = decode_utf8(data, "client-first message", self.name)
        flag, _, rest = text.partition(",")
        authzid_field, comma, bare = rest.partition(",")
        if not comma:
            raise MalformedMessage(f"{self.name}: the client-first message has no gs2 header")
        header = f"{flag},{authzid_field},"
        self._cbind_input = header.encode("utf-8") + self._binding_data(flag)
        if authzid_field:
            if not authzid_field.startswith("a="):
                raise MalformedMessage(f"{self.name}: the gs2 authzid must be 'a=...'")
            self._authzid = unescape_saslname(authzid_field[2:], "authzid")
        if bare.startswith("m="):
            raise MalformedMessage(f"{self.name}: the client demands an unknown extension (m=)")
        name_text, cnonce = _attributes(bare, "nr", "client-first message", self.name)
        username = unescape_saslname(name_text, "user name")
        try:
            self._username = preparation.username(username, self.options.preparation)
        except MalformedMessage as exc:
            raise MalformedMessage(f"{self.name}: user name refused by {exc}") from None
        if not _printable(cnonce):
            raise MalformedMessage(f"{self.name}: the client nonce is empty or not printable")
        self._keys = self._lookup(self._username)
        salt, iterations = (
            (self._keys.salt, self._keys.iterations)
            if self._keys
            else (self._made_up_salt(self._username), self.options.iterations)
        )
        self._nonce = cnonce + (self.options.nonce or secrets.token_urlsafe(24))
        server_first = f"r={self._nonce},s={_b64(salt)},i={iterations}"
        self._auth_prefix = f"{bare},{server_first}"
        self._next = self._server_final
        return server_first.encode("utf-8")

    def _binding_data(self, flag: str) -> bytes:
        """RFC 5802 6 and 7: check the gs2 flag; the bytes ``c=`` must add to the header."""
        binding = self.options.channel_binding
        if flag.startswith("p="):
            if not self._plus:
                raise MalformedMessage(f"{self.name}: channel binding (p=) outside -PLUS")
            if not _CB_NAME.fullmatch(flag[2:]):
                raise MalformedMessage(f"{self.name}: malformed channel binding name")
            if binding is None or binding.type != flag[2:]:
                raise AuthenticationFailed(
                    f"{self.name}: unsupported channel binding type {flag[2:]!r} "
                    f"(this connection has {binding.type if binding else 'none'})"
                )
            return binding.data
        if flag not in ("n", "y"):
            raise MalformedMessage(f"{self.name}: the gs2 channel-binding flag is not n, y or p=")
        if self._plus:
            raise MalformedMessage(f"{self.name} needs channel binding; the client sent '{flag}'")
        if flag == "y" and binding is not None:
            raise AuthenticationFailed(
                f"{self.name}: the client could bind but believes this server offers no -PLUS "
                "mechanism; it does, so the list was tampered with (downgrade)"
            )
        return b""

    def _lookup(self, authcid: str) -> ScramKeys | None:
        """The stored keys, or keys derived now from a stored password; ``None``: unknown."""
        store = self.options.credentials
        if isinstance(store, ScramCredentialStore):
            return store.scram_keys(authcid, self._hash)
        password = store.password(authcid, "")
        if password is None:
            return None
        try:
            normalized = preparation.password(password, self.options.preparation, query=False)
        except MalformedMessage:
            return None
        salt = self.options.salt or self._made_up_salt(authcid)
        return scram_keys(self._hash, normalized, salt, self.options.iterations)

    @staticmethod
    def _made_up_salt(authcid: str) -> bytes:
        """A salt stable per user for this process, so repeated logins look alike."""
        return hmac_digest(_PROCESS_KEY, b"salt\0" + authcid.encode("utf-8"), "sha256")[:16]

    def _server_final(self, data: bytes | None) -> bytes:
        text = decode_utf8(data or b"", "client-final message", self.name)
        without_proof, comma, proof_text = text.rpartition(",p=")
        if not comma:
            raise MalformedMessage(f"{self.name}: the client-final message has no proof (p=)")
        cbind_text, nonce = _attributes(without_proof, "cr", "client-final message", self.name)
        if nonce != self._nonce:
            raise MalformedMessage(f"{self.name}: the nonce differs from the one the server sent")
        cbind_input = _unb64(cbind_text, "channel binding (c=)", self.name)
        if not hmac.compare_digest(cbind_input, self._cbind_input):
            raise AuthenticationFailed(
                f"{self.name}: channel binding (c=) does not match the gs2 header and this "
                "connection's binding data"
            )
        proof = _unb64(proof_text, "proof (p=)", self.name)
        auth_message = f"{self._auth_prefix},{without_proof}".encode()
        if self._keys is None or not proof_matches(self._hash, self._keys, auth_message, proof):
            raise self._reject(f"authentication failed for {self._username!r}")
        self._accept(self._username, self._authzid)
        signature = server_signature(self._hash, self._keys.server_key, auth_message)
        return f"v={_b64(signature)}".encode()


class ScramSHA1Client(ScramClient):
    name = "SCRAM-SHA-1"


class ScramSHA1Server(ScramServer):
    name = "SCRAM-SHA-1"


class ScramSHA1PlusClient(ScramClient):
    name = "SCRAM-SHA-1-PLUS"


class ScramSHA1PlusServer(ScramServer):
    name = "SCRAM-SHA-1-PLUS"


class ScramSHA256Client(ScramClient):
    name = "SCRAM-SHA-256"


class ScramSHA256Server(ScramServer):
    name = "SCRAM-SHA-256"


class ScramSHA256PlusClient(ScramClient):
    name = "SCRAM-SHA-256-PLUS"


class ScramSHA256PlusServer(ScramServer):
    name = "SCRAM-SHA-256-PLUS"


class ScramSHA512Client(ScramClient):
    name = "SCRAM-SHA-512"


class ScramSHA512Server(ScramServer):
    name = "SCRAM-SHA-512"


class ScramSHA512PlusClient(ScramClient):
    name = "SCRAM-SHA-512-PLUS"


class ScramSHA512PlusServer(ScramServer):
    name = "SCRAM-SHA-512-PLUS"
