"""HTTP Digest access authentication (RFC 2617, RFC 7616): formulas, headers, both sides.

This is not DIGEST-MD5. The SASL mechanism (RFC 2831, ``sasl_kit.mechanisms.digest_md5``)
grew out of RFC 2617 and kept its look, but the formulas differ, and mixing the two
families is the classic bug this module exists to prevent:

================  =================================  ======================================
                  HTTP Digest (this module)          DIGEST-MD5 (RFC 2831)
================  =================================  ======================================
A2                ``Method ":" request-uri``         ``"AUTHENTICATE:" digest-uri``
                  (``":" H(entity-body)`` with       (``":" 32 zeros`` with auth-int and
                  auth-int)                          auth-conf)
H(A1) in -sess    *hex* H(user:realm:password)       *16 binary octets* of that hash
algorithms        MD5, SHA-256, SHA-512-256, each    md5-sess only
                  also as -sess
qop               optional (RFC 2069 form without)   always, defaults to auth
authzid           none                               appended to A1
server proof      none here (Authentication-Info)    rspauth, A2 = ``":" digest-uri``
================  =================================  ======================================

Rules of this module:
- It is no SASL mechanism and is not in the registry: it lives outside
  ``mechanisms/`` and imports nothing from ``digest_md5``. It shares with the
  mechanisms only ``NonceCounts`` and ``secrets_equal`` (``mechanisms.base``).
- The formulas are pure functions of text and octets, each next to its RFC
  section; ``H`` always yields lower-case hex (RFC 7616 3.4.1). The header
  values are frozen dataclasses (``Challenge``, ``Authorization``); the server's
  state (the nonces it issued and their counts) lives in ``Server``.
- Header values are text whose characters are the header's octets read as
  ISO 8859-1, the way HTTP libraries hand them out; nonce, realm, uri and the
  other directives enter the hashes as those octets. User name and password are
  the caller's text: with ``charset=UTF-8`` (RFC 7616 4) they are NFC-normalized
  and hashed as UTF-8; without it, as ISO 8859-1 where every character fits (RFC
  2617), else as UTF-8. A user name beyond ASCII travels as ``username*`` (RFC
  7616 3.4.4, RFC 8187 extended notation).
- One parser reads both headers (RFC 7235 2.1): ``WWW-Authenticate`` may carry
  several challenges, of any scheme, token68 or auth-params, separated by commas
  that also separate the parameters. It does not share DIGEST-MD5's directive
  parser: that one knows no scheme, no token68 and no list of challenges, and
  reads octets rather than header text. Garbage raises ``MalformedMessage``
  naming the character position, never anything else.
- Errors say who is at fault: a malformed header or a request that does not
  follow the challenge is ``MalformedMessage`` (the peer), a wrong response or
  unknown user ``AuthenticationFailed`` (the credentials; same message for
  both), a right response for a nonce this server no longer knows ``StaleNonce``
  (answer with a fresh challenge carrying ``stale=true``). Responses are compared
  in constant time; a password never reaches a message or a repr.

Theory of operation. Client: ``parse_challenges`` reads a ``WWW-Authenticate``
value; ``respond`` answers the first challenge it supports (RFC 7616 3.7: the
server lists them in its order of preference) with an ``Authorization``, which
``format_authorization`` writes. Server: ``Server.challenges`` issues a nonce and
one challenge per algorithm offered; ``Server.verify`` checks an ``Authorization``
against what was offered, the nonce count and the password. ``verify`` alone is
the stateless part, for offline checks: does the response value prove the password?
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes

from sasl_kit.errors import (
    AuthenticationFailed,
    MalformedMessage,
    PolicyRefused,
    UsageError,
)
from sasl_kit.mechanisms.base import NonceCounts, secrets_equal

SCHEME = "Digest"
QOP_AUTH, QOP_AUTH_INT = "auth", "auth-int"
QOPS = (QOP_AUTH, QOP_AUTH_INT)
CHARSET = "UTF-8"
DEFAULT_ALGORITHM = "MD5"  # RFC 7616 3.3: an absent algorithm means MD5
NONCE_BYTES = 32
MAX_NC = 0xFFFFFFFF

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS = " \t"
_LHEX8 = re.compile(r"[0-9a-f]{8}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_EXT_VALUE = re.compile(  # RFC 8187 3.2: charset "'" [ language ] "'" value-chars
    r"(?i:(utf-8|iso-8859-1))'[A-Za-z0-9\-]*'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+\-.^_`|~])*)"
)
# RFC 8187 3.2.1 attr-char: what goes unescaped in username*.
_ATTR_SAFE = "!#$&+-.^_`|~"


class StaleNonce(AuthenticationFailed):
    """The response proves the password, but for a nonce this server no longer accepts.

    Answer with a fresh challenge carrying ``stale=true`` (RFC 7616 3.3): the
    client retries without asking its user again.
    """


# --- Algorithms and formulas --------------------------------------------------------------


def _sha512_256_cryptography(data: bytes) -> bytes:
    """SHA-512/256 (FIPS 180-4) from ``cryptography``, for OpenSSL builds hashlib lacks it in."""
    digest = hashes.Hash(hashes.SHA512_256())
    digest.update(data)
    return digest.finalize()


def _sha512_256_hashlib(data: bytes) -> bytes:
    return hashlib.new("sha512_256", data).digest()


def _sha512_256_function() -> Callable[[bytes], bytes]:
    try:
        hashlib.new("sha512_256")
    except ValueError:
        return _sha512_256_cryptography
    return _sha512_256_hashlib


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324 -- RFC 2617's algorithm, on explicit offer


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Algorithm:
    """An ``algorithm`` value (RFC 7616 3.3, 6.1): its hash, and whether it is a -sess variant."""

    name: str
    hash: Callable[[bytes], bytes] = field(repr=False)
    session: bool

    @property
    def hex_length(self) -> int:
        return 2 * len(self.hash(b""))


# RFC 7616 6.1, the IANA registry, strongest first. SHA-512-256 is SHA-512/256 of
# FIPS 180-4 (its own initial values), not SHA-512 cut to 256 bits: see vectors/http-digest.json.
_HASHES = (("SHA-512-256", _sha512_256_function()), ("SHA-256", _sha256), ("MD5", _md5))
ALGORITHMS: dict[str, Algorithm] = {
    a.name.upper(): a
    for base, hash_ in _HASHES
    for a in (Algorithm(base, hash_, False), Algorithm(f"{base}-sess", hash_, True))
}


def algorithm(name: str) -> Algorithm:
    """The algorithm of that name (case-insensitive); an unknown name is the caller's error."""
    found = ALGORITHMS.get(name.upper())
    if found is None:
        raise UsageError(f"HTTP Digest: unknown algorithm {name!r}; known: {', '.join(_names())}")
    return found


