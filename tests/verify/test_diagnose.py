"""diagnose: crafted DIGEST-MD5 responses with each known mistake applied, CRAM-MD5 and
PLAIN mix-ups, malformed messages, and what can be said without a password."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest

from sasl_kit import http_digest, verify
from sasl_kit.mechanisms import digest_md5 as d
from sasl_kit.mechanisms.cram_md5 import cram_md5_digest

USER, PASSWORD, REALM = "chris", "secret", "EXAMPLE.ORG"
SERVICE, HOST = "smtp", "mail.example.org"
LATIN1_USER, LATIN1_PASSWORD = "jürgen", "pässwörd"  # both fit ISO 8859-1
NONCE, CNONCE = "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk"
MD5, MD5_SESS = http_digest.algorithm("MD5"), http_digest.algorithm("MD5-sess")
CHALLENGE = d.Challenge(NONCE, (REALM,))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _smtp(
    mechanism: str, *steps: bytes, reply: str = "535 5.7.8 failed", initial: bytes | None = None
) -> verify.Exchange:
    """An SMTP exchange: server and client messages alternate, the server first."""
    sides = ("S", "C") * len(steps)
    messages = tuple(
        verify.Message.of(side, data) for side, data in zip(sides, steps, strict=False)
    )
    first = None if initial is None else verify.Message.of("C", initial)
    outcome = verify.Outcome(reply.startswith("2"), reply)
    return verify.Exchange("smtp", mechanism, first, messages, outcome)


def _response(**changes: object) -> d.Response:
    return replace(
        d.Response(USER, REALM, NONCE, CNONCE, "00000001", d.digest_uri(SERVICE, HOST), ""),
        **changes,
    )


def _value(r: d.Response, key: bytes, *, rspauth: bool = False) -> str:
    return d.response_value(
        key,
        nonce=r.nonce.encode(),
        nc=r.nc.encode(),
        cnonce=r.cnonce.encode(),
        qop=r.qop,
        digest_uri=r.digest_uri.encode(),
        rspauth=rspauth,
    )


def _sess(r: d.Response, secret: bytes, authzid: str | None = None) -> bytes:
    authzid = r.authzid if authzid is None else authzid
    return d.h_a1(secret, r.nonce.encode(), r.cnonce.encode(), authzid.encode())


def _http(r: d.Response, method: str, ha1: str) -> str:
    ha2 = http_digest.h_a2(MD5, method, r.digest_uri, r.qop)
    return http_digest.response_value(
        MD5, ha1, ha2, nonce=r.nonce, nc=1, cnonce=r.cnonce, qop=r.qop
    )


def _consistent(r: d.Response, password: str = PASSWORD) -> d.Response:
    return replace(r, response=d.response_digests(r, password)[0])


def _seed() -> d.Response:
    """RFC 2617's MD5-sess formula with Method:uri, as hand-written HTTP code computes it."""
    r = _response()
    ha1 = http_digest.h_a1(MD5_SESS, USER, REALM, PASSWORD, nonce=NONCE, cnonce=CNONCE, utf8=False)
    return replace(r, response=_http(r, "POST", ha1))


def _method_only() -> d.Response:
    r = _response()
    return replace(r, response=_http(r, "GET", d.session_key(r, PASSWORD).hex()))


def _hex_h_a1() -> d.Response:
    r = _response()
    secret = d.user_secret(USER, REALM, PASSWORD, utf8=True).hex().encode()
    return replace(r, response=_value(r, _sess(r, secret)))


def _latin1() -> d.Response:
    r = _response(username=LATIN1_USER)
    utf8 = hashlib.md5(f"{LATIN1_USER}:{REALM}:{LATIN1_PASSWORD}".encode()).digest()  # noqa: S324
    return replace(r, response=_value(r, _sess(r, utf8)))


def _hashed_with(username: str, hashed_realm: str, **changes: object) -> d.Response:
    """A response whose hash uses ``username`` and ``hashed_realm``, whatever it sends."""
    r = _response(**changes)
    secret = d.user_secret(username, hashed_realm, PASSWORD, utf8=True)
    return replace(r, response=_value(r, _sess(r, secret)))


