"""DIGEST-MD5 (RFC 2831): formulas, directive syntax, client and server behaviour."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import sasl_kit
from sasl_kit import (
    AuthenticationFailed,
    MalformedMessage,
    MutualAuthenticationFailed,
    PolicyRefused,
    SASLError,
    UsageError,
)
from sasl_kit.mechanisms.base import Mechanism, NonceCounts
from sasl_kit.mechanisms.digest_md5 import (
    FIRST_NC,
    MAX_CHALLENGE,
    MAX_RESPONSE,
    Response,
    _challenge_basics,
    _match_directives,
    _scan_directives,
    a2,
    digest_uri,
    fits_latin1,
    format_response,
    h_a1,
    parse_challenge,
    parse_directives,
    parse_response,
    parse_rspauth,
    response_digests,
    response_value,
    serialize_directives,
    session_layer,
    user_secret,
)
from sasl_kit.security_layer import Framer
from sasl_kit.vectors import iter_vectors, messages

VECTORS = [v for _, v in iter_vectors("exchange") if v["mechanism"] == "DIGEST-MD5"]
SITE: Mapping[str, Any] = {"service": "imap", "host": "mail.example.org"}
USERS = {"alice": "correct horse", "jürgen": "pässwörd"}
PASSWORD = "Sëcret-pässword-42"


def _client(**options: Any) -> sasl_kit.ClientMechanism:
    return sasl_kit.client(
        "DIGEST-MD5", **{"username": "alice", "password": USERS["alice"], **SITE, **options}
    )


def _server(**options: Any) -> sasl_kit.ServerMechanism:
    return sasl_kit.server("DIGEST-MD5", USERS, **{**SITE, "realms": ("EXAMPLE.ORG",), **options})


def _challenge(**options: Any) -> tuple[sasl_kit.ServerMechanism, bytes]:
    server = _server(**options)
    challenge = server.step(None)
    assert challenge is not None
    return server, challenge


CHALLENGE = b'nonce="abc",qop="auth",algorithm=md5-sess,charset=utf-8'


# --- Formulas, against the vector file ----------------------------------------------------


def _password(vector: Mapping[str, Any], username: str) -> str:
    if "client" in vector:
        return str(vector["client"]["password"])
    return str(vector["server"]["credentials"][username])


def _digests(vector: Mapping[str, Any], *, hex_secret: bool = False) -> tuple[str, str]:
    """response and rspauth recomputed from the vector's messages with the pure formulas."""
    sent = parse_response(messages(vector)[1].data)
    secret = user_secret(
        sent.username, sent.realm or "", _password(vector, sent.username), utf8=sent.utf8
    )
    key = h_a1(
        secret.hex().encode() if hex_secret else secret,
        sent.nonce.encode("latin-1"),
        sent.cnonce.encode("latin-1"),
        sent.authzid.encode(),
    )
    common: dict[str, Any] = {
        "nonce": sent.nonce.encode("latin-1"),
        "nc": sent.nc.encode(),
        "cnonce": sent.cnonce.encode("latin-1"),
        "qop": sent.qop,
        "digest_uri": sent.digest_uri.encode(),
    }
    return (
        response_value(key, **common, rspauth=False),
        response_value(key, **common, rspauth=True),
    )


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_formulas_reproduce_response_and_rspauth_of_each_vector(vector: Mapping[str, Any]) -> None:
    msgs = messages(vector)
    challenge, sent = parse_challenge(msgs[0].data), parse_response(msgs[1].data)
    assert sent.nonce == challenge.nonce
    assert _digests(vector) == (sent.response, parse_rspauth(msgs[2].data))


def test_user_secret_enters_a1_as_binary_octets_not_hex() -> None:
    vector = VECTORS[0]
    assert _digests(vector, hex_secret=True)[0] != parse_response(messages(vector)[1].data).response


def test_a2_is_authenticate_and_digest_uri_never_an_http_method() -> None:
    uri = b"imap/elwood.innosoft.com"
    assert a2(uri, "auth", rspauth=False) == b"AUTHENTICATE:" + uri
    assert a2(uri, "auth", rspauth=True) == b":" + uri


@pytest.mark.parametrize("qop", ["auth-int", "auth-conf"])
def test_a2_of_a_security_layer_qop_ends_with_32_zeros(qop: str) -> None:
    uri = b"imap/elwood.innosoft.com"
    assert a2(uri, qop, rspauth=False) == b"AUTHENTICATE:" + uri + b":" + b"0" * 32
    assert a2(uri, qop, rspauth=True) == b":" + uri + b":" + b"0" * 32


def test_a2_refuses_an_unknown_qop() -> None:
    with pytest.raises(UsageError, match="unknown qop 'auth-foo'"):
        a2(b"imap/h", "auth-foo", rspauth=False)


