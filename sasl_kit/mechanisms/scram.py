"""SCRAM (RFC 5802, RFC 7677): SCRAM-SHA-1/-256/-512 and their -PLUS variants, both sides.

Rules of this module:
- One family, one module. The hash and the -PLUS flag come from the mechanism's
  name; nothing else differs between the six mechanisms.
- Formulas are pure functions next to their RFC section; the classes parse,
  keep the three messages AuthMessage is made of, and call the formulas.
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
- The one piece of process state is ``SALTED_PASSWORDS``: a bounded, thread-safe
  LRU of the client's SaltedPassword and the ClientKey, StoredKey and ServerKey
  derived from it (RFC 5802 5.1 allows caching them), keyed by a keyed BLAKE2b
  of the password under a random per-process key, never the password.
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
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    ClientMechanism,
    ClientOptions,
    ScramCredentialStore,
    ScramKeys,
    ServerMechanism,
    ServerOptions,
)
from sasl_kit.mechanisms.plain import decode_utf8

HASHES: Mapping[str, str] = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
"""The hash in a SCRAM mechanism's name -> hashlib's name for it."""

# RFC 5802 7: printable = %x21-2B / %x2D-7E (no comma); saslname escapes "," and "=".
_NONCE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
_SASLNAME = re.compile(r"(?:[^,=]|=2C|=3D)+")
_CB_NAME = re.compile(r"[A-Za-z0-9.\-]+")
_ITERATIONS = re.compile(r"[1-9][0-9]{0,9}")
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]+")

_PROCESS_KEY = secrets.token_bytes(32)


# --- Formulas (RFC 5802 3), bytes in and bytes out -----------------------------------


def salted_password(hash_name: str, password: str, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i), Hi being PBKDF2."""
    return hashlib.pbkdf2_hmac(hash_name, password.encode("utf-8"), salt, iterations)


def client_key(hash_name: str, salted: bytes) -> bytes:
    """RFC 5802 3: ClientKey := HMAC(SaltedPassword, "Client Key")."""
    return hmac.digest(salted, b"Client Key", hash_name)


def stored_key(hash_name: str, client_key_: bytes) -> bytes:
    """RFC 5802 3: StoredKey := H(ClientKey)."""
    return hashlib.new(hash_name, client_key_).digest()


def server_key(hash_name: str, salted: bytes) -> bytes:
    """RFC 5802 3: ServerKey := HMAC(SaltedPassword, "Server Key")."""
    return hmac.digest(salted, b"Server Key", hash_name)


def client_signature(hash_name: str, stored_key_: bytes, auth_message: bytes) -> bytes:
    """RFC 5802 3: ClientSignature := HMAC(StoredKey, AuthMessage)."""
    return hmac.digest(stored_key_, auth_message, hash_name)


def client_proof(hash_name: str, client_key_: bytes, auth_message: bytes) -> bytes:
    """RFC 5802 3: ClientProof := ClientKey XOR ClientSignature."""
    stored = stored_key(hash_name, client_key_)
    return _xor(client_key_, client_signature(hash_name, stored, auth_message))


def server_signature(hash_name: str, server_key_: bytes, auth_message: bytes) -> bytes:
    """RFC 5802 3: ServerSignature := HMAC(ServerKey, AuthMessage)."""
    return hmac.digest(server_key_, auth_message, hash_name)


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


def _xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise ValueError("_xor: inputs differ in length")
    # One big-integer XOR: several times faster than a byte loop (bench/scram.py, warm login).
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _unb64(text: str, what: str, mechanism: str) -> bytes:
    """Canonical base64 only, so that no two texts stand for the same proof."""
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


def _attributes(text: str, order: str, what: str, mechanism: str) -> dict[str, str]:
    """The values of ``order``'s attributes in ``text`` (``_attribute_pattern``)."""
    match = _attribute_pattern(order).fullmatch(text)
    if match is None:
        raise _attribute_error(text, order, what, mechanism)
    return dict(zip(order, match.groups(), strict=True))


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


