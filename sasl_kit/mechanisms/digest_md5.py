"""DIGEST-MD5 (RFC 2831): formulas, directive syntax, both sides, qop negotiation.

Rules of this module:
- The formulas of RFC 2831 2.1.2.1 and 2.1.3 are pure functions of octets and a
  qop; the mechanism classes only parse, check and keep state. One exception, for
  speed: the client's response is computed and written in one pass
  (``DigestMD5Client._respond``, from the challenge's fields as ``_read_challenge``
  reads them, with no ``Challenge`` built), and must stay equal to what the pure
  functions and ``format_response`` give (test_digest_md5 checks it on arbitrary
  input). The security
  layers of qop "auth-int" and "auth-conf" (RFC 2831 2.3, 2.4) live in
  ``digest_layer``; this module negotiates them and hands over H(A1).
- qop "auth" is the default on both sides. A layer is used only when the
  caller lists "auth-int" or "auth-conf" in ``qops``; the first of the
  client's ``qops`` (and, for auth-conf, of its ``ciphers``) that the server
  offers wins. ``maxbuf`` is what each side announces it can receive.
- This is not HTTP Digest. A2 is ``"AUTHENTICATE:" digest-uri`` (``":" digest-uri``
  for rspauth), never RFC 2617's ``Method ":" request-uri``; the user secret
  enters A1 as 16 binary octets, never as hex.
- One parser handles every message and one serializer every other one (RFC 2831 7,
  after RFC 2616 2.1/2.2): ``name=value`` or ``name="quoted"`` with backslash
  escapes, optional whitespace around ``,`` and ``=``, empty list elements. Two
  regular expressions read a well-formed message; any other goes to the reference
  scanner, which raises ``MalformedMessage`` naming the byte where it went wrong.
  Fast paths skip work only where its result is known (no escapes, no repeated name;
  charset, algorithm and nonce written as usual), and property tests hold each to the
  general code it skips.
- Directive values are kept as *wire strings*: the message decoded as ISO 8859-1,
  one character per octet, so nonces round-trip byte-exact whatever the charset.
  Only user name and realm are text in the charset of the message (UTF-8 with
  ``charset=utf-8``, else ISO 8859-1); digest-uri and authzid are always UTF-8.
- For hashing, each of user name, realm and password is converted to ISO 8859-1
  whenever all its characters fit (RFC 2831 2.1.2.1 and its section 8 code, as
  Cyrus SASL applies it), else taken as UTF-8; no SASLprep (RFC 2831 has none).
- A response without charset whose user name or realm is UTF-8 beyond ASCII is
  also read as UTF-8, as Cyrus SASL's client sends it (see ``_readings``).
- Secrets (the password, H(A1), response values) never reach a message or a repr
  and are compared in constant time. The server gives the same answer for an
  unknown user and a wrong password.

Theory of operation. Client: ``step(challenge)`` parses the digest-challenge,
picks the realm, sends the digest-response and keeps H(A1) and its directives;
``step(rspauth message)`` computes the rspauth expected from them, checks it and
returns ``b""``. Server: ``step(None)`` sends the digest-challenge (a fresh
nonce of 128 bits); ``step(response)`` checks nonce, nonce count, qop, cipher,
digest-uri and realm, then the response value, and returns ``rspauth=...`` as
additional data with success. A completed side with qop "auth-int" or
"auth-conf" has its ``security_layer``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sasl_kit.errors import MalformedMessage, MutualAuthenticationFailed, PolicyRefused, UsageError
from sasl_kit.mechanisms import digest_layer
from sasl_kit.mechanisms.base import (
    ClientMechanism,
    ClientOptions,
    NonceCounts,
    ServerMechanism,
    ServerOptions,
    secrets_equal,
)

MECHANISM = "DIGEST-MD5"
QOP_AUTH = "auth"
QOPS = (QOP_AUTH, digest_layer.QOP_INT, digest_layer.QOP_CONF)
# RFC 2831 2.1.1: maxbuf defaults to 65536 when absent and is at most 2**24 - 1; below 17
# nothing fits beside the 16 octets of MAC, type and sequence number.
DEFAULT_MAXBUF = 65536
MIN_MAXBUF = 17
MAX_MAXBUF = 2**24 - 1
ALGORITHM = "md5-sess"
CHARSET = "utf-8"
FIRST_NC = "00000001"
_FIRST_NC_OCTETS = FIRST_NC.encode("ascii")
# RFC 2831 2.1.1 and 2.1.2: a challenge is under 2048 octets, a response under 4096.
MAX_CHALLENGE = 2048
MAX_RESPONSE = 4096
NONCE_BYTES = 16
_ZEROS = b":" + b"0" * 32  # what A2 ends with for qop auth-int and auth-conf (RFC 2831 2.1.2.1)

_LWS = " \t\r\n"
_SEPARATORS = '()<>@,;:\\"/[]?={} \t'
_TOKEN = frozenset(chr(c) for c in range(33, 127) if chr(c) not in _SEPARATORS)
# RFC 2831 7 as regular expressions, for messages without errors: a directive (name, and
# the value quoted or bare), and a whole message of them with LWS around "," and "=" and
# empty list elements. Possessive quantifiers keep them linear. The scanner
# (``_scan_directives``) stays the reference, and names the byte of an error.
_NAME = "[" + re.escape("".join(sorted(_TOKEN))) + "]++"
# Inside the quotes: runs of qdtext (no '"', '\\' or control character but HT) between quoted-pairs.
_QDTEXT = r'[^"\\\x00-\x08\x0a-\x1f\x7f]*+(?:\\[\s\S][^"\\\x00-\x08\x0a-\x1f\x7f]*+)*+'
_BARE = r'[^\x00-\x20",\x7f]++'
_EQUALS = r"[ \t\r\n]*+=[ \t\r\n]*+"
_DIRECTIVE = re.compile(rf'({_NAME}){_EQUALS}(?:"({_QDTEXT})"|({_BARE}))')
_PAIR = rf'{_NAME}{_EQUALS}(?:"{_QDTEXT}"|{_BARE})'
_DIRECTIVES = re.compile(
    rf"[ \t\r\n,]*+(?:{_PAIR}(?:[ \t\r\n]*+,[ \t\r\n,]*+{_PAIR})*+)?+[ \t\r\n,]*+"
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_TOKEN_VALUE = re.compile(_NAME)
_LHEX8 = re.compile(r"[0-9a-f]{8}")
_LHEX32 = re.compile(r"[0-9a-f]{32}")

# Which directives may appear at most once (RFC 2831 2.1.1, 2.1.2, 2.1.3); others,
# realm in a challenge and unknown auth-params, may repeat.
_CHALLENGE_ONCE = frozenset({"nonce", "qop", "stale", "maxbuf", "charset", "algorithm", "cipher"})
_RESPONSE_ONCE = frozenset(
    {
        "username",
        "realm",
        "nonce",
        "cnonce",
        "nc",
        "qop",
        "digest-uri",
        "response",
        "maxbuf",
        "charset",
        "cipher",
        "authzid",
    }
)
# Directives written as quoted strings even when their value is a token, as RFC 2831 4 shows.
_CHALLENGE_QUOTED = frozenset({"realm", "nonce", "qop", "cipher"})
_RESPONSE_QUOTED = frozenset({"username", "realm", "nonce", "cnonce", "digest-uri", "authzid"})


# --- Formulas -----------------------------------------------------------------------------


def _h(data: bytes) -> bytes:
    """RFC 2831 2.1.2.1: H(s), the 16-octet MD5 of s."""
    return hashlib.md5(data).digest()  # noqa: S324 -- the mechanism is defined over MD5


def _kd(key: bytes, data: bytes) -> bytes:
    """RFC 2831 2.1.2.1: KD(k, s) = H({k, ":", s})."""
    return _h(key + b":" + data)


def fits_latin1(value: str) -> bool:
    """Whether every character of ``value`` is in ISO 8859-1."""
    return value.isascii() or max(value) <= "\xff"


def hash_octets(value: str, *, utf8: bool) -> bytes:
    """How a user name, realm or password enters the user secret (RFC 2831 2.1.2.1).

    ISO 8859-1 whenever every character fits, so that hashes stored for HTTP
    Digest (which is ISO 8859-1) stay usable; otherwise UTF-8, which needs
    ``charset=utf-8`` to have been sent.
    """
    if fits_latin1(value):
        return value.encode("iso-8859-1")
    if not utf8:
        raise UsageError(f"{MECHANISM}: without charset=utf-8 a value must be ISO 8859-1")
    return value.encode("utf-8")


def user_secret(username: str, realm: str, password: str, *, utf8: bool) -> bytes:
    """RFC 2831 2.1.2.1: H({username-value, ":", realm-value, ":", passwd}), 16 binary octets."""
    joined = f"{username}:{realm}:{password}"
    try:  # when the whole fits ISO 8859-1, each value does and enters so
        return _h(joined.encode("iso-8859-1"))
    except UnicodeEncodeError:
        pass
    values = (username, realm, password)
    return _h(b":".join([hash_octets(value, utf8=utf8) for value in values]))


def h_a1(secret: bytes, nonce: bytes, cnonce: bytes, authzid: bytes = b"") -> bytes:
    """RFC 2831 2.1.2.1: H(A1), A1 = {secret, ":", nonce, ":", cnonce [, ":", authzid]}."""
    return _h(b":".join((secret, nonce, cnonce, *((authzid,) if authzid else ()))))


def a2(digest_uri: bytes, qop: str, *, rspauth: bool) -> bytes:
    """A2 of the client's response (RFC 2831 2.1.2.1) or of the server's rspauth (2.1.3).

    "AUTHENTICATE" stands where HTTP Digest has the request method, and rspauth
    leaves it out; "auth-int" and "auth-conf" append ":" and 32 zeros.
    """
    qop = qop.lower()
    if qop not in QOPS:
        raise UsageError(f"{MECHANISM}: unknown qop {qop!r}; known: {', '.join(QOPS)}")
    value = (b":" if rspauth else b"AUTHENTICATE:") + digest_uri
    return value if qop == QOP_AUTH else value + _ZEROS


def response_value(
    h_a1: bytes,
    *,
    nonce: bytes,
    nc: bytes,
    cnonce: bytes,
    qop: str,
    digest_uri: bytes,
    rspauth: bool,
) -> str:
    """RFC 2831 2.1.2.1 (2.1.3 with ``rspauth``): 32 lower-case hex digits.

    HEX(KD(HEX(H(A1)), {nonce, ":", nc, ":", cnonce, ":", qop, ":", HEX(H(A2))}))
    """
    h_a2 = _h(a2(digest_uri, qop, rspauth=rspauth)).hex().encode("ascii")
    data = b":".join((nonce, nc, cnonce, qop.encode("iso-8859-1"), h_a2))
    return _kd(h_a1.hex().encode("ascii"), data).hex()


def digest_uri(service: str, host: str, serv_name: str | None = None) -> str:
    """RFC 2831 2.1.2: serv-type "/" host ["/" serv-name]; a serv-name equal to host is left out."""
    if serv_name and serv_name != host:
        return f"{service}/{host}/{serv_name}"
    return f"{service}/{host}"


# --- Directive syntax ---------------------------------------------------------------------


def _skip_lws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _LWS:
        pos += 1
    return pos


def _quoted(text: str, pos: int, where: str) -> tuple[str, int]:
    """The quoted-string opening at ``pos``: its value without quotes and escapes, and the end."""
    start, out = pos, list[str]()
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\":  # quoted-pair
            pos += 1
            if pos == len(text):
                break
            char = text[pos]
        elif (ord(char) < 32 and char != "\t") or ord(char) == 127:
            raise MalformedMessage(f"{where}: control character in a quoted string at byte {pos}")
        out.append(char)
        pos += 1
    raise MalformedMessage(f"{where}: quoted string opened at byte {start} is not closed")


def _bare(text: str, pos: int, where: str) -> tuple[str, int]:
    """An unquoted value: everything up to whitespace or the next comma."""
    start = pos
    while pos < len(text) and text[pos] not in _LWS and text[pos] not in ',"':
        if ord(text[pos]) < 32 or ord(text[pos]) == 127:
            raise MalformedMessage(f"{where}: control character at byte {pos}")
        pos += 1
    if pos == start:
        raise MalformedMessage(f"{where}: expected a value at byte {pos}")
    return text[start:pos], pos


def parse_directives(
    data: bytes, *, once: Collection[str], where: str
) -> Mapping[str, tuple[str, ...]]:
    """Parse ``name=value`` directives (RFC 2831 7) into wire strings, by lower-case name.

    ``once`` names the directives that may appear at most once; ``where`` starts
    every error message. Values are not interpreted here.
    """
    text = data.decode("iso-8859-1")  # one character per octet: positions are byte offsets
    found = _match_directives(text, once)
    return _scan_directives(text, once=once, where=where) if found is None else found


def _match_directives(text: str, once: Collection[str]) -> dict[str, tuple[str, ...]] | None:
    """``parse_directives`` by regular expression; ``None`` for any message it would reject."""
    if _DIRECTIVES.fullmatch(text) is None:
        return None
    directives = _DIRECTIVE.findall(text)
    if "\\" not in text:  # no quoted-pair to undo; with no name twice, one dict does
        found: dict[str, tuple[str, ...]] = {
            name.lower(): (quoted or bare,) for name, quoted, bare in directives
        }
        if len(found) == len(directives):
            return found
    found = {}
    for name, quoted, bare in directives:
        if "\\" in quoted:
            quoted = _QUOTED_PAIR.sub(r"\1", quoted)
        name = name.lower()
        if name not in found:
            found[name] = (quoted or bare,)
        elif name in once:
            return None
        else:
            found[name] += (quoted or bare,)
    return found


def _scan_directives(
    text: str, *, once: Collection[str], where: str
) -> Mapping[str, tuple[str, ...]]:
    """The reference parser, one character at a time: the same result as ``_match_directives``
    where that gives one, else ``MalformedMessage`` naming the byte where the message went wrong."""
    found: dict[str, list[str]] = {}
    pos = 0
    while (pos := _skip_lws(text, pos)) < len(text):
        if text[pos] == ",":  # empty list elements are allowed (RFC 2616 2.1, #rule)
            pos += 1
            continue
        start = pos
        while pos < len(text) and text[pos] in _TOKEN:
            pos += 1
        if pos == start:
            raise MalformedMessage(f"{where}: expected a directive name at byte {pos}")
        name = text[start:pos].lower()
        pos = _skip_lws(text, pos)
        if pos == len(text) or text[pos] != "=":
            raise MalformedMessage(f"{where}: expected '=' after a directive name at byte {pos}")
        pos = _skip_lws(text, pos + 1)
        if pos < len(text) and text[pos] == '"':
            value, pos = _quoted(text, pos, where)
        else:
            value, pos = _bare(text, pos, where)
        if name in once and name in found:
            raise MalformedMessage(f"{where}: directive {name!r} appears twice (byte {start})")
        found.setdefault(name, []).append(value)
        pos = _skip_lws(text, pos)
        if pos < len(text) and text[pos] != ",":
            raise MalformedMessage(f"{where}: expected ',' at byte {pos}")
    return {name: tuple(values) for name, values in found.items()}


def _escape(value: str) -> str:
    """The inside of a quoted-string: ``"`` and ``\\`` escaped (RFC 2616 2.2)."""
    if '"' in value or "\\" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"')
    return value