def test_values_that_fit_iso_8859_1_hash_the_same_with_or_without_charset() -> None:
    assert user_secret("jürgen", "réalm", "pässwörd", utf8=True) == user_secret(
        "jürgen", "réalm", "pässwörd", utf8=False
    )


def test_values_beyond_iso_8859_1_hash_as_utf8_and_need_charset() -> None:
    expected = hashlib.md5("вася::пароль".encode()).digest()  # noqa: S324
    assert user_secret("вася", "", "пароль", utf8=True) == expected
    with pytest.raises(UsageError, match="ISO 8859-1"):
        user_secret("вася", "", "пароль", utf8=False)


@pytest.mark.parametrize(
    ("serv_name", "expected"),
    [
        (None, "smtp/mail3.example.com"),
        ("mail3.example.com", "smtp/mail3.example.com"),
        ("example.com", "smtp/mail3.example.com/example.com"),
    ],
)
def test_digest_uri_adds_serv_name_only_when_it_differs_from_host(
    serv_name: str | None, expected: str
) -> None:
    assert digest_uri("smtp", "mail3.example.com", serv_name) == expected


# --- Directive syntax ---------------------------------------------------------------------


def test_commas_inside_quoted_strings_belong_to_the_value() -> None:
    found = parse_directives(b'realm="a,b",nonce="n,,m"', once=(), where="t")
    assert found == {"realm": ("a,b",), "nonce": ("n,,m",)}


def test_backslash_escapes_are_undone() -> None:
    found = parse_directives(rb'realm="a\"b\\c\d"', once=(), where="t")
    assert found["realm"] == ('a"b\\cd',)


def test_whitespace_around_separators_and_empty_elements_are_tolerated() -> None:
    found = parse_directives(b' ,, nonce = "x" ,\t qop=auth ,\r\n ,', once=(), where="t")
    assert found == {"nonce": ("x",), "qop": ("auth",)}


def test_directive_names_are_case_insensitive() -> None:
    assert parse_directives(b"NoNcE=x", once=(), where="t") == {"nonce": ("x",)}


@pytest.mark.parametrize("charset", [b"charset=utf-8", b'charset="utf-8"', b"charset=UTF-8"])
def test_charset_bare_or_quoted_announces_utf8(charset: bytes) -> None:
    challenge = parse_challenge(b'nonce="n",algorithm=md5-sess,' + charset)
    assert challenge.utf8


def test_challenge_from_gsasl_with_spaces_parses() -> None:
    data = b'realm="EXAMPLE.ORG", nonce="3xfapyOq==", qop="auth", charset=utf-8, algorithm=md5-sess'
    challenge = parse_challenge(data)
    assert (challenge.realms, challenge.nonce, challenge.qops) == (
        ("EXAMPLE.ORG",),
        "3xfapyOq==",
        ("auth",),
    )


def test_several_realms_and_repeated_unknown_directives_are_kept() -> None:
    challenge = parse_challenge(CHALLENGE + b',realm="a",x-ext=1,realm="b",x-ext=2')
    assert challenge.realms == ("a", "b")


def test_absent_qop_means_auth() -> None:
    assert parse_challenge(b'nonce="n",algorithm=md5-sess').qops == ("auth",)


