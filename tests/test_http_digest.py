"""HTTP Digest (sasl_kit.http_digest): headers, formulas, both sides (vectors: test_vectors)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sasl_kit import http_digest as hd
from sasl_kit.errors import AuthenticationFailed, MalformedMessage, PolicyRefused, UsageError
from sasl_kit.mechanisms.base import NonceCounts

PASSWORD = "Sëcret-pässword-42"
USERS = {"alice": PASSWORD, "J\u00e4s\u00f8n Doe": "Secret, or not?"}
URI = "/dir/index.html"


def _lookup(user: str, realm: str) -> str | None:
    return USERS.get(user)


def _server(**options: object) -> hd.Server:
    return hd.Server("api@example.org", **options)  # type: ignore[arg-type]


def _login(
    server: hd.Server, user: str = "alice", *, qop: str | None = None, body: bytes = b""
) -> hd.Authorization:
    challenge = server.challenges()[0]
    return hd.respond(challenge, user, USERS[user], "POST", URI, body, qop=qop)


# --- Headers ------------------------------------------------------------------------------


def test_www_authenticate_keeps_digest_challenges_among_other_schemes_in_order() -> None:
    value = (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", '
        'Digest realm="a", nonce="n1", algorithm=SHA-256, qop="auth, auth-int", '
        'Bearer mF_9.B5f-4.1JqM==, , Digest realm="a", nonce="n1", algorithm=MD5, Negotiate'
    )
    found = hd.parse_challenges(value)
    assert [(c.algorithm, c.qops) for c in found] == [
        ("SHA-256", ("auth", "auth-int")),
        ("MD5", ()),
    ]


def test_digest_challenge_with_unknown_algorithm_is_ignored() -> None:
    value = 'Digest realm="a", nonce="n", algorithm=SHA3-999, Digest realm="a", nonce="n"'
    assert [c.algorithm for c in hd.parse_challenges(value)] == ["MD5"]


def test_names_and_values_are_case_insensitive_where_the_rfc_says() -> None:
    (challenge,) = hd.parse_challenges(
        'DIGEST Realm="a", NONCE="n", Algorithm=sha-256-SESS, QOP="AUTH", Stale=TRUE, '
        "CharSet=utf-8, UserHash=True"
    )
    assert challenge == hd.Challenge(
        "a", "n", ("auth",), "SHA-256-sess", stale=True, utf8=True, userhash=True
    )


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('Digest realm="a", realm="b", nonce="n"', "'realm' appears twice"),
        ('Digest realm="a"', "'nonce' is missing"),
        ('Digest realm="a, nonce=n', "not closed"),
        ('Digest realm="a", nonce="n", qop="auth-conf"', "qop offers none"),
        ('Digest realm="a", nonce="n", charset=latin-1', "charset must be UTF-8"),
        ('Digest realm="a", nonce="n", algorithm=MD5-sess', "without qop"),
        ("Digest abc==", "not a token68"),
        ('Digest realm="a"\r\n, nonce="n"', "character '\\r'"),
        ('Digest realm="a" nonce="n"', "expected ','"),
        ('="a"', "expected an authentication scheme"),
    ],
)
def test_malformed_challenge_names_what_is_wrong(value: str, named: str) -> None:
    with pytest.raises(MalformedMessage, match=r"^WWW-Authenticate: ") as caught:
        hd.parse_challenges(value)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nc": "1"}, "nc must be 8 lower-case hex digits"),
        ({"response": "abc"}, "response must be 64 hex digits"),
        ({"qop": "auth-conf"}, "qop must be one of"),
        ({"cnonce": None}, "'cnonce' is missing"),
        ({"username*": "UTF-8''bob"}, "both 'username' and 'username*'"),
        ({"algorithm": "SHA-1"}, "unknown algorithm"),
    ],
)
def test_malformed_authorization_names_what_is_wrong(
    change: dict[str, str | None], named: str
) -> None:
    server = _server()
    params = dict(_params(hd.format_authorization(_login(server))))
    params.update(change)
    value = "Digest " + ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)
    with pytest.raises(MalformedMessage, match=r"^Authorization: ") as caught:
        hd.parse_authorization(value)
    assert named in str(caught.value)


def _params(value: str) -> list[tuple[str, str]]:
    """The parameters of a formatted value as written (quotes kept): it has no ', ' inside."""
    return [tuple(p.split("=", 1)) for p in value.removeprefix("Digest ").split(", ")]  # type: ignore[misc]


def test_authorization_is_one_set_of_digest_credentials() -> None:
    with pytest.raises(MalformedMessage, match="scheme 'Basic' is not Digest"):
        hd.parse_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    value = hd.format_authorization(_login(_server()))
    with pytest.raises(MalformedMessage, match="one set of credentials, found 2"):
        hd.parse_authorization(f"{value}, {value}")


def test_non_ascii_user_name_goes_as_username_star_and_comes_back() -> None:
    sent = _login(_server(), "J\u00e4s\u00f8n Doe")
    value = hd.format_authorization(sent)
    assert "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe," in value
    assert hd.parse_authorization(value) == sent


def test_formatting_refuses_a_line_break_in_a_value() -> None:
    sent = _login(_server())
    with pytest.raises(UsageError, match="uri has a character a header cannot carry"):
        hd.format_authorization(dataclasses.replace(sent, uri="/\r\nX-Evil: 1"))


_TEXT = st.text(st.characters(max_codepoint=0xFF, blacklist_categories=("Cc",)), max_size=20)
_TOKEN = st.text(st.sampled_from("abcXYZ019-._~"), min_size=1, max_size=12)

CHALLENGES = st.builds(
    hd.Challenge,
    realm=_TEXT,
    nonce=_TEXT,
    qops=st.sampled_from([("auth",), ("auth-int",), ("auth", "auth-int")]),
    algorithm=st.sampled_from(hd._names()),
    opaque=st.none() | _TEXT,
    stale=st.booleans(),
    utf8=st.booleans(),
    userhash=st.booleans(),
)


@given(CHALLENGES)
def test_challenge_survives_format_and_parse(challenge: hd.Challenge) -> None:
    assert hd.parse_challenges(hd.format_challenge(challenge)) == (challenge,)


@given(
    st.builds(
        hd.Authorization,
        username=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
        realm=_TEXT,
        nonce=_TEXT,
        uri=_TEXT,
        response=st.just("0" * 64),
        algorithm=st.just("SHA-256"),
        qop=st.sampled_from(hd.QOPS),
        cnonce=_TOKEN,
        nc=st.integers(1, hd.MAX_NC),
        opaque=st.none() | _TEXT,
    )
)
def test_authorization_survives_format_and_parse(authorization: hd.Authorization) -> None:
    assert hd.parse_authorization(hd.format_authorization(authorization)) == authorization


_HEADERISH = st.text(
    st.sampled_from('Digest realm="a\\", nonce=b,=*  \t\r\n\x00é日username*UTF-8%')
)


@given(st.one_of(st.text(), _HEADERISH))
def test_parsers_raise_only_malformed_message_on_garbage(value: str) -> None:
    for parse in (hd.parse_challenges, hd.parse_authorization):
        with contextlib.suppress(MalformedMessage):
            parse(value)


# --- Formulas -----------------------------------------------------------------------------


def test_sha512_256_fallback_from_cryptography_equals_hashlib() -> None:
    data = b"J\xc3\xa4s\xc3\xb8n Doe:api@example.org"
    assert hd._sha512_256_cryptography(data) == hashlib.new("sha512_256", data).digest()
    assert hd._sha512_256_cryptography(data) != hashlib.sha512(data).digest()[:32]


def test_auth_int_hashes_the_entity_body_into_a2() -> None:
    """RFC 7616 3.4.3: A2 = Method ":" request-uri ":" H(entity-body), written out here."""
    alg = hd.algorithm("SHA-256")
    body = b'{"a": 1}'
    inner = hashlib.sha256(body).hexdigest()
    want = hashlib.sha256(f"POST:{URI}:{inner}".encode()).hexdigest()
    assert hd.h_a2(alg, "POST", URI, "auth-int", body) == want
    plain = hashlib.sha256(f"POST:{URI}".encode()).hexdigest()
    assert hd.h_a2(alg, "POST", URI, "auth", body) == plain


def test_sess_algorithms_hash_h_a1_in_hex_with_nonce_and_cnonce() -> None:
    """RFC 7616 3.4.2: A1 = H(user:realm:pass) ":" nonce ":" cnonce, the inner H in hex
    (DIGEST-MD5 takes the 16 binary octets instead)."""
    alg = hd.algorithm("MD5-sess")
    inner = hashlib.md5(b"alice:r:pw").hexdigest()  # noqa: S324
    want = hashlib.md5(f"{inner}:n:c".encode()).hexdigest()  # noqa: S324
    assert hd.h_a1(alg, "alice", "r", "pw", nonce="n", cnonce="c", utf8=False) == want


def test_charset_utf8_hashes_user_name_nfc_normalized() -> None:
    alg = hd.algorithm("SHA-256")
    composed, decomposed = "J\u00e4s\u00f8n", "Ja\u0308s\u00f8n"
    nfc = hd.userhash(alg, composed, "r", utf8=True)
    assert hd.userhash(alg, decomposed, "r", utf8=True) == nfc
    latin1 = hashlib.sha256("J\u00e4s\u00f8n:r".encode("iso-8859-1")).hexdigest()
    assert hd.userhash(alg, composed, "r", utf8=False) == latin1


def test_challenge_without_qop_gets_the_rfc_2069_response() -> None:
    """RFC 2617 3.2.2.1: without qop, KD(H(A1), nonce ":" H(A2)), and no cnonce or nc."""
    (challenge,) = hd.parse_challenges('Digest realm="r", nonce="n"')
    sent = hd.respond(challenge, "alice", "pw", "GET", "/")
    ha1 = hashlib.md5(b"alice:r:pw").hexdigest()  # noqa: S324
    ha2 = hashlib.md5(b"GET:/").hexdigest()  # noqa: S324
    assert (sent.qop, sent.cnonce, sent.nc) == (None, None, None)
    assert sent.response == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()  # noqa: S324
    assert hd.verify(hd.format_authorization(sent), "GET", b"", lambda u, r: "pw") == "alice"


# --- Client -------------------------------------------------------------------------------


def test_client_takes_the_first_challenge_or_the_algorithm_asked_for() -> None:
    offered = _server(algorithms=("SHA-512-256", "SHA-256", "MD5")).challenges()
    assert hd.choose(offered).algorithm == "SHA-512-256"
    assert hd.choose(offered, "md5").algorithm == "MD5"
    with pytest.raises(PolicyRefused, match="offers SHA-512-256, SHA-256, MD5, not MD5-sess"):
        hd.choose(offered, "MD5-sess")


def test_client_refuses_a_qop_the_server_does_not_offer() -> None:
    with pytest.raises(PolicyRefused, match="offers qop auth, not auth-int"):
        _login(_server(), qop="auth-int")


# --- Server -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", hd._names())
@pytest.mark.parametrize("qop", hd.QOPS)
def test_server_accepts_every_algorithm_and_qop(name: str, qop: str) -> None:
    server = _server(algorithms=(name,), qops=hd.QOPS)
    sent = _login(server, qop=qop, body=b"payload")
    assert server.verify(hd.format_authorization(sent), "POST", b"payload", _lookup) == "alice"


def test_auth_int_refuses_another_body() -> None:
    server = _server(qops=("auth-int",))
    sent = _login(server, body=b"payload")
    with pytest.raises(AuthenticationFailed):
        server.verify(sent, "POST", b"payl0ad", _lookup)


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    server = _server()
    sent = _login(server)
    with pytest.raises(AuthenticationFailed) as wrong:
        server.verify(sent, "POST", b"", lambda u, r: "not it")
    with pytest.raises(AuthenticationFailed) as unknown:
        server.verify(sent, "POST", b"", lambda u, r: None)
    assert str(wrong.value) == str(unknown.value)
    assert PASSWORD not in str(wrong.value) and PASSWORD not in repr(sent)


def test_nonce_count_must_rise_on_the_nonce() -> None:
    server = _server()
    challenge = server.challenges()[0]

    def request(nc: int) -> str:
        sent = hd.respond(challenge, "alice", PASSWORD, "GET", URI, nc=nc)
        return server.verify(sent, "GET", b"", _lookup)

    assert request(1) == request(2) == request(5) == "alice"
    for replayed in (5, 3):
        with pytest.raises(AuthenticationFailed, match="replayed nonce count"):
            request(replayed)


def test_forgotten_nonce_is_stale_only_with_the_right_password() -> None:
    server = _server(nonce_counts=NonceCounts(capacity=1))
    old = _login(server)
    server.challenges()  # a newer nonce pushes the old one out
    with pytest.raises(hd.StaleNonce, match="stale"):
        server.verify(old, "POST", b"", _lookup)
    with pytest.raises(AuthenticationFailed) as wrong:
        server.verify(old, "POST", b"", lambda u, r: "not it")
    assert not isinstance(wrong.value, hd.StaleNonce)
    assert server.challenges(stale=True)[0].stale


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"algorithm": "MD5"}, "algorithm MD5 was not offered"),
        ({"qop": "auth-int"}, "qop auth-int was not offered"),
        ({"realm": "other"}, "realm 'other' is not"),
        ({"opaque": "x"}, "opaque is not the challenge's"),
    ],
)
def test_request_that_does_not_follow_the_challenge_is_malformed(
    change: dict[str, str], named: str
) -> None:
    server = _server()
    sent = dataclasses.replace(_login(server), **change)  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage, match=named):
        server.verify(sent, "POST", b"", _lookup)


def test_uri_must_be_the_request_target() -> None:
    server = _server()
    with pytest.raises(MalformedMessage, match="is not the request's '/other'"):
        server.verify(_login(server), "POST", b"", _lookup, uri="/other")


def test_userhash_server_finds_the_user_by_hash() -> None:
    server = _server(
        algorithms=("SHA-512-256", "MD5"),
        userhash_lookup=hd.UserhashTable(USERS, "api@example.org"),
    )
    for name in server.algorithms:  # a fresh nonce each: they share one per call
        challenge = hd.choose(server.challenges(), name)
        assert challenge.userhash
        sent = hd.respond(challenge, "J\u00e4s\u00f8n Doe", "Secret, or not?", "GET", URI)
        assert sent.userhash and sent.username not in USERS
        assert server.verify(sent, "GET", b"", _lookup) == "J\u00e4s\u00f8n Doe"


def test_userhash_not_offered_is_malformed() -> None:
    sent = dataclasses.replace(_login(_server()), userhash=True)
    with pytest.raises(MalformedMessage, match="userhash was not offered"):
        hd.verify(sent, "POST", b"", _lookup)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"algorithms": ()}, "at least one algorithm"),
        ({"algorithms": ("SHA-1",)}, "unknown algorithm 'SHA-1'"),
        ({"qops": ("auth-conf",)}, "qops must be some of"),
    ],
)
def test_server_options_are_checked(options: dict[str, object], named: str) -> None:
    with pytest.raises(UsageError, match=named):
        _server(**options)


# --- An independent client: requests' HTTPDigestAuth ------------------------------------


@pytest.mark.parametrize("name", ["MD5", "MD5-sess", "SHA-256"])
def test_requests_digest_client_authenticates_against_the_server(name: str) -> None:
    """requests (its own parser and formulas, fresh cnonce) answers our challenge."""
    requests_auth = pytest.importorskip("requests.auth")
    parse_dict_header: Callable[[str], dict[str, str]] = pytest.importorskip(
        "requests.utils"
    ).parse_dict_header
    server = _server(algorithms=(name,), opaque="0pa que")
    client = requests_auth.HTTPDigestAuth("alice", PASSWORD)
    client.init_per_thread_state()
    client._thread_local.chal = parse_dict_header(
        hd.format_challenge(server.challenges()[0]).removeprefix("Digest ")
    )
    for _ in range(2):  # requests counts nc up on the same nonce
        value = client.build_digest_header("GET", f"http://example.org{URI}?q=1")
        assert server.verify(value, "GET", b"", _lookup, uri=f"{URI}?q=1") == "alice"