def _names() -> list[str]:
    return [a.name for a in ALGORITHMS.values()]


def h(alg: Algorithm, data: bytes) -> str:
    """RFC 7616 3.4.1: H(data), the hash of the octets as lower-case hex."""
    return alg.hash(data).hex()


def kd(alg: Algorithm, secret: str, data: str) -> str:
    """RFC 7616 3.4.1 (RFC 2617 3.2.1): KD(secret, data) = H(concat(secret, ":", data))."""
    return h(alg, _octets(f"{secret}:{data}"))


def user_octets(text: str, *, utf8: bool) -> bytes:
    """How user name and password enter a hash: RFC 7616 4 with ``charset=UTF-8``
    (normalization form C, UTF-8), else RFC 2617's ISO 8859-1 where it fits."""
    if utf8:
        return unicodedata.normalize("NFC", text).encode("utf-8")
    return _octets(text)


def _octets(text: str) -> bytes:
    """Header text as the octets it stands for (ISO 8859-1), or UTF-8 beyond that."""
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def userhash(alg: Algorithm, username: str, realm: str, *, utf8: bool = True) -> str:
    """RFC 7616 3.4.4: the hashed user name, H(unq(username) ":" unq(realm))."""
    return h(alg, user_octets(username, utf8=utf8) + b":" + _octets(realm))