def _quote(value: str) -> str:
    """A wire string as a quoted-string."""
    return f'"{_escape(value)}"'


def serialize_directives(
    directives: Iterable[tuple[str, str]], *, quoted: Collection[str]
) -> bytes:
    """Write directives (wire strings) in order; a value is quoted when its name is in
    ``quoted`` or when it is not a token, with ``"`` and ``\\`` escaped."""
    parts = []
    for name, value in directives:
        if name in quoted or _TOKEN_VALUE.fullmatch(value) is None:
            value = _quote(value)
        parts.append(f"{name}={value}")
    return ",".join(parts).encode("iso-8859-1")


def _wire(text: str, *, utf8: bool) -> str:
    """Text as the wire string of its UTF-8 (or ISO 8859-1) octets."""
    if text.isascii():
        return text
    return text.encode("utf-8" if utf8 else "iso-8859-1").decode("iso-8859-1")


def _text(wire: str, *, utf8: bool, where: str) -> str:
    """A wire string as text, read as UTF-8 (or ISO 8859-1, where every octet is a character)."""
    if not utf8 or wire.isascii():
        return wire
    try:
        return wire.encode("iso-8859-1").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"{where} is not UTF-8 (octet {exc.start} of the value)") from None


def _one(found: Mapping[str, tuple[str, ...]], name: str) -> str | None:
    values = found.get(name)
    return values[0] if values else None


