"""DIGEST-MD5 security layers (RFC 2831 2.3 integrity, 2.4 confidentiality): keys, wrap, unwrap.

Rules of this module:
- Key derivation is pure functions of H(A1) (16 binary octets) and the cipher
  name; ``DigestLayer`` only keeps the running state (sequence numbers, cipher
  streams). The ciphers themselves come from ``sasl_kit.decrepit.ciphers``, the
  one place where RC4 and DES are allowed.
- One message is one call: ``wrap`` gives the RFC 2831 message (no length
  prefix), ``unwrap`` takes one. The 4-octet framing of RFC 4422 3.7 is
  ``sasl_kit.security_layer.Framer``'s job.
- Where RFC 2831 is loose, Cyrus SASL 2.1.28 decides (it is the peer that
  implements every cipher): RC4 keys are all 16 octets of Kc for rc4-40 and
  rc4-56 too (only the derivation of Kc uses n = 5 or 7); the RC4 stream and the
  CBC chain continue from one message to the next; the padding is 1 to 8 octets.
- A message that fails to verify is the peer's fault (``MalformedMessage``),
  with a message that says which check failed and never shows key material.
  After that the layer refuses to go on: its cipher state is lost.

Theory of operation. Both sides derive, from H(A1), a signing key per direction
(Kic client to server, Kis server to client) and, for auth-conf, a sealing key
per direction (Kcc, Kcs). Each side numbers the messages it sends from 0
(SeqNum, 4 octets). A message is
  auth-int:  msg | HMAC-MD5(Ki, SeqNum | msg)[0:10] | 0x0001 | SeqNum
  auth-conf: CIPHER(Kc, msg | pad | HMAC-MD5(Ki, SeqNum | msg)[0:10]) | 0x0001 | SeqNum
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sasl_kit.errors import MalformedMessage, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import CipherContext

QOP_INT = "auth-int"
QOP_CONF = "auth-conf"
MAC_OCTETS = 10
MESSAGE_TYPE = b"\x00\x01"  # RFC 2831 2.3: message type 1, 2 octets, network byte order
SEQ_OCTETS = 4
TRAILER = len(MESSAGE_TYPE) + SEQ_OCTETS
# RFC 2831 2.3 and 2.4, the magic constants.
SIGN_CLIENT = b"Digest session key to client-to-server signing key magic constant"
SIGN_SERVER = b"Digest session key to server-to-client signing key magic constant"
SEAL_CLIENT = b"Digest H(A1) to client-to-server sealing key magic constant"
SEAL_SERVER = b"Digest H(A1) to server-to-client sealing key magic constant"
CLIENT = "client"
SERVER = "server"


@dataclass(frozen=True)
class CipherSpec:
    """What RFC 2831 2.4 fixes for one cipher: how many octets of H(A1) make Kc, the block size."""

    name: str
    key_octets: int  # n in Kcc = MD5({H(A1)[0..n], magic})
    block: int  # 1 for a stream cipher
    ssf: int  # security strength, as SASL implementations report it (Cyrus SASL's values)


# Strongest first: the order a client that was given no preference tries them in.
CIPHERS: dict[str, CipherSpec] = {
    spec.name: spec
    for spec in (
        CipherSpec("rc4", 16, 1, 128),
        CipherSpec("3des", 16, 8, 112),
        CipherSpec("rc4-56", 7, 1, 56),
        CipherSpec("des", 16, 8, 55),
        CipherSpec("rc4-40", 5, 1, 40),
    )
}


# --- Formulas -----------------------------------------------------------------------------


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324 -- RFC 2831 defines the layer over MD5


def signing_keys(h_a1: bytes) -> tuple[bytes, bytes]:
    """RFC 2831 2.3: Kic = MD5({H(A1), SIGN_CLIENT}), Kis = MD5({H(A1), SIGN_SERVER})."""
    return _md5(h_a1 + SIGN_CLIENT), _md5(h_a1 + SIGN_SERVER)


def sealing_keys(h_a1: bytes, cipher: str) -> tuple[bytes, bytes]:
    """RFC 2831 2.4: Kcc = MD5({H(A1)[0..n], SEAL_CLIENT}), Kcs likewise with SEAL_SERVER.

    n is 16 for rc4, des and 3des, 7 for rc4-56, 5 for rc4-40.
    """
    part = h_a1[: cipher_spec(cipher).key_octets]
    return _md5(part + SEAL_CLIENT), _md5(part + SEAL_SERVER)


def layer_keys(h_a1: bytes, cipher: str | None) -> dict[str, str]:
    """Kic, Kis and (with a cipher) Kcc, Kcs in hex: what the vectors record."""
    kic, kis = signing_keys(h_a1)
    keys = {"kic": kic.hex(), "kis": kis.hex()}
    if cipher is not None:
        kcc, kcs = sealing_keys(h_a1, cipher)
        keys |= {"kcc": kcc.hex(), "kcs": kcs.hex()}
    return keys


def cipher_spec(name: str) -> CipherSpec:
    spec = CIPHERS.get(name.lower())
    if spec is None:
        raise UsageError(f"unknown DIGEST-MD5 cipher {name!r}; known: {', '.join(CIPHERS)}")
    return spec


def _cipher(name: str, kc: bytes, *, encrypt: bool) -> CipherContext:
    """The running cipher for one direction (RFC 2831 2.4)."""
    from sasl_kit.decrepit import ciphers as decrepit_ciphers  # cryptography: auth-conf only

    if name.startswith("rc4"):
        return decrepit_ciphers.rc4(kc)
    iv = kc[8:]  # "the IV is the last 8 bytes of Kc"
    if name == "des":
        return decrepit_ciphers.des_cbc(decrepit_ciphers.des_key(kc[:7]), iv, encrypt=encrypt)
    key1, key2 = decrepit_ciphers.des_key(kc[:7]), decrepit_ciphers.des_key(kc[7:14])
    return decrepit_ciphers.des_ede2_cbc(key1, key2, iv, encrypt=encrypt)


def overhead(cipher: str | None) -> int:
    """The most octets ``wrap`` adds to a message (MAC, padding, type, sequence number)."""
    block = 1 if cipher is None else cipher_spec(cipher).block
    return MAC_OCTETS + (block if block > 1 else 0) + TRAILER


def max_plaintext(maxbuf: int, cipher: str | None) -> int:
    """The longest message whose wrapped form fits a peer buffer of ``maxbuf`` octets."""
    block = 1 if cipher is None else cipher_spec(cipher).block
    if block == 1:
        return maxbuf - MAC_OCTETS - TRAILER
    # The encrypted part, message + pad (>= 1) + MAC, is a whole number of blocks.
    return (maxbuf - TRAILER) // block * block - MAC_OCTETS - 1


# --- The layer ----------------------------------------------------------------------------


class DigestLayer:
    """The negotiated auth-int or auth-conf layer of one DIGEST-MD5 session, for one side.

    ``peer_maxbuf`` bounds what ``wrap`` produces; ``maxbuf`` (what this side
    announced) bounds what ``unwrap`` accepts.
    """

    def __init__(
        self,
        h_a1: bytes,
        *,
        side: str,
        qop: str,
        cipher: str | None,
        maxbuf: int,
        peer_maxbuf: int,
    ) -> None:
        if side not in (CLIENT, SERVER):
            raise UsageError(f"side must be {CLIENT!r} or {SERVER!r}, not {side!r}")
        if qop not in (QOP_INT, QOP_CONF) or (cipher is None) != (qop == QOP_INT):
            raise UsageError(
                f"a DIGEST-MD5 layer is auth-int, or auth-conf with a cipher; got {qop!r}"
            )
        self.name = f"DIGEST-MD5 {qop}" + (f" {cipher}" if cipher else "")
        self.qop, self.cipher = qop, cipher
        self.max_receive = maxbuf
        self.max_send = max_plaintext(peer_maxbuf, cipher)
        if self.max_send < 1:
            raise MalformedMessage(
                f"{self.name}: the peer's maxbuf {peer_maxbuf} leaves no room for a message"
            )
        kic, kis = signing_keys(h_a1)
        send_key, receive_key = (kic, kis) if side == CLIENT else (kis, kic)
        self._send_mac = hmac.new(send_key, digestmod=hashlib.md5)
        self._receive_mac = hmac.new(receive_key, digestmod=hashlib.md5)
        self._send_seq = 0
        self._receive_seq = 0
        self._failed = False
        self._block = 1
        self._encrypt: CipherContext | None = None
        self._decrypt: CipherContext | None = None
        if cipher is not None:
            spec = cipher_spec(cipher)
            self._block = spec.block
            kcc, kcs = sealing_keys(h_a1, spec.name)
            send_kc, receive_kc = (kcc, kcs) if side == CLIENT else (kcs, kcc)
            self._encrypt = _cipher(spec.name, send_kc, encrypt=True)
            self._decrypt = _cipher(spec.name, receive_kc, encrypt=False)

    def __repr__(self) -> str:
        return f"<DigestLayer {self.name} sent={self._send_seq} received={self._receive_seq}>"

    def _mac(self, template: hmac.HMAC, seq: bytes, data: bytes | memoryview) -> bytes:
        mac = template.copy()
        mac.update(seq)
        mac.update(data)
        return mac.digest()[:MAC_OCTETS]

    def wrap(self, data: bytes) -> bytes:
        """One message to the peer, protected (RFC 2831 2.3 or 2.4), without a length prefix."""
        if len(data) > self.max_send:
            raise UsageError(
                f"{self.name}: a message of {len(data)} octets exceeds the {self.max_send} "
                "the peer's maxbuf allows; split it (Framer.wrap does)"
            )
        seq = self._send_seq.to_bytes(SEQ_OCTETS, "big")
        self._send_seq = (self._send_seq + 1) % 2**32
        mac = self._mac(self._send_mac, seq, data)
        if self._encrypt is None:
            return b"".join((data, mac, MESSAGE_TYPE, seq))
        tail = mac
        if self._block > 1:  # RFC 2831 2.4: 1..block octets, each holding the pad length
            pad = self._block - (len(data) + MAC_OCTETS) % self._block
            tail = bytes((pad,)) * pad + mac
        sealed = self._encrypt.update(data) + self._encrypt.update(tail)
        return b"".join((sealed, MESSAGE_TYPE, seq))

    def unwrap(self, data: bytes) -> bytes:
        """The peer's message, verified; ``MalformedMessage`` names the check that failed."""
        if self._failed:
            raise UsageError(
                f"{self.name}: an earlier message failed to verify; close the connection"
            )
        try:
            return self._unwrap(data)
        except MalformedMessage:
            self._failed = True
            raise

    def _unwrap(self, data: bytes) -> bytes:
        where = f"{self.name}: the peer's message {self._receive_seq}"
        if len(data) > self.max_receive:
            raise MalformedMessage(
                f"{where} is {len(data)} octets, more than maxbuf {self.max_receive}"
            )
        body_size = len(data) - TRAILER
        if body_size < MAC_OCTETS + (1 if self._block > 1 else 0):
            raise MalformedMessage(f"{where} is too short ({len(data)} octets)")
        kind, seq = data[body_size : body_size + 2], data[body_size + 2 :]
        if kind != MESSAGE_TYPE:
            raise MalformedMessage(f"{where} has message type {kind.hex()}, not 0001")
        received = int.from_bytes(seq, "big")
        if received != self._receive_seq:
            raise MalformedMessage(
                f"{where} carries sequence number {received}, expected {self._receive_seq}"
            )
        self._receive_seq = (self._receive_seq + 1) % 2**32
        body = memoryview(data)[:body_size]
        if self._decrypt is not None:
            if body_size % self._block:
                raise MalformedMessage(f"{where}: encrypted part is not a whole number of blocks")
            body = memoryview(self._decrypt.update(body))
        end = body_size - MAC_OCTETS
        if self._block > 1:
            pad = body[end - 1]
            padding = body[end - pad : end] if 1 <= pad <= min(self._block, end) else b""
            if not padding or any(b != pad for b in padding):
                raise MalformedMessage(f"{where} has bad padding")
            end -= pad
        message = body[:end]
        expected = self._mac(self._receive_mac, seq, message)
        if not hmac.compare_digest(expected, body[body_size - MAC_OCTETS :]):
            raise MalformedMessage(f"{where} has a bad MAC: altered, or not from this session")
        return bytes(message)