def _authzid_left_out() -> d.Response:
    r = _response(authzid="admin")
    return replace(
        r, response=_value(r, _sess(r, d.user_secret(USER, REALM, PASSWORD, utf8=True), ""))
    )


def _rspauth_formula() -> d.Response:
    r = _response()
    return replace(r, response=_value(r, d.session_key(r, PASSWORD), rspauth=True))


CRAFTED = {
    "http-method-uri (RFC 2617 MD5-sess, the seed)": (_seed, "http-method-uri"),
    "http-method-uri (binary H(A1))": (_method_only, "http-method-uri"),
    "hex-h-a1": (_hex_h_a1, "hex-h-a1"),
    "digest-uri-from-realm": (
        lambda: _consistent(_response(digest_uri=d.digest_uri(SERVICE, REALM))),
        "digest-uri-from-realm",
    ),
    "wrong-service": (
        lambda: _consistent(_response(digest_uri=d.digest_uri("imap", HOST))),
        "wrong-service",
    ),
    "wrong-service (case)": (
        lambda: _consistent(_response(digest_uri=d.digest_uri("SMTP", HOST))),
        "wrong-service",
    ),
    "wrong-realm (not offered)": (lambda: _consistent(_response(realm="OTHER.ORG")), "wrong-realm"),
    "wrong-realm (hashed without it)": (lambda: _hashed_with(USER, ""), "wrong-realm"),
    "missing-realm": (lambda: _hashed_with(USER, REALM, realm=None), "missing-realm"),
    "missing-latin1-conversion": (_latin1, "missing-latin1-conversion"),
    "username-case (hashed)": (lambda: _hashed_with("Chris", REALM), "username-case"),
    "authzid-not-in-a1": (_authzid_left_out, "authzid-not-in-a1"),
    "rspauth-a2": (_rspauth_formula, "rspauth-a2"),
    "wrong-nonce": (lambda: _consistent(_response(nonce="other")), "wrong-nonce"),
    "wrong-nc": (lambda: _consistent(_response(nc="00000002")), "wrong-nc"),
}


@pytest.mark.parametrize(("build", "mistake"), CRAFTED.values(), ids=CRAFTED.keys())
def test_each_crafted_digest_md5_mistake_is_named(build, mistake) -> None:  # type: ignore[no-untyped-def]
    r = build()
    password = LATIN1_PASSWORD if r.username == LATIN1_USER else PASSWORD
    exchange = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(r))
    diagnosis = verify.diagnose(exchange, password=password, service=SERVICE, host=HOST)
    assert (diagnosis.verdict, diagnosis.side, diagnosis.mistake) == ("wrong", "client", mistake), (
        diagnosis
    )
    assert password not in diagnosis.explanation


def test_the_seed_case_is_named_rfc_2617_method_uri() -> None:
    exchange = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(_seed()))
    diagnosis = verify.diagnose(exchange, password=PASSWORD, service=SERVICE, host=HOST)
    assert diagnosis.mistake == "http-method-uri"
    assert "RFC 2617" in diagnosis.explanation and "Method:uri" in diagnosis.explanation


def test_a_correct_digest_md5_response_rejected_blames_the_server() -> None:
    r = _consistent(_response())
    exchange = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(r))
    diagnosis = verify.diagnose(exchange, password=PASSWORD, service=SERVICE, host=HOST)
    assert (diagnosis.verdict, diagnosis.side, diagnosis.mistake) == ("correct", "server", None)
    assert any("saslauthd" in c for c in diagnosis.server_causes)
    assert any("realm" in c for c in diagnosis.server_causes)


def test_username_case_against_the_expected_user() -> None:
    r = _consistent(_response(username="Chris"))
    exchange = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(r))
    diagnosis = verify.diagnose(exchange, username=USER, password=PASSWORD)
    assert diagnosis.mistake == "username-case"