def h_a1(
    alg: Algorithm,
    username: str,
    realm: str,
    password: str,
    *,
    nonce: str,
    cnonce: str | None,
    utf8: bool,
) -> str:
    """H(A1), RFC 7616 3.4.2 (RFC 2617 3.2.2.2).

    A1 = unq(username) ":" unq(realm) ":" passwd; for a -sess algorithm
    A1 = H(that) ":" unq(nonce) ":" unq(cnonce), the inner H in hex.
    """
    secret = b":".join(
        (user_octets(username, utf8=utf8), _octets(realm), user_octets(password, utf8=utf8))
    )
    if not alg.session:
        return h(alg, secret)
    if cnonce is None:
        raise UsageError(f"HTTP Digest: algorithm {alg.name} needs a cnonce, which needs a qop")
    return h(alg, _octets(f"{h(alg, secret)}:{nonce}:{cnonce}"))


def h_a2(alg: Algorithm, method: str, uri: str, qop: str | None, body: bytes = b"") -> str:
    """H(A2), RFC 7616 3.4.3 (RFC 2617 3.2.2.3).

    A2 = Method ":" request-uri; with qop auth-int, ":" H(entity-body) is appended.
    """
    a2 = f"{method}:{uri}"
    if qop == QOP_AUTH_INT:
        a2 += ":" + h(alg, body)
    return h(alg, _octets(a2))