@dataclass(frozen=True)
class ClientKeys:
    """SaltedPassword and the keys a client derives from it (RFC 5802 3)."""

    salted_password: bytes = field(repr=False)
    client_key: bytes = field(repr=False)
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)

    @classmethod
    def derive(cls, hash_name: str, password: str, salt: bytes, iterations: int) -> ClientKeys:
        salted = salted_password(hash_name, password, salt, iterations)
        client_key_ = client_key(hash_name, salted)
        return cls(
            salted, client_key_, stored_key(hash_name, client_key_), server_key(hash_name, salted)
        )


class SaltedPasswordCache:
    """A bounded, thread-safe LRU of ``ClientKeys`` per (hash, password, salt, iterations).

    RFC 5802 5.1 lets a client cache ClientKey and ServerKey: a hit costs neither
    PBKDF2 nor the three derivations after it. The password is never a key: the
    key holds a keyed BLAKE2b of it under a random key made at import, so the
    cache tells nothing about a password on its own.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, bytes, bytes, int], ClientKeys] = OrderedDict()
        self._lock = threading.Lock()

    def keys(self, hash_name: str, password: str, salt: bytes, iterations: int) -> ClientKeys:
        # Keyed BLAKE2b is a MAC (RFC 7693 2.9): without the key its digest says nothing
        # of the password, as HMAC-SHA-256's did, at a third of the cost. The dict
        # compares digests in variable time, which is harmless: they are keyed, so their
        # timing tells nothing about the password to anyone without the process key.
        password_key = hashlib.blake2b(password.encode("utf-8"), key=_PROCESS_KEY).digest()
        key = (hash_name, password_key, salt, iterations)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        derived = ClientKeys.derive(hash_name, password, salt, iterations)  # outside the lock
        with self._lock:
            self._entries[key] = derived
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return derived

    def salted_password(self, hash_name: str, password: str, salt: bytes, iterations: int) -> bytes:
        """SaltedPassword alone, through the same cache as ``keys``."""
        return self.keys(hash_name, password, salt, iterations).salted_password

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
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


class ScramClient(ClientMechanism):
    """The client side of every SCRAM mechanism; subclasses only name it."""

    client_first = True

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self._hash, self._plus = _variant(self.name)
        self._next: Callable[[bytes | None], bytes | None] = self._client_first
        self._gs2_header = ""
        self._cnonce = ""
        self._first_bare = ""
        self._expected_signature = b""

    def _step(self, data: bytes | None) -> bytes | None:
        return self._next(data)

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
        o = self.options
        username = _prepare(o.username, "user name", self.name, o.preparation)
        if not username:
            raise UsageError(f"{self.name}: the user name is empty")
        self._cnonce = o.cnonce or secrets.token_urlsafe(24)
        if not _NONCE.fullmatch(self._cnonce):
            raise UsageError(f"{self.name}: cnonce must be printable ASCII without ','")
        self._gs2_header = gs2_header(self._cbind_flag(o.channel_binding), o.authzid)
        # RFC 5802 7: client-first-message-bare = username "," nonce
        self._first_bare = f"n={escape_saslname(username)},r={self._cnonce}"
        self._next = self._client_final
        return (self._gs2_header + self._first_bare).encode("utf-8")

    def _server_text(self, data: bytes | None, what: str) -> str:
        text = decode_utf8(data or b"", what, self.name)
        if text.startswith("e="):
            reason = _NOT_PRINTABLE.sub(" ", text[2:].split(",")[0])[:100]
            raise AuthenticationFailed(f"{self.name}: the server refused: {reason}")
        if text.startswith("m="):
            raise MalformedMessage(f"{self.name}: the server demands an unknown extension (m=)")
        return text

    def _client_final(self, data: bytes | None) -> bytes:
        o = self.options
        server_first = self._server_text(data, "server-first message")
        attrs = _attributes(server_first, "rsi", "server-first message", self.name)
        nonce = attrs["r"]
        # RFC 5802 5.1: the server's nonce extends ours; an equal one adds no freshness.
        if not nonce.startswith(self._cnonce) or nonce == self._cnonce:
            raise MalformedMessage(f"{self.name}: the server's nonce does not extend the client's")
        if not _NONCE.fullmatch(nonce):
            raise MalformedMessage(f"{self.name}: the server's nonce has a non-printable character")
        salt = _unb64(attrs["s"], "salt (s=)", self.name)
        if not salt:
            raise MalformedMessage(f"{self.name}: the salt (s=) is empty")
        if not _ITERATIONS.fullmatch(attrs["i"]):
            raise MalformedMessage(f"{self.name}: the iteration count (i=) is not a number")
        iterations = int(attrs["i"])
        if not o.min_iterations <= iterations <= o.max_iterations:
            raise PolicyRefused(
                f"{self.name}: the server asks for {iterations} iterations, outside the "
                f"allowed {o.min_iterations}..{o.max_iterations}"
            )
        password = _prepare(o.password, "password", self.name, o.preparation)
        keys = SALTED_PASSWORDS.keys(self._hash, password, salt, iterations)
        cbind_input = self._gs2_header.encode("utf-8")
        if self._plus and o.channel_binding is not None:
            cbind_input += o.channel_binding.data
        # RFC 5802 7: client-final-message-without-proof = channel-binding "," nonce
        without_proof = f"c={_b64(cbind_input)},r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        signature = client_signature(self._hash, keys.stored_key, auth_message)
        proof = _xor(keys.client_key, signature)  # RFC 5802 3: ClientProof, from cached keys
        self._expected_signature = server_signature(self._hash, keys.server_key, auth_message)
        self._next = self._verify_server
        return f"{without_proof},p={_b64(proof)}".encode()

    def _verify_server(self, data: bytes | None) -> None:
        server_final = self._server_text(data, "server-final message")
        attrs = _attributes(server_final, "v", "server-final message", self.name)
        signature = _unb64(attrs["v"], "server signature (v=)", self.name)
        if not hmac.compare_digest(signature, self._expected_signature):
            raise MutualAuthenticationFailed(
                f"{self.name}: the server signature does not verify; the server does not know "
                "the password"
            )
        self._finish()


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
        attrs = _attributes(bare, "nr", "client-first message", self.name)
        username = unescape_saslname(attrs["n"], "user name")
        try:
            self._username = preparation.username(username, self.options.preparation)
        except MalformedMessage as exc:
            raise MalformedMessage(f"{self.name}: user name refused by {exc}") from None
        if not _NONCE.fullmatch(attrs["r"]):
            raise MalformedMessage(f"{self.name}: the client nonce is empty or not printable")
        self._keys = self._lookup(self._username)
        salt, iterations = (
            (self._keys.salt, self._keys.iterations)
            if self._keys
            else (self._made_up_salt(self._username), self.options.iterations)
        )
        self._nonce = attrs["r"] + (self.options.nonce or secrets.token_urlsafe(24))
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
        return hmac.digest(_PROCESS_KEY, b"salt\0" + authcid.encode("utf-8"), "sha256")[:16]

    def _server_final(self, data: bytes | None) -> bytes:
        text = decode_utf8(data or b"", "client-final message", self.name)
        without_proof, comma, proof_text = text.rpartition(",p=")
        if not comma:
            raise MalformedMessage(f"{self.name}: the client-final message has no proof (p=)")
        attrs = _attributes(without_proof, "cr", "client-final message", self.name)
        if attrs["r"] != self._nonce:
            raise MalformedMessage(f"{self.name}: the nonce differs from the one the server sent")
        cbind_input = _unb64(attrs["c"], "channel binding (c=)", self.name)
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
