"""LDAP messages as bytes: the BER of the few operations a SASL bind needs (RFC 4511).

Rules of this module:
- All BER goes through ``pyasn1`` and the LDAPv3 ASN.1 module of
  ``pyasn1-modules`` (``rfc2251``, the same PDUs as RFC 4511 for everything
  used here); nothing here encodes or decodes a tag or a length by hand. This
  module is imported only by the LDAP profile, itself imported lazily through
  ``sasl_kit.protocols.PROFILES``: ``import sasl_kit`` never loads pyasn1.
- A client reads only responses. Server bytes are decoded with ``_Response``,
  an LDAPMessage whose protocolOp offers only the responses a client can get
  (bind, search entry/reference/done, extended), so a peer cannot make the
  decoder build deep request structures (a search filter nests without end).
- Input is bounded: ``MessageReader`` reads the outer tag and length of each
  message before its body and refuses a message longer than its limit
  (``MAX_MESSAGE`` by default) or of indefinite length (RFC 4511 5.1 allows
  only the definite form) with ``ProtocolViolation``, before buffering it.
  Every decoding error is a ``ProtocolViolation`` too. The outer header is
  read by pyasn1 (a ``substrateFun`` that stops after it), whose 0.6 releases
  raise ``TypeError`` there for an application or context tag; so the one
  octet every LDAPMessage starts with (SEQUENCE, 0x30) is checked first.
- Values leave this module as ``Message``, a frozen dataclass of plain Python
  values; no pyasn1 object travels further.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from pyasn1 import error as asn1_error  # type: ignore[import-untyped]
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pyasn1.type import namedtype, tag, univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc2251  # type: ignore[import-untyped]

from sasl_kit.protocols.errors import ProtocolViolation

MAX_MESSAGE = 256 * 1024
"""The longest LDAP message a client accepts, header included (a root DSE entry
of a large directory is a few KiB; SASL payloads are far smaller)."""

LDAP_VERSION = 3
START_TLS_OID = "1.3.6.1.4.1.1466.20037"  # RFC 4511 4.14.1
NOTICE_OF_DISCONNECTION_OID = "1.3.6.1.4.1.1466.20036"  # RFC 4511 4.4.1
UNSOLICITED = 0  # RFC 4511 4.4: the messageID of an unsolicited notification
SEQUENCE_OCTET = 0x30  # X.690 8.1.2: universal, constructed, 16; every LDAPMessage begins so

BIND_RESPONSE = "bindResponse"
SEARCH_ENTRY = "searchResEntry"
SEARCH_REFERENCE = "searchResRef"
SEARCH_DONE = "searchResDone"
EXTENDED_RESPONSE = "extendedResp"

# RFC 4511 4.1.9 and Appendix A; pyasn1-modules names those of RFC 2251 only.
_RESULT_NAMES: dict[int, str] = {
    int(value): name
    for name, value in rfc2251.LDAPResult().getComponentType()[0].getType().namedValues.items()
    if not name.startswith("reserved")
}
_RESULT_NAMES.update(
    {
        8: "strongerAuthRequired",
        118: "canceled",
        119: "noSuchOperation",
        120: "tooLate",
        121: "cannotCancel",
        122: "assertionFailed",
        123: "authorizationDenied",
    }
)


def result_name(code: int) -> str:
    """The RFC 4511 name of a resultCode (``"resultCode"`` for one it does not name)."""
    return _RESULT_NAMES.get(code, "resultCode")


class _ResponseOp(univ.Choice):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType(BIND_RESPONSE, rfc2251.BindResponse()),
        namedtype.NamedType(SEARCH_ENTRY, rfc2251.SearchResultEntry()),
        namedtype.NamedType(SEARCH_DONE, rfc2251.SearchResultDone()),
        namedtype.NamedType(SEARCH_REFERENCE, rfc2251.SearchResultReference()),
        namedtype.NamedType(EXTENDED_RESPONSE, rfc2251.ExtendedResponse()),
    )


class _Response(univ.Sequence):  # type: ignore[misc]
    """RFC 4511 4.1.1 LDAPMessage, limited to what a server sends a client."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("messageID", rfc2251.MessageID()),
        namedtype.NamedType("protocolOp", _ResponseOp()),
        namedtype.OptionalNamedType(
            "controls",
            rfc2251.Controls().subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)
            ),
        ),
    )


@dataclass(frozen=True)
class Message:
    """One response from the server, as plain values.

    ``code``, ``diagnostic`` for results (bind, search done, extended);
    ``sasl_credentials`` is a BindResponse's serverSaslCreds (``None`` when
    absent); ``response_name`` an ExtendedResponse's OID; ``entry`` a search
    entry's attributes, each with its values.
    """

    message_id: int
    op: str
    code: int = 0
    diagnostic: str = ""
    sasl_credentials: bytes | None = field(default=None, repr=False)
    response_name: str | None = None
    dn: str = ""
    entry: tuple[tuple[str, tuple[bytes, ...]], ...] = ()

    @property
    def result(self) -> str:
        """The resultCode as RFC 4511 writes it with its number: ``invalidCredentials (49)``."""
        return f"{result_name(self.code)} ({self.code})"


def _envelope(message_id: int) -> univ.Sequence:
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    return message


def _encode(message: univ.Sequence) -> bytes:
    encoded: bytes = encoder.encode(message)
    return encoded