def response_value(
    alg: Algorithm,
    ha1: str,
    ha2: str,
    *,
    nonce: str,
    nc: int | None,
    cnonce: str | None,
    qop: str | None,
) -> str:
    """The request-digest, RFC 7616 3.4.1 (RFC 2617 3.2.2.1).

    With a qop: KD(H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" unq(qop) ":" H(A2));
    without (RFC 2069's form, kept by RFC 2617): KD(H(A1), unq(nonce) ":" H(A2)).
    """
    if qop is None:
        return kd(alg, ha1, f"{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise UsageError("HTTP Digest: with a qop, nc and cnonce are required")
    return kd(alg, ha1, f"{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


# --- Header values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """A Digest challenge of ``WWW-Authenticate`` (RFC 7616 3.3).

    ``qops`` is empty when the challenge has no qop (RFC 2069's form); ``utf8``
    is ``charset=UTF-8``; ``userhash`` asks the client to hash its user name.
    """

    realm: str
    nonce: str
    qops: tuple[str, ...] = (QOP_AUTH,)
    algorithm: str = DEFAULT_ALGORITHM
    opaque: str | None = None
    stale: bool = False
    utf8: bool = False
    userhash: bool = False


@dataclass(frozen=True)
class Authorization:
    """The Digest credentials of ``Authorization`` (RFC 7616 3.4).

    ``username`` is the user name as text, or with ``userhash`` its hash. ``qop``,
    ``cnonce`` and ``nc`` are ``None`` together, in RFC 2069's form only.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str = field(repr=False)
    algorithm: str = DEFAULT_ALGORITHM
    qop: str | None = QOP_AUTH
    cnonce: str | None = None
    nc: int | None = None
    opaque: str | None = None
    userhash: bool = False


@dataclass(frozen=True)
class _Element:
    """One challenge or credentials of RFC 7235 2.1: scheme, then token68 or auth-params."""

    scheme: str
    token68: str | None
    params: tuple[tuple[str, str], ...]
    start: int


def _bad_character(text: str) -> int | None:
    """Where the first character is that no header carries (RFC 7230 3.2: field-content
    is VCHAR, SP, HTAB and the octets 80-FF), or ``None``."""
    for pos, char in enumerate(text):
        code = ord(char)
        if code > 0xFF or (code < 32 and char != "\t") or code == 127:
            return pos
    return None


class _Reader:
    """A cursor over one header value; every error names the position it stopped at."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.where, self.pos = text, where, 0
        bad = _bad_character(text)
        if bad is not None:
            self.pos = bad
            raise self.error(f"character {text[bad]!r} is not allowed in a header")

    def error(self, what: str) -> MalformedMessage:
        return MalformedMessage(f"{self.where}: {what} at character {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def token(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _TCHAR:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        """RFC 7230 3.2.6: quoted-string, opening at ``pos``; its value without escapes."""
        start, out = self.pos, list[str]()
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if self.pos == len(self.text):
                    break
                char = self.text[self.pos]
                self.pos += 1
            out.append(char)
        self.pos = start
        raise self.error("quoted string is not closed")

    def value(self) -> str:
        """An auth-param value: token or quoted-string."""
        if self.peek() == '"':
            return self.quoted()
        value = self.token()
        if not value:
            raise self.error("expected a token or a quoted string")
        return value

    def at_element_end(self) -> bool:
        self.skip(_OWS)
        return self.peek() in ("", ",")


def _elements(text: str, where: str) -> list[_Element]:
    """RFC 7235 2.1 and 4.1: ``1#challenge`` (also ``credentials``, which is one element)."""
    r = _Reader(text, where)
    found: list[_Element] = []
    while True:
        r.skip(_OWS + ",")  # empty list elements are allowed (RFC 7230 7)
        if not r.peek():
            return found
        start = r.pos
        scheme = r.token()
        if not scheme:
            raise r.error("expected an authentication scheme")
        token68, params = None, []
        if not r.at_element_end():
            if r.pos == start + len(scheme):
                raise r.error("expected a space after the scheme")
            token68 = _token68(r)
            if token68 is None:
                params = _params(r)
        found.append(_Element(scheme, token68, tuple(params), start))
        r.skip(_OWS)
        if r.peek() and r.peek() != ",":
            raise r.error("expected ','")


def _token68(r: _Reader) -> str | None:
    """The token68 at ``pos``, if what follows the scheme is one rather than auth-params."""
    match = _TOKEN68.match(r.text, r.pos)
    if match is None:
        return None
    end = match.end()
    rest = r.text[end:].lstrip(_OWS)
    if rest and rest[0] != ",":
        return None  # "name = value": an auth-param
    r.pos = end
    return match.group()


def _params(r: _Reader) -> list[tuple[str, str]]:
    """``#auth-param`` up to the next challenge, whose scheme is a name without '='."""
    params: list[tuple[str, str]] = []
    while True:
        name = r.token()
        r.skip(_OWS)
        if not name or r.peek() != "=":
            raise r.error("expected name=value")
        r.pos += 1
        r.skip(_OWS)
        params.append((name.lower(), r.value()))
        r.skip(_OWS)
        if r.peek() != ",":
            return params
        comma = r.pos
        r.skip(_OWS + ",")
        name_at = r.pos
        name = r.token()
        r.skip(_OWS)
        if not name or r.peek() != "=":  # the end, or the next challenge
            r.pos = comma
            return params
        r.pos = name_at


def _digest_params(element: _Element, where: str) -> dict[str, str]:
    if element.token68 is not None:
        raise MalformedMessage(f"{where}: a {SCHEME} element has parameters, not a token68")
    found: dict[str, str] = {}
    for name, value in element.params:
        if name in found:  # RFC 7235 2.1: each parameter at most once per challenge
            raise MalformedMessage(
                f"{where}: parameter {name!r} appears twice (element at character {element.start})"
            )
        found[name] = value
    return found


def _required(found: dict[str, str], name: str, where: str) -> str:
    value = found.get(name)
    if value is None:
        raise MalformedMessage(f"{where}: parameter {name!r} is missing")
    return value


def _flag(value: str | None) -> bool:
    """RFC 2617 3.2.1 (stale): "true" in any case is true, anything else false."""
    return value is not None and value.lower() == "true"


def _charset(found: dict[str, str], where: str) -> bool:
    value = found.get("charset")
    if value is not None and value.upper() != CHARSET:
        raise MalformedMessage(f"{where}: charset must be {CHARSET}, not {value!r}")
    return value is not None


def parse_challenges(value: str) -> tuple[Challenge, ...]:
    """The Digest challenges of a ``WWW-Authenticate`` value, in order.

    Other schemes are checked for syntax and left out, as are Digest challenges
    with an algorithm this module does not know (RFC 7616 3.3 says to ignore
    them). A Digest challenge that does not parse raises ``MalformedMessage``.
    """
    where = "WWW-Authenticate"
    out = []
    for element in _elements(value, where):
        if element.scheme.lower() != SCHEME.lower():
            continue
        found = _digest_params(element, where)
        alg = ALGORITHMS.get(found.get("algorithm", DEFAULT_ALGORITHM).upper())
        if alg is None:
            continue
        qops = _qop_options(found.get("qop"), where)
        if alg.session and not qops:
            raise MalformedMessage(f"{where}: algorithm {alg.name} without qop (no cnonce)")
        out.append(
            Challenge(
                realm=_required(found, "realm", where),
                nonce=_required(found, "nonce", where),
                qops=qops,
                algorithm=alg.name,
                opaque=found.get("opaque"),
                stale=_flag(found.get("stale")),
                utf8=_charset(found, where),
                userhash=_flag(found.get("userhash")),
            )
        )
    return tuple(out)


def _qop_options(value: str | None, where: str) -> tuple[str, ...]:
    """RFC 7616 3.3: a list of qop tokens; unknown ones are ignored, but one must be known."""
    if value is None:
        return ()
    offered = [q.strip(_OWS).lower() for q in value.split(",")]
    qops = tuple(q for q in QOPS if q in offered)
    if not qops:
        raise MalformedMessage(f"{where}: qop offers none of {', '.join(QOPS)}")
    return qops


def parse_authorization(value: str) -> Authorization:
    """The Digest credentials of an ``Authorization`` value (RFC 7616 3.4)."""
    where = "Authorization"
    elements = _elements(value, where)
    if len(elements) != 1:
        raise MalformedMessage(f"{where}: expected one set of credentials, found {len(elements)}")
    (element,) = elements
    if element.scheme.lower() != SCHEME.lower():
        raise MalformedMessage(f"{where}: scheme {element.scheme!r} is not {SCHEME}")
    found = _digest_params(element, where)
    name = found.get("algorithm", DEFAULT_ALGORITHM)
    alg = ALGORITHMS.get(name.upper())
    if alg is None:
        raise MalformedMessage(f"{where}: unknown algorithm {name!r}")
    user_hashed = _flag(found.get("userhash"))
    username = _username(found, user_hashed, where)
    response = _required(found, "response", where)
    if len(response) != alg.hex_length or not _HEX.fullmatch(response):
        raise MalformedMessage(f"{where}: response must be {alg.hex_length} hex digits")
    qop = found.get("qop")
    cnonce, nc = found.get("cnonce"), found.get("nc")
    if qop is None:
        if alg.session or cnonce is not None or nc is not None:
            raise MalformedMessage(f"{where}: cnonce, nc and a -sess algorithm need a qop")
        count = None
    else:
        qop = qop.lower()
        if qop not in QOPS:
            raise MalformedMessage(f"{where}: qop must be one of {', '.join(QOPS)}")
        if cnonce is None:
            raise MalformedMessage(f"{where}: parameter 'cnonce' is missing")
        if nc is None or not _LHEX8.fullmatch(nc):
            raise MalformedMessage(f"{where}: nc must be 8 lower-case hex digits")
        count = int(nc, 16)
    return Authorization(
        username=username,
        realm=_required(found, "realm", where),
        nonce=_required(found, "nonce", where),
        uri=_required(found, "uri", where),
        response=response.lower(),
        algorithm=alg.name,
        qop=qop,
        cnonce=cnonce,
        nc=count,
        opaque=found.get("opaque"),
        userhash=user_hashed,
    )


def _username(found: dict[str, str], user_hashed: bool, where: str) -> str:
    """``username``, or ``username*`` in RFC 8187 extended notation (RFC 7616 3.4.4)."""
    plain, extended = found.get("username"), found.get("username*")
    if plain is not None and extended is not None:
        raise MalformedMessage(f"{where}: both 'username' and 'username*'")
    if extended is None:
        return _required(found, "username", where)
    if user_hashed:
        raise MalformedMessage(f"{where}: 'username*' with userhash=true")
    match = _EXT_VALUE.fullmatch(extended)
    if match is None:
        raise MalformedMessage(f"{where}: 'username*' is not charset'language'value (RFC 8187)")
    charset, encoded = match.groups()
    try:
        return urllib.parse.unquote_to_bytes(encoded).decode(charset.lower())
    except UnicodeDecodeError:
        raise MalformedMessage(f"{where}: 'username*' is not valid {charset.upper()}") from None


def _format(params: Iterable[tuple[str, str | None, bool]]) -> str:
    """``Digest`` and the parameters given (value ``None``: left out), quoted where asked."""
    parts = []
    for name, value, quoted in params:
        if value is None:
            continue
        if _bad_character(value) is not None:
            raise UsageError(f"HTTP Digest: {name} has a character a header cannot carry")
        if quoted or not value or not set(value) <= _TCHAR:
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{name}={value}")
    return f"{SCHEME} " + ", ".join(parts)


def format_challenge(challenge: Challenge) -> str:
    """A ``WWW-Authenticate`` challenge, parameters in the order of RFC 7616 3.9."""
    c = challenge
    return _format(
        [
            ("realm", c.realm, True),
            ("qop", ", ".join(c.qops) or None, True),
            ("algorithm", c.algorithm, False),
            ("nonce", c.nonce, True),
            ("opaque", c.opaque, True),
            ("stale", "true" if c.stale else None, False),
            ("charset", CHARSET if c.utf8 else None, False),
            ("userhash", "true" if c.userhash else None, False),
        ]
    )


def format_authorization(authorization: Authorization) -> str:
    """An ``Authorization`` value, parameters in the order of RFC 7616 3.9.

    A user name beyond ASCII goes as ``username*`` (RFC 7616 3.4.4).
    """
    a = authorization
    ascii_name = a.username.isascii() and a.username.isprintable()
    return _format(
        [
            ("username", a.username if ascii_name else None, True),
            ("username*", None if ascii_name else _ext_value(a.username), False),
            ("realm", a.realm, True),
            ("uri", a.uri, True),
            ("algorithm", a.algorithm, False),
            ("nonce", a.nonce, True),
            ("nc", None if a.nc is None else f"{a.nc:08x}", False),
            ("cnonce", a.cnonce, True),
            ("qop", a.qop, False),
            ("response", a.response, True),
            ("opaque", a.opaque, True),
            ("userhash", "true" if a.userhash else None, False),
        ]
    )


def _ext_value(text: str) -> str:
    """RFC 8187 3.2: UTF-8, no language, the rest percent-encoded."""
    return "UTF-8''" + urllib.parse.quote(text.encode("utf-8"), safe=_ATTR_SAFE)


# --- Client -------------------------------------------------------------------------------


def choose(challenges: Iterable[Challenge], algorithm_name: str | None = None) -> Challenge:
    """The first challenge (RFC 7616 3.7: the server's preference), or the first with
    ``algorithm_name``; none there is the server's refusal of what the caller wants."""
    offered = list(challenges)
    wanted = None if algorithm_name is None else algorithm(algorithm_name).name
    for challenge in offered:
        if wanted is None or challenge.algorithm == wanted:
            return challenge
    names = ", ".join(c.algorithm for c in offered) or "no Digest challenge"
    raise PolicyRefused(f"HTTP Digest: the server offers {names}, not {wanted or 'Digest'}")


def respond(
    challenge: Challenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
    qop: str | None = None,
) -> Authorization:
    """The client's ``Authorization`` for a challenge (RFC 7616 3.4).

    ``qop`` picks auth-int (which hashes ``body``); by default auth when offered.
    ``cnonce`` is fresh unless given (for vectors and offline checks only); ``nc``
    counts the requests made with this nonce, from 1.
    """
    alg = algorithm(challenge.algorithm)
    if not 1 <= nc <= MAX_NC:
        raise UsageError(f"HTTP Digest: nc must be from 1 to {MAX_NC}")
    chosen = _client_qop(challenge, qop)
    if chosen is None:
        cnonce, count = None, None
    else:
        cnonce, count = cnonce or secrets.token_urlsafe(NONCE_BYTES), nc
    ha1 = h_a1(
        alg,
        username,
        challenge.realm,
        password,
        nonce=challenge.nonce,
        cnonce=cnonce,
        utf8=challenge.utf8,
    )
    value = response_value(
        alg,
        ha1,
        h_a2(alg, method, uri, chosen, body),
        nonce=challenge.nonce,
        nc=count,
        cnonce=cnonce,
        qop=chosen,
    )
    return Authorization(
        username=(
            userhash(alg, username, challenge.realm, utf8=challenge.utf8)
            if challenge.userhash
            else username
        ),
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=value,
        algorithm=alg.name,
        qop=chosen,
        cnonce=cnonce,
        nc=count,
        opaque=challenge.opaque,
        userhash=challenge.userhash,
    )


def _client_qop(challenge: Challenge, wanted: str | None) -> str | None:
    if wanted is None:
        return next(iter(challenge.qops), None)
    if wanted.lower() not in QOPS:
        raise UsageError(f"HTTP Digest: qop must be one of {', '.join(QOPS)}, not {wanted!r}")
    if wanted.lower() not in challenge.qops:
        offered = ", ".join(challenge.qops) or "none"
        raise PolicyRefused(f"HTTP Digest: the server offers qop {offered}, not {wanted}")
    return wanted.lower()


# --- Server -------------------------------------------------------------------------------

# (username, realm) -> password, None for an unknown user.
PasswordLookup = Callable[[str, str], str | None]
# (hashed user name, realm, algorithm name) -> username, None when none matches.
UserhashLookup = Callable[[str, str, str], str | None]


class UserhashTable:
    """A ``UserhashLookup`` over known user names of one realm: each user's hash for
    every algorithm, computed once (RFC 7616 3.4.4 suggests such a table)."""

    def __init__(self, usernames: Iterable[str], realm: str, *, utf8: bool = True) -> None:
        self._users = {
            (alg.name, realm, userhash(alg, name, realm, utf8=utf8)): name
            for name in usernames
            for alg in ALGORITHMS.values()
        }

    def __call__(self, hashed: str, realm: str, algorithm_name: str) -> str | None:
        return self._users.get((algorithm_name, realm, hashed.lower()))


def verify(
    authorization: Authorization | str,
    method: str,
    body: bytes,
    password_lookup: PasswordLookup,
    *,
    uri: str | None = None,
    userhash_lookup: UserhashLookup | None = None,
    utf8: bool = True,
) -> str:
    """Whether the response value proves the password; the user name if it does.

    Stateless: it checks no nonce or count (``Server.verify`` does). ``uri`` is the
    request-target, which must equal the credentials' (RFC 7616 3.4.6). ``utf8``
    says whether the challenge had ``charset=UTF-8``. An unknown user and a wrong
    password get the same ``AuthenticationFailed``.
    """
    a = parse_authorization(authorization) if isinstance(authorization, str) else authorization
    if uri is not None and uri != a.uri:
        raise MalformedMessage(f"Authorization: uri {a.uri!r} is not the request's {uri!r}")
    if a.userhash:
        if userhash_lookup is None:
            raise MalformedMessage("Authorization: userhash=true, but userhash was not offered")
        username = userhash_lookup(a.username, a.realm, a.algorithm)
    else:
        username = a.username
    password = None if username is None else password_lookup(username, a.realm)
    if (
        username is None
        or password is None
        or not secrets_equal(
            a.response, expected_response(a, username, password, method, body, utf8=utf8)
        )
    ):
        shown = a.username if username is None else username
        raise AuthenticationFailed(f"HTTP Digest: authentication failed for {shown!r}")
    return username


def expected_response(
    authorization: Authorization,
    username: str,
    password: str,
    method: str,
    body: bytes = b"",
    *,
    utf8: bool = True,
) -> str:
    """The response value an ``Authorization`` must carry for this user and password."""
    a = authorization
    alg = algorithm(a.algorithm)
    ha1 = h_a1(alg, username, a.realm, password, nonce=a.nonce, cnonce=a.cnonce, utf8=utf8)
    return response_value(
        alg,
        ha1,
        h_a2(alg, method, a.uri, a.qop, body),
        nonce=a.nonce,
        nc=a.nc,
        cnonce=a.cnonce,
        qop=a.qop,
    )


class Server:
    """One protection space (RFC 7616 3.3): its realm, what it offers, the nonces it issued.

    ``algorithms`` and ``qops`` are offered in this order; a request using anything
    else is malformed. With ``userhash_lookup`` the server offers userhash. Share
    one ``nonce_counts`` between the servers of one realm; a nonce it has forgotten
    is stale. ``nonce`` fixes the nonce, for vectors and tests only.
    """

    def __init__(
        self,
        realm: str,
        *,
        algorithms: tuple[str, ...] = ("SHA-256",),
        qops: tuple[str, ...] = (QOP_AUTH,),
        opaque: str | None = None,
        utf8: bool = True,
        userhash_lookup: UserhashLookup | None = None,
        nonce_counts: NonceCounts | None = None,
        nonce: str | None = None,
    ) -> None:
        self.algorithms = tuple(algorithm(name).name for name in algorithms)
        self.qops = tuple(q.lower() for q in qops)
        if not self.algorithms or len(set(self.algorithms)) != len(self.algorithms):
            raise UsageError("HTTP Digest: offer at least one algorithm, each once")
        if not self.qops or not set(self.qops) <= set(QOPS):
            raise UsageError(f"HTTP Digest: qops must be some of {', '.join(QOPS)}")
        self.realm = realm
        self.opaque = opaque
        self.utf8 = utf8
        self._userhash_lookup = userhash_lookup
        self._counts = nonce_counts or NonceCounts()
        self._nonce = nonce

    def challenges(self, *, stale: bool = False) -> tuple[Challenge, ...]:
        """A fresh nonce, issued, in one challenge per algorithm (RFC 7616 3.7)."""
        nonce = self._nonce or secrets.token_urlsafe(NONCE_BYTES)
        self._counts.issue(nonce)
        return tuple(
            Challenge(
                realm=self.realm,
                nonce=nonce,
                qops=self.qops,
                algorithm=name,
                opaque=self.opaque,
                stale=stale,
                utf8=self.utf8,
                userhash=self._userhash_lookup is not None,
            )
            for name in self.algorithms
        )

    def verify(
        self,
        authorization: Authorization | str,
        method: str,
        body: bytes,
        password_lookup: PasswordLookup,
        *,
        uri: str | None = None,
    ) -> str:
        """The authenticated user name; raises as the module header says.

        The nonce count must rise with every request on a nonce (RFC 7616 3.4:
        replay protection); a replayed count fails like a wrong password.
        """
        a = parse_authorization(authorization) if isinstance(authorization, str) else authorization
        self._check_offer(a)
        username = verify(
            a,
            method,
            body,
            password_lookup,
            uri=uri,
            userhash_lookup=self._userhash_lookup,
            utf8=self.utf8,
        )
        assert a.nc is not None  # _check_offer: every qop comes with nc
        if not self._counts.known(a.nonce):
            raise StaleNonce(f"HTTP Digest: the nonce of {username!r} is stale")
        if not self._counts.accept(a.nonce, a.nc):
            raise AuthenticationFailed(f"HTTP Digest: replayed nonce count {a.nc:08x}")
        return username

    def _check_offer(self, a: Authorization) -> None:
        """What the request must have taken from our challenge (the peer's fault if not)."""
        where = "Authorization"
        if a.realm != self.realm:
            raise MalformedMessage(f"{where}: realm {a.realm!r} is not {self.realm!r}")
        if a.algorithm not in self.algorithms:
            raise MalformedMessage(f"{where}: algorithm {a.algorithm} was not offered")
        if a.qop not in self.qops:
            raise MalformedMessage(f"{where}: qop {a.qop} was not offered")
        if a.opaque != self.opaque:
            raise MalformedMessage(f"{where}: opaque is not the challenge's")