def _required(found: Mapping[str, tuple[str, ...]], name: str, where: str) -> str:
    value = _one(found, name)
    if value is None:
        raise MalformedMessage(f"{where}: directive {name!r} is missing")
    if not value:
        raise MalformedMessage(f"{where}: directive {name!r} is empty")
    return value


def _charset(found: Mapping[str, tuple[str, ...]], where: str) -> bool:
    """Whether ``charset=utf-8`` is present (bare or quoted); any other charset is malformed."""
    charset = _one(found, "charset")
    if charset is not None and charset.lower() != CHARSET:
        raise MalformedMessage(f"{where}: charset must be utf-8, not {charset!r}")
    return charset is not None


# --- Messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """A digest-challenge (RFC 2831 2.1.1).

    ``nonce`` is a wire string, ``realms`` are text; ``utf8`` is ``charset=utf-8``.
    ``ciphers`` are offered with qop "auth-conf"; ``maxbuf`` is the largest
    security-layer message the server accepts.
    """

    nonce: str
    realms: tuple[str, ...] = ()
    qops: tuple[str, ...] = (QOP_AUTH,)
    utf8: bool = True
    ciphers: tuple[str, ...] = ()
    maxbuf: int = DEFAULT_MAXBUF


@dataclass(frozen=True)
class Response:
    """A digest-response (RFC 2831 2.1.2).

    ``username`` and ``realm`` are text (``realm`` is ``None`` when absent),
    ``nonce`` and ``cnonce`` wire strings; ``utf8`` is ``charset=utf-8``.
    ``cipher`` goes with qop "auth-conf"; ``maxbuf`` is the largest
    security-layer message the client accepts (``None``: absent, 65536).
    """

    username: str
    realm: str | None
    nonce: str
    cnonce: str
    nc: str
    digest_uri: str
    response: str = field(repr=False)
    qop: str = QOP_AUTH
    authzid: str = ""
    utf8: bool = True
    cipher: str | None = None
    maxbuf: int | None = None


def format_challenge(challenge: Challenge) -> bytes:
    """The challenge, directives in RFC 2831 4 order: realms, nonce, qop, algorithm, charset;
    with a security layer offered, maxbuf after qop and the ciphers last."""
    c = challenge
    layered = c.qops != (QOP_AUTH,)
    directives = [("realm", _wire(realm, utf8=c.utf8)) for realm in c.realms]
    directives += [("nonce", c.nonce), ("qop", ",".join(c.qops))]
    if layered:
        directives.append(("maxbuf", str(c.maxbuf)))
    directives.append(("algorithm", ALGORITHM))
    if c.utf8:
        directives.append(("charset", CHARSET))
    if digest_layer.QOP_CONF in c.qops:
        directives.append(("cipher", ",".join(c.ciphers)))
    return serialize_directives(directives, quoted=_CHALLENGE_QUOTED)


@lru_cache(maxsize=64)  # a server sends the same qop-options and cipher-opts every time
def _list(value: str | None) -> tuple[str, ...]:
    """A comma-separated directive value (qop-options, cipher-opts), lower-case."""
    if value is None:
        return ()
    return tuple([item for v in value.lower().split(",") if (item := v.strip(_LWS))])


def _maxbuf(value: str | None, where: str) -> int | None:
    """RFC 2831 2.1.1: maxbuf-value = 1*DIGIT, here at most 2**24 - 1 and big enough for a MAC."""
    if value is None:
        return None
    if not value.isdigit() or not MIN_MAXBUF <= int(value) <= MAX_MAXBUF:
        raise MalformedMessage(
            f"{where}: maxbuf must be a number from {MIN_MAXBUF} to {MAX_MAXBUF}"
        )
    return int(value)


# A challenge's fields in the order of ``Challenge``: nonce, realms, qops, utf8, ciphers, maxbuf.
_ChallengeFields = tuple[str, tuple[str, ...], tuple[str, ...], bool, tuple[str, ...], int]
_CHALLENGE_WHERE = f"{MECHANISM} challenge"  # how an error in a digest-challenge begins
_ABSENT = (None,)  # ``found.get(name, _ABSENT)[0]``: a directive's first value, or None


def parse_challenge(data: bytes) -> Challenge:
    """Parse a digest-challenge; directives this side does not use are checked only for syntax."""
    return Challenge(*_read_challenge(data))


def _read_challenge(data: bytes) -> _ChallengeFields:
    """``parse_challenge`` without the ``Challenge``: the client reads the fields directly."""
    where = _CHALLENGE_WHERE
    if len(data) >= MAX_CHALLENGE:
        raise MalformedMessage(f"{where}: {len(data)} octets, the limit is {MAX_CHALLENGE - 1}")
    found = parse_directives(data, once=_CHALLENGE_ONCE, where=where)
    get = found.get
    nonce = get("nonce", _ABSENT)[0]
    utf8 = get("charset", _ABSENT)[0] == CHARSET
    # Usually charset=utf-8, algorithm=md5-sess and a nonce, as written: nothing to check.
    if not (utf8 and get("algorithm", _ABSENT)[0] == ALGORITHM and nonce):
        utf8, nonce = _challenge_basics(found)
    qop = get("qop", _ABSENT)[0]  # RFC 2831 2.1.1: absent means "auth"
    qops = (QOP_AUTH,) if qop is None else _list(qop)
    ciphers = _list(get("cipher", _ABSENT)[0])  # without it, auth-conf cannot be chosen
    realms = get("realm", ())
    if utf8 and not data.isascii():  # else each realm is its wire string already
        realms = tuple([_text(realm, utf8=True, where=f"{where}: realm") for realm in realms])
    maxbuf = get("maxbuf", _ABSENT)[0]
    return nonce, realms, qops, utf8, ciphers, _maxbuf(maxbuf, where) or DEFAULT_MAXBUF


def _challenge_basics(found: Mapping[str, tuple[str, ...]]) -> tuple[bool, str]:
    """Whether a challenge's directives announce charset=utf-8, and their nonce, checked
    with their algorithm in that order; ``MalformedMessage`` says which is wrong."""
    where = _CHALLENGE_WHERE
    utf8 = _charset(found, where)
    if _required(found, "algorithm", where).lower() != ALGORITHM:
        raise MalformedMessage(f"{where}: algorithm must be {ALGORITHM}")
    return utf8, _required(found, "nonce", where)


def format_response(response: Response) -> bytes:
    """The response in the directive order of RFC 2831 4; authzid, when set, last."""
    r = response
    directives = [("charset", CHARSET)] if r.utf8 else []
    directives.append(("username", _wire(r.username, utf8=r.utf8)))
    if r.realm is not None:
        directives.append(("realm", _wire(r.realm, utf8=r.utf8)))
    directives += [
        ("nonce", r.nonce),
        ("nc", r.nc),
        ("cnonce", r.cnonce),
        ("digest-uri", _wire(r.digest_uri, utf8=True)),
        ("response", r.response),
        ("qop", r.qop),
    ]
    if r.cipher is not None:
        directives.append(("cipher", r.cipher))
    if r.maxbuf is not None:
        directives.append(("maxbuf", str(r.maxbuf)))
    if r.authzid:
        directives.append(("authzid", _wire(r.authzid, utf8=True)))
    return serialize_directives(directives, quoted=_RESPONSE_QUOTED)


def split_digest_uri(value: str) -> tuple[str, str, str | None]:
    """serv-type, host and serv-name (or ``None``) of a digest-uri (RFC 2831 2.1.2)."""
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise MalformedMessage(
            f"{MECHANISM} response: digest-uri is not serv-type/host[/serv-name]"
        )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def parse_response(data: bytes) -> Response:
    """Parse a digest-response and check the form of each value it carries."""
    where = f"{MECHANISM} response"
    if len(data) >= MAX_RESPONSE:
        raise MalformedMessage(f"{where}: {len(data)} octets, the limit is {MAX_RESPONSE - 1}")
    found = parse_directives(data, once=_RESPONSE_ONCE, where=where)
    utf8 = _charset(found, where)
    username = _text(_required(found, "username", where), utf8=utf8, where=f"{where}: username")
    realm = _one(found, "realm")
    nc = _required(found, "nc", where)
    if not _LHEX8.fullmatch(nc):
        raise MalformedMessage(f"{where}: nc must be 8 lower-case hex digits")
    response = _required(found, "response", where)
    if not _LHEX32.fullmatch(response):
        raise MalformedMessage(f"{where}: response must be 32 lower-case hex digits")
    uri = _text(_required(found, "digest-uri", where), utf8=True, where=f"{where}: digest-uri")
    split_digest_uri(uri)
    return Response(
        username=username,
        realm=None if realm is None else _text(realm, utf8=utf8, where=f"{where}: realm"),
        nonce=_required(found, "nonce", where),
        cnonce=_required(found, "cnonce", where),
        nc=nc,
        digest_uri=uri,
        response=response,
        qop=_one(found, "qop") or QOP_AUTH,  # RFC 2831 2.1.2: absent means "auth"
        authzid=_text(_one(found, "authzid") or "", utf8=True, where=f"{where}: authzid"),
        utf8=utf8,
        cipher=_one(found, "cipher"),
        maxbuf=_maxbuf(_one(found, "maxbuf"), where),
    )


def format_rspauth(value: str) -> bytes:
    """RFC 2831 2.1.3: response-auth = "rspauth" "=" response-value."""
    return serialize_directives([("rspauth", value)], quoted=())


def parse_rspauth(data: bytes) -> str:
    """The response-value of the server's last message."""
    where = f"{MECHANISM} rspauth message"
    return _required(parse_directives(data, once={"rspauth"}, where=where), "rspauth", where)


