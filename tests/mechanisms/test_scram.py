"""SCRAM (RFC 5802, RFC 7677): escaping, the gs2 downgrade rules, channel binding,
the server's proof, iteration bounds, server errors, key storage and the key cache."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import re
import threading

import pytest
from hypothesis import given, settings
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
from sasl_kit.channel_binding import ChannelBinding
from sasl_kit.mechanisms import scram
from sasl_kit.mechanisms.base import ScramCredentialStore, ScramKeys
from sasl_kit.mechanisms.scram import (
    SALTED_PASSWORDS,
    SaltedPasswordCache,
    ScramKeyTable,
    escape_saslname,
    unescape_saslname,
)

PASSWORDS = {"user": "pencil", "us,er=x": "comma=equals", "IX": "I\u00adX"}
STORE = ScramKeyTable.from_passwords(PASSWORDS)
EXPORTER = ChannelBinding("tls-exporter", bytes(range(32)))
OTHER_EXPORTER = ChannelBinding("tls-exporter", bytes(32))
UNIQUE = ChannelBinding("tls-unique", b"finished-message")
PLAIN_MECHANISMS = ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PLUS_MECHANISMS = [f"{m}-PLUS" for m in PLAIN_MECHANISMS]


def _client(mechanism: str = "SCRAM-SHA-256", /, **options: object) -> sasl_kit.ClientMechanism:
    options = {"username": "user", "password": "pencil", **options}
    return sasl_kit.client(mechanism, **options)


def _server(mechanism: str = "SCRAM-SHA-256", /, **options: object) -> sasl_kit.ServerMechanism:
    return sasl_kit.server(mechanism, STORE, **options)


def _run(client: sasl_kit.ClientMechanism, server: sasl_kit.ServerMechanism) -> None:
    """Relay a whole exchange between a client and a server."""
    message: bytes | None = b""
    for side in (client, server, client, server, client):
        message = side.step(message)
    assert client.complete and server.complete


def _first(client: sasl_kit.ClientMechanism) -> bytes:
    message = client.step(b"")
    assert message is not None
    return message


def _client_first_then(client: sasl_kit.ClientMechanism, server_first: bytes) -> bytes | None:
    client.step(b"")
    return client.step(server_first)


# --- The whole exchange ---------------------------------------------------------------


@pytest.mark.parametrize("mechanism", PLAIN_MECHANISMS)
def test_round_trip_against_a_store_of_keys(mechanism: str) -> None:
    client, server = _client(mechanism), _server(mechanism)
    _run(client, server)
    assert (server.authcid, server.authzid) == ("user", "user")


@pytest.mark.parametrize("mechanism", PLUS_MECHANISMS)
def test_plus_round_trip_binds_the_channel(mechanism: str) -> None:
    client = _client(mechanism, channel_binding=EXPORTER)
    server = _server(mechanism, channel_binding=EXPORTER)
    first = _first(client)
    assert first.startswith(b"p=tls-exporter,,n=user,r=")
    final = client.step(server.step(first))
    assert final is not None
    c = final.decode().split(",")[0].removeprefix("c=")
    assert base64.b64decode(c) == b"p=tls-exporter,," + EXPORTER.data
    client.step(server.step(final))
    assert client.complete and server.authcid == "user"


def test_server_works_from_a_password_table_too() -> None:
    server = sasl_kit.server("SCRAM-SHA-1", {"user": "pencil"})
    _run(_client("SCRAM-SHA-1"), server)
    assert server.authcid == "user"


def test_server_sends_an_empty_challenge_when_there_is_no_initial_response() -> None:
    server, client = _server(), _client()
    assert server.step(None) == b""
    first = client.step(b"")
    client.step(server.step(first))


def test_a_finished_mechanism_refuses_another_step() -> None:
    client, server = _client(), _server()
    _run(client, server)
    for mech in (client, server):
        with pytest.raises(UsageError, match="already finished"):
            mech.step(b"")


def test_client_refuses_data_before_its_first_message() -> None:
    with pytest.raises(MalformedMessage, match="before the client-first"):
        _client().step(b"r=abc")


# --- Names: escaping, SASLprep, authzid -----------------------------------------------


@given(st.text(min_size=1))
def test_escaping_round_trips_and_leaves_no_comma(name: str) -> None:
    escaped = escape_saslname(name)
    assert "," not in escaped
    assert unescape_saslname(escaped, "user name") == name


def test_escaping_follows_rfc_5802() -> None:
    assert escape_saslname("us,er=x") == "us=2Cer=3Dx"
    assert unescape_saslname("=3D2C", "user name") == "=2C"


def test_a_user_name_with_comma_and_equals_authenticates() -> None:
    client = _client(username="us,er=x", password="comma=equals")
    assert _first(client).startswith(b"n,,n=us=2Cer=3Dx,r=")
    server = _server()
    _run(_client(username="us,er=x", password="comma=equals"), server)
    assert server.authcid == "us,er=x"


@pytest.mark.parametrize("name", ["us=er", "us=2cer", "user=", "=3", "a=41"])
def test_server_refuses_an_equals_sign_that_escapes_nothing(name: str) -> None:
    with pytest.raises(MalformedMessage, match="'=' not followed by 2C or 3D"):
        _server().step(f"n,,n={name},r=abc".encode())


def test_user_name_and_password_go_through_saslprep() -> None:
    # RFC 4013 3: SOFT HYPHEN maps to nothing, so "I<SHY>X" is "IX".
    client = _client(username="I\u00adX", password="I\u00adX")
    assert _first(client).startswith(b"n,,n=IX,r=")
    server = _server()
    _run(_client(username="IX", password="IX"), server)
    assert server.authcid == "IX"


def test_a_user_name_saslprep_refuses_is_the_callers_error() -> None:
    with pytest.raises(UsageError, match="user name is refused by SASLprep"):
        _client(username="us\u0007er").step(b"")


def test_a_password_saslprep_refuses_is_the_callers_error() -> None:
    client = _client(password="pen\u0007cil", cnonce="abc")
    with pytest.raises(UsageError, match="password is refused by SASLprep"):
        _client_first_then(client, b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")


def test_authzid_travels_escaped_in_the_gs2_header() -> None:
    client = _client(authzid="ad,min")
    assert _first(client).startswith(b"n,a=ad=2Cmin,n=user,r=")
    server = _server(authorize=lambda authcid, authzid: authzid == "ad,min")
    _run(_client(authzid="ad,min"), server)
    assert (server.authcid, server.authzid) == ("user", "ad,min")


def test_server_refuses_an_authzid_its_policy_forbids() -> None:
    with pytest.raises(AuthenticationFailed, match="may not act as 'admin'"):
        _run(_client(authzid="admin"), _server())


# --- The gs2 channel-binding flag and downgrades (RFC 5802 6) --------------------------


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({}, b"n,,"),
        ({"channel_binding": UNIQUE}, b"y,,"),
        ({"channel_binding": UNIQUE, "server_offers_plus": True}, b"n,,"),
        ({"server_offers_plus": True}, b"n,,"),
    ],
)
def test_client_flag_says_whether_it_could_bind(options: dict[str, object], flag: bytes) -> None:
    assert _first(_client(**options)).startswith(flag)


def test_plus_client_sends_p_with_the_binding_type() -> None:
    assert _first(_client("SCRAM-SHA-1-PLUS", channel_binding=UNIQUE)).startswith(b"p=tls-unique,,")


def test_plus_client_without_binding_data_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"ClientOptions\.channel_binding"):
        _client("SCRAM-SHA-256-PLUS").step(b"")


def test_plus_server_without_binding_data_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"ServerOptions\.channel_binding"):
        _server("SCRAM-SHA-256-PLUS").step(None)


def test_server_that_offers_plus_refuses_y_as_a_downgrade() -> None:
    client = _client(channel_binding=EXPORTER)  # it was told the server offers no -PLUS
    with pytest.raises(AuthenticationFailed, match="downgrade"):
        _server(channel_binding=EXPORTER).step(_first(client))


def test_server_without_binding_accepts_y() -> None:
    server = _server()
    _run(_client(channel_binding=EXPORTER), server)
    assert server.authcid == "user"


def test_server_refuses_p_outside_plus() -> None:
    with pytest.raises(MalformedMessage, match="outside -PLUS"):
        _server(channel_binding=EXPORTER).step(b"p=tls-exporter,,n=user,r=abc")


@pytest.mark.parametrize("flag", ["n", "y"])
def test_plus_server_refuses_a_client_that_does_not_bind(flag: str) -> None:
    with pytest.raises(MalformedMessage, match="needs channel binding"):
        _server("SCRAM-SHA-256-PLUS", channel_binding=EXPORTER).step(
            f"{flag},,n=user,r=abc".encode()
        )


def test_plus_server_refuses_a_binding_type_it_does_not_have() -> None:
    client = _client("SCRAM-SHA-256-PLUS", channel_binding=UNIQUE)
    with pytest.raises(AuthenticationFailed, match="unsupported channel binding type"):
        _server("SCRAM-SHA-256-PLUS", channel_binding=EXPORTER).step(_first(client))


@pytest.mark.parametrize("flag", ["x", "p=", "p=tls_unique", "Y"])
def test_server_refuses_a_malformed_flag(flag: str) -> None:
    with pytest.raises(MalformedMessage):
        _server("SCRAM-SHA-256-PLUS", channel_binding=EXPORTER).step(
            f"{flag},,n=user,r=abc".encode()
        )


def test_server_refuses_other_binding_data() -> None:
    client = _client("SCRAM-SHA-256-PLUS", channel_binding=OTHER_EXPORTER)
    server = _server("SCRAM-SHA-256-PLUS", channel_binding=EXPORTER)
    with pytest.raises(AuthenticationFailed, match=r"channel binding \(c=\) does not match"):
        _run(client, server)


def test_server_refuses_c_that_differs_from_the_gs2_header() -> None:
    # A man in the middle turns the client's "y" into "n" on the way to a server with binding;
    # c= still carries the "y" header the client sent.
    client = _client(channel_binding=EXPORTER)
    server = _server(channel_binding=EXPORTER)
    first = _first(client)
    assert first.startswith(b"y,,")
    final = client.step(server.step(b"n" + first[1:]))
    with pytest.raises(AuthenticationFailed, match=r"channel binding \(c=\) does not match"):
        server.step(final)


# --- The server's proof (RFC 5802 3) ----------------------------------------------------


def _server_final(client: sasl_kit.ClientMechanism) -> bytes:
    server = _server()
    final = client.step(server.step(_first(client)))
    signature = server.step(final)
    assert signature is not None
    return signature


@settings(max_examples=60, deadline=None)
@given(bit=st.integers(min_value=0, max_value=32 * 8 - 1))
def test_any_flipped_bit_of_the_server_signature_is_refused(bit: int) -> None:
    client = _client()
    signature = bytearray(base64.b64decode(_server_final(client)[2:]))
    signature[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(MutualAuthenticationFailed, match="server signature does not verify"):
        client.step(b"v=" + base64.b64encode(bytes(signature)))
    assert not client.complete


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_tampered_server_final_message_never_completes(data: st.DataObject) -> None:
    client = _client()
    message = bytearray(_server_final(client))
    bit = data.draw(st.integers(min_value=0, max_value=len(message) * 8 - 1))
    message[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SASLError):
        client.step(bytes(message))
    assert not client.complete


def test_a_signature_of_the_wrong_length_is_refused() -> None:
    client = _client()
    _server_final(client)
    with pytest.raises(MutualAuthenticationFailed):
        client.step(b"v=" + base64.b64encode(bytes(20)))


def test_server_refuses_a_wrong_password_and_an_unknown_user_alike() -> None:
    errors = []
    for username, password in (("user", "wrong"), ("nobody", "pencil")):
        with pytest.raises(AuthenticationFailed) as info:
            _run(_client(username=username, password=password), _server())
        errors.append(str(info.value).replace(username, "NAME"))
    assert errors[0] == errors[1]


def test_an_unknown_users_salt_is_stable_so_it_looks_like_a_real_one() -> None:
    def salt_and_count(username: str) -> list[str]:
        server_first = _server().step(_first(_client(username=username)))
        assert server_first is not None
        return server_first.decode().split(",")[1:]

    assert salt_and_count("nobody") == salt_and_count("nobody")
    assert salt_and_count("nobody") != salt_and_count("somebody")


# --- What the client accepts from the server -------------------------------------------


@pytest.mark.parametrize(
    ("iterations", "options"),
    [
        (4095, {}),
        (1_000_001, {}),
        (4096, {"min_iterations": 10_000}),
        (20_000, {"max_iterations": 10_000}),
    ],
)
def test_iteration_counts_outside_the_bounds_are_refused(
    iterations: int, options: dict[str, object]
) -> None:
    client = _client(cnonce="abc", **options)
    with pytest.raises(PolicyRefused, match=f"asks for {iterations} iterations"):
        _client_first_then(client, f"r=abcdef,s=QSXCR+Q6sek8bf92,i={iterations}".encode())


def test_iteration_bounds_are_inclusive() -> None:
    client = _client(cnonce="abc", min_iterations=1, max_iterations=1)
    assert _client_first_then(client, b"r=abcdef,s=QSXCR+Q6sek8bf92,i=1") is not None


@pytest.mark.parametrize(
    ("server_first", "reason"),
    [
        (b"r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096", "does not extend the client's"),
        (b"r=abc,s=QSXCR+Q6sek8bf92,i=4096", "does not extend the client's"),
        (b"r=abc\x7fx,s=QSXCR+Q6sek8bf92,i=4096", "non-printable"),
        (b"r=abcdef,i=4096,s=QSXCR+Q6sek8bf92", "needs 's=' as attribute 2"),
        (b"r=abcdef,s=QSXCR+Q6sek8bf92", "lacks attributes"),
        (b"r=abcdef,s=not*base64,i=4096", "not base64"),
        (b"r=abcdef,s=QR==,i=4096", "not canonical base64"),
        (b"r=abcdef,s=,i=4096", "salt (s=) is empty"),
        (b"r=abcdef,s=QSXCR+Q6sek8bf92,i=0", "not a number"),
        (b"r=abcdef,s=QSXCR+Q6sek8bf92,i=40x6", "not a number"),
        (b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,bad", "malformed extension"),
        (b"m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", "unknown extension (m=)"),
        (b"r=abc\xff,s=QSXCR+Q6sek8bf92,i=4096", "not UTF-8"),
    ],
)
def test_client_refuses_a_malformed_server_first_message(server_first: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=re.escape(reason)):
        _client_first_then(_client(cnonce="abc"), server_first)


def test_client_ignores_extensions_after_the_known_attributes() -> None:
    client = _client(cnonce="abc")
    assert _client_first_then(client, b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,x=y") is not None


@pytest.mark.parametrize("step", [1, 2])
def test_a_server_error_is_authentication_failed_with_its_reason(step: int) -> None:
    client = _client(cnonce="abc")
    client.step(b"")
    if step == 2:
        client.step(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")
    with pytest.raises(AuthenticationFailed, match=r"the server refused: invalid-proof$"):
        client.step(b"e=invalid-proof")


def test_a_server_error_reason_is_reduced_to_printable_ascii() -> None:
    client = _client(cnonce="abc")
    client.step(b"")
    with pytest.raises(AuthenticationFailed, match=r"refused: other error x$"):
        client.step("e=other\terror\u00e9x".encode())


@settings(max_examples=200, deadline=None)
@given(nonce=st.text(max_size=20), salt=st.text(max_size=30), count=st.text(max_size=8))
def test_arbitrary_server_first_attributes_raise_only_project_errors(
    nonce: str, salt: str, count: str
) -> None:
    client = _client(cnonce="abc", min_iterations=1, max_iterations=4096)
    with contextlib.suppress(SASLError):
        _client_first_then(client, f"r=abc{nonce},s={salt},i={count}".encode())


# --- What the server accepts from the client -------------------------------------------


def _server_at_final(server: sasl_kit.ServerMechanism) -> str:
    """Step the server past the client-first message; return the full nonce."""
    server_first = server.step(b"n,,n=user,r=abc")
    assert server_first is not None
    return server_first.decode().split(",")[0].removeprefix("r=")


@pytest.mark.parametrize(
    ("final", "reason"),
    [
        ("c=biws,r={nonce}", "no proof"),
        ("c=biws,r=abc,p=AAAA", "differs from the one the server sent"),
        ("r={nonce},c=biws,p=AAAA", "needs 'c=' as attribute 1"),
        ("c=biws!,r={nonce},p=AAAA", "not base64"),
        ("c=biws,r={nonce},p=AA==A", "not base64"),
    ],
)
def test_server_refuses_a_malformed_client_final_message(final: str, reason: str) -> None:
    server = _server()
    nonce = _server_at_final(server)
    with pytest.raises(MalformedMessage, match=re.escape(reason)):
        server.step(final.format(nonce=nonce).encode())


def test_server_refuses_a_proof_of_the_wrong_length() -> None:
    server = _server()
    nonce = _server_at_final(server)
    with pytest.raises(AuthenticationFailed, match="authentication failed for 'user'"):
        server.step(f"c=biws,r={nonce},p={base64.b64encode(bytes(20)).decode()}".encode())


@pytest.mark.parametrize(
    ("client_first", "reason"),
    [
        (b"n,,", "lacks attributes"),
        (b"n", "no gs2 header"),
        (b"n,b=x,n=user,r=abc", "authzid must be 'a=...'"),
        (b"n,,m=x,n=user,r=abc", "unknown extension (m=)"),
        (b"n,,n=,r=abc", "user name is empty"),
        (b"n,,n=user,r=", "client nonce is empty or not printable"),
        (b"n,,r=abc,n=user", "needs 'n=' as attribute 1"),
        (b"n,,n=us\x07er,r=abc", "user name refused by SASLprep"),
    ],
)
def test_server_refuses_a_malformed_client_first_message(client_first: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=re.escape(reason)):
        _server().step(client_first)


# --- Key storage and the client's cache -------------------------------------------------


def test_a_key_table_keeps_no_password() -> None:
    assert isinstance(STORE, ScramCredentialStore)
    assert STORE.password("user", "") is None
    assert "pencil" not in repr(STORE)
    for per_hash in STORE.keys.values():
        for keys in per_hash.values():
            assert isinstance(keys, ScramKeys)
            values = dataclasses.astuple(keys)
            assert all(isinstance(v, (bytes, int)) for v in values)
            for password in PASSWORDS.values():
                assert not any(password.encode() in v for v in values if isinstance(v, bytes))
    assert "stored_key" not in repr(STORE.scram_keys("user", "sha256"))


def test_a_key_table_gives_each_user_and_hash_its_own_salt() -> None:
    salts = {keys.salt for per_hash in STORE.keys.values() for keys in per_hash.values()}
    assert len(salts) == len(PASSWORDS) * len(scram.HASHES)


def test_plain_mechanisms_cannot_use_a_key_table() -> None:
    server = sasl_kit.server("PLAIN", STORE)
    with pytest.raises(AuthenticationFailed):
        server.step(b"\0user\0pencil")


@pytest.fixture
def pbkdf2_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = scram.pbkdf2

    def counting(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
        calls.append(iterations)
        return real(name, password, salt, iterations)

    monkeypatch.setattr(scram, "pbkdf2", counting)
    return calls


def test_a_repeated_login_costs_no_pbkdf2(pbkdf2_calls: list[int]) -> None:
    SALTED_PASSWORDS.clear()
    _run(_client(), _server())
    assert pbkdf2_calls == [4096]
    _run(_client(), _server())
    assert pbkdf2_calls == [4096]


def test_another_password_or_salt_misses_the_cache(pbkdf2_calls: list[int]) -> None:
    SALTED_PASSWORDS.clear()
    _run(_client(), _server())
    with pytest.raises(AuthenticationFailed):
        _run(_client(password="pencil2"), _server())
    other = ScramKeyTable.from_passwords({"user": "pencil"}, hash_names=("sha256",))
    _run(_client(), sasl_kit.server("SCRAM-SHA-256", other))
    assert len(pbkdf2_calls) == 4  # one for each client login, one for the new table


def test_the_cache_is_keyed_without_the_password() -> None:
    SALTED_PASSWORDS.clear()
    _run(_client(), _server())
    assert len(SALTED_PASSWORDS) == 1
    for key in SALTED_PASSWORDS._entries:
        assert all(b"pencil" not in part for part in key if isinstance(part, bytes))
        assert "pencil" not in key


def test_the_cache_is_a_bounded_lru() -> None:
    cache = SaltedPasswordCache(size=2)
    for salt in (b"a", b"b", b"a", b"c"):
        cache.salted_password("sha1", "pw", salt, 1)
    assert [key[2] for key in cache._entries] == [b"a", b"c"]


def test_the_cache_serves_many_threads() -> None:
    cache = SaltedPasswordCache(size=8)
    results: list[bytes] = []

    def login(n: int) -> None:
        for _ in range(20):
            results.append(cache.salted_password("sha256", "pw", bytes([n % 4]), 16))

    threads = [threading.Thread(target=login, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 4 and len(set(results)) == 4 and len(results) == 160


# --- Registry -------------------------------------------------------------------------


def test_registry_prefers_plus_then_scram_then_the_rest() -> None:
    names = [info.name for info in sasl_kit.default_registry]
    expected = [f"SCRAM-SHA-{bits}{plus}" for plus in ("-PLUS", "") for bits in (512, 256, 1)]
    assert names[:6] == expected
    assert names.index("SCRAM-SHA-1") < names.index("DIGEST-MD5")
    choice = sasl_kit.default_registry.choose(["CRAM-MD5", "SCRAM-SHA-1"], encrypted=False)
    assert choice.best.name == "SCRAM-SHA-1"
