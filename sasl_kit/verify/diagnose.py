"""Diagnosis: was the client's response right, and if not, which known mistake made it?

Rules of this module:
- It recomputes what a correct client sends with the mechanism modules' own
  formulas (``digest_md5``, ``cram_md5``, ``scram``) and HTTP Digest's for the
  RFC 2617 shapes (``http_digest``); it re-implements none of them. A known
  mistake is a correct formula fed a wrong input (the user name in the key, the
  hex of H(A1)), or the formula of the other family (``Method:uri``).
- Verdicts: ``correct`` (the response proves the password and fits the
  challenge), ``wrong`` (it does not, or it breaks a rule a server checks:
  nonce, realm, digest-uri), ``malformed`` (bad base64, broken directives: the
  message says where), ``unverifiable`` (no password, or a mechanism not
  checked here; what can be checked without one is reported).
- ``side`` names who erred: ``client``, ``server`` (it rejected a correct
  response, or its own message or proof is wrong), ``unknown``; ``None`` when
  no one did. A rejected correct response lists the usual server-side causes.
- Secrets never reach a ``Diagnosis``: explanations name fields and positions,
  never a password, a PLAIN message or a digest computed from the password.

Theory of operation: ``diagnose`` picks the checker of the exchange's mechanism;
a checker returns a ``_Finding`` about the client's messages (or raises
``_Malformed``); ``_conclude`` weighs it against the server's outcome.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from sasl_kit import http_digest
from sasl_kit.errors import MalformedMessage
from sasl_kit.mechanisms import digest_md5, scram
from sasl_kit.mechanisms.base import secrets_equal
from sasl_kit.mechanisms.cram_md5 import cram_md5_digest
from sasl_kit.saslprep import saslprep
from sasl_kit.verify.transcript import CLIENT, SERVER, Exchange, Message

CORRECT, WRONG, MALFORMED, UNVERIFIABLE = "correct", "wrong", "malformed", "unverifiable"
VERDICTS = (CORRECT, WRONG, MALFORMED, UNVERIFIABLE)
SIDE_CLIENT, SIDE_SERVER, SIDE_UNKNOWN = "client", "server", "unknown"

SHARED_SECRET_CAUSES = (
    "a Cyrus SASL server checking passwords through saslauthd or PAM "
    "(pwcheck_method: saslauthd) cannot verify CRAM-MD5, DIGEST-MD5 or SCRAM: "
    "it advertises them, but only PLAIN and LOGIN can succeed",
    "the user lacks a stored secret this mechanism can use: the password is stored "
    "hashed (crypt, {SHA256}, a PAM or LDAP bind) or not at all in the server's "
    "password database (sasldb, passwd-file)",
)
REALM_CAUSE = "the server is configured with another realm than the one in the response"
DIGEST_URI_CAUSE = "the server checks digest-uri against another service or host name"
PLAINTEXT_CAUSES = (
    "the server checks another password database than the one with this password "
    "(or the account is disabled or locked)",
    "the server refuses plaintext logins by policy (no TLS, disable_plaintext_auth)",
)
AUTHZID_CAUSE = "the server does not allow this user to act as the authzid sent"
_MD5 = http_digest.algorithm("MD5")
_HTTP_METHODS = ("GET", "POST")
_T = TypeVar("_T")
_URI_UNCHECKED = "; digest-uri not checked against the server (give service and host)"


@dataclass(frozen=True)
class Diagnosis:
    """What ``diagnose`` concluded about one exchange.

    ``mistake`` is a short id of the known mistake that explains a wrong or
    malformed response (docs/verify.md lists them), ``None`` when none does.
    ``server_causes`` are the usual server-side reasons to reject a correct
    response, given when the server did.
    """

    verdict: str
    side: str | None
    mistake: str | None
    explanation: str
    server_causes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Finding:
    verdict: str
    explanation: str
    mistake: str | None = None
    side: str | None = None  # who erred, when a checker knows better than the verdict
    causes: tuple[str, ...] = ()


class _Malformed(Exception):
    def __init__(self, side: str, message: str, mistake: str | None = None) -> None:
        super().__init__(message)
        self.side = side
        self.mistake = mistake


@dataclass(frozen=True)
class _Context:
    exchange: Exchange
    username: str | None
    password: str | None
    service: str | None
    host: str | None

    def client(self) -> list[Message]:
        return [m for m in self.exchange.steps if m.side == CLIENT]

    def server(self) -> list[Message]:
        return [m for m in self.exchange.steps if m.side == SERVER]


def diagnose(
    exchange: Exchange,
    *,
    username: str | None = None,
    password: str | None = None,
    service: str | None = None,
    host: str | None = None,
) -> Diagnosis:
    """Judge the client's side of ``exchange``; see the module's rules for the verdicts.

    ``username`` is who should have logged in (else the user the response names),
    ``password`` that user's password; ``service`` and ``host`` what DIGEST-MD5's
    digest-uri must name (``smtp``, ``mail.example.org``).
    """
    ctx = _Context(exchange, username, password, service, host)
    mechanism = exchange.mechanism.upper()
    checker = _CHECKERS.get(mechanism.removesuffix("-PLUS") if "SCRAM" in mechanism else mechanism)
    if checker is None:
        finding = _Finding(UNVERIFIABLE, f"verify does not check {mechanism} responses")
    elif not exchange.steps:
        finding = _Finding(UNVERIFIABLE, f"the client sent no {mechanism} message")
    else:
        try:
            finding = checker(ctx)
        except _Malformed as exc:
            return _conclude(_Finding(MALFORMED, str(exc), exc.mistake, side=exc.side), exchange)
    return _conclude(finding, exchange)


def _conclude(finding: _Finding, exchange: Exchange) -> Diagnosis:
    outcome = exchange.outcome
    text = finding.explanation
    if outcome.cancelled:
        text += "; the client cancelled the exchange"
    if finding.verdict == CORRECT:
        if outcome.success is False:
            causes = (*finding.causes, *_causes(exchange.mechanism))
            text += f"; the server rejected this correct response ({outcome.reply})"
            return Diagnosis(CORRECT, SIDE_SERVER, finding.mistake, text, causes)
        return Diagnosis(CORRECT, finding.side, finding.mistake, text)
    if finding.verdict == WRONG and outcome.success:
        text += (
            "; yet the server accepted it: the password or user given to verify is "
            "probably not the one the server has"
        )
        return Diagnosis(WRONG, SIDE_UNKNOWN, finding.mistake, text)
    side = finding.side or (SIDE_CLIENT if finding.verdict in (WRONG, MALFORMED) else SIDE_UNKNOWN)
    return Diagnosis(finding.verdict, side, finding.mistake, text)


def _causes(mechanism: str) -> tuple[str, ...]:
    name = mechanism.upper()
    if name in ("PLAIN", "LOGIN"):
        return PLAINTEXT_CAUSES
    if name == "DIGEST-MD5":
        return (*SHARED_SECRET_CAUSES, REALM_CAUSE, DIGEST_URI_CAUSE)
    return SHARED_SECRET_CAUSES


# --- Helpers ------------------------------------------------------------------------------


def _data(message: Message) -> bytes:
    try:
        return message.data()
    except MalformedMessage as exc:
        side = SIDE_CLIENT if message.side == CLIENT else SIDE_SERVER
        raise _Malformed(side, str(exc)) from None


def _at(message: Message) -> str:
    return f" (line {message.line})" if message.line else ""


def _text(message: Message, data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        side = SIDE_CLIENT if message.side == CLIENT else SIDE_SERVER
        raise _Malformed(side, f"{what} is not UTF-8 (byte {exc.start}){_at(message)}") from None


def _parsed(message: Message, parse: Callable[[bytes], _T]) -> _T:
    """A mechanism parser's result; its ``MalformedMessage`` blamed on the message's side."""
    data = _data(message)
    try:
        return parse(data)
    except MalformedMessage as exc:
        side = SIDE_CLIENT if message.side == CLIENT else SIDE_SERVER
        raise _Malformed(side, f"{exc}{_at(message)}") from None


def _nth(messages: list[Message], n: int, what: str, side: str) -> Message:
    if len(messages) <= n:
        raise _Malformed(side, f"the transcript has no {what}", "incomplete")
    return messages[n]


def _same_password(presented: str, password: str) -> bool:
    """RFC 4616 4: both sides through SASLprep, compared in constant time."""
    try:
        return secrets_equal(
            saslprep(presented, allow_unassigned=True), saslprep(password, allow_unassigned=True)
        )
    except MalformedMessage:
        return secrets_equal(presented, password)


def _user_mismatch(sent: str, wanted: str | None) -> _Finding | None:
    if wanted is None or sent == wanted:
        return None
    if sent.lower() == wanted.lower():
        return _Finding(
            WRONG,
            f"the response names user {sent!r}, not {wanted!r}: they differ only in case, "
            "and user names are case-sensitive here",
            "username-case",
        )
    return _Finding(WRONG, f"the response names user {sent!r}, not {wanted!r}", "wrong-user")


def _no_password(what: str) -> _Finding:
    return _Finding(UNVERIFIABLE, f"{what}; without the password the response cannot be checked")


# --- PLAIN, LOGIN -------------------------------------------------------------------------


def _plain(ctx: _Context) -> _Finding:
    message = _nth(ctx.client(), 0, "PLAIN response", SIDE_CLIENT)
    data = _data(message)
    fields = data.split(b"\0")
    if len(fields) != 3:
        raise _Malformed(
            SIDE_CLIENT,
            f"PLAIN: expected authzid NUL authcid NUL password (2 NUL separators), "
            f"found {len(fields) - 1}{_at(message)}",
        )
    authzid, authcid, passwd = (
        _text(message, part, f"PLAIN {what}")
        for part, what in zip(fields, ("authzid", "authcid", "password"), strict=True)
    )
    if not passwd:
        raise _Malformed(SIDE_CLIENT, f"PLAIN: the password field is empty{_at(message)}")
    if not authcid:
        if authzid:
            return _Finding(
                WRONG,
                f"PLAIN: the user name {authzid!r} stands in the first field (authzid) and "
                "the second (authcid) is empty; RFC 4616 2 is authzid NUL authcid NUL password",
                "plain-authzid-swap",
            )
        raise _Malformed(SIDE_CLIENT, f"PLAIN: the authcid field is empty{_at(message)}")
    if ctx.password is None:
        return _no_password(f"PLAIN message well-formed for user {authcid!r}")
    if not _same_password(passwd, ctx.password):
        if _same_password(authcid, ctx.password) or _same_password(authzid, ctx.password):
            return _Finding(
                WRONG,
                "PLAIN: the password stands in the wrong field; RFC 4616 2 is "
                "authzid NUL authcid NUL password",
                "plain-field-order",
            )
        return _Finding(WRONG, f"PLAIN: the password does not match for user {authcid!r}")
    if ctx.username is not None and authcid != ctx.username and authzid == ctx.username:
        return _Finding(
            WRONG,
            f"PLAIN: authzid and authcid are swapped: the user {ctx.username!r} is sent as "
            f"authzid and {authcid!r} as authcid",
            "plain-authzid-swap",
        )
    mismatch = _user_mismatch(authcid, ctx.username)
    if mismatch is not None:
        return mismatch
    if authzid not in ("", authcid):
        return _Finding(
            CORRECT,
            f"PLAIN: the password is right for {authcid!r}, who asks to act as {authzid!r}",
            causes=(AUTHZID_CAUSE,),
        )
    return _Finding(CORRECT, f"PLAIN: the password is right for user {authcid!r}")


def _login(ctx: _Context) -> _Finding:
    sent = ctx.client()
    user_message = _nth(sent, 0, "LOGIN user name", SIDE_CLIENT)
    user = _text(user_message, _data(user_message), "LOGIN user name")
    if ctx.password is None:
        return _no_password(f"LOGIN for user {user!r}")
    password_message = _nth(sent, 1, "LOGIN password", SIDE_CLIENT)
    presented = _text(password_message, _data(password_message), "LOGIN password")
    if not _same_password(presented, ctx.password):
        if _same_password(user, ctx.password):
            return _Finding(
                WRONG,
                "LOGIN: the password was sent first, where the server asks for the user name",
                "login-order",
            )
        return _Finding(WRONG, f"LOGIN: the password does not match for user {user!r}")
    return _user_mismatch(user, ctx.username) or _Finding(
        CORRECT, f"LOGIN: the password is right for user {user!r}"
    )


# --- CRAM-MD5 -----------------------------------------------------------------------------


def _cram_md5(ctx: _Context) -> _Finding:
    exchange = ctx.exchange
    if exchange.initial_response is not None:
        raise _Malformed(
            SIDE_CLIENT,
            "CRAM-MD5 has no initial response; the client sent one"
            + _at(exchange.initial_response),
        )
    challenge_message = _nth(ctx.server(), 0, "CRAM-MD5 challenge", SIDE_SERVER)
    challenge = _data(challenge_message)
    if not challenge:
        raise _Malformed(SIDE_SERVER, f"CRAM-MD5: the challenge is empty{_at(challenge_message)}")
    message = _nth(ctx.client(), 0, "CRAM-MD5 response", SIDE_CLIENT)
    data = _data(message)
    user_bytes, space, digest_bytes = data.rpartition(b" ")
    digest = digest_bytes.decode("ascii", "replace")
    if (
        not space
        or not user_bytes
        or len(digest) != 32
        or any(c not in "0123456789abcdefABCDEF" for c in digest)
    ):
        raise _Malformed(
            SIDE_CLIENT,
            f"CRAM-MD5: the response is not 'user name, space, 32 hex digits'{_at(message)}",
        )
    user = _text(message, user_bytes, "CRAM-MD5 user name")
    if ctx.password is None:
        return _no_password(f"CRAM-MD5 response well-formed for user {user!r}")
    password = ctx.password
    lowered = digest.lower()
    if secrets_equal(lowered, cram_md5_digest(password, challenge)):
        if digest != lowered:
            return _Finding(
                WRONG,
                "CRAM-MD5: the digest is right but in upper-case hex; RFC 2195 2 asks for "
                "lower case, and servers compare it as text",
                "cram-uppercase-hex",
            )
        return _user_mismatch(user, ctx.username) or _Finding(
            CORRECT, f"CRAM-MD5: the digest proves the password of user {user!r}"
        )
    for mistake, explanation, value in _cram_variants(
        user, password, challenge_message.text, challenge
    ):
        if secrets_equal(lowered, value):
            return _Finding(WRONG, f"CRAM-MD5: {explanation}", mistake)
    return _Finding(WRONG, f"CRAM-MD5: the password does not match for user {user!r}")


def _cram_variants(
    user: str, password: str, challenge_text: str, challenge: bytes
) -> list[tuple[str, str, str]]:
    """(mistake, explanation, digest) for each known wrong CRAM-MD5 key or message."""
    md5 = hashlib.md5(password.encode("utf-8"))  # noqa: S324 -- a client's mistake, recomputed
    variants = [
        (
            "cram-keyed-with-username",
            "the HMAC is keyed with the user name instead of the password",
            cram_md5_digest(user, challenge),
        ),
        (
            "cram-base64-challenge",
            "the HMAC is computed over the base64 text of the challenge, not the decoded challenge",
            cram_md5_digest(password, challenge_text.encode("ascii", "replace")),
        ),
        (
            "cram-hashed-password",
            "the HMAC is keyed with the MD5 of the password (hex) instead of the password",
            cram_md5_digest(md5.hexdigest(), challenge),
        ),
        (
            "cram-hashed-password",
            "the HMAC is keyed with the MD5 of the password (binary) instead of the password",
            hmac.new(md5.digest(), challenge, hashlib.md5).hexdigest(),
        ),
        (
            "cram-key-and-message-swapped",
            "key and message are swapped: the HMAC is keyed with the challenge over the password",
            hmac.new(challenge, password.encode("utf-8"), hashlib.md5).hexdigest(),
        ),
    ]
    if digest_md5.fits_latin1(password) and not password.isascii():
        variants.append(
            (
                "cram-latin1-password",
                "the password is keyed as ISO 8859-1; it is UTF-8 here",
                hmac.new(password.encode("iso-8859-1"), challenge, hashlib.md5).hexdigest(),
            )
        )
    return variants


# --- DIGEST-MD5 ---------------------------------------------------------------------------


def _digest_md5(ctx: _Context) -> _Finding:
    challenge_message = _nth(ctx.server(), 0, "DIGEST-MD5 challenge", SIDE_SERVER)
    challenge = _parsed(challenge_message, digest_md5.parse_challenge)
    sent = ctx.client()
    if ctx.exchange.initial_response is not None and not _data(ctx.exchange.initial_response):
        sent = sent[1:]  # "=": an empty initial response, as SMTP writes it
    message = _nth(sent, 0, "DIGEST-MD5 response", SIDE_CLIENT)
    response = _parsed(message, digest_md5.parse_response)
    rule = _digest_rules(ctx, challenge, response)
    if rule is not None and (ctx.password is None or rule.mistake != "missing-realm"):
        return rule
    if ctx.password is None:
        return _no_password(
            f"DIGEST-MD5 response well-formed for user {response.username!r}"
            + ("" if ctx.service and ctx.host else _URI_UNCHECKED)
        )
    expected, rspauth = digest_md5.response_digests(response, ctx.password)
    if not secrets_equal(response.response, expected):
        return _digest_variant(ctx, challenge, response)
    if rule is not None:
        return rule
    found = _digest_uri_rules(ctx, challenge, response) or _user_mismatch(
        response.username, ctx.username
    )
    if found is not None:
        return found
    text = f"DIGEST-MD5: the response proves the password of user {response.username!r}"
    if not (ctx.service and ctx.host):
        text += _URI_UNCHECKED
    proof = ctx.server()[1:2]
    if proof:
        server_value = _parsed(proof[0], digest_md5.parse_rspauth)
        if not secrets_equal(server_value, rspauth):
            return _Finding(
                CORRECT,
                f"{text}; but the server's rspauth{_at(proof[0])} does not prove it: "
                "the server does not know this password",
                "bad-rspauth",
                side=SIDE_SERVER,
            )
    return _Finding(CORRECT, text)


def _digest_rules(
    ctx: _Context, challenge: digest_md5.Challenge, response: digest_md5.Response
) -> _Finding | None:
    """What a server checks besides the password: nonce, nc, qop, realm."""
    if response.nonce != challenge.nonce:
        return _Finding(
            WRONG,
            "DIGEST-MD5: the response carries another nonce than the challenge's",
            "wrong-nonce",
        )
    if response.nc != digest_md5.FIRST_NC:
        return _Finding(
            WRONG,
            f"DIGEST-MD5: nc is {response.nc}; the first response must send {digest_md5.FIRST_NC}",
            "wrong-nc",
        )
    if response.qop.lower() not in challenge.qops:
        return _Finding(
            WRONG,
            f"DIGEST-MD5: qop {response.qop!r} was not offered ({','.join(challenge.qops)})",
            "qop-not-offered",
        )
    if challenge.realms and response.realm is None:
        return _Finding(
            WRONG,
            f"DIGEST-MD5: the response has no realm; the server offered "
            f"{', '.join(map(repr, challenge.realms))}",
            "missing-realm",
        )
    if challenge.realms and response.realm not in challenge.realms:
        return _Finding(
            WRONG,
            f"DIGEST-MD5: realm {response.realm!r} was not offered; the server "
            f"offered {', '.join(map(repr, challenge.realms))}",
            "wrong-realm",
        )
    return None


def _digest_uri_rules(
    ctx: _Context, challenge: digest_md5.Challenge, response: digest_md5.Response
) -> _Finding | None:
    service, host, _ = digest_md5.split_digest_uri(response.digest_uri)
    uri = response.digest_uri
    if ctx.service is not None and service != ctx.service:
        case = " (they differ in case only)" if service.lower() == ctx.service.lower() else ""
        return _Finding(
            WRONG,
            f"DIGEST-MD5: digest-uri {uri!r} names service {service!r}, not {ctx.service!r}{case}",
            "wrong-service",
        )
    if ctx.host is not None and host.lower() != ctx.host.lower():
        realms = {r.lower() for r in (*challenge.realms, response.realm or "") if r}
        if host.lower() in realms:
            return _Finding(
                WRONG,
                f"DIGEST-MD5: digest-uri {uri!r} is built from the realm; it "
                f"must name the server's host {ctx.host!r}",
                "digest-uri-from-realm",
            )
        return _Finding(
            WRONG,
            f"DIGEST-MD5: digest-uri {uri!r} names host {host!r}, not {ctx.host!r}",
            "wrong-host",
        )
    return None


@dataclass(frozen=True)
class _A1:
    """One way a client may have computed H(A1): binary, as the mistake named."""

    mistake: str | None
    explanation: str
    h_a1: bytes


def _a1_variants(
    ctx: _Context, challenge: digest_md5.Challenge, r: digest_md5.Response, password: str
) -> list[_A1]:
    nonce, cnonce = r.nonce.encode("iso-8859-1"), r.cnonce.encode("iso-8859-1")
    authzid = r.authzid.encode("utf-8")
    realm = r.realm or ""

    def sess(secret: bytes, authzid: bytes = authzid) -> bytes:
        return digest_md5.h_a1(secret, nonce, cnonce, authzid)

    def secret(user: str, realm: str) -> bytes:
        return digest_md5.user_secret(user, realm, password, utf8=True)

    own = digest_md5.session_key(r, password)
    out = [_A1(None, "", own)]
    out.append(
        _A1(
            "hex-h-a1",
            "H(A1) is built on the hex of H(user:realm:password), as "
            "RFC 2617's MD5-sess does; RFC 2831 2.1.2.1 takes its 16 binary octets",
            sess(secret(r.username, realm).hex().encode("ascii")),
        )
    )
    http_md5 = http_digest.h_a1(
        _MD5, r.username, realm, password, nonce=r.nonce, cnonce=r.cnonce, utf8=False
    )
    out.append(
        _A1(
            "hex-h-a1",
            "A1 is RFC 2617's MD5 A1 (user:realm:password) without the md5-sess nonce and cnonce",
            bytes.fromhex(http_md5),
        )
    )
    if r.authzid:
        out.append(
            _A1(
                "authzid-not-in-a1",
                "the authzid is sent but left out of A1 (RFC 2831 2.1.2.1 appends it)",
                sess(secret(r.username, realm), b""),
            )
        )
    names = ("user name", "realm", "password")
    values = (r.username, realm, password)
    convertible = [i for i, v in enumerate(values) if not v.isascii() and digest_md5.fits_latin1(v)]
    for chosen in itertools.chain.from_iterable(
        itertools.combinations(convertible, n) for n in range(len(convertible), 0, -1)
    ):
        octets = (v.encode("utf-8" if i in chosen else "iso-8859-1") for i, v in enumerate(values))
        utf8 = hashlib.md5(b":".join(octets)).digest()  # noqa: S324 -- the client's mistake
        which = " and ".join(names[i] for i in chosen)
        out.append(
            _A1(
                "missing-latin1-conversion",
                f"the {which} is hashed as UTF-8; RFC 2831 "
                "2.1.2.1 converts it to ISO 8859-1 when it fits",
                sess(utf8),
            )
        )
    realms = [x for x in (*challenge.realms, "", ctx.host or "") if x != realm]
    for other in dict.fromkeys(realms):
        mistake = "missing-realm" if r.realm is None else "wrong-realm"
        out.append(
            _A1(
                mistake,
                f"the hash uses realm {other!r} but the response sends {r.realm!r}",
                sess(secret(r.username, other)),
            )
        )
    users = {r.username.lower(), r.username.upper(), r.username.capitalize()}
    if ctx.username is not None and ctx.username.lower() == r.username.lower():
        users.add(ctx.username)
    for user in sorted(users - {r.username}):
        out.append(
            _A1(
                "username-case",
                f"the hash uses user name {user!r} but the response sends {r.username!r}",
                sess(secret(user, realm)),
            )
        )
    return out


def _digest_variant(
    ctx: _Context, challenge: digest_md5.Challenge, r: digest_md5.Response
) -> _Finding:
    """The known mistake whose response value the client sent, else "password does not match"."""
    assert ctx.password is not None
    nonce, cnonce = r.nonce.encode("iso-8859-1"), r.cnonce.encode("iso-8859-1")
    uri = r.digest_uri.encode("utf-8")
    for a1 in _a1_variants(ctx, challenge, r, ctx.password):
        if a1.mistake is not None and secrets_equal(
            r.response,
            digest_md5.response_value(
                a1.h_a1,
                nonce=nonce,
                nc=r.nc.encode("ascii"),
                cnonce=cnonce,
                qop=r.qop,
                digest_uri=uri,
                rspauth=False,
            ),
        ):
            return _Finding(WRONG, f"DIGEST-MD5: {a1.explanation}", a1.mistake)
        for method in ("", *_HTTP_METHODS):
            h_a2 = http_digest.h_a2(_MD5, method, r.digest_uri, r.qop.lower())
            value = http_digest.response_value(
                _MD5,
                a1.h_a1.hex(),
                h_a2,
                nonce=r.nonce,
                nc=int(r.nc, 16),
                cnonce=r.cnonce,
                qop=r.qop,
            )
            if secrets_equal(r.response, value):
                return _Finding(WRONG, _a2_explanation(method, a1), _a2_mistake(method))
    found = _digest_rules(ctx, challenge, r)  # a missing realm may be the whole story
    text = f"DIGEST-MD5: the password does not match for user {r.username!r}"
    if found is not None:
        return replace(found, explanation=f"{found.explanation}; and {text[12:]}")
    return _Finding(WRONG, text + " (no known mistake reproduces the response)")


def _a2_mistake(method: str) -> str:
    return "rspauth-a2" if not method else "http-method-uri"


def _a2_explanation(method: str, a1: _A1) -> str:
    if not method:
        text = (
            "DIGEST-MD5: A2 is ':' digest-uri, the formula of the server's rspauth; "
            "the client's response uses 'AUTHENTICATE:' digest-uri (RFC 2831 2.1.2.1)"
        )
    else:
        text = (
            f"DIGEST-MD5: A2 is RFC 2617's HTTP Method:uri ('{method}:' digest-uri); "
            "RFC 2831 2.1.2.1 has 'AUTHENTICATE:' digest-uri"
        )
    return text + (f"; also, {a1.explanation}" if a1.mistake else "")


# --- SCRAM --------------------------------------------------------------------------------


def _attributes(message: Message, text: str, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(","):
        key, equals, value = part.partition("=")
        if len(key) != 1 or not equals:
            side = SIDE_CLIENT if message.side == CLIENT else SIDE_SERVER
            raise _Malformed(side, f"SCRAM: {what} has a malformed attribute{_at(message)}")
        found.setdefault(key, value)
    return found


def _b64(message: Message, text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        side = SIDE_CLIENT if message.side == CLIENT else SIDE_SERVER
        raise _Malformed(side, f"SCRAM: {what} is not base64{_at(message)}") from None


def _scram(ctx: _Context) -> _Finding:
    name = ctx.exchange.mechanism.upper()
    hash_name = scram.HASHES[name.removesuffix("-PLUS").removeprefix("SCRAM-")]
    sent, received = ctx.client(), ctx.server()
    if sent and not sent[0].text.strip("=") and len(sent) > 1:
        sent = sent[1:]
    first_message = _nth(sent, 0, "SCRAM client-first message", SIDE_CLIENT)
    first = _text(first_message, _data(first_message), "SCRAM client-first message")
    parts = first.split(",", 2)
    if len(parts) != 3 or parts[0][:2] not in ("n", "y", "p="):
        raise _Malformed(
            SIDE_CLIENT,
            f"SCRAM: the client-first message does not start with a "
            f"GS2 header (n,, y,, p=...){_at(first_message)}",
        )
    gs2_header, bare = f"{parts[0]},{parts[1]},", parts[2]
    client_attrs = _attributes(first_message, bare, "client-first message")
    user = client_attrs.get("n", "")
    received = [m for m in received if m.text]  # the empty challenge that asks for the first
    server_first_message = _nth(received, 0, "SCRAM server-first message", SIDE_SERVER)
    server_first = _text(
        server_first_message, _data(server_first_message), "SCRAM server-first message"
    )
    server_attrs = _attributes(server_first_message, server_first, "server-first message")
    nonce = server_attrs.get("r", "")
    if not nonce.startswith(client_attrs.get("r", "\0")):
        raise _Malformed(
            SIDE_SERVER,
            f"SCRAM: the server's nonce does not extend the client's{_at(server_first_message)}",
        )
    final_message = _nth(sent, 1, "SCRAM client-final message", SIDE_CLIENT)
    final = _text(final_message, _data(final_message), "SCRAM client-final message")
    without_proof, _, proof_text = final.rpartition(",p=")
    final_attrs = _attributes(final_message, without_proof, "client-final message")
    if not without_proof:
        raise _Malformed(
            SIDE_CLIENT, f"SCRAM: the client-final message has no proof (p=){_at(final_message)}"
        )
    if final_attrs.get("r") != nonce:
        return _Finding(
            WRONG,
            "SCRAM: the client-final message repeats another nonce than the "
            "server's combined nonce (RFC 5802 5.1)",
            "scram-wrong-nonce",
        )
    binding = _b64(final_message, final_attrs.get("c", ""), "channel binding (c=)")
    if not binding.startswith(gs2_header.encode("utf-8")) or (
        not gs2_header.startswith("p=") and binding != gs2_header.encode("utf-8")
    ):
        return _Finding(
            WRONG,
            "SCRAM: c= is not the base64 of the GS2 header (plus the "
            "channel binding data with -PLUS)",
            "scram-wrong-channel-binding",
        )
    if ctx.password is None:
        return _no_password(f"{name} messages well-formed for user {user!r}")
    proof = _b64(final_message, proof_text, "proof (p=)")
    salt = _b64(server_first_message, server_attrs.get("s", ""), "salt (s=)")
    iterations_text = server_attrs.get("i", "")
    if not iterations_text.isdigit() or not 0 < int(iterations_text) <= 10_000_000:
        raise _Malformed(
            SIDE_SERVER,
            f"SCRAM: the iteration count is not a usable number{_at(server_first_message)}",
        )
    iterations = int(iterations_text)

    def proof_for(password: str, salt: bytes, auth_message: str) -> bytes:
        salted = scram.salted_password(hash_name, password, salt, iterations)
        key = scram.client_key(hash_name, salted)
        return scram.client_proof(hash_name, key, auth_message.encode("utf-8"))

    try:
        prepared = saslprep(ctx.password, allow_unassigned=True)
    except MalformedMessage:
        prepared = ctx.password
    auth_message = f"{bare},{server_first},{without_proof}"
    if hmac.compare_digest(proof, proof_for(prepared, salt, auth_message)):
        found = _user_mismatch(
            scram.unescape_saslname(user, "user name") if user else user, ctx.username
        )
        if found is not None:
            return found
        return _scram_server_proof(
            ctx, hash_name, prepared, salt, iterations, auth_message, received, user
        )
    variants = [
        (
            "scram-auth-message-with-gs2-header",
            "AuthMessage starts with the whole "
            "client-first message, GS2 header included; RFC 5802 3 takes client-first-message-bare",
            prepared,
            salt,
            f"{gs2_header}{auth_message}",
        ),
        (
            "scram-salt-not-decoded",
            "the salt is used as its base64 text, not decoded",
            prepared,
            server_attrs.get("s", "").encode("ascii", "replace"),
            auth_message,
        ),
    ]
    if prepared != ctx.password:
        variants.append(
            (
                "missing-saslprep",
                "the password is not prepared with SASLprep (RFC 5802 2.2)",
                ctx.password,
                salt,
                auth_message,
            )
        )
    for mistake, explanation, password, salt_used, message in variants:
        if hmac.compare_digest(proof, proof_for(password, salt_used, message)):
            return _Finding(WRONG, f"{name}: {explanation}", mistake)
    return _Finding(WRONG, f"{name}: the password does not match for user {user!r}")


def _scram_server_proof(
    ctx: _Context,
    hash_name: str,
    password: str,
    salt: bytes,
    iterations: int,
    auth_message: str,
    received: list[Message],
    user: str,
) -> _Finding:
    name = ctx.exchange.mechanism.upper()
    text = f"{name}: the proof is right for user {user!r}"
    if len(received) < 2:
        return _Finding(CORRECT, text)
    final = _text(received[1], _data(received[1]), "SCRAM server-final message")
    if final.startswith("e="):
        return _Finding(CORRECT, f"{text}; the server answered with error {final[2:]!r}")
    attrs = _attributes(received[1], final, "server-final message")
    salted = scram.salted_password(hash_name, password, salt, iterations)
    expected = scram.server_signature(
        hash_name, scram.server_key(hash_name, salted), auth_message.encode("utf-8")
    )
    if not hmac.compare_digest(_b64(received[1], attrs.get("v", ""), "signature (v=)"), expected):
        return _Finding(
            CORRECT,
            f"{text}; but the server's signature (v=){_at(received[1])} "
            "does not verify: it does not know this password",
            "bad-server-signature",
            side=SIDE_SERVER,
        )
    return _Finding(CORRECT, text)


_CHECKERS: dict[str, Callable[[_Context], _Finding]] = {
    "PLAIN": _plain,
    "LOGIN": _login,
    "CRAM-MD5": _cram_md5,
    "DIGEST-MD5": _digest_md5,
    **{f"SCRAM-{h}": _scram for h in scram.HASHES},
}