def session_key(response: Response, password: str) -> bytes:
    """H(A1) for a response's directives and a password: the key of the layers (RFC 2831 2.3)."""
    r = response
    secret = user_secret(r.username, r.realm or "", password, utf8=r.utf8)
    return h_a1(secret, _octets(r.nonce), _octets(r.cnonce), r.authzid.encode("utf-8"))


def response_digests(response: Response, password: str) -> tuple[str, str]:
    """The response-value and the rspauth value for a response's directives and a password.

    ``response.response`` itself is not used: this is what it must be.
    """
    return _digests(response, session_key(response, password))


def session_layer(response: Response, password: str, *, side: str) -> digest_layer.DigestLayer:
    """The layer one side of a recorded session has, from its digest-response and the password.

    For vectors and offline checks: both buffer sizes are the largest allowed.
    """
    qop = response.qop.lower()
    if qop == QOP_AUTH:
        raise UsageError(f"{MECHANISM}: a response with qop 'auth' has no security layer")
    return digest_layer.DigestLayer(
        session_key(response, password),
        side=side,
        qop=qop,
        cipher=None if response.cipher is None else response.cipher.lower(),
        maxbuf=MAX_MAXBUF,
        peer_maxbuf=MAX_MAXBUF,
    )


def _digests(response: Response, key: bytes) -> tuple[str, str]:
    r = response

    def value(rspauth: bool) -> str:
        return response_value(
            key,
            nonce=_octets(r.nonce),
            nc=r.nc.encode("ascii"),
            cnonce=_octets(r.cnonce),
            qop=r.qop,
            digest_uri=r.digest_uri.encode("utf-8"),
            rspauth=rspauth,
        )

    return value(rspauth=False), value(rspauth=True)


