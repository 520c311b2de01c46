"""Reading and replaying the vector files of ``vectors/`` (format: docs/vectors.md).

Rules of this module:
- Vector data is read, never pasted: the tests and ``sasl-kit selftest`` both
  replay the same files through ``replay_client`` and ``replay_server``.
- A vector file that does not follow the format raises ``VectorFormatError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from sasl_kit import errors, http_digest, preparation
from sasl_kit.errors import SASLError
from sasl_kit.mechanisms import digest_md5, ntlm
from sasl_kit.mechanisms.oauth import TokenTable
from sasl_kit.mechanisms.scram import scram_keys
from sasl_kit.registry import Registry, default_registry
from sasl_kit.saslprep import saslprep
from sasl_kit.security_layer import Framer

KINDS = ("exchange", "function")  # docs/vectors.md


class VectorFormatError(SASLError):
    """A vector file does not follow docs/vectors.md."""


class ReplayMismatch(SASLError):
    """A mechanism produced something other than what the vector says."""


@dataclass(frozen=True)
class Message:
    side: str  # "C" or "S"
    data: bytes


@dataclass(frozen=True)
class VectorFile:
    name: str
    title: str
    kind: str
    vectors: tuple[Mapping[str, Any], ...]


def vectors_dir() -> Traversable:
    """The shipped copy inside the wheel, else the checkout's ``vectors/``."""
    shipped = files("sasl_kit") / "_vectors"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parent.parent / "vectors"