def test_a_digest_md5_response_no_mistake_explains_is_a_password_mismatch() -> None:
    r = _consistent(_response(), "another password")
    exchange = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(r))
    diagnosis = verify.diagnose(exchange, password=PASSWORD, service=SERVICE, host=HOST)
    assert (diagnosis.verdict, diagnosis.mistake) == ("wrong", None)
    assert "password does not match" in diagnosis.explanation


CHALLENGE_CRAM = b"<1896.697170952@postoffice.reston.mci.net>"
MD5_PASSWORD = hashlib.md5(PASSWORD.encode())  # noqa: S324
CRAM = {
    "cram-keyed-with-username": f"{USER} {cram_md5_digest(USER, CHALLENGE_CRAM)}",
    "cram-base64-challenge": f"{USER} {cram_md5_digest(PASSWORD, _b64(CHALLENGE_CRAM).encode())}",
    "cram-hashed-password": f"{USER} {cram_md5_digest(MD5_PASSWORD.hexdigest(), CHALLENGE_CRAM)}",
    "cram-key-and-message-swapped": f"{USER} "
    + hmac.new(CHALLENGE_CRAM, PASSWORD.encode(), "md5").hexdigest(),
    "cram-uppercase-hex": f"{USER} {cram_md5_digest(PASSWORD, CHALLENGE_CRAM).upper()}",
    "username-case": f"Chris {cram_md5_digest(PASSWORD, CHALLENGE_CRAM)}",
}


@pytest.mark.parametrize(("mistake", "response"), CRAM.items(), ids=CRAM.keys())
def test_each_cram_md5_mistake_is_named(mistake: str, response: str) -> None:
    exchange = _smtp("CRAM-MD5", CHALLENGE_CRAM, response.encode())
    diagnosis = verify.diagnose(exchange, username=USER, password=PASSWORD)
    assert (diagnosis.verdict, diagnosis.mistake) == ("wrong", mistake), diagnosis


@pytest.mark.parametrize(
    ("message", "mistake"),
    [
        (b"chris\0\0secret", "plain-authzid-swap"),
        (b"chris\0ops\0secret", "plain-authzid-swap"),
        (b"\0secret\0chris", "plain-field-order"),
    ],
)
def test_plain_field_mixups_are_named(message: bytes, mistake: str) -> None:
    exchange = _smtp("PLAIN", initial=message)
    diagnosis = verify.diagnose(exchange, username=USER, password=PASSWORD)
    assert (diagnosis.verdict, diagnosis.mistake) == ("wrong", mistake), diagnosis
    assert PASSWORD not in diagnosis.explanation


def test_bad_base64_is_malformed_and_names_the_line() -> None:
    exchanges = verify.read("C: AUTH CRAM-MD5\nS: 334 PDE+\nC: not base64!\nS: 535 no\n")
    diagnosis = verify.diagnose(exchanges[0], password=PASSWORD)
    assert (diagnosis.verdict, diagnosis.side) == ("malformed", "client")
    assert "line 3" in diagnosis.explanation and "base64" in diagnosis.explanation


def test_broken_directives_are_malformed_and_say_where() -> None:
    exchange = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), b'username="chris,nonce=x')
    diagnosis = verify.diagnose(exchange, password=PASSWORD)
    assert (diagnosis.verdict, diagnosis.side) == ("malformed", "client")
    assert "byte" in diagnosis.explanation


def test_a_malformed_challenge_is_the_servers() -> None:
    exchange = _smtp("DIGEST-MD5", b"nonce=abc", b"")
    assert verify.diagnose(exchange, password=PASSWORD).side == "server"


def test_without_a_password_syntax_is_checked_and_the_verdict_is_unverifiable() -> None:
    good = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(_seed()))
    assert verify.diagnose(good).verdict == "unverifiable"
    realm = _consistent(_response(realm="OTHER.ORG"))
    wrong = _smtp("DIGEST-MD5", d.format_challenge(CHALLENGE), d.format_response(realm))
    assert verify.diagnose(wrong).mistake == "wrong-realm"


def test_an_unchecked_mechanism_is_unverifiable() -> None:
    exchange = _smtp("GSSAPI", b"", b"token")
    assert verify.diagnose(exchange, password=PASSWORD).verdict == "unverifiable"
