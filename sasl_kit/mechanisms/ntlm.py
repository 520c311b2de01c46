"""NTLM (MS-NLMP) as the SASL mechanism "NTLM": client and server, NTLMv2 by default.

Rules of this module:
- Three messages (MS-NLMP 2.2.1): the client's NEGOTIATE_MESSAGE is its initial
  response, the server answers with a CHALLENGE_MESSAGE, the client ends with an
  AUTHENTICATE_MESSAGE. The server proves nothing to the client.
- NTLMv2 (MS-NLMP 3.3.2) is the only response sent or accepted by default.
  NTLMv1 (3.3.1), with or without extended session security, needs
  ``allow_ntlmv1=True`` on the side that would use it; its DES lives in
  ``sasl_kit.decrepit.nlmp``. LM-only responses and anonymous logins are never accepted.
- Versions are not negotiated (MS-NLMP 3.3.1 note); the client sends NTLMv1 only
  when allowed *and* the server's challenge has no TargetInfo (a server older
  than NTLMv2). A server receiving NTLMv1 it does not allow raises ``PolicyRefused``.
- MIC (MS-NLMP 3.1.5.1.2): when the server's TargetInfo has MsvAvTimestamp the
  client reuses that time, sets MsvAvFlags bit 0x2 and sends the HMAC-MD5 of the
  three messages under the ExportedSessionKey. The server checks a MIC whenever
  the client's AV pairs announce one, and refuses a timestamp other than its own.
- No signing, sealing or key exchange is negotiated (SASL NTLM has no security
  layer); the server still decrypts a key a client exchanged anyway, for the MIC.
- Parsing is strict: signature, message type, every offset and length inside the
  message and outside its fixed header, UTF-16LE text. Errors name the message
  and field, never data; secrets are compared in constant time.
- Domain: ``ClientOptions.domain``, or a user name of the form ``DOMAIN\\user``
  (not both). The server looks the password up as ``password(user, domain)``.

Theory of operation. Client: ``step(b"")`` -> NEGOTIATE; ``step(CHALLENGE)`` ->
AUTHENTICATE, complete. Server: ``step(None)`` -> ``b""`` (asks for NEGOTIATE);
``step(NEGOTIATE)`` -> CHALLENGE; ``step(AUTHENTICATE)`` verifies and completes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from sasl_kit.decrepit.nlmp import desl, lm_hash, md4, rc4k
from sasl_kit.errors import MalformedMessage, PolicyRefused, UsageError
from sasl_kit.mechanisms.base import (
    ClientMechanism,
    ClientOptions,
    ServerMechanism,
    ServerOptions,
    secrets_equal,
)

NAME = "NTLM"
SIGNATURE = b"NTLMSSP\0"
NEGOTIATE, CHALLENGE, AUTHENTICATE = 1, 2, 3
_MESSAGE_NAMES = {
    NEGOTIATE: "NEGOTIATE_MESSAGE",
    CHALLENGE: "CHALLENGE_MESSAGE",
    AUTHENTICATE: "AUTHENTICATE_MESSAGE",
}

# MS-NLMP 2.2.2.5 NEGOTIATE flags used here.
UNICODE = 0x00000001
OEM = 0x00000002
REQUEST_TARGET = 0x00000004
SIGN = 0x00000010
SEAL = 0x00000020
NTLM_FLAG = 0x00000200
ALWAYS_SIGN = 0x00008000
TARGET_TYPE_SERVER = 0x00020000
EXTENDED_SESSIONSECURITY = 0x00080000
TARGET_INFO = 0x00800000
VERSION = 0x02000000
KEY_128 = 0x20000000
KEY_EXCH = 0x40000000
KEY_56 = 0x80000000

CLIENT_FLAGS = (
    UNICODE
    | OEM
    | REQUEST_TARGET
    | NTLM_FLAG
    | ALWAYS_SIGN
    | EXTENDED_SESSIONSECURITY
    | KEY_128
    | KEY_56
)
"""What our NEGOTIATE_MESSAGE asks for: no signing, sealing or key exchange."""
_SERVER_ECHOES = ALWAYS_SIGN | EXTENDED_SESSIONSECURITY | KEY_128 | KEY_56 | VERSION
# MS-NLMP 2.2.2.10 VERSION: no product version claimed, NTLMSSP_REVISION_W2K3. Sent so that
# clients include their own Version field, which puts the MIC where MS-NLMP has it (offset 72).
_VERSION = b"\0" * 7 + b"\x0f"

# MS-NLMP 2.2.2.1 AV_PAIR ids.
AV_EOL, AV_NB_COMPUTER, AV_NB_DOMAIN, AV_DNS_COMPUTER, AV_DNS_DOMAIN = 0, 1, 2, 3, 4
AV_FLAGS, AV_TIMESTAMP = 6, 7
AV_FLAG_MIC = 0x2

_NEGOTIATE_HEADER = 32  # MS-NLMP 2.2.1.1, without Version
_CHALLENGE_HEADER = 48  # 2.2.1.2, without Version
_AUTHENTICATE_HEADER = 64  # 2.2.1.3, without Version and MIC
_MIC_END = 88  # Version (8) and MIC (16) follow the 64-octet fixed part
_MIC = slice(72, 88)
_BLOB_HEADER = 28  # 2.2.2.7 NTLMv2_CLIENT_CHALLENGE up to AvPairs
_FILETIME_EPOCH = 116444736000000000  # 100 ns ticks from 1601-01-01 to 1970-01-01


# --- Formulas (MS-NLMP 3.3, 3.4.5, 6), bytes in and bytes out ------------------------


def ntowfv1(password: str) -> bytes:
    """MS-NLMP 3.3.1: NTOWFv1 = MD4(UNICODE(Passwd)), the NT hash."""
    return md4(password.encode("utf-16-le"))


def lmowfv1(password: str) -> bytes:
    """MS-NLMP 3.3.1: LMOWFv1 = DES over "KGS!@#$%" keyed with UpperCase(Passwd) (OEM, 14 max)."""
    return lm_hash(password.upper().encode("ascii", "replace"))


def ntowfv2(password: str, user: str, domain: str) -> bytes:
    """MS-NLMP 3.3.2: NTOWFv2 = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Upper(User) + UserDom))."""
    return _hmac_md5(ntowfv1(password), (user.upper() + domain).encode("utf-16-le"))


def _ntowfv2_from_hash(nt_hash: bytes, user: str, domain: str) -> bytes:
    return _hmac_md5(nt_hash, (user.upper() + domain).encode("utf-16-le"))


def ntlmv1_response(response_key: bytes, server_challenge: bytes) -> bytes:
    """MS-NLMP 3.3.1: NtChallengeResponse = DESL(ResponseKeyNT, ServerChallenge)."""
    return desl(response_key, server_challenge)


def ntlmv1_ess_response(
    response_key: bytes, server_challenge: bytes, client_challenge: bytes
) -> bytes:
    """MS-NLMP 3.3.1 with extended session security: DESL(key, MD5(SC + CC)[0..7])."""
    digest = hashlib.md5(server_challenge + client_challenge).digest()  # noqa: S324 -- MS-NLMP 3.3.1
    return desl(response_key, digest[:8])


def ntlmv1_session_base_key(response_key: bytes) -> bytes:
    """MS-NLMP 3.3.1: SessionBaseKey = MD4(ResponseKeyNT)."""
    return md4(response_key)


def ntlmv1_ess_key_exchange_key(
    session_base_key: bytes, server_challenge: bytes, lm_response: bytes
) -> bytes:
    """MS-NLMP 3.4.5.1 KXKEY with extended session security: HMAC_MD5(SBK, SC + LM[0..7])."""
    return _hmac_md5(session_base_key, server_challenge + lm_response[:8])


def ntlmv2_blob(timestamp: bytes, client_challenge: bytes, av_pairs: bytes) -> bytes:
    """MS-NLMP 3.3.2 temp: 0x0101, Z(6), Time, ClientChallenge, Z(4), ServerName, Z(4)."""
    return b"\x01\x01" + b"\0" * 6 + timestamp + client_challenge + b"\0" * 4 + av_pairs + b"\0" * 4


def ntlmv2_proof(response_key: bytes, server_challenge: bytes, blob: bytes) -> bytes:
    """MS-NLMP 3.3.2: NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge + temp)."""
    return _hmac_md5(response_key, server_challenge + blob)


def lmv2_response(response_key: bytes, server_challenge: bytes, client_challenge: bytes) -> bytes:
    """MS-NLMP 3.3.2: LmChallengeResponse = HMAC_MD5(ResponseKeyLM, SC + CC) + CC."""
    return _hmac_md5(response_key, server_challenge + client_challenge) + client_challenge


def ntlmv2_session_base_key(response_key: bytes, nt_proof: bytes) -> bytes:
    """MS-NLMP 3.3.2: SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr)."""
    return _hmac_md5(response_key, nt_proof)


def mic(
    exported_session_key: bytes, negotiate: bytes, challenge: bytes, authenticate: bytes
) -> bytes:
    """MS-NLMP 3.1.5.1.2: HMAC_MD5(ExportedSessionKey, NEGOTIATE + CHALLENGE + AUTHENTICATE),
    the AUTHENTICATE_MESSAGE taken with its MIC field zeroed."""
    zeroed = authenticate[: _MIC.start] + b"\0" * 16 + authenticate[_MIC.stop :]
    return _hmac_md5(exported_session_key, negotiate + challenge + zeroed)


def filetime(seconds: float) -> bytes:
    """MS-NLMP 2.2.2.1 MsvAvTimestamp: 100 ns ticks since 1601-01-01 UTC, little-endian."""
    return struct.pack("<Q", _FILETIME_EPOCH + int(seconds * 10_000_000))


def _hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "md5")


# --- Messages (MS-NLMP 2.2), parsed strictly -------------------------------------------


@dataclass(frozen=True)
class AvPair:
    id: int
    value: bytes


def pack_av_pairs(pairs: list[AvPair]) -> bytes:
    """MS-NLMP 2.2.2.1: each pair as id, length, value; MsvAvEOL ends the list."""
    body = b"".join(struct.pack("<HH", p.id, len(p.value)) + p.value for p in pairs)
    return body + struct.pack("<HH", AV_EOL, 0)


def parse_av_pairs(data: bytes, where: str) -> list[AvPair]:
    """The pairs before MsvAvEOL; a pair running past the end, or no EOL, is malformed."""
    pairs: list[AvPair] = []
    offset = 0
    while True:
        if offset + 4 > len(data):
            raise MalformedMessage(f"{NAME}: {where} AV pairs end without MsvAvEOL")
        av_id, length = struct.unpack_from("<HH", data, offset)
        offset += 4
        if av_id == AV_EOL:
            if length:
                raise MalformedMessage(f"{NAME}: {where} MsvAvEOL has a value")
            return pairs
        if offset + length > len(data):
            raise MalformedMessage(f"{NAME}: {where} AV pair {av_id} runs past the end")
        pairs.append(AvPair(av_id, data[offset : offset + length]))
        offset += length


def _av(pairs: list[AvPair], av_id: int) -> bytes | None:
    return next((p.value for p in pairs if p.id == av_id), None)


def _check_header(data: bytes | None, kind: int, minimum: int) -> bytes:
    what = _MESSAGE_NAMES[kind]
    if data is None or len(data) < minimum:
        raise MalformedMessage(f"{NAME}: {what} is shorter than its {minimum}-octet fixed part")
    if data[:8] != SIGNATURE:
        raise MalformedMessage(f"{NAME}: {what} does not start with the NTLMSSP signature")
    (found,) = struct.unpack_from("<I", data, 8)
    if found != kind:
        raise MalformedMessage(f"{NAME}: expected {what} (type {kind}), got message type {found}")
    return data


def _field(data: bytes, at: int, payload_start: int, what: str) -> bytes:
    """A Len/MaxLen/Offset field (MS-NLMP 2.2.1): its bytes, which must lie in the payload."""
    length, _maxlen, offset = struct.unpack_from("<HHI", data, at)
    if length == 0:
        return b""
    if offset < payload_start or offset + length > len(data):
        raise MalformedMessage(
            f"{NAME}: {what} (offset {offset}, length {length}) is out of bounds"
        )
    return data[offset : offset + length]


def _text(raw: bytes, unicode: bool, what: str) -> str:
    try:
        return raw.decode("utf-16-le") if unicode else raw.decode("ascii")
    except UnicodeDecodeError:
        encoding = "UTF-16LE" if unicode else "OEM (ASCII)"
        raise MalformedMessage(f"{NAME}: {what} is not {encoding} text") from None


def _encode(text: str, unicode: bool) -> bytes:
    if unicode:
        return text.encode("utf-16-le")
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise UsageError(f"{NAME}: the server speaks OEM only; names must be ASCII") from None


def _payload(header: bytes, parts: list[bytes], fields_at: list[int]) -> bytes:
    """Place ``parts`` after ``header`` and fill in their Len/MaxLen/Offset fields."""
    out = bytearray(header)
    offset = len(header)
    for at, part in zip(fields_at, parts, strict=True):
        struct.pack_into("<HHI", out, at, len(part), len(part), offset)
        offset += len(part)
    return bytes(out) + b"".join(parts)


@dataclass(frozen=True)
class Negotiate:
    flags: int


def parse_negotiate(data: bytes | None) -> Negotiate:
    """MS-NLMP 2.2.1.1; the domain and workstation it may carry are checked, not used."""
    message = _check_header(data, NEGOTIATE, _NEGOTIATE_HEADER)
    (flags,) = struct.unpack_from("<I", message, 12)
    _field(message, 16, _NEGOTIATE_HEADER, "NEGOTIATE_MESSAGE DomainNameFields")
    _field(message, 24, _NEGOTIATE_HEADER, "NEGOTIATE_MESSAGE WorkstationFields")
    if not flags & (UNICODE | OEM):
        raise MalformedMessage(f"{NAME}: NEGOTIATE_MESSAGE offers neither UNICODE nor OEM")
    return Negotiate(flags)


def build_negotiate(flags: int) -> bytes:
    return SIGNATURE + struct.pack("<II", NEGOTIATE, flags) + b"\0" * 16


@dataclass(frozen=True)
class Challenge:
    flags: int
    server_challenge: bytes
    target_name: str
    target_info: bytes  # raw, as the client echoes it in its NTLMv2 blob
    av_pairs: tuple[AvPair, ...]


def parse_challenge(data: bytes | None) -> Challenge:
    """MS-NLMP 2.2.1.2."""
    message = _check_header(data, CHALLENGE, _CHALLENGE_HEADER)
    (flags,) = struct.unpack_from("<I", message, 20)
    unicode = bool(flags & UNICODE)
    if not flags & (UNICODE | OEM):
        raise MalformedMessage(f"{NAME}: CHALLENGE_MESSAGE sets neither UNICODE nor OEM")
    name = _field(message, 12, _CHALLENGE_HEADER, "CHALLENGE_MESSAGE TargetNameFields")
    info = b""
    pairs: list[AvPair] = []
    if flags & TARGET_INFO:
        info = _field(message, 40, _CHALLENGE_HEADER, "CHALLENGE_MESSAGE TargetInfoFields")
        pairs = parse_av_pairs(info, "CHALLENGE_MESSAGE TargetInfo") if info else []
    timestamp = _av(pairs, AV_TIMESTAMP)
    if timestamp is not None and len(timestamp) != 8:
        raise MalformedMessage(f"{NAME}: CHALLENGE_MESSAGE MsvAvTimestamp is not 8 octets")
    return Challenge(
        flags,
        message[24:32],
        _text(name, unicode, "CHALLENGE_MESSAGE TargetName"),
        info,
        tuple(pairs),
    )


def build_challenge(
    flags: int, server_challenge: bytes, target_name: str, av_pairs: list[AvPair]
) -> bytes:
    header = (
        SIGNATURE
        + struct.pack("<I", CHALLENGE)
        + b"\0" * 8
        + struct.pack("<I", flags)
        + server_challenge
        + b"\0" * 8
        + b"\0" * 8
        + (_VERSION if flags & VERSION else b"\0" * 8)
    )
    return _payload(header, [target_name.encode("utf-16-le"), pack_av_pairs(av_pairs)], [12, 40])


@dataclass(frozen=True)
class Authenticate:
    flags: int
    lm_response: bytes
    nt_response: bytes
    domain: str
    user: str
    workstation: str
    encrypted_session_key: bytes
    raw: bytes


def parse_authenticate(data: bytes | None) -> Authenticate:
    """MS-NLMP 2.2.1.3; whether the MIC field is there is decided by the caller."""
    message = _check_header(data, AUTHENTICATE, _AUTHENTICATE_HEADER)
    (flags,) = struct.unpack_from("<I", message, 60)
    unicode = bool(flags & UNICODE)
    if not flags & (UNICODE | OEM):
        raise MalformedMessage(f"{NAME}: AUTHENTICATE_MESSAGE sets neither UNICODE nor OEM")
    fields = {}
    for at, what in (
        (12, "LmChallengeResponse"),
        (20, "NtChallengeResponse"),
        (28, "DomainName"),
        (36, "UserName"),
        (44, "Workstation"),
        (52, "EncryptedRandomSessionKey"),
    ):
        fields[what] = _field(
            message, at, _AUTHENTICATE_HEADER, f"AUTHENTICATE_MESSAGE {what}Fields"
        )
    return Authenticate(
        flags,
        fields["LmChallengeResponse"],
        fields["NtChallengeResponse"],
        _text(fields["DomainName"], unicode, "AUTHENTICATE_MESSAGE DomainName"),
        _text(fields["UserName"], unicode, "AUTHENTICATE_MESSAGE UserName"),
        _text(fields["Workstation"], unicode, "AUTHENTICATE_MESSAGE Workstation"),
        fields["EncryptedRandomSessionKey"],
        message,
    )


def _payload_start(message: bytes) -> int:
    """Where the first non-empty field of an AUTHENTICATE_MESSAGE begins."""
    starts = [struct.unpack_from("<HHI", message, at) for at in range(12, 60, 8)]
    return min((offset for length, _, offset in starts if length), default=len(message))


def _eight_octets(
    fixed: str | None,
    option: str,
    what: str,
    fresh: Callable[[], bytes] = lambda: secrets.token_bytes(8),
) -> bytes:
    """A fresh value (a challenge from ``secrets`` by default), or the one an option fixes
    (16 hex digits)."""
    if fixed is None:
        return fresh()
    try:
        value = bytes.fromhex(fixed)
    except ValueError:
        value = b""
    if len(value) != 8:
        raise UsageError(f"{NAME}: {option} must be 16 hex digits (the 8-octet {what})")
    return value


# --- Client ----------------------------------------------------------------------------


def split_user(options: ClientOptions) -> tuple[str, str]:
    """(user, domain) from ``domain`` or a ``DOMAIN\\user`` user name, never both."""
    domain, sep, user = options.username.rpartition("\\")
    if not sep:
        return options.username, options.domain
    if options.domain:
        raise UsageError(
            f"{NAME}: give the domain once: as 'domain' or as 'DOMAIN\\user', not both"
        )
    return user, domain


class NTLMClient(ClientMechanism):
    name = NAME
    client_first = True

    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        self._negotiate: bytes | None = None

    def _step(self, data: bytes | None) -> bytes | None:
        if self._negotiate is None:
            if data:
                raise UsageError(f"{NAME}: the client speaks first; step it with b'' to start")
            if self.options.authzid not in ("", self.options.username):
                raise UsageError(f"{NAME}: the mechanism carries no authorization identity")
            split_user(self.options)
            self._negotiate = build_negotiate(CLIENT_FLAGS)
            return self._negotiate
        challenge = parse_challenge(data)
        out = self._authenticate(challenge, data or b"")
        self._finish()
        return out

    def _authenticate(self, challenge: Challenge, raw_challenge: bytes) -> bytes:
        assert self._negotiate is not None
        user, domain = split_user(self.options)
        unicode = bool(challenge.flags & UNICODE)
        flags = challenge.flags & (CLIENT_FLAGS | TARGET_INFO) & ~(OEM if unicode else 0)
        client_challenge = _eight_octets(self.options.cnonce, "cnonce", "ClientChallenge")
        now = _eight_octets(
            self.options.timestamp, "timestamp", "FILETIME", lambda: filetime(time.time())
        )
        password = self.options.password
        with_mic = False
        if challenge.target_info or not self.options.allow_ntlmv1:
            key = ntowfv2(password, user, domain)
            pairs = list(challenge.av_pairs)
            timestamp = _av(pairs, AV_TIMESTAMP)
            if timestamp is not None:
                with_mic = True
                old = _av(pairs, AV_FLAGS)
                av_flags = (
                    struct.unpack("<I", old)[0] if old and len(old) == 4 else 0
                ) | AV_FLAG_MIC
                pairs = [p for p in pairs if p.id != AV_FLAGS]
                pairs.append(AvPair(AV_FLAGS, struct.pack("<I", av_flags)))
                # MS-NLMP 3.1.5.1.2: with a server timestamp, LmChallengeResponse is Z(24).
                lm = b"\0" * 24
            else:  # the client's own clock (MS-NLMP 3.1.5.1.2), or the fixed one
                timestamp = now
                lm = lmv2_response(key, challenge.server_challenge, client_challenge)
            av_pairs = pack_av_pairs(pairs) if challenge.target_info else b""
            blob = ntlmv2_blob(timestamp, client_challenge, av_pairs)
            proof = ntlmv2_proof(key, challenge.server_challenge, blob)
            nt = proof + blob
            exported = ntlmv2_session_base_key(key, proof)
        else:
            key = ntowfv1(password)
            if flags & EXTENDED_SESSIONSECURITY:
                lm = client_challenge + b"\0" * 16
                nt = ntlmv1_ess_response(key, challenge.server_challenge, client_challenge)
            else:
                nt = ntlmv1_response(key, challenge.server_challenge)
                lm = nt  # MS-NLMP 3.3.1: NoLMResponseNTLMv1 (the default) sends the NT response
            exported = b""
        header = bytearray(
            SIGNATURE
            + struct.pack("<I", AUTHENTICATE)
            + b"\0" * 48
            + struct.pack("<I", flags)
            + b"\0" * 24
        )
        parts = [
            _encode(domain, unicode),
            _encode(user, unicode),
            _encode(self.options.workstation, unicode),
            lm,
            nt,
            b"",
        ]
        message = _payload(bytes(header), parts, [28, 36, 44, 12, 20, 52])
        if with_mic:
            code = mic(exported, self._negotiate, raw_challenge, message)
            message = message[: _MIC.start] + code + message[_MIC.stop :]
        return message


# --- Server ----------------------------------------------------------------------------


class NTLMServer(ServerMechanism):
    """``domain`` holds the client's domain once the exchange completed."""

    name = NAME

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)
        self.domain: str | None = None
        self._asked = False
        self._negotiate: bytes | None = None
        self._challenge: bytes | None = None
        self._server_challenge = _eight_octets(options.nonce, "nonce", "ServerChallenge")
        self._timestamp = filetime(time.time())

    def _step(self, data: bytes | None) -> bytes | None:
        if self._negotiate is None:
            if data is None and not self._asked:
                self._asked = True
                return b""
            negotiate = parse_negotiate(data)
            self._negotiate = data
            self._challenge = self._build_challenge(negotiate.flags)
            return self._challenge
        self._verify(parse_authenticate(data))
        return None

    def _build_challenge(self, client_flags: int) -> bytes:
        host = self.options.host
        realm = self.options.realms[0] if self.options.realms else ""
        computer = host.split(".")[0].upper()[:15] or "SERVER"
        nb_domain = realm.split(".")[0].upper()[:15] or "WORKGROUP"
        pairs = [
            AvPair(AV_NB_DOMAIN, nb_domain.encode("utf-16-le")),
            AvPair(AV_NB_COMPUTER, computer.encode("utf-16-le")),
            AvPair(AV_DNS_COMPUTER, host.encode("utf-16-le")),
        ]
        if realm:
            pairs.append(AvPair(AV_DNS_DOMAIN, realm.lower().encode("utf-16-le")))
        pairs.append(AvPair(AV_TIMESTAMP, self._timestamp))
        flags = (client_flags & _SERVER_ECHOES) | REQUEST_TARGET | NTLM_FLAG | TARGET_TYPE_SERVER
        flags |= TARGET_INFO | (UNICODE if client_flags & UNICODE else OEM)
        return build_challenge(flags, self._server_challenge, computer, pairs)

    def _verify(self, auth: Authenticate) -> None:
        if not auth.user:
            raise self._reject("anonymous logins are not accepted")
        nt = auth.nt_response
        if len(nt) > 24:
            self._verify_v2(auth)
        elif len(nt) == 24:
            if not self.options.allow_ntlmv1:
                raise PolicyRefused(
                    f"{NAME}: the client sent an NTLMv1 response; NTLMv1 is not allowed"
                )
            self._verify_v1(auth)
        elif not nt:
            raise PolicyRefused(
                f"{NAME}: the client sent an LM-only response, which is never accepted"
            )
        else:
            raise MalformedMessage(
                f"{NAME}: AUTHENTICATE_MESSAGE NtChallengeResponse of {len(nt)} octets"
            )
        self.domain = auth.domain
        self._accept(auth.user, "")

    def _nt_hash(self, auth: Authenticate) -> tuple[bytes, bool]:
        """The user's NT hash, and whether the user is known (a made-up hash if not)."""
        password = self.options.credentials.password(auth.user, auth.domain)
        if password is None:
            return secrets.token_bytes(16), False
        return ntowfv1(password), True

    def _verify_v2(self, auth: Authenticate) -> None:
        nt = auth.nt_response
        proof, blob = nt[:16], nt[16:]
        if len(blob) < _BLOB_HEADER + 4 or blob[:2] != b"\x01\x01":
            raise MalformedMessage(
                f"{NAME}: AUTHENTICATE_MESSAGE NTLMv2 response has no valid header"
            )
        pairs = parse_av_pairs(blob[_BLOB_HEADER:], "NTLMv2 response")
        timestamp = _av(pairs, AV_TIMESTAMP)
        flags = _av(pairs, AV_FLAGS)
        with_mic = (
            flags is not None
            and len(flags) == 4
            and bool(struct.unpack("<I", flags)[0] & AV_FLAG_MIC)
        )
        if with_mic and _payload_start(auth.raw) < _MIC_END:
            raise MalformedMessage(
                f"{NAME}: AUTHENTICATE_MESSAGE announces a MIC but has no room for it"
            )
        nt_hash, known = self._nt_hash(auth)
        key = _ntowfv2_from_hash(nt_hash, auth.user, auth.domain)
        expected = ntlmv2_proof(key, self._server_challenge, blob)
        if not (secrets_equal(expected, proof) and known):
            raise self._reject("unknown user or wrong password")
        if timestamp is not None and not secrets_equal(timestamp, self._timestamp):
            raise self._reject("the response carries another challenge's timestamp (a replay)")
        if with_mic:
            exported = ntlmv2_session_base_key(key, proof)
            if auth.flags & KEY_EXCH and len(auth.encrypted_session_key) == 16:
                exported = rc4k(exported, auth.encrypted_session_key)
            assert self._negotiate is not None and self._challenge is not None
            expected_mic = mic(exported, self._negotiate, self._challenge, auth.raw)
            if not secrets_equal(expected_mic, auth.raw[_MIC]):
                raise self._reject("the MIC does not verify (a message was altered)")

    def _verify_v1(self, auth: Authenticate) -> None:
        nt_hash, known = self._nt_hash(auth)
        lm = auth.lm_response
        ess = bool(auth.flags & EXTENDED_SESSIONSECURITY) and len(lm) == 24 and lm[8:] == b"\0" * 16
        if ess:
            expected = ntlmv1_ess_response(nt_hash, self._server_challenge, lm[:8])
        else:
            expected = ntlmv1_response(nt_hash, self._server_challenge)
        if not (secrets_equal(expected, auth.nt_response) and known):
            raise self._reject("unknown user or wrong password")