@pytest.mark.parametrize("name", ["nonce", "qop", "charset", "algorithm", "maxbuf", "stale"])
def test_directive_allowed_once_appearing_twice_is_malformed(name: str) -> None:
    with pytest.raises(MalformedMessage, match=f"'{name}' appears twice"):
        parse_challenge(CHALLENGE + f",{name}=x,{name}=y".encode())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"nonce", "expected '=' .* byte 5"),
        (b"nonce=", "expected a value at byte 6"),
        (b'nonce="abc', "not closed"),
        (b'nonce="a\\', "not closed"),
        (b"=x", "directive name at byte 0"),
        (b'nonce="a"x', "expected ',' at byte 9"),
        (b'nonce="a\x01b"', "control character"),
        (b"nonce=a\x00b", "control character"),
        (b'nonce="n"', "'algorithm' is missing"),
        (b"algorithm=md5-sess", "'nonce' is missing"),
        (b'nonce="",algorithm=md5-sess', "'nonce' is empty"),
        (b'nonce="n",algorithm=md5', "algorithm must be md5-sess"),
        (b'nonce="n",algorithm=md5-sess,charset=iso-8859-1', "charset must be utf-8"),
        (b'nonce="n",algorithm=md5-sess,charset=utf-8,realm="\xff"', "realm is not UTF-8"),
        (b"\xff\xfe", "directive name at byte 0"),
        (b"x" * MAX_CHALLENGE, "octets, the limit"),
    ],
)
def test_malformed_challenges_say_what_and_where(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_challenge(data)


# The challenge reader takes charset=utf-8, algorithm=md5-sess and a non-empty nonce written
# just so without the checks that name what is wrong (_challenge_basics); it must agree with
# them whichever of those directives are there, spelt and quoted in any way.
def _directive(names: list[str], values: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        st.builds(
            lambda name, value, quoted: f'{name}="{value}"' if quoted else f"{name}={value}",
            st.sampled_from(names),
            st.sampled_from(values),
            st.booleans(),
        ),
    )


@settings(max_examples=500)
@given(
    directives=st.tuples(
        _directive(["charset", "Charset"], ["utf-8", "UTF-8", "iso-8859-1", ""]),
        _directive(["algorithm", "ALGORITHM"], ["md5-sess", "MD5-Sess", "md5", ""]),
        _directive(["nonce", "Nonce"], ["n", ""]),
    ).flatmap(st.permutations)
)
def test_challenge_reader_agrees_with_the_checks_that_name_the_fault(
    directives: list[str | None],
) -> None:
    data = ",".join(d for d in directives if d is not None).encode()
    once = {"charset", "algorithm", "nonce"}
    try:
        expected: object = _challenge_basics(
            parse_directives(data, once=once, where="DIGEST-MD5 challenge")
        )
    except MalformedMessage as exc:
        expected = str(exc)
    try:
        challenge = parse_challenge(data)
    except MalformedMessage as exc:
        assert str(exc) == expected
    else:
        assert (challenge.utf8, challenge.nonce) == expected


GOOD_RESPONSE = (
    b'username="alice",nonce="n",cnonce="c",nc=00000001,digest-uri="imap/h",'
    b"response=0123456789abcdef0123456789abcdef,qop=auth"
)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ((b"nc=00000001", b"nc=1"), "nc must be 8 lower-case hex"),
        ((b"response=0123456789abcdef", b"response=0123456789ABCDEF"), "32 lower-case hex"),
        ((b'digest-uri="imap/h"', b'digest-uri="imap"'), "serv-type/host"),
        ((b'username="alice"', b'username="\xffalice",charset=utf-8'), "username is not UTF-8"),
        ((b'cnonce="c",', b""), "'cnonce' is missing"),
        ((b"qop=auth", b"qop=auth,nc=00000002"), "'nc' appears twice"),
        ((b"qop=auth", b"qop=auth," + b"x" * MAX_RESPONSE), "octets, the limit"),
    ],
)
def test_malformed_responses_say_what(change: tuple[bytes, bytes], reason: str) -> None:
    server, _ = _challenge()
    with pytest.raises(MalformedMessage, match=reason):
        server.step(GOOD_RESPONSE.replace(*change))


def test_serializer_quotes_what_needs_it_and_escapes_quote_and_backslash() -> None:
    data = serialize_directives(
        [("nc", "00000001"), ("realm", "tok"), ("x", "two words"), ("y", 'q"\\')],
        quoted={"realm"},
    )
    assert data == b'nc=00000001,realm="tok",x="two words",y="q\\"\\\\"'


@settings(max_examples=200)
@given(
    values=st.lists(
        st.text(st.characters(max_codepoint=255, exclude_categories=["Cc"]), min_size=1),
        min_size=1,
        max_size=5,
    )
)
def test_serialized_directives_parse_back_to_the_same_values(values: list[str]) -> None:
    pairs = [(f"d{i}", value) for i, value in enumerate(values)]
    parsed = parse_directives(serialize_directives(pairs, quoted=()), once=(), where="t")
    assert parsed == {name: (value,) for name, value in pairs}


_MESSAGE_PARTS = st.one_of(
    st.sampled_from(
        [
            "nonce",
            "qop",
            "Realm",
            "x-1",
            "=",
            ",",
            " ",
            "\t",
            "\r\n",
            '"',
            "\\",
            '"a,b"',
            '"q\\"x"',
            "md5-sess",
            "a b",
            ";",
            "\x00",
            "\x7f",
            "\xe9",
        ]
    ),
    st.characters(max_codepoint=255),
)


@settings(max_examples=2000)
@given(text=st.lists(_MESSAGE_PARTS, max_size=24).map("".join))
def test_regular_expressions_and_the_reference_scanner_agree_on_any_message(text: str) -> None:
    once = {"nonce", "qop"}
    try:
        expected: dict[str, tuple[str, ...]] | None = dict(
            _scan_directives(text, once=once, where="t")
        )
    except MalformedMessage:
        expected = None
    assert _match_directives(text, once) == expected


# --- Client -------------------------------------------------------------------------------


def _sent(client: sasl_kit.ClientMechanism, challenge: bytes) -> Response:
    response = client.step(challenge)
    assert response is not None
    return parse_response(response)


