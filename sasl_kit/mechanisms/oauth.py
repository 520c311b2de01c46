"""OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's, also Microsoft 365's), both sides.

Rules of this module:
- Both carry an OAuth 2.0 bearer token (RFC 6750) in one client message, the
  initial response; the token is a secret like a password: it is never in a
  ``repr``, an error or anything but the message that carries it.
- OAUTHBEARER: ``gs2-header %x01 *(key=value %x01) %x01`` (RFC 7628 3.1). The
  gs2 authzid is ``ClientOptions.authzid``, else the user name, escaped as in
  RFC 5802 (``=2C``, ``=3D``); ``host`` and ``port`` come from the options. An
  empty token sends ``auth=`` with no value: the discovery query of RFC 7628 4.3.
- XOAUTH2: ``user=U %x01 auth=Bearer T %x01 %x01``.
- Failure is two steps on both sides, because SASL cannot carry data with a
  failure (RFC 7628 3.2.3): the server sends a JSON error as a challenge, the
  client answers it (OAUTHBEARER with ``%x01``, XOAUTH2 with an empty message),
  and only then the server raises ``AuthenticationFailed``. The client's next
  step, if any, raises ``AuthenticationFailed`` with the server's status; the
  parsed error is kept in ``error``.
- The client is ``complete`` once its initial response is out, since success
  has nothing to verify; an error challenge takes that back.
- The server asks ``ServerOptions.validate_token(user, token)`` for the identity
  a token belongs to and accepts it through the authorization policy, with the
  user the client named as authzid. A ``host``/``port`` the client sends must
  match the server's own (RFC 7628 3.2). Malformed framing is
  ``MalformedMessage``; a token that is refused, missing or not a bearer token
  gets the JSON error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sasl_kit.errors import AuthenticationFailed, MalformedMessage, UsageError
from sasl_kit.mechanisms.base import (
    ClientMechanism,
    ClientOptions,
    ServerMechanism,
    ServerOptions,
    secrets_equal,
)
from sasl_kit.mechanisms.plain import decode_utf8
from sasl_kit.mechanisms.scram import escape_saslname, unescape_saslname

KVSEP = "\x01"  # RFC 7628 3.1
_KEY = re.compile(r"[A-Za-z]+")
_VALUE = re.compile(r"[\x21-\x7e \t\r\n]*")  # VCHAR / SP / HTAB / CR / LF
# RFC 6750 2.1: credentials = "Bearer" 1*SP b64token; the scheme name is case-insensitive.
_B64TOKEN = r"[A-Za-z0-9\-._~+/]+=*"
_BEARER = re.compile(rf"[Bb][Ee][Aa][Rr][Ee][Rr] +({_B64TOKEN})")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True)
class OAuthError:
    """The server's JSON error (RFC 7628 3.2.2): ``status`` and what it may add."""

    status: str
    scope: str | None = None
    openid_configuration: str | None = None

    def describe(self) -> str:
        """The error for a message: printable ASCII, cut short, never more than the server sent."""
        parts = [f"status {_printable(self.status)!r}"]
        if self.scope is not None:
            parts.append(f"scope {_printable(self.scope)!r}")
        if self.openid_configuration is not None:
            parts.append(f"openid-configuration {_printable(self.openid_configuration)!r}")
        return ", ".join(parts)


@dataclass(frozen=True)
class TokenTable:
    """A ``validate_token`` over user -> token, for tests and small setups.

    A token is good for the user it is stored under, compared in constant time;
    a client that names no user is refused, since the table cannot say whose it is.
    """

    tokens: Mapping[str, str] = field(repr=False)

    def __call__(self, user: str, token: str) -> str | None:
        stored = self.tokens.get(user)
        return user if stored is not None and secrets_equal(stored, token) else None


def _printable(text: str) -> str:
    return _PRINTABLE.sub(" ", text)[:100]