def bind_request(message_id: int, mechanism: str, credentials: bytes | None) -> bytes:
    """RFC 4511 4.2 BindRequest, version 3, empty name, SaslCredentials.

    RFC 4513 5.2.1.1: the name is empty, the identity travels in the mechanism.
    ``credentials`` ``None`` leaves them out (no initial response).
    """
    message = _envelope(message_id)
    request = message["protocolOp"]["bindRequest"]
    request["version"] = LDAP_VERSION
    request["name"] = ""
    sasl = request["authentication"]["sasl"]
    sasl["mechanism"] = mechanism.encode("ascii")
    if credentials is not None:
        sasl["credentials"] = credentials
    return _encode(message)


def root_dse_request(message_id: int, attributes: Sequence[str]) -> bytes:
    """RFC 4512 5.1: a base-object search of the empty DN for ``attributes``,
    filter ``(objectClass=*)``."""
    message = _envelope(message_id)
    search = message["protocolOp"]["searchRequest"]
    search["baseObject"] = ""
    search["scope"] = "baseObject"
    search["derefAliases"] = "neverDerefAliases"
    search["sizeLimit"] = 0
    search["timeLimit"] = 0
    search["typesOnly"] = False
    search["filter"]["present"] = "objectClass"
    search["attributes"].extend(attributes)
    return _encode(message)


def extended_request(message_id: int, oid: str) -> bytes:
    """RFC 4511 4.12 ExtendedRequest with no value (StartTLS, RFC 4511 4.14.1)."""
    message = _envelope(message_id)
    message["protocolOp"]["extendedReq"]["requestName"] = oid.encode("ascii")
    return _encode(message)


class _Unbind(univ.Sequence):  # type: ignore[misc]
    """RFC 4511 4.1.1 LDAPMessage holding ``UnbindRequest ::= [APPLICATION 2] NULL``.

    pyasn1-modules 0.4's ``rfc2251.UnbindRequest`` takes its tag from SEQUENCE,
    so it encodes as constructed (0x62); RFC 4511 4.3 makes it primitive (0x42).
    """

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("messageID", rfc2251.MessageID()),
        namedtype.NamedType(
            "unbindRequest",
            univ.Null().subtype(
                implicitTag=tag.Tag(tag.tagClassApplication, tag.tagFormatSimple, 2)
            ),
        ),
    )


def unbind_request(message_id: int) -> bytes:
    """RFC 4511 4.3 UnbindRequest: the polite end of a session."""
    message = _Unbind()
    message["messageID"] = message_id
    message["unbindRequest"] = ""
    return _encode(message)


class MessageReader:
    """Server bytes in (any split), whole ``Message`` values out, each at most ``limit`` bytes.

    ``pending`` holds the bytes after the messages taken so far.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self.pending = b""

    def feed(self, data: bytes) -> None:
        self.pending += data

    def messages(self) -> Iterator[Message]:
        """Each whole message in ``pending``, removed from it as it is taken."""
        while (size := self._frame_size()) is not None:
            frame, self.pending = self.pending[:size], self.pending[size:]
            yield _decode(frame)

    def _frame_size(self) -> int | None:
        """The length of the first message, header included; ``None`` until it is all here."""
        if not self.pending:
            return None
        if self.pending[0] != SEQUENCE_OCTET:  # see the module rules
            raise ProtocolViolation("the server sent bytes that are not an LDAP message")
        lengths: list[int] = []
        try:
            stop = _header(lengths)
            _, body = decoder.decode(self.pending, asn1Spec=_Response(), substrateFun=stop)
        except asn1_error.SubstrateUnderrunError:
            if len(self.pending) > self.limit:
                raise ProtocolViolation("an LDAP message header longer than any") from None
            return None
        except asn1_error.PyAsn1Error:
            raise ProtocolViolation("the server sent bytes that are not an LDAP message") from None
        (length,) = lengths
        if length < 0:
            raise ProtocolViolation("an LDAP message of indefinite length (RFC 4511 5.1)")
        size = len(self.pending) - len(body) + length
        if size > self.limit:
            raise ProtocolViolation(
                f"an LDAP message of {size} bytes, more than the limit of {self.limit}"
            )
        return size if len(self.pending) >= size else None


def _header(lengths: list[int]) -> object:
    """A pyasn1 ``substrateFun`` that stops after the outer tag and length, noting the length."""

    def stop(asn1_object: object, substrate: object, length: int, options: object) -> object:
        lengths.append(length)
        yield asn1_object

    return stop


def _decode(frame: bytes) -> Message:
    try:
        message, rest = decoder.decode(frame, asn1Spec=_Response())
        if rest:
            raise ProtocolViolation("an LDAP message whose parts overrun its length")
        return _message(message)
    except (asn1_error.PyAsn1Error, ValueError):
        raise ProtocolViolation("the server sent a malformed LDAP message") from None


def _message(message: univ.Sequence) -> Message:
    op = message["protocolOp"]
    name = str(op.getName())
    body = op.getComponent()
    message_id = int(message["messageID"])
    if name == SEARCH_ENTRY:
        entry = tuple(
            (_text(attribute["type"]), tuple(bytes(value) for value in attribute["vals"]))
            for attribute in body["attributes"]
        )
        return Message(message_id, name, dn=_text(body["objectName"]), entry=entry)
    if name == SEARCH_REFERENCE:
        return Message(message_id, name)
    result = Message(
        message_id, name, code=int(body["resultCode"]), diagnostic=_text(body["errorMessage"])
    )
    if name == BIND_RESPONSE and body["serverSaslCreds"].hasValue():
        return replace(result, sasl_credentials=bytes(body["serverSaslCreds"]))
    if name == EXTENDED_RESPONSE and body["responseName"].hasValue():
        return replace(result, response_name=_text(body["responseName"]))
    return result


def _text(value: univ.OctetString) -> str:
    """An LDAPString (UTF-8, RFC 4511 4.1.2); a server's bad UTF-8 is shown, not fatal."""
    return bytes(value).decode("utf-8", errors="replace")