@pytest.mark.parametrize(
    ("realms", "caller", "expected"),
    [
        ((), None, None),
        (("one.example",), None, "one.example"),
        (("first.example", "second.example"), None, "first.example"),
        (("first.example", "second.example"), "second.example", "second.example"),
        (("first.example",), "own.example", "own.example"),
        ((), "own.example", "own.example"),
    ],
)
def test_client_realm_choice(
    realms: tuple[str, ...], caller: str | None, expected: str | None
) -> None:
    challenge = CHALLENGE + b"".join(f',realm="{r}"'.encode() for r in realms)
    assert _sent(_client(realm=caller), challenge).realm == expected


def test_client_digest_uri_carries_serv_name() -> None:
    client = _client(service="smtp", host="mail3.example.com", serv_name="example.com")
    assert _sent(client, CHALLENGE).digest_uri == "smtp/mail3.example.com/example.com"


def test_client_sends_fresh_cnonces_and_first_nonce_count() -> None:
    first, second = _sent(_client(), CHALLENGE), _sent(_client(), CHALLENGE)
    assert first.cnonce != second.cnonce and len(first.cnonce) >= 16
    assert first.nc == FIRST_NC


def test_client_sends_authzid_only_when_set() -> None:
    assert b"authzid" not in (_client().step(CHALLENGE) or b"")
    assert _sent(_client(authzid="bob"), CHALLENGE).authzid == "bob"


def test_client_without_charset_sends_iso_8859_1() -> None:
    response = _client(username="jürgen").step(b'nonce="n",algorithm=md5-sess')
    assert response is not None and b'username="j\xfcrgen"' in response
    assert b"charset" not in response


_TEXT = st.text(st.characters(max_codepoint=0x2FF, exclude_categories=["Cc", "Cs"]))


@settings(max_examples=200)
@given(
    username=_TEXT.filter(bool),
    realm=_TEXT,
    password=_TEXT,
    authzid=_TEXT,
    cnonce=_TEXT,
    utf8=st.booleans(),
    qop=st.sampled_from(["auth", "auth-int", "auth-conf"]),
    nonce=_TEXT.filter(bool).map(lambda n: n.encode().decode("latin-1")),
)
def test_client_response_is_format_response_of_what_the_formulas_give(
    username: str,
    realm: str,
    password: str,
    authzid: str,
    cnonce: str,
    utf8: bool,
    qop: str,
    nonce: str,
) -> None:
    assume(utf8 or all(fits_latin1(v) for v in (username, realm, password)))
    challenge = serialize_directives(
        [
            ("nonce", nonce),
            ("qop", "auth,auth-int,auth-conf"),
            ("cipher", "rc4,3des"),
            ("algorithm", "md5-sess"),
            *([("charset", "utf-8")] if utf8 else []),
        ],
        quoted={"nonce"},
    )
    client = _client(
        username=username,
        realm=realm,
        password=password,
        authzid=authzid,
        cnonce=cnonce,
        qops=(qop,),
    )
    message = client.step(challenge)
    assert message is not None
    sent = parse_response(message)
    assert format_response(sent) == message
    response, rspauth = response_digests(sent, password)
    assert sent.response == response
    assert client.step(b"rspauth=" + rspauth.encode()) == b"" and client.complete


def test_client_refuses_values_beyond_iso_8859_1_without_charset() -> None:
    with pytest.raises(UsageError, match="user name has characters outside ISO 8859-1"):
        _client(username="вася").step(b'nonce="n",algorithm=md5-sess')


def test_client_refuses_a_server_that_does_not_offer_qop_auth() -> None:
    with pytest.raises(PolicyRefused, match="this client accepts 'auth'"):
        _client().step(b'nonce="n",qop="auth-int,auth-conf",algorithm=md5-sess')


def test_client_refuses_an_empty_challenge() -> None:
    with pytest.raises(MalformedMessage, match="challenge, got nothing"):
        _client().step(b"")


def test_client_rejects_a_wrong_rspauth() -> None:
    server, challenge = _challenge()
    client = _client()
    assert server.step(client.step(challenge)) is not None
    with pytest.raises(MutualAuthenticationFailed, match="rspauth does not match"):
        client.step(b"rspauth=" + b"0" * 32)
    assert not client.complete


@pytest.mark.parametrize("second", [CHALLENGE, b"", b"rspauth"])
def test_client_second_message_without_rspauth_is_malformed(second: bytes) -> None:
    client = _client()
    client.step(CHALLENGE)
    with pytest.raises(MalformedMessage):
        client.step(second)


# --- Server -------------------------------------------------------------------------------


def _exchange(
    server: sasl_kit.ServerMechanism, client: sasl_kit.ClientMechanism
) -> tuple[bytes, bytes | None]:
    response = client.step(server.step(None))
    assert response is not None
    return response, server.step(response)


def test_round_trip_with_fresh_nonces() -> None:
    nonces = set()
    for _ in range(2):
        server, client = _server(), _client()
        response, rspauth = _exchange(server, client)
        nonces.add(parse_response(response).nonce)
        assert rspauth is not None and client.step(rspauth) == b""
        assert server.complete and client.complete and server.authcid == "alice"
    assert len(nonces) == 2