def error_json(status: str, **fields: str | None) -> bytes:
    """A server error challenge: compact JSON, ``status`` first (RFC 7628 3.2.2)."""
    body = {"status": status, **{k.replace("_", "-"): v for k, v in fields.items() if v}}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def parse_error(data: bytes, mechanism: str) -> OAuthError:
    """The server's JSON error challenge; anything else is ``MalformedMessage``."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedMessage(f"{mechanism}: the server's challenge is not a JSON error") from None
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise MalformedMessage(f"{mechanism}: the server's JSON error has no string 'status'")
    scope, configuration = body.get("scope"), body.get("openid-configuration")
    return OAuthError(
        body["status"],
        scope if isinstance(scope, str) else None,
        configuration if isinstance(configuration, str) else None,
    )


def parse_kvpairs(text: str, mechanism: str) -> dict[str, str]:
    """``*(key "=" value kvsep) kvsep`` (RFC 7628 3.1): the pairs, each key once."""
    if not text.endswith(KVSEP):
        raise MalformedMessage(f"{mechanism}: the message does not end with %x01")
    pairs: dict[str, str] = {}
    for position, item in enumerate(text[:-1].split(KVSEP)[:-1], 1):
        key, equals, value = item.partition("=")
        if not equals or not _KEY.fullmatch(key):
            raise MalformedMessage(f"{mechanism}: key/value pair {position} is not key=value")
        if not _VALUE.fullmatch(value):
            raise MalformedMessage(f"{mechanism}: the value of {key!r} has a control character")
        if key in pairs:
            raise MalformedMessage(f"{mechanism}: key {key!r} appears twice")
        pairs[key] = value
    if text[:-1] and not text[:-1].endswith(KVSEP):
        raise MalformedMessage(f"{mechanism}: the last key/value pair lacks its %x01")
    return pairs


def _check_token(token: str, mechanism: str) -> None:
    if token and not re.fullmatch(_B64TOKEN, token):
        raise UsageError(f"{mechanism}: the token is not an RFC 6750 b64token")


# --- Client ---------------------------------------------------------------------------------


class _OAuthClient(ClientMechanism):
    """Both clients: one initial response, then at most one error challenge to answer."""

    client_first = True
    answers_errors = True
    error_answer: bytes

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self.error: OAuthError | None = None
        self._sent = False

    @property
    def server_reason(self) -> str | None:
        return None if self.error is None else self.error.describe()

    def _initial_response(self) -> str:
        raise NotImplementedError

    def _step(self, data: bytes | None) -> bytes | None:
        if self.error is not None:
            raise AuthenticationFailed(f"{self.name}: the server refused: {self.error.describe()}")
        if not self._sent:
            if data:
                raise MalformedMessage(f"{self.name}: the server spoke before the client")
            message = self._initial_response().encode("utf-8")
            self._sent = True
            self.complete = True  # success has nothing to verify; an error takes it back
            return message
        if not data:
            raise UsageError(f"{self.name}: the exchange is complete; nothing more to answer")
        self.error = parse_error(data, self.name)
        self.complete = False
        return self.error_answer


class OAuthBearerClient(_OAuthClient):
    name = "OAUTHBEARER"
    error_answer = KVSEP.encode()  # RFC 7628 3.2.3

    def _initial_response(self) -> str:
        o = self.options
        _check_token(o.token, self.name)
        user = o.authzid or o.username
        # RFC 7628 3.1 with RFC 5801's gs2-header: "n," [ "a=" saslname ] ","
        header = f"n,{'a=' + escape_saslname(user) if user else ''},"
        if not _VALUE.fullmatch(o.host):
            raise UsageError(f"{self.name}: the host has a control character")
        pairs = [f"host={o.host}"] if o.host else []
        if o.port is not None:
            if not 0 < o.port < 65536:
                raise UsageError(f"{self.name}: port {o.port} is not a TCP port")
            pairs.append(f"port={o.port}")
        pairs.append(f"auth=Bearer {o.token}" if o.token else "auth=")
        return header + KVSEP + "".join(p + KVSEP for p in pairs) + KVSEP


class XOAuth2Client(_OAuthClient):
    name = "XOAUTH2"
    error_answer = b""  # Google's XOAUTH2: an empty response to the error challenge

    def _initial_response(self) -> str:
        o = self.options
        if not o.token:
            raise UsageError(f"{self.name} needs a bearer token (ClientOptions.token)")
        _check_token(o.token, self.name)
        if not o.username or KVSEP in o.username:
            raise UsageError(f"{self.name}: the user name is empty or holds %x01")
        return f"user={o.username}{KVSEP}auth=Bearer {o.token}{KVSEP}{KVSEP}"


# --- Server ---------------------------------------------------------------------------------


class _OAuthServer(ServerMechanism):
    """Both servers: parse the initial response, accept it or send the JSON error."""

    refusal: str
    answer_to_error: bytes

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)
        self._refused: str | None = None  # why, once the error challenge is out

    def _parse(self, text: str) -> tuple[str, dict[str, str]]:
        """The user the client names and its key/value pairs."""
        raise NotImplementedError

    def _error_challenge(self, status: str) -> bytes:
        raise NotImplementedError

    def _validator(self) -> Callable[[str, str], str | None]:
        if self.options.validate_token is None:
            raise UsageError(f"{self.name} server needs ServerOptions.validate_token")
        return self.options.validate_token

    def _step(self, data: bytes | None) -> bytes | None:
        if self._refused is not None:
            if data != self.answer_to_error:
                raise MalformedMessage(
                    f"{self.name}: expected the client's {self.answer_to_error!r} after the error"
                )
            raise self._reject(self._refused)
        validate = self._validator()
        if data is None:
            return b""  # RFC 4422 3.3: an empty challenge asks for the initial response
        text = decode_utf8(data, "client message", self.name)
        if text == KVSEP:
            raise MalformedMessage(f"{self.name}: a lone %x01 is only an answer to an error")
        user, pairs = self._parse(text)
        status, why, identity = self._judge(validate, user, pairs)
        if identity is None:
            self._refused = why
            return self._error_challenge(status)
        self._accept(identity, user)
        return None

    def _judge(
        self, validate: Callable[[str, str], str | None], user: str, pairs: dict[str, str]
    ) -> tuple[str, str, str | None]:
        """(status, why, identity): identity ``None`` when the token is refused."""
        o = self.options
        host, port = pairs.get("host"), pairs.get("port")
        if host is not None and host.lower() != o.host.lower():
            return "invalid_request", f"the client connected to another host for {user!r}", None
        if port is not None and (not _PORT.fullmatch(port) or (o.port and int(port) != o.port)):
            return "invalid_request", f"the client connected to another port for {user!r}", None
        bearer = _BEARER.fullmatch(pairs.get("auth", ""))
        if bearer is None:
            return "invalid_token", f"no bearer token for {user!r}", None
        identity = validate(user, bearer.group(1))
        if identity is None:
            return "invalid_token", f"the token was refused for {user!r}", None
        return "", "", identity


class OAuthBearerServer(_OAuthServer):
    name = "OAUTHBEARER"
    answer_to_error = KVSEP.encode()

    def _parse(self, text: str) -> tuple[str, dict[str, str]]:
        # RFC 7628 3.1: client-resp = gs2-header kvsep *kvpair kvsep
        flag, _, rest = text.partition(",")
        authzid, comma, rest = rest.partition(",")
        if flag not in ("n", "y") or not comma:
            raise MalformedMessage(f"{self.name}: the message does not start with a gs2 header")
        if not rest.startswith(KVSEP):
            raise MalformedMessage(f"{self.name}: no %x01 after the gs2 header")
        user = ""
        if authzid:
            if not authzid.startswith("a="):
                raise MalformedMessage(f"{self.name}: the gs2 authzid must be 'a=...'")
            user = unescape_saslname(authzid[2:], "authzid")
        pairs = parse_kvpairs(rest[1:], self.name)
        if "auth" not in pairs:
            raise MalformedMessage(f"{self.name}: the required 'auth' pair is missing")
        return user, pairs

    def _error_challenge(self, status: str) -> bytes:
        o = self.options
        return error_json(status, scope=o.oauth_scope, openid_configuration=o.openid_configuration)


class XOAuth2Server(_OAuthServer):
    name = "XOAUTH2"
    answer_to_error = b""

    def _parse(self, text: str) -> tuple[str, dict[str, str]]:
        pairs = parse_kvpairs(text, self.name)
        if "user" not in pairs or "auth" not in pairs:
            raise MalformedMessage(f"{self.name}: the message needs 'user' and 'auth' pairs")
        if not pairs["user"]:
            raise MalformedMessage(f"{self.name}: the user is empty")
        return pairs["user"], pairs

    def _error_challenge(self, status: str) -> bytes:
        # Google's form: HTTP-like status, the scheme, the scope that would do.
        return error_json(
            "400" if status == "invalid_request" else "401",
            schemes="bearer",
            scope=self.options.oauth_scope,
        )
