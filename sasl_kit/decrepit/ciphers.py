"""Weak legacy ciphers, fenced off: RC4 and DES for DIGEST-MD5's auth-conf layer (RFC 2831 2.4).

Rules of this module:
- Nothing here is safe for new protocols. It exists because deployed DIGEST-MD5
  peers negotiate these ciphers, and it is reached only when a caller asks for
  ``qop="auth-conf"`` explicitly. No other module imports ``cryptography``'s
  ``decrepit`` package: every use of a broken cipher goes through this file.
- The ciphers come from ``cryptography`` (OpenSSL); nothing is implemented here
  but the key-format conversion DES needs.
- Each function returns a running cipher context: consecutive ``update`` calls
  continue one RC4 key stream or one CBC chain, which is what RFC 2831 2.4
  prescribes across the messages of a session (as Cyrus SASL does it).
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, modes

DES_BLOCK = 8


def des_key(key56: bytes) -> bytes:
    """Spread 7 octets (56 key bits) over 8 octets, 7 bits each, with odd parity in the low bit.

    RFC 2831 2.4 (des, 3des): the key bits are taken in order, as Cyrus SASL's
    ``slidebits`` does; DES ignores the parity bits, which are set only to make
    the key a well-formed DES key.
    """
    if len(key56) != 7:
        raise ValueError("a DES key is made from exactly 7 octets")
    bits = int.from_bytes(key56, "big")
    out = bytearray()
    for i in range(8):
        seven = (bits >> (49 - 7 * i)) & 0x7F
        byte = seven << 1
        out.append(byte | (bin(byte).count("1") + 1) % 2)
    return bytes(out)


def rc4(key: bytes) -> CipherContext:
    """An RC4 key stream (encryption and decryption are the same operation)."""
    return Cipher(ARC4(key), mode=None).encryptor()


def des_cbc(key: bytes, iv: bytes, *, encrypt: bool) -> CipherContext:
    """Single DES in CBC mode, as triple DES with K1 = K2 = K3 (EDE collapses to one DES)."""
    return _cbc(TripleDES(key * 3), iv, encrypt=encrypt)


def des_ede2_cbc(key1: bytes, key2: bytes, iv: bytes, *, encrypt: bool) -> CipherContext:
    """Two-key triple DES (EDE, K3 = K1) in CBC mode."""
    return _cbc(TripleDES(key1 + key2 + key1), iv, encrypt=encrypt)


def _cbc(algorithm: TripleDES, iv: bytes, *, encrypt: bool) -> CipherContext:
    cipher = Cipher(algorithm, modes.CBC(iv))
    return cipher.encryptor() if encrypt else cipher.decryptor()