def _octets(wire: str) -> bytes:
    return wire.encode("iso-8859-1")


# --- Mechanisms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerChoice:
    """What a side asked for or settled on: qops (in order of preference), ciphers, maxbuf."""

    qops: tuple[str, ...]
    ciphers: tuple[str, ...]
    maxbuf: int

    @staticmethod
    def of(options: ClientOptions | ServerOptions) -> LayerChoice:
        """The options' qops, ciphers and maxbuf, checked: a bad value is the caller's fault."""
        return _layer_choice(tuple(options.qops), tuple(options.ciphers), options.maxbuf)

    def layer(
        self, key: bytes, *, side: str, qop: str, cipher: str | None, peer_maxbuf: int
    ) -> digest_layer.DigestLayer | None:
        """The security layer of a completed exchange; ``None`` for qop "auth"."""
        if qop == QOP_AUTH:
            return None
        return digest_layer.DigestLayer(
            key, side=side, qop=qop, cipher=cipher, maxbuf=self.maxbuf, peer_maxbuf=peer_maxbuf
        )


@lru_cache(maxsize=32)  # every mechanism object checks its options; most share the defaults
def _layer_choice(qops: tuple[str, ...], ciphers: tuple[str, ...], maxbuf: int) -> LayerChoice:
    qops = tuple(q.lower() for q in qops)
    ciphers = tuple(digest_layer.cipher_spec(c).name for c in ciphers)
    if not qops or not set(qops) <= set(QOPS):
        raise UsageError(f"{MECHANISM}: qops must be some of {', '.join(QOPS)}, not {qops!r}")
    if digest_layer.QOP_CONF in qops and not ciphers:
        raise UsageError(f"{MECHANISM}: qop auth-conf needs at least one cipher")
    if not MIN_MAXBUF <= maxbuf <= MAX_MAXBUF:
        raise UsageError(f"{MECHANISM}: maxbuf must be from {MIN_MAXBUF} to {MAX_MAXBUF}")
    return LayerChoice(qops, ciphers, maxbuf)