def test_round_trip_with_non_ascii_user_and_serv_name() -> None:
    server = _server(host="mail3.example.com")
    client = _client(
        username="jürgen", password="pässwörd", host="mail3.example.com", serv_name="example.com"
    )
    _, rspauth = _exchange(server, client)
    assert server.authcid == "jürgen" and client.step(rspauth) == b""


def test_server_challenge_announces_one_realm_per_entry_and_a_fresh_nonce() -> None:
    challenge = parse_challenge(_challenge(realms=("a.example", "b.example"))[1])
    assert challenge.realms == ("a.example", "b.example") and challenge.utf8
    assert len(challenge.nonce) >= 16 and challenge.nonce != parse_challenge(_challenge()[1]).nonce
    assert parse_challenge(_challenge(realms=())[1]).realms == ()


def test_server_answers_an_initial_response_with_a_challenge() -> None:
    # RFC 2831 2.2.2: no state kept for subsequent authentication, so a fresh challenge.
    assert parse_challenge(_server().step(GOOD_RESPONSE) or b"").qops == ("auth",)


def _forged(challenge: bytes, password: str = USERS["alice"], **changes: Any) -> bytes:
    """A response to ``challenge`` with ``changes``, its digest right for ``password``."""
    response = replace(_sent(_client(), challenge), **changes)
    return format_response(replace(response, response=response_digests(response, password)[0]))


def test_server_accepts_a_correct_forged_response() -> None:
    server, challenge = _challenge()
    assert server.step(_forged(challenge)) is not None and server.authcid == "alice"


def test_server_rejects_a_response_replayed_to_another_exchange() -> None:
    response, _ = _exchange(_server(), _client())
    server, _ = _challenge()
    with pytest.raises(AuthenticationFailed, match="another nonce"):
        server.step(response)


@pytest.mark.parametrize("nc", ["00000002", "00000000", "ffffffff"])
def test_server_rejects_any_nonce_count_but_the_first_for_a_new_nonce(nc: str) -> None:
    server, challenge = _challenge()
    with pytest.raises(AuthenticationFailed, match="is not 00000001 for a new nonce"):
        server.step(_forged(challenge, nc=nc))


def test_shared_nonce_counts_allow_subsequent_authentication_with_a_higher_count() -> None:
    counts = NonceCounts()
    first, challenge = _challenge(nonce_counts=counts)
    assert first.step(_forged(challenge)) is not None and first.complete
    # RFC 2831 2.2.1: a new exchange opens with a response reusing that nonce, nc+1.
    later = _server(nonce_counts=counts)
    rspauth = later.step(_forged(challenge, nc="00000002"))
    assert rspauth is not None and rspauth.startswith(b"rspauth=")
    assert later.complete and later.authcid == "alice"


@pytest.mark.parametrize("nc", ["00000001", "00000002"])
def test_shared_nonce_counts_reject_a_replayed_count(nc: str) -> None:
    counts = NonceCounts()
    first, challenge = _challenge(nonce_counts=counts)
    first.step(_forged(challenge))
    second = _server(nonce_counts=counts)
    second.step(_forged(challenge, nc="00000002"))
    replay = _server(nonce_counts=counts)
    with pytest.raises(AuthenticationFailed, match=f"replayed nonce count {nc}"):
        replay.step(_forged(challenge, nc=nc))


def test_subsequent_authentication_with_an_unknown_nonce_gets_a_fresh_challenge() -> None:
    _, challenge = _challenge()
    server = _server(nonce_counts=NonceCounts())
    answer = server.step(_forged(challenge, nc="00000002"))
    assert answer is not None and b"nonce=" in answer and not server.complete


def test_nonce_counts_forget_the_oldest_nonces_beyond_capacity() -> None:
    counts = NonceCounts(capacity=2)
    for nonce in ("a", "b", "c"):
        counts.issue(nonce)
    assert not counts.known("a") and counts.known("b") and counts.known("c")
    assert counts.accept("c", 1) and not counts.accept("c", 1) and counts.fresh("c", 2)


def test_server_refuses_a_second_response_in_the_same_exchange() -> None:
    server, challenge = _challenge()
    response = _forged(challenge)
    server.step(response)
    with pytest.raises(UsageError, match="already finished"):
        server.step(response)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [("smtp/mail.example.org", "service 'smtp'"), ("imap/other.example.org", "host")],
)
def test_server_rejects_a_digest_uri_for_another_service_or_host(uri: str, reason: str) -> None:
    server, challenge = _challenge()
    with pytest.raises(AuthenticationFailed, match=reason):
        server.step(_forged(challenge, digest_uri=uri))