# --- Vector forms (vectors/ntlm.json, vectors/md4.json): text and hex in, hex out ------


def _md4_vector(message: str) -> str:
    return md4(message.encode("ascii")).hex()


def _ntlmv1_vector(password: str, server_challenge: str) -> dict[str, str]:
    """MS-NLMP 4.2.2: NTLMv1 without extended session security, LM response included."""
    challenge = bytes.fromhex(server_challenge)
    key = ntowfv1(password)
    return {
        "nt_response": ntlmv1_response(key, challenge).hex(),
        "lm_response": desl(lmowfv1(password), challenge).hex(),
        "session_base_key": ntlmv1_session_base_key(key).hex(),
    }


def _ntlmv1_ess_vector(
    password: str, server_challenge: str, client_challenge: str
) -> dict[str, str]:
    """MS-NLMP 4.2.3: NTLMv1 with extended session security (the NTLM2 session response)."""
    sc, cc = bytes.fromhex(server_challenge), bytes.fromhex(client_challenge)
    key = ntowfv1(password)
    lm = cc + b"\0" * 16
    return {
        "nt_response": ntlmv1_ess_response(key, sc, cc).hex(),
        "lm_response": lm.hex(),
        "key_exchange_key": ntlmv1_ess_key_exchange_key(ntlmv1_session_base_key(key), sc, lm).hex(),
    }