def load_all() -> list[VectorFile]:
    return [
        load(entry)
        for entry in sorted(vectors_dir().iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    ]


def load(entry: Traversable) -> VectorFile:
    try:
        doc = json.loads(entry.read_text(encoding="utf-8"))
        vectors = tuple(doc["vectors"])
        for vector in vectors:
            if not vector["id"] or not vector["source"]["document"]:
                raise VectorFormatError(f"{entry.name}: a vector without id or source")
        return VectorFile(entry.name, doc["title"], doc["kind"], vectors)
    except (ValueError, KeyError, TypeError) as exc:
        raise VectorFormatError(f"{entry.name}: not a vector file ({exc!r})") from None


def messages(vector: Mapping[str, Any]) -> list[Message]:
    out = []
    for i, item in enumerate(vector["exchange"]):
        try:
            if "text" in item:
                data = item["text"].encode("utf-8")
            else:
                data = base64.b64decode(item["base64"], validate=True)
        except (KeyError, binascii.Error) as exc:
            raise VectorFormatError(f"{vector['id']}: message {i} has no text/base64") from exc
        if item.get("side") not in ("C", "S"):
            raise VectorFormatError(f"{vector['id']}: message {i} has no side C or S")
        out.append(Message(item["side"], data))
    return out


def replay_client(vector: Mapping[str, Any], registry: Registry = default_registry) -> None:
    """Feed the vector's server messages to a client; raise ``ReplayMismatch`` on any difference."""
    mech = registry.client(vector["mechanism"], **vector.get("client", {}))
    msgs = messages(vector)
    vid = vector["id"]
    i = 0
    if msgs and msgs[0].side == "C":  # an initial response: nothing to answer yet
        _expect(vid, "C", mech.step(b""), msgs, i)
        i += 1
    while i < len(msgs):
        incoming = msgs[i]
        if incoming.side != "S":
            raise VectorFormatError(f"{vid}: expected a server message at {i}")
        out = mech.step(incoming.data)
        i += 1
        if i < len(msgs):
            _expect(vid, "C", out, msgs, i)
            i += 1
    if vector.get("outcome", "success") == "success" and not mech.complete:
        raise ReplayMismatch(f"{vid}: client did not complete")


def replay_server(vector: Mapping[str, Any], registry: Registry = default_registry) -> None:
    """Feed the vector's client messages to a server; raise ``ReplayMismatch`` on any difference."""
    options = dict(vector.get("server", {}))
    credentials = options.pop("credentials", {})
    if "realms" in options:
        options["realms"] = tuple(options["realms"])
    if "salt" in options:
        options["salt"] = base64.b64decode(options["salt"], validate=True)
    if "tokens" in options:
        options["validate_token"] = TokenTable(options.pop("tokens"))
    mech = registry.server(vector["mechanism"], credentials, **options)
    msgs = messages(vector)
    vid = vector["id"]
    outcome = vector.get("outcome", "success")
    i = 0
    pending: bytes | None = None
    if msgs and msgs[0].side == "C":
        pending = msgs[0].data
        i = 1
    try:
        while not mech.complete:
            out = mech.step(pending)
            if i < len(msgs) and msgs[i].side == "S":
                _expect(vid, "S", out, msgs, i)
                i += 1
            elif out:
                raise ReplayMismatch(f"{vid}: server sent {out!r} where the vector has none")
            if mech.complete:
                break
            if i >= len(msgs):
                raise ReplayMismatch(f"{vid}: server wants more than the vector's messages")
            pending = msgs[i].data
            i += 1
    except (errors.AuthenticationFailed, errors.MalformedMessage) as exc:
        if type(exc).__name__ != outcome:
            raise ReplayMismatch(f"{vid}: server raised {type(exc).__name__}: {exc}") from exc
        return
    if outcome != "success":
        raise ReplayMismatch(f"{vid}: server accepted, vector says {outcome}")
    for rest in msgs[i:]:
        if rest.side != "C" or rest.data:
            raise ReplayMismatch(f"{vid}: messages left after the server completed")


def _expect(vid: str, side: str, got: bytes | None, msgs: list[Message], i: int) -> None:
    want = msgs[i]
    if want.side != side:
        raise VectorFormatError(f"{vid}: message {i} should come from {side}")
    if (got or b"") != want.data:
        raise ReplayMismatch(
            f"{vid}: message {i} ({side}) differs: got {got!r}, want {want.data!r}"
        )


def _pbkdf2_hmac(hash_name: str, password: str, salt: str, iterations: int, dklen: int) -> str:
    """PBKDF2 (RFC 8018 5.2), which SCRAM's Hi is: text in, hex out."""
    return hashlib.pbkdf2_hmac(
        hash_name, password.encode("utf-8"), salt.encode("utf-8"), iterations, dklen
    ).hex()


def _scram_keys(hash_name: str, password: str, salt: str, iterations: int) -> dict[str, str]:
    """StoredKey and ServerKey (RFC 5802 3) for a base64 salt, in base64."""
    keys = scram_keys(hash_name, password, base64.b64decode(salt, validate=True), iterations)
    return {
        "stored_key": base64.b64encode(keys.stored_key).decode(),
        "server_key": base64.b64encode(keys.server_key).decode(),
    }


def _digest_md5_wrap(response: str, password: str, sender: str, messages: list[str]) -> list[str]:
    """The RFC 4422 3.7 frames (base64) ``sender`` sends for ``messages`` after a DIGEST-MD5
    exchange whose digest-response is ``response``: RFC 2831 2.3/2.4 layers."""
    parsed = digest_md5.parse_response(response.encode("utf-8"))
    framer = Framer(digest_md5.session_layer(parsed, password, side=sender))
    return [base64.b64encode(framer.wrap(m.encode("utf-8"))).decode() for m in messages]


def _http_digest_respond(
    www_authenticate: str,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    algorithm: str | None = None,
) -> dict[str, str]:
    """The user name and response a client sends for the first (or ``algorithm``'s) challenge."""
    challenge = http_digest.choose(http_digest.parse_challenges(www_authenticate), algorithm)
    sent = http_digest.respond(challenge, username, password, method, uri, cnonce=cnonce)
    return {"username": sent.username, "response": sent.response}


def _http_digest_verify(
    authorization: str, password: str, method: str, username: str | None = None
) -> str:
    """The user a server authenticates from an Authorization value; ``username`` resolves
    a hashed user name (userhash)."""
    realm = http_digest.parse_authorization(authorization).realm
    return http_digest.verify(
        authorization,
        method,
        b"",
        lambda _user, _realm: password,
        userhash_lookup=http_digest.UserhashTable([username] if username else [], realm),
    )


FUNCTIONS: Mapping[str, Callable[..., object]] = {
    "saslprep": saslprep,
    "precis_username": lambda text: preparation.username(text, "precis"),
    "precis_password": lambda text: preparation.password(text, "precis"),
    "pbkdf2_hmac": _pbkdf2_hmac,
    "scram_keys": _scram_keys,
    "digest_md5_wrap": _digest_md5_wrap,
    "http_digest_respond": _http_digest_respond,
    "http_digest_verify": _http_digest_verify,
    **ntlm.VECTOR_FUNCTIONS,
}


def check_function(vector: Mapping[str, Any]) -> None:
    """Call the vector's formula; its result (or its refusal) must match ``expected``."""
    vid = vector["id"]
    function = FUNCTIONS.get(vector["function"])
    if function is None:
        raise VectorFormatError(f"{vid}: unknown function {vector['function']!r}")
    expected = vector["expected"]
    try:
        got = function(**vector["input"])
    except SASLError as exc:
        if isinstance(expected, dict) and expected.get("error", "\0") in str(exc):
            return
        raise ReplayMismatch(f"{vid}: raised {exc}") from exc
    if got != expected:
        raise ReplayMismatch(f"{vid}: got {got!r}, want {expected!r}")


def iter_vectors(kind: str) -> Iterator[tuple[VectorFile, Mapping[str, Any]]]:
    for vector_file in load_all():
        if vector_file.kind == kind:
            for vector in vector_file.vectors:
                yield vector_file, vector
