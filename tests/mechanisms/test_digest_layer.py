"""DIGEST-MD5 layer formulas (RFC 2831 2.3, 2.4) and the checks of unwrap.

The proof against an independent implementation is vectors/digest-md5-layers.json
(Cyrus SASL), replayed in tests/test_vectors.py and tests/mechanisms/test_digest_md5.py.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sasl_kit import MalformedMessage, UsageError
from sasl_kit.decrepit.ciphers import des_cbc, des_key
from sasl_kit.mechanisms.base import DIGEST_CIPHERS
from sasl_kit.mechanisms.digest_layer import (
    CIPHERS,
    DigestLayer,
    layer_keys,
    max_plaintext,
    overhead,
    sealing_keys,
    signing_keys,
)

H_A1 = bytes(range(16))


def _layer(side: str, cipher: str | None = "des") -> DigestLayer:
    qop = "auth-int" if cipher is None else "auth-conf"
    return DigestLayer(H_A1, side=side, qop=qop, cipher=cipher, maxbuf=4096, peer_maxbuf=4096)


def test_the_default_cipher_preference_names_every_cipher_strongest_first() -> None:
    assert tuple(CIPHERS) == DIGEST_CIPHERS
    assert [CIPHERS[c].ssf for c in DIGEST_CIPHERS] == sorted(
        (c.ssf for c in CIPHERS.values()), reverse=True
    )


def test_signing_keys_hash_all_of_h_a1_with_the_magic_constants() -> None:
    kic, kis = signing_keys(H_A1)
    magic = b"Digest session key to client-to-server signing key magic constant"
    assert kic == hashlib.md5(H_A1 + magic).digest()  # noqa: S324 -- RFC 2831 2.3
    assert kis != kic


@pytest.mark.parametrize(
    ("cipher", "n"), [("rc4-40", 5), ("rc4-56", 7), ("rc4", 16), ("des", 16), ("3des", 16)]
)
def test_sealing_keys_use_the_first_n_octets_of_h_a1(cipher: str, n: int) -> None:
    changed = bytearray(H_A1)
    changed[n - 1] ^= 1
    assert sealing_keys(bytes(changed), cipher) != sealing_keys(H_A1, cipher)
    if n < 16:
        changed = bytearray(H_A1)
        changed[n] ^= 1
        assert sealing_keys(bytes(changed), cipher) == sealing_keys(H_A1, cipher)


def test_layer_keys_name_the_four_keys_in_hex() -> None:
    assert set(layer_keys(H_A1, "rc4")) == {"kic", "kis", "kcc", "kcs"}
    assert set(layer_keys(H_A1, None)) == {"kic", "kis"}


def test_a_des_key_spreads_56_bits_over_8_octets_with_odd_parity() -> None:
    key = des_key(bytes.fromhex("ffffffffffffff"))
    assert key == bytes.fromhex("fefefefefefefefe")
    assert des_key(bytes(7)) == bytes.fromhex("0101010101010101")
    for octet in des_key(bytes.fromhex("0123456789abcd")):
        assert bin(octet).count("1") % 2 == 1
    with pytest.raises(ValueError, match="exactly 7 octets"):
        des_key(bytes(8))


def test_auth_int_sends_the_message_in_the_clear_with_mac_type_and_sequence_number() -> None:
    client = _layer("client", None)
    kic, _ = signing_keys(H_A1)
    for seq in range(2):
        wrapped = client.wrap(b"hello")
        number = seq.to_bytes(4, "big")
        mac = hmac.new(kic, number + b"hello", hashlib.md5).digest()[:10]
        assert wrapped == b"hello" + mac + b"\x00\x01" + number


@pytest.mark.parametrize("size", range(17))
def test_block_ciphers_pad_with_1_to_8_octets_each_holding_the_pad_length(size: int) -> None:
    wrapped = _layer("server").wrap(b"m" * size)
    assert (len(wrapped) - 6) % 8 == 0
    assert 1 <= len(wrapped) - 6 - 10 - size <= 8
    assert len(wrapped) - size <= overhead("des")


def test_a_message_with_bad_padding_is_refused() -> None:
    """Built by hand: a correct MAC but padding octets that disagree with the pad length."""
    _, kis = signing_keys(H_A1)
    _, kcs = sealing_keys(H_A1, "des")
    mac = hmac.new(kis, bytes(4) + b"hel", hashlib.md5).digest()[:10]
    body = b"hel" + b"\x01\x02\x03" + mac  # the last pad octet says 3; the two before disagree
    sealed = des_cbc(des_key(kcs[:7]), kcs[8:], encrypt=True).update(body)
    with pytest.raises(MalformedMessage, match="has bad padding"):
        _layer("client").unwrap(sealed + b"\x00\x01" + bytes(4))


def test_a_message_of_another_type_is_refused() -> None:
    wrapped = bytearray(_layer("server", "rc4").wrap(b"x"))
    wrapped[-6:-4] = b"\x00\x02"
    with pytest.raises(MalformedMessage, match="message type 0002, not 0001"):
        _layer("client", "rc4").unwrap(bytes(wrapped))


def test_a_message_too_short_for_its_trailer_is_refused() -> None:
    with pytest.raises(MalformedMessage, match="too short"):
        _layer("client", None).unwrap(b"\x00\x01" + bytes(4))


def test_the_block_cipher_part_must_be_whole_blocks() -> None:
    with pytest.raises(MalformedMessage, match="whole number of blocks"):
        _layer("client").unwrap(bytes(17) + b"\x00\x01" + bytes(4))


def test_a_layer_refuses_to_go_on_after_a_refused_message() -> None:
    client = _layer("client", "rc4")
    with pytest.raises(MalformedMessage, match="bad MAC"):
        client.unwrap(bytes(20) + b"\x00\x01" + bytes(4))
    with pytest.raises(UsageError, match="close the connection"):
        client.unwrap(_layer("server", "rc4").wrap(b"x"))


def test_max_plaintext_leaves_room_for_the_overhead() -> None:
    assert max_plaintext(2048, None) == 2048 - 16
    assert max_plaintext(2048, "rc4-40") == 2048 - 16
    assert max_plaintext(2048, "3des") == 2040 - 11


def test_a_peer_buffer_too_small_for_any_message_is_the_peers_fault() -> None:
    with pytest.raises(MalformedMessage, match="leaves no room"):
        DigestLayer(H_A1, side="client", qop="auth-conf", cipher="des", maxbuf=4096, peer_maxbuf=17)


@pytest.mark.parametrize(
    ("side", "qop", "cipher"),
    [
        ("peer", "auth-int", None),
        ("client", "auth", None),
        ("client", "auth-conf", None),
        ("client", "auth-int", "rc4"),
    ],
)
def test_a_layer_built_wrongly_is_the_callers_fault(
    side: str, qop: str, cipher: str | None
) -> None:
    with pytest.raises(UsageError):
        DigestLayer(H_A1, side=side, qop=qop, cipher=cipher, maxbuf=4096, peer_maxbuf=4096)


def test_a_layer_repr_shows_no_key_material() -> None:
    text = repr(_layer("client"))
    assert text == "<DigestLayer DIGEST-MD5 auth-conf des sent=0 received=0>"