class DigestMD5Client(ClientMechanism):
    name = MECHANISM

    # Once the response is sent, what the rspauth expected is computed over: H(A1),
    # and nonce, cnonce, qop and digest-uri as wire strings.
    _sent: tuple[bytes, str, str, str, str] | None = None
    _layer: digest_layer.DigestLayer | None = None  # in force once rspauth verifies

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self._choice = LayerChoice.of(options)

    def _step(self, data: bytes | None) -> bytes | None:
        if self._sent is None:
            if not data:
                raise MalformedMessage(f"{MECHANISM}: expected the server's challenge, got nothing")
            return self._respond(*_read_challenge(data))
        if not data:
            raise MalformedMessage(f"{MECHANISM}: expected the server's rspauth, got nothing")
        key, nonce, cnonce, qop, uri = self._sent
        rspauth = response_value(
            key,
            nonce=_octets(nonce),
            nc=_FIRST_NC_OCTETS,
            cnonce=_octets(cnonce),
            qop=qop,
            digest_uri=_octets(uri),
            rspauth=True,
        )
        if not secrets_equal(parse_rspauth(data), rspauth):
            raise MutualAuthenticationFailed(
                f"{MECHANISM}: the server's rspauth does not match: it does not know the "
                "password, or the exchange was altered"
            )
        self.security_layer = self._layer
        self._finish()
        return b""

    def _negotiate(self, qops: tuple[str, ...], ciphers: tuple[str, ...]) -> tuple[str, str | None]:
        """The first of our qops the server offers, with the first of our ciphers it offers."""
        for qop in self._choice.qops:
            if qop not in qops:
                continue
            if qop != digest_layer.QOP_CONF:
                return qop, None
            cipher = next((c for c in self._choice.ciphers if c in ciphers), None)
            if cipher is not None:
                return qop, cipher
        offered = ",".join(qops)
        if digest_layer.QOP_CONF in qops:
            offered += f" (ciphers {','.join(ciphers)})"
        wanted = ",".join(self._choice.qops)
        if digest_layer.QOP_CONF in self._choice.qops:
            wanted += f" (ciphers {','.join(self._choice.ciphers)})"
        raise PolicyRefused(
            f"{MECHANISM}: the server offers qop {offered!r}; this client accepts {wanted!r}"
        )

    def _respond(
        self,
        nonce: str,
        realms: tuple[str, ...],
        qops: tuple[str, ...],
        utf8: bool,
        ciphers: tuple[str, ...],
        maxbuf: int,
    ) -> bytes:
        """The digest-response to a challenge's fields (``_read_challenge``), in one pass
        and with no ``Response`` built: what ``format_response`` writes for these
        directives, where the values the client chose itself (nc, response, qop, cipher,
        maxbuf) are tokens, so bare."""
        o = self.options
        username, password, choice = o.username, o.password, self._choice
        first = choice.qops[0]
        if first in qops and first != digest_layer.QOP_CONF:  # usual: our first, no cipher
            qop, cipher = first, None
        else:
            qop, cipher = self._negotiate(qops, ciphers)
        if not username:
            raise UsageError(f"{MECHANISM}: a user name is required")
        # The caller's realm as given; else the server's first; else none (RFC 2831 2.1.2).
        realm = o.realm if o.realm is not None else realms[0] if realms else ""
        if not utf8:
            named = (("user name", username), ("realm", realm), ("password", password))
            for what, value in named:
                if not fits_latin1(value):
                    raise UsageError(
                        f"{MECHANISM}: the server did not announce charset=utf-8 and the {what} "
                        "has characters outside ISO 8859-1"
                    )
        cnonce = _wire(o.cnonce, utf8=True) if o.cnonce else secrets.token_urlsafe(NONCE_BYTES)
        uri, authzid = digest_uri(o.service, o.host, o.serv_name), o.authzid
        # Text as wire strings, and quoted-strings escaped, only where some value needs it:
        # '"' and '\\' are ASCII, so the text says whether its wire string has them.
        joined = f"{username}{realm}{uri}{authzid}{nonce}{cnonce}"
        user_w, realm_w = username, realm
        if not joined.isascii():
            user_w, realm_w = _wire(username, utf8=utf8), _wire(realm, utf8=utf8)
            uri, authzid = _wire(uri, utf8=True), _wire(authzid, utf8=True)
        # RFC 2831 2.1.2.1 written out over wire strings (one character per octet): what
        # user_secret, h_a1, a2 and response_value compute; the server checks with them.
        try:  # user_secret where the three values fit ISO 8859-1
            secret = _h(f"{username}:{realm}:{password}".encode("iso-8859-1"))
        except UnicodeEncodeError:
            secret = user_secret(username, realm, password, utf8=utf8)
        a1_rest = f":{nonce}:{cnonce}:{authzid}" if authzid else f":{nonce}:{cnonce}"
        key = _h(secret + a1_rest.encode("iso-8859-1"))  # H(A1)
        layered = qop != QOP_AUTH
        a2_value = b"AUTHENTICATE:" + uri.encode("iso-8859-1") + (_ZEROS if layered else b"")
        kd = f"{key.hex()}:{nonce}:{FIRST_NC}:{cnonce}:{qop}:{_h(a2_value).hex()}"
        value = _h(kd.encode("iso-8859-1")).hex()
        self._sent = key, nonce, cnonce, qop, uri
        if layered:
            self._layer = choice.layer(
                key, side=digest_layer.CLIENT, qop=qop, cipher=cipher, peer_maxbuf=maxbuf
            )
        if '"' in joined or "\\" in joined:
            escaped = map(_escape, (user_w, realm_w, nonce, cnonce, uri))
            user_w, realm_w, nonce, cnonce, uri = escaped
        message = (
            (f"charset={CHARSET}," if utf8 else "")
            + f'username="{user_w}",'
            # RFC 2831 2.1.2: realm is required once the server offered any, even "".
            + (f'realm="{realm_w}",' if realm or realms else "")
            + f'nonce="{nonce}",nc={FIRST_NC},cnonce="{cnonce}",'
            f'digest-uri="{uri}",response={value},qop={qop}'
        )
        if cipher is not None:
            message += f",cipher={cipher}"
        if layered:
            message += f",maxbuf={choice.maxbuf}"
        if authzid:
            message += f",authzid={_quote(authzid)}"
        return message.encode("iso-8859-1")