def _ntlmv2_vector(
    password: str,
    user: str,
    domain: str,
    server_challenge: str,
    client_challenge: str,
    time: str,
    target_info: str,
) -> dict[str, str]:
    """MS-NLMP 4.2.4: NTLMv2 responses for a given time and TargetInfo."""
    sc, cc = bytes.fromhex(server_challenge), bytes.fromhex(client_challenge)
    key = ntowfv2(password, user, domain)
    blob = ntlmv2_blob(bytes.fromhex(time), cc, bytes.fromhex(target_info))
    proof = ntlmv2_proof(key, sc, blob)
    return {
        "nt_proof_str": proof.hex(),
        "nt_response": (proof + blob).hex(),
        "lm_response": lmv2_response(key, sc, cc).hex(),
        "session_base_key": ntlmv2_session_base_key(key, proof).hex(),
    }


def _rc4k_vector(key: str, data: str) -> str:
    """MS-NLMP 4.2.2.2.3, 4.2.4.2.3: EncryptedRandomSessionKey = RC4K(KeyExchangeKey, key)."""
    return rc4k(bytes.fromhex(key), bytes.fromhex(data)).hex()


def _client_respond_vector(
    password: str,
    user: str,
    domain: str,
    client_challenge: str,
    time: str,
    challenge: str,
) -> dict[str, str]:
    """Our client, its ClientChallenge and clock fixed, answering a published CHALLENGE."""
    client = NTLMClient(
        ClientOptions(
            username=user, password=password, domain=domain, cnonce=client_challenge, timestamp=time
        )
    )
    client.step(b"")
    sent = parse_authenticate(client.step(bytes.fromhex(challenge)) or b"")
    return {"lm_response": sent.lm_response.hex(), "nt_response": sent.nt_response.hex()}


