"""Weak legacy primitives NTLM is made of, fenced off: MD4, DES-L and the LM hash.

Rules of this module:
- Nothing here is safe for new protocols. It exists because NTLM (MS-NLMP) is
  defined over MD4 and, in NTLMv1, over DES; ``sasl_kit.mechanisms.ntlm`` is the
  only caller, and it reaches the DES functions only when its caller set
  ``allow_ntlmv1``. NTLMv2 needs only ``md4`` (the NT hash) and RC4 (``rc4k``,
  key exchange) from here.
- MD4 (RFC 1320) is implemented here, once: OpenSSL 3 dropped it from its
  default provider, so ``hashlib.new("md4")`` fails on current systems, and it
  is too small to justify a dependency. It is checked against RFC 1320's test
  suite (vectors/md4.json).
- The ciphers themselves (DES, RC4) come from ``sasl_kit.decrepit.ciphers``,
  the one module that imports ``cryptography``'s decrepit package; this file
  only composes them the way MS-NLMP section 6 does.
"""

from __future__ import annotations

import struct

from sasl_kit.decrepit.ciphers import des_cbc, des_key, rc4

_MASK = 0xFFFFFFFF
_LM_MAGIC = b"KGS!@#$%"  # MS-NLMP 3.3.1 LMOWFv1


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def md4(data: bytes) -> bytes:
    """RFC 1320: the 16-octet MD4 digest of ``data``."""
    length = len(data)
    # RFC 1320 3.1-3.2: pad with 0x80, zeros to 56 mod 64, then the bit length (little-endian).
    message = data + b"\x80" + b"\0" * ((55 - length) % 64) + struct.pack("<Q", length * 8)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]  # RFC 1320 3.3
    for offset in range(0, len(message), 64):
        x = struct.unpack("<16I", message[offset : offset + 64])
        a, b, c, d = state
        # RFC 1320 3.4, round 1: F(X,Y,Z) = XY v not(X) Z
        for i in range(16):
            k, s = i, (3, 7, 11, 19)[i % 4]
            a = _rotl((a + ((b & c) | (~b & d)) + x[k]) & _MASK, s)
            a, b, c, d = d, a, b, c
        # Round 2: G(X,Y,Z) = XY v XZ v YZ, plus 0x5A827999
        for i in range(16):
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            a = _rotl((a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999) & _MASK, s)
            a, b, c, d = d, a, b, c
        # Round 3: H(X,Y,Z) = X xor Y xor Z, plus 0x6ED9EBA1
        for i in range(16):
            k, s = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i], (3, 9, 11, 15)[i % 4]
            a = _rotl((a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1) & _MASK, s)
            a, b, c, d = d, a, b, c
        state = [(v + w) & _MASK for v, w in zip(state, (a, b, c, d), strict=True)]
    return struct.pack("<4I", *state)


def des(key7: bytes, block: bytes) -> bytes:
    """MS-NLMP 6 DES(K, D): one 8-octet block encrypted under a 7-octet key (ECB)."""
    # One block of CBC with a zero IV is ECB.
    return des_cbc(des_key(key7), b"\0" * 8, encrypt=True).update(block)


def desl(key16: bytes, data8: bytes) -> bytes:
    """MS-NLMP 6 DESL(K, D): D under K[0..6], K[7..13] and K[14..15] + Z(5), concatenated."""
    key = key16 + b"\0" * 5
    return b"".join(des(key[i : i + 7], data8) for i in (0, 7, 14))


def lm_hash(oem_password: bytes) -> bytes:
    """MS-NLMP 3.3.1 LMOWFv1 over the upper-cased OEM password, at most 14 octets."""
    padded = oem_password[:14].ljust(14, b"\0")
    return des(padded[:7], _LM_MAGIC) + des(padded[7:], _LM_MAGIC)


def rc4k(key: bytes, data: bytes) -> bytes:
    """MS-NLMP 6 RC4K(K, D): D encrypted (or decrypted) with a fresh RC4 key stream."""
    return rc4(key).update(data)