class DigestMD5Server(ServerMechanism):
    name = MECHANISM

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)
        nonce = options.nonce or secrets.token_urlsafe(NONCE_BYTES)
        self._choice = LayerChoice.of(options)
        # RFC 2831 2.1.1: the qops in our order; ciphers only go with auth-conf.
        offers_conf = digest_layer.QOP_CONF in self._choice.qops
        self._challenge = Challenge(
            _wire(nonce, utf8=True),
            tuple(options.realms),
            qops=self._choice.qops,
            ciphers=self._choice.ciphers if offers_conf else (),
            maxbuf=self._choice.maxbuf,
        )
        self._counts = options.nonce_counts or NonceCounts(capacity=1)
        self._sent = False

    def _step(self, data: bytes | None) -> bytes | None:
        if not self._sent:
            self._sent = True
            if data and self._resumes(data):
                return self._finish_response(parse_response(data))
            # RFC 2831 2.2.2: no (usable) subsequent authentication: a fresh challenge.
            self._counts.issue(self._challenge.nonce)
            return format_challenge(self._challenge)
        if data is None:
            raise MalformedMessage(f"{MECHANISM}: expected the client's response, got nothing")
        response = parse_response(data)
        if response.nonce != self._challenge.nonce:
            raise self._reject("the response is for another nonce than this exchange's")
        if response.nc != FIRST_NC:
            raise self._reject(f"nonce count {response.nc} is not {FIRST_NC} for a new nonce")
        return self._finish_response(response)

    def _resumes(self, data: bytes) -> bool:
        """Whether an initial response is subsequent authentication (RFC 2831 2.2.1)
        with a nonce this server issued and a nonce count it has not yet accepted."""
        try:
            response = parse_response(data)
        except MalformedMessage:
            return False
        if not self._counts.known(response.nonce):
            return False
        if not self._counts.fresh(response.nonce, int(response.nc, 16)):
            raise self._reject(f"replayed nonce count {response.nc}")
        return True

    def _finish_response(self, response: Response) -> bytes:
        self._check(response)
        realms = self.options.realms
        readings = [r for r in _readings(response) if not realms or r.realm in realms]
        if not readings:
            raise self._reject(f"realm {response.realm!r} was not offered")
        for reading in readings:
            verified = self._verify(reading)
            if verified is not None:
                rspauth, key = verified
                if not self._counts.accept(response.nonce, int(response.nc, 16)):
                    raise self._reject(f"replayed nonce count {response.nc}")
                layer = self._choice.layer(
                    key,
                    side=digest_layer.SERVER,
                    qop=response.qop.lower(),
                    cipher=None if response.cipher is None else response.cipher.lower(),
                    peer_maxbuf=DEFAULT_MAXBUF if response.maxbuf is None else response.maxbuf,
                )
                self._accept(reading.username, reading.authzid)
                self.security_layer = layer
                return format_rspauth(rspauth)
        raise self._reject(f"authentication failed for {response.username!r}")

    def _verify(self, response: Response) -> tuple[str, bytes] | None:
        """The rspauth value and H(A1) when the response proves the password, else ``None``."""
        stored = self.options.credentials.password(response.username, response.realm or "")
        password = stored if stored is not None and (response.utf8 or fits_latin1(stored)) else None
        key = session_key(response, password or "")
        expected, rspauth = _digests(response, key)
        if password is None or not secrets_equal(response.response, expected):
            return None
        return rspauth, key

    def _check(self, response: Response) -> None:
        """What does not depend on the password: qop, cipher, digest-uri, realm."""
        o = self.options
        offered = self._challenge
        qop = response.qop.lower()
        if qop not in offered.qops:
            raise MalformedMessage(
                f"{MECHANISM} response: qop {response.qop!r} was not offered, "
                f"only {','.join(offered.qops)!r}"
            )
        cipher = None if response.cipher is None else response.cipher.lower()
        if qop == digest_layer.QOP_CONF and cipher not in offered.ciphers:
            raise MalformedMessage(
                f"{MECHANISM} response: cipher {response.cipher!r} was not offered, "
                f"only {','.join(offered.ciphers)!r}"
            )
        service, host, _ = split_digest_uri(response.digest_uri)
        # RFC 2831 2.1.2: "Servers SHOULD check that the supplied value is correct."
        if service.lower() != o.service.lower():
            raise self._reject(f"digest-uri names service {service!r}, this is {o.service!r}")
        if host.lower() != o.host.lower():
            raise self._reject(f"digest-uri names host {host!r}, this is {o.host!r}")
        if o.realms and response.realm is None:
            raise MalformedMessage(f"{MECHANISM} response: realm is required, realms were offered")


def _readings(response: Response) -> list[Response]:
    """The ways to read a response's user name and realm: as RFC 2831 2.1.2 says and, for
    a response without charset whose values are UTF-8 beyond ASCII, as UTF-8 too.

    Cyrus SASL's client (2.1.28) sends UTF-8 without charset=utf-8 and hashes as if it
    had sent it; Cyrus's server reads it so. The digest binds the octets hashed, so at
    most one reading matches.
    """
    if response.utf8:
        return [response]
    try:
        username = _text(response.username, utf8=True, where="user name")
        realm = None if response.realm is None else _text(response.realm, utf8=True, where="realm")
    except MalformedMessage:
        return [response]
    if (username, realm) == (response.username, response.realm):
        return [response]
    return [response, replace(response, username=username, realm=realm, utf8=True)]