def _server_verify_vector(
    password: str, user: str, challenge: str, authenticate: str
) -> dict[str, str | None]:
    """Our server's checks run on a published CHALLENGE/AUTHENTICATE pair (MS-NLMP 4.2.4.3)."""
    sent = bytes.fromhex(challenge)
    server = NTLMServer(
        ServerOptions(
            credentials=_OnePassword(user, password),
            nonce=parse_challenge(sent).server_challenge.hex(),
        )
    )
    server._negotiate, server._challenge = b"", sent  # as if this server had sent it
    server.step(bytes.fromhex(authenticate))
    return {"authcid": server.authcid, "domain": server.domain}


@dataclass(frozen=True)
class _OnePassword:
    user: str
    secret: str

    def password(self, authcid: str, realm: str) -> str | None:
        return self.secret if authcid == self.user else None


VECTOR_FUNCTIONS: dict[str, Callable[..., object]] = {
    "md4": _md4_vector,
    "ntowfv1": lambda password: ntowfv1(password).hex(),
    "lmowfv1": lambda password: lmowfv1(password).hex(),
    "ntowfv2": lambda password, user, domain: ntowfv2(password, user, domain).hex(),
    "ntlmv1_response": _ntlmv1_vector,
    "ntlmv1_ess_response": _ntlmv1_ess_vector,
    "ntlmv2_response": _ntlmv2_vector,
    "rc4k": _rc4k_vector,
    "ntlm_server_verify": _server_verify_vector,
    "ntlm_client_respond": _client_respond_vector,
}
"""Registered in ``sasl_kit.vectors.FUNCTIONS``."""