def test_server_matches_digest_uri_case_insensitively_and_accepts_a_serv_name() -> None:
    server, challenge = _challenge()
    server.step(_forged(challenge, digest_uri="IMAP/Mail.Example.ORG/example.org"))
    assert server.complete


def test_server_rejects_a_realm_it_did_not_offer_and_requires_one_when_it_offered() -> None:
    server, challenge = _challenge()
    with pytest.raises(AuthenticationFailed, match="realm 'elsewhere' was not offered"):
        server.step(_forged(challenge, realm="elsewhere"))
    server, challenge = _challenge()
    with pytest.raises(MalformedMessage, match="realm is required"):
        server.step(_forged(challenge, realm=None))


def test_server_without_realms_accepts_the_clients_own() -> None:
    server, challenge = _challenge(realms=())
    server.step(_forged(challenge, realm="own.example"))
    assert server.complete


@pytest.mark.parametrize("user", ["jürgen", "вася"])
def test_server_reads_a_utf8_user_name_sent_without_charset_as_cyrus_does(user: str) -> None:
    server = sasl_kit.server("DIGEST-MD5", {user: "pässwörd"}, **SITE)
    challenge = server.step(None) or b""
    response = _forged(challenge, "pässwörd", username=user, realm=None)
    server.step(response.replace(b"charset=utf-8,", b""))
    assert server.authcid == user


def test_server_rejects_a_qop_it_did_not_offer() -> None:
    server, challenge = _challenge()
    with pytest.raises(MalformedMessage, match="'auth-int' was not offered"):
        server.step(_forged(challenge).replace(b"qop=auth", b"qop=auth-int"))


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("nobody", "x")])
def test_server_says_the_same_for_wrong_password_and_unknown_user(user: str, password: str) -> None:
    server = _server()
    with pytest.raises(AuthenticationFailed, match=f"authentication failed for '{user}'$"):
        _exchange(server, _client(username=user, password=password))


def test_server_applies_the_authorization_policy_to_authzid() -> None:
    with pytest.raises(AuthenticationFailed, match="may not act as 'bob'"):
        _exchange(_server(), _client(authzid="bob"))
    server = _server(authorize=lambda authcid, authzid: True)
    _exchange(server, _client(authzid="bob"))
    assert (server.authcid, server.authzid) == ("alice", "bob")


# --- Garbage in, project errors out; no secret out ----------------------------------------

NAMES = [
    "nonce",
    "realm",
    "qop",
    "algorithm",
    "charset",
    "maxbuf",
    "rspauth",
    "username",
    "cnonce",
    "nc",
    "digest-uri",
    "response",
    "authzid",
    "x-ext",
]
VALUES = [
    "md5-sess",
    "utf-8",
    "auth",
    "auth-int",
    FIRST_NC,
    "imap/mail.example.org",
    "alice",
    "EXAMPLE.ORG",
    "0123456789abcdef0123456789abcdef",
]
# Well-formed directive lists of the names that matter, to reach the checks behind the parser.
directive_lists = st.lists(
    st.tuples(st.sampled_from(NAMES), st.one_of(st.sampled_from(VALUES), st.text(max_size=20))),
    max_size=12,
).map(
    lambda ds: serialize_directives(
        [(n, v.encode("utf-8").decode("latin-1")) for n, v in ds], quoted=()
    )
)
garbage = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet='=",\\ \t\r\nabcdegilmnoqrstu-018\xff', max_size=120).map(
        lambda s: s.encode("latin-1")
    ),
    directive_lists,
)


# Whatever a peer sends, the error blames the peer (or, for qop, our policy): never our caller.
CLIENT_SIDE_ERRORS = (MalformedMessage, PolicyRefused, MutualAuthenticationFailed)
SERVER_SIDE_ERRORS = (MalformedMessage, AuthenticationFailed)


@settings(max_examples=300, deadline=None)
@given(first=garbage, second=garbage)
def test_client_steps_raise_only_project_errors_blaming_the_server(
    first: bytes, second: bytes
) -> None:
    for messages_ in ((first,), (CHALLENGE, second)):
        client = _client(username="jürgen")
        with contextlib.suppress(*CLIENT_SIDE_ERRORS):
            for message in messages_:
                client.step(message)


@settings(max_examples=300, deadline=None)
@given(data=garbage)
def test_server_steps_raise_only_project_errors_blaming_the_client(data: bytes) -> None:
    server, _ = _challenge()
    with contextlib.suppress(*SERVER_SIDE_ERRORS):
        server.step(data)
    assert server.authcid is None


def _secret_forms(password: str, response: Response) -> list[str]:
    raw = password.encode()
    secret = user_secret(response.username, response.realm or "", password, utf8=response.utf8)
    return [
        password,
        raw.hex(),
        base64.b64encode(raw).decode(),
        password.encode("latin-1").hex(),
        secret.hex(),
        *response_digests(response, password),
    ]


