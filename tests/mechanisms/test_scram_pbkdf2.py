"""SCRAM's Hi (PBKDF2) in either OpenSSL: cryptography's when the process has loaded it,
hashlib's otherwise (sasl_kit/mechanisms/scram.py, ``pbkdf2``).

Both give the published vectors and the same bytes as each other; which one runs
depends on ``sys.modules`` alone, and a SCRAM login never imports cryptography
for it (tests/test_imports.py).
"""

from __future__ import annotations

import hashlib
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit import vectors
from sasl_kit.mechanisms import scram

PBKDF2_VECTORS = [
    v
    for v in vectors.load(vectors.vectors_dir() / "pbkdf2.json").vectors
    # SCRAM's Hi is as long as its hash: RFC 6070's cases of other lengths are not its.
    if v["input"]["dklen"] == hashlib.new(v["input"]["hash_name"]).digest_size
]
SCRAM_VECTORS = [
    v
    for v in vectors.load(vectors.vectors_dir() / "scram.json").vectors
    if "exchange" in v and "client" in v
]


@pytest.fixture
def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pbkdf2`` sees a process that has not loaded cryptography."""
    monkeypatch.delitem(sys.modules, scram._CRYPTOGRAPHY_OPENSSL, raising=False)


@pytest.fixture
def with_cryptography() -> None:
    """``pbkdf2`` sees a process that has loaded cryptography."""
    import cryptography.hazmat.bindings._rust  # noqa: F401


@pytest.mark.parametrize("vector", PBKDF2_VECTORS, ids=lambda v: v["id"])
def test_cryptography_pbkdf2_gives_the_rfc_6070_vectors(vector: dict[str, object]) -> None:
    given_ = vector["input"]
    assert isinstance(given_, dict)
    derived = scram.cryptography_pbkdf2(
        given_["hash_name"],
        given_["password"].encode(),
        given_["salt"].encode(),
        given_["iterations"],
    )
    assert derived.hex() == vector["expected"]


@settings(max_examples=60, deadline=None)
@given(
    hash_name=st.sampled_from(sorted(scram.HASHES.values())),
    secret=st.binary(max_size=80),
    salt=st.binary(min_size=1, max_size=40),
    iterations=st.integers(min_value=1, max_value=64),
)
def test_both_openssls_give_the_same_bytes(
    hash_name: str, secret: bytes, salt: bytes, iterations: int
) -> None:
    assert scram.cryptography_pbkdf2(hash_name, secret, salt, iterations) == hashlib.pbkdf2_hmac(
        hash_name, secret, salt, iterations
    )


def test_pbkdf2_uses_hashlib_while_cryptography_is_not_loaded(
    without_cryptography: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> bytes:
        raise AssertionError("cryptography's PBKDF2 ran in a process that had not loaded it")

    monkeypatch.setattr(scram, "cryptography_pbkdf2", refuse)
    assert scram.pbkdf2("sha256", b"pencil", b"salt", 2) == hashlib.pbkdf2_hmac(
        "sha256", b"pencil", b"salt", 2
    )


def test_pbkdf2_uses_cryptography_once_it_is_loaded(
    with_cryptography: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> bytes:
        raise AssertionError("hashlib's PBKDF2 ran although cryptography was loaded")

    expected = hashlib.pbkdf2_hmac("sha256", b"pencil", b"salt", 2)
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", refuse)
    assert scram.pbkdf2("sha256", b"pencil", b"salt", 2) == expected


def test_a_hash_that_is_not_scrams_stays_with_hashlib(with_cryptography: None) -> None:
    assert scram.pbkdf2("sha384", b"pencil", b"salt", 2) == hashlib.pbkdf2_hmac(
        "sha384", b"pencil", b"salt", 2
    )


@pytest.mark.parametrize("openssl", ["without_cryptography", "with_cryptography"])
@pytest.mark.parametrize("vector", SCRAM_VECTORS, ids=lambda v: v["id"])
def test_the_scram_exchanges_replay_in_either_openssl(
    vector: dict[str, object], openssl: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(openssl)
    scram.SALTED_PASSWORDS.clear()  # so that the replay derives its keys here
    vectors.replay_client(vector)