def test_password_and_digests_never_show_in_reprs_or_errors() -> None:
    users = {"alice": PASSWORD}
    server = sasl_kit.server("DIGEST-MD5", users, **SITE)
    client = _client(password=PASSWORD)
    texts = [repr(server), repr(client), repr(server.options), repr(client.options)]
    response = client.step(server.step(None))
    assert response is not None
    sent = parse_response(response)
    texts.append(repr(sent))
    failures: list[tuple[Mechanism, bytes]] = [
        (client, b"rspauth=" + b"0" * 32),
        (_client(password=PASSWORD), b"garbage " + PASSWORD.encode()),
    ]
    for wrong in (PASSWORD + "x", PASSWORD[:-1]):
        srv = sasl_kit.server("DIGEST-MD5", users, **SITE)
        failures.append((srv, _client(password=wrong).step(srv.step(None)) or b""))
    srv = sasl_kit.server("DIGEST-MD5", users, **SITE)
    srv.step(None)
    failures.append((srv, response))  # replayed to another exchange
    for mech, message in failures:
        with pytest.raises(SASLError) as caught:
            mech.step(message)
        texts.append(str(caught.value))
    forms = _secret_forms(PASSWORD, sent)
    for text in texts:
        for form in forms:
            assert form not in text, (form, text)
    assert not any(re.search(r"[0-9a-f]{32}", t) for t in texts[5:])


# --- Security layers: negotiation (RFC 2831 2.1.1, 2.1.2) ---------------------------------


CIPHER_NAMES = ["rc4", "3des", "rc4-56", "des", "rc4-40"]


def _handshake(
    client_options: Mapping[str, Any], server_options: Mapping[str, Any]
) -> tuple[sasl_kit.ClientMechanism, sasl_kit.ServerMechanism, bytes, bytes]:
    client, server = _client(**client_options), _server(**server_options)
    challenge = server.step(None) or b""
    response = client.step(challenge) or b""
    assert client.step(server.step(response)) == b""
    assert client.complete and server.complete
    return client, server, challenge, response


def test_by_default_both_sides_use_qop_auth_and_have_no_layer() -> None:
    client, server, challenge, response = _handshake({}, {})
    assert client.security_layer is None and server.security_layer is None
    assert b"maxbuf" not in challenge and b"cipher" not in challenge
    assert response.endswith(b"qop=auth")


def test_a_server_offering_layers_announces_qops_maxbuf_and_ciphers() -> None:
    _, challenge = _challenge(qops=("auth-conf", "auth-int", "auth"), maxbuf=4096)
    parsed = parse_challenge(challenge)
    assert parsed.qops == ("auth-conf", "auth-int", "auth")
    assert parsed.ciphers == tuple(CIPHER_NAMES) and parsed.maxbuf == 4096
    assert b'cipher="rc4,3des,rc4-56,des,rc4-40"' in challenge


@pytest.mark.parametrize(
    ("client_qops", "client_ciphers", "server_qops", "server_ciphers", "agreed"),
    [
        (("auth-int",), CIPHER_NAMES, ("auth", "auth-int"), CIPHER_NAMES, "DIGEST-MD5 auth-int"),
        (
            ("auth-conf", "auth-int"),
            ("des",),
            ("auth-int", "auth-conf"),
            ("rc4",),
            "DIGEST-MD5 auth-int",
        ),
        (
            ("auth-conf",),
            ("rc4-40", "3des"),
            ("auth-conf",),
            ("3des", "rc4-40"),
            "DIGEST-MD5 auth-conf rc4-40",
        ),
        (("auth", "auth-conf"), CIPHER_NAMES, ("auth-conf", "auth"), CIPHER_NAMES, None),
    ],
)
def test_the_first_of_the_clients_choices_the_server_offers_wins(
    client_qops: tuple[str, ...],
    client_ciphers: tuple[str, ...],
    server_qops: tuple[str, ...],
    server_ciphers: tuple[str, ...],
    agreed: str | None,
) -> None:
    client, server, _, _ = _handshake(
        {"qops": client_qops, "ciphers": client_ciphers},
        {"qops": server_qops, "ciphers": server_ciphers},
    )
    for side in (client, server):
        assert (side.security_layer.name if side.security_layer else None) == agreed


def test_client_refuses_when_no_qop_and_cipher_it_accepts_is_offered() -> None:
    _, challenge = _challenge(qops=("auth-conf",), ciphers=("rc4",))
    with pytest.raises(PolicyRefused, match=r"offers qop 'auth-conf \(ciphers rc4\)'"):
        _client(qops=("auth-conf",), ciphers=("des",)).step(challenge)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"qops": ("auth-foo",)}, "qops must be some of"),
        ({"qops": ()}, "qops must be some of"),
        ({"qops": ("auth-conf",), "ciphers": ()}, "needs at least one cipher"),
        ({"ciphers": ("aes",)}, "unknown DIGEST-MD5 cipher 'aes'"),
        ({"maxbuf": 16}, "maxbuf must be from 17"),
        ({"maxbuf": 2**24}, "maxbuf must be from 17"),
    ],
)
def test_bad_layer_options_are_the_callers_fault(options: Mapping[str, Any], reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        _client(**options)
    with pytest.raises(UsageError, match=reason):
        _server(**options)


def test_server_rejects_a_cipher_it_did_not_offer() -> None:
    server, challenge = _challenge(qops=("auth", "auth-conf"), ciphers=("rc4",))
    forged = _forged(challenge, qop="auth-conf", cipher="des")
    with pytest.raises(MalformedMessage, match="cipher 'des' was not offered, only 'rc4'"):
        server.step(forged)


def test_server_rejects_auth_conf_without_a_cipher() -> None:
    server, challenge = _challenge(qops=("auth", "auth-conf"))
    with pytest.raises(MalformedMessage, match="cipher None was not offered"):
        server.step(_forged(challenge, qop="auth-conf"))


@pytest.mark.parametrize("value", [b"0", b"16", b"16777216", b"-1", b"x"])
def test_a_maxbuf_out_of_range_is_the_peers_fault(value: bytes) -> None:
    with pytest.raises(MalformedMessage, match="maxbuf must be a number"):
        parse_challenge(b'nonce="n",algorithm=md5-sess,maxbuf=' + value)


def test_each_side_sends_no_more_than_the_peer_announced() -> None:
    client, server, _, _ = _handshake(
        {"qops": ("auth-conf",), "ciphers": ("des",), "maxbuf": 100},
        {"qops": ("auth-conf",), "maxbuf": 1000},
    )
    assert client.security_layer is not None and server.security_layer is not None
    # 6 octets of type and sequence number; 11 blocks of 8 hold 77 + 1 padding + 10 MAC.
    assert server.security_layer.max_send == 77
    assert client.security_layer.max_send == 124 * 8 - 11
    assert len(server.security_layer.wrap(b"x" * 77)) == 94
    with pytest.raises(UsageError, match="exceeds the 77 the peer's maxbuf allows"):
        server.security_layer.wrap(b"x" * 78)


# --- Security layers: vectors produced with Cyrus SASL -------------------------------------


LAYER_VECTORS = [v for _, v in iter_vectors("function") if v["function"] == "digest_md5_wrap"]


@pytest.mark.parametrize("vector", LAYER_VECTORS, ids=[v["id"] for v in LAYER_VECTORS])
def test_cyrus_sessions_reproduce_response_and_rspauth(vector: Mapping[str, Any]) -> None:
    response = parse_response(vector["input"]["response"].encode())
    value, rspauth = response_digests(response, vector["input"]["password"])
    assert value == response.response
    assert parse_rspauth(vector["capture"]["rspauth"].encode()) == rspauth


@pytest.mark.parametrize("vector", LAYER_VECTORS, ids=[v["id"] for v in LAYER_VECTORS])
def test_cyrus_frames_unwrap_on_the_receiving_side(vector: Mapping[str, Any]) -> None:
    inputs = vector["input"]
    response = parse_response(inputs["response"].encode())
    receiver = "client" if inputs["sender"] == "server" else "server"
    framer = Framer(session_layer(response, inputs["password"], side=receiver))
    frames = b"".join(base64.b64decode(f) for f in vector["expected"])
    assert framer.feed(frames) == [m.encode() for m in inputs["messages"]]


@pytest.mark.parametrize("vector", LAYER_VECTORS[:4], ids=[v["id"] for v in LAYER_VECTORS[:4]])
def test_a_cyrus_frame_replayed_a_second_time_is_refused(vector: Mapping[str, Any]) -> None:
    inputs = vector["input"]
    response = parse_response(inputs["response"].encode())
    receiver = "client" if inputs["sender"] == "server" else "server"
    framer = Framer(session_layer(response, inputs["password"], side=receiver))
    frame = base64.b64decode(vector["expected"][0])
    framer.feed(frame)
    with pytest.raises(MalformedMessage, match="sequence number 0, expected 1"):
        framer.feed(frame)


def test_a_server_with_qop_auth_has_no_session_layer() -> None:
    response = parse_response(GOOD_RESPONSE)
    with pytest.raises(UsageError, match="no security layer"):
        session_layer(response, "x", side="client")


def test_client_sends_an_offered_empty_realm_and_our_server_accepts_it() -> None:
    # Dovecot offers realm="": RFC 2831 2.1.2 then requires the directive in the response.
    server, client = _server(realms=("",)), _client()
    response = client.step(server.step(None))
    assert response is not None and b'realm="",' in response
    assert server.step(response) is not None and server.complete
