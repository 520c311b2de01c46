"""Compose a mail: check every input, render headers and text with ``email``, keep attachments lazy.

Rules of this module:
- Every header and every text body is rendered by the standard ``email``
  package: policy SMTP, or SMTPUTF8 when an address needs it (RFC 6531).
  This module writes only the boundaries of the outer multipart/mixed.
- Bcc addresses go to the envelope only: no code path writes them into a header,
  and ``headers`` cannot name Bcc.
- A line break in any header input (address, display name, subject, file name,
  custom header, Message-ID domain) is header injection: ``MessageError``
  naming the argument. So is any other control character.
- An address is exactly one mailbox, parsed by ``email.headerregistry``; any
  parse defect is an error, never a guess. The one defect accepted is a
  non-ASCII local part, which makes the message need SMTPUTF8. It is parsed
  once where it can be: a header of one address given as ``email`` writes it
  folds from that parse (an eighth of compose's time, docs/bench.md).
- Text bodies are normalised: CRLF, bare CR and bare LF each become one CRLF,
  and a final line break is added when missing. A NUL makes the text
  quoted-printable. Nothing rendered here has a bare CR or LF or a line over
  998 octets; that is checked, not assumed.
- Attachment files are not read here: their size is captured, and
  ``OutgoingMessage.chunks()`` streams them (see ``sasl_kit.mail.stream``).
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors as email_errors
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP, SMTPUTF8, EmailPolicy
from pathlib import Path
from typing import Any, NamedTuple

from sasl_kit.errors import MessageError
from sasl_kit.mail.stream import DataBody, FileBody, OutgoingMessage, Part

_CRLF = b"\r\n"
# C0 and C1 controls except TAB, the Unicode line and paragraph separators, lone
# surrogates. The line breaks among them are the ones str.splitlines knows.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ":" (RFC 5322 3.6.8)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")  # RFC 6838 4.2
_BAD_LINE = re.compile(rb"\r(?!\n)|(?<!\r)\n|[^\r\n]{999}")  # RFC 5322 2.1.1, 2.3

# Headers that compose writes itself, and the argument to use instead.
_OWN_HEADERS = {
    "from": "sender",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "resent-bcc": "bcc",
    "reply-to": "reply_to",
    "subject": "subject",
    "date": "nothing (compose adds Date)",
    "message-id": "message_id_domain",
    "mime-version": "nothing (compose adds MIME-Version)",
}


@dataclass(frozen=True)
class Attachment:
    """A file to attach: ``path`` (streamed from disk when sent) or ``data`` with a ``filename``.

    ``filename`` defaults to the path's last component; ``content_type``
    ("type/subtype") is guessed from the file name when not given, and is
    application/octet-stream when the guess fails.
    """

    path: str | os.PathLike[str] | None = None
    data: bytes | None = None
    filename: str | None = None
    content_type: str | None = None


def _check_text(field: str, value: str) -> None:
    """Refuse a line break (header injection) or another control character in a header input."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return
    char = found.group()
    if char in _LINE_BREAKS:
        raise MessageError(f"{field}: line break {char!r} in a header value (header injection)")
    raise MessageError(f"{field}: control character {char!r} in a header value")


def _check_wire(field: str, data: bytes) -> bytes:
    """Refuse bytes with a bare CR or LF or a line over 998 octets (RFC 5322 2.1.1)."""
    if _BAD_LINE.search(data):
        raise MessageError(f"{field}: renders a bare CR or LF or a line over 998 octets")
    return data


class _Mailbox(NamedTuple):
    """An address as ``_mailbox`` parsed it, with the one-address header it was parsed as."""

    address: Address
    header: BaseHeader  # named after its header field; what that header's line folds from
    canonical: bool  # the text given is the address as ``email`` writes it: ``str(address)``


def _mailbox(field: str, value: str, name: str) -> _Mailbox:
    """Parse exactly one mailbox ("Name <local@domain>" or "local@domain"), strictly.

    ``name`` is the header field it goes in, so that the header parsed here can
    be folded as that field's line (``_address_header``).
    """
    _check_text(field, value)
    try:
        header = SMTPUTF8.header_factory(name, value)
        groups, addresses = header.groups, header.addresses
    # The parser of the standard library raises assorted errors (IndexError,
    # AttributeError, TypeError) on some malformed input: each means "invalid".
    except Exception as exc:
        raise MessageError(f"{field}: {value!r} is not an address ({exc!r})") from None
    # A non-ASCII local part is valid with SMTPUTF8 (RFC 6531 3.3); any other defect is not.
    defects = [d for d in header.defects if not isinstance(d, email_errors.NonASCIILocalPartDefect)]
    if defects:
        raise MessageError(f"{field}: {value!r} is not a valid address: {defects[0]}")
    if len(addresses) != 1 or len(groups) != 1 or groups[0].display_name is not None:
        raise MessageError(f"{field}: {value!r} must be exactly one address")
    address: Address = addresses[0]
    _check_text(f"{field} display name", address.display_name)
    return _Mailbox(address, header, str(address) == value)


def _mailboxes(field: str, values: str | Iterable[str], name: str) -> list[_Mailbox]:
    if isinstance(values, str):
        return [_mailbox(field, values, name)]
    return [_mailbox(f"{field}[{n}]", value, name) for n, value in enumerate(values)]


def _address_header(
    policy: EmailPolicy[EmailMessage], field: str, name: str, mailboxes: list[_Mailbox]
) -> bytes:
    """The header line of ``mailboxes``, parsed and folded by ``email``.

    ``_header`` renders the addresses as ``email`` writes them and parses that
    text again. A lone mailbox given as that very text was parsed from it
    already (``_mailbox``, under this field's name): its header folds as is, to
    the same line, without the second parse (tests/test_mail.py holds the two
    ways to one line).
    """
    if len(mailboxes) == 1 and mailboxes[0].canonical:
        try:
            line = policy.fold_binary(name, mailboxes[0].header)
        except Exception as exc:  # see _mailbox
            raise MessageError(f"{field}: {name} header does not fold ({exc!r})") from None
        return _check_wire(field, line)
    return _header(policy, field, name, [mailbox.address for mailbox in mailboxes])


def _header(policy: EmailPolicy[EmailMessage], field: str, name: str, value: Any) -> bytes:
    """One header line, parsed and folded by ``email``; any parse defect is an error."""
    try:
        header = policy.header_factory(name, value)
        defects = header.defects
        line = policy.fold_binary(name, header)
    except Exception as exc:  # see _mailbox
        raise MessageError(f"{field}: {name} header does not parse ({exc!r})") from None
    if defects:
        raise MessageError(f"{field}: {name} header is invalid: {defects[0]}")
    return _check_wire(field, line)


@functools.cache
def _mime_version(policy: EmailPolicy[EmailMessage]) -> bytes:
    """The MIME-Version line (RFC 2045 4): the same every time, so rendered once per policy."""
    return _header(policy, "compose", "MIME-Version", "1.0")


def _custom_header(policy: EmailPolicy[EmailMessage], name: str, value: str) -> bytes:
    field = f"headers[{name!r}]"
    if not _FIELD_NAME.fullmatch(name):
        raise MessageError(f"{field}: not a header field name")
    instead = _OWN_HEADERS.get(name.lower())
    if instead is not None or name.lower().startswith("content-"):
        raise MessageError(f"{field}: compose writes this header; use {instead or 'attachments'}")
    _check_text(field, value)
    return _header(policy, field, name, value)


def _cte(field: str, text: str) -> str | None:
    """Refuse text that is not Unicode; choose quoted-printable when the text holds a NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MessageError(f"{field}: lone surrogate at index {exc.start}, not text") from None
    # NUL may not appear in a 7bit or 8bit body (RFC 2045 2.7, 2.8); quoted-printable writes =00.
    return "quoted-printable" if "\0" in text else None


def _body_entity(text: str | None, html: str | None) -> bytes:
    """text/plain, text/html or multipart/alternative of both, as rendered by ``email``."""
    # A MIMEPart, not an EmailMessage: a body part gets no MIME-Version of its own
    # (it belongs to the top-level headers only), so none is made and taken out again.
    entity = MIMEPart(policy=SMTP)
    if text is not None:
        entity.set_content(text, subtype="plain", cte=_cte("text", text))
    if html is not None and text is None:
        entity.set_content(html, subtype="html", cte=_cte("html", html))
    elif html is not None:
        entity.add_alternative(html, subtype="html", cte=_cte("html", html))
    return _check_wire("body", entity.as_bytes())


def _media_type(field: str, content_type: str | None, filename: str) -> tuple[str, str]:
    if content_type is None:
        guessed, encoding = mimetypes.guess_type(filename)
        # message/* and multipart/* may not be base64-encoded (RFC 2046 5.1, 5.2.1);
        # a compressed file (.tar.gz) is not of its inner type.
        if (
            guessed is None
            or encoding is not None
            or guessed.startswith(("message/", "multipart/"))
        ):
            return "application", "octet-stream"
        content_type = guessed
    content_type = content_type.lower()
    if not _MEDIA_TYPE.fullmatch(content_type):
        raise MessageError(f"{field}: content_type {content_type!r} is not type/subtype")
    if content_type.startswith(("message/", "multipart/")):
        raise MessageError(f"{field}: content_type {content_type!r} cannot be base64-encoded")
    maintype, subtype = content_type.split("/")
    return maintype, subtype


def _file_size(field: str, path: Path) -> int:
    """Size of a regular, readable file, captured now (stat first: opening a FIFO blocks)."""
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            raise MessageError(f"{field}: {path} is not a regular file")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise MessageError(f"{field}: cannot read {path}: {exc.strerror}") from exc
    return status.st_size


def _attachment(field: str, attachment: Attachment) -> tuple[bytes, DataBody | FileBody]:
    """The attachment's MIME headers and its body placeholder."""
    body: DataBody | FileBody
    if attachment.data is not None and attachment.path is None:
        if attachment.filename is None:
            raise MessageError(f"{field}: an attachment given as data needs a filename")
        filename = attachment.filename
        body = DataBody(bytes(attachment.data))
    elif attachment.path is not None and attachment.data is None:
        path = Path(os.path.abspath(attachment.path))
        filename = path.name if attachment.filename is None else attachment.filename
        body = FileBody(path, _file_size(field, path), field)
    else:
        raise MessageError(f"{field}: give exactly one of path and data")
    _check_text(f"{field} filename", filename)
    if not filename.strip():
        raise MessageError(f"{field}: the filename is blank")
    maintype, subtype = _media_type(field, attachment.content_type, filename)
    # Policy SMTP even in an SMTPUTF8 message: it writes a non-ASCII name as
    # filename*=utf-8''... (RFC 2231), which every reader understands.
    part = MIMEPart(policy=SMTP)
    part.set_content(b"", maintype, subtype, filename=filename)
    headers = b"".join(SMTP.fold_binary(name, value) for name, value in part.items())
    return _check_wire(f"{field} filename", headers + _CRLF), body


def compose(
    *,
    sender: str,
    to: str | Iterable[str] = (),
    cc: str | Iterable[str] = (),
    bcc: str | Iterable[str] = (),
    reply_to: str | Iterable[str] = (),
    subject: str,
    text: str | None = None,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    headers: Mapping[str, str] | None = None,
    message_id_domain: str | None = None,
) -> OutgoingMessage:
    """Check and build a message; raise ``MessageError`` naming the first bad argument.

    Each address argument is one address or an iterable of them, each exactly
    one mailbox ("Jürgen <j@example.org>"). Attachment files are not read here,
    only their size is captured.
    """
    from_box = _mailbox("sender", sender, "From")
    to_box, cc_box = _mailboxes("to", to, "To"), _mailboxes("cc", cc, "Cc")
    bcc_box, reply_to_box = (
        _mailboxes("bcc", bcc, "Bcc"),
        _mailboxes("reply_to", reply_to, "Reply-To"),
    )
    from_ = from_box.address
    to_, cc_, bcc_, reply_to_ = (
        [box.address for box in boxes] for boxes in (to_box, cc_box, bcc_box, reply_to_box)
    )
    recipients: dict[tuple[str, str], str] = {}
    for address in (*to_, *cc_, *bcc_):
        # Domains compare case-insensitively (RFC 5321 2.4); the first spelling is kept.
        recipients.setdefault((address.username, address.domain.lower()), address.addr_spec)
    if not recipients:
        raise MessageError("to, cc, bcc: no recipient")
    domain = from_.domain if message_id_domain is None else message_id_domain
    _check_text("message_id_domain", domain)
    everyone = (from_, *to_, *cc_, *bcc_, *reply_to_)
    smtputf8 = not all(address.addr_spec.isascii() for address in everyone) or not domain.isascii()
    policy = SMTPUTF8 if smtputf8 else SMTP

    _check_text("subject", subject)
    lines = [_address_header(policy, "sender", "From", [from_box])]
    for field, name, boxes in (
        ("to", "To", to_box),
        ("cc", "Cc", cc_box),
        ("reply_to", "Reply-To", reply_to_box),
    ):
        if boxes:
            lines.append(_address_header(policy, field, name, boxes))
    lines.append(_header(policy, "subject", "Subject", subject))
    lines.append(_header(policy, "compose", "Date", datetime.now(UTC)))
    message_id = f"<{secrets.token_hex(16)}@{domain}>"
    lines.append(_header(policy, "message_id_domain", "Message-ID", message_id))
    lines += [_custom_header(policy, name, value) for name, value in (headers or {}).items()]
    lines.append(_mime_version(policy))

    files = [_attachment(f"attachments[{n}]", a) for n, a in enumerate(attachments)]
    if text is None and html is None and not files:
        text = ""
    entity = b"" if text is None and html is None else _body_entity(text, html)
    return OutgoingMessage(
        sender=from_.addr_spec,
        recipients=tuple(recipients.values()),
        smtputf8=smtputf8,
        eight_bit=not entity.isascii(),
        _parts=_assemble(policy, lines, entity, files),
    )


def _assemble(
    policy: EmailPolicy[EmailMessage],
    lines: list[bytes],
    entity: bytes,
    files: list[tuple[bytes, DataBody | FileBody]],
) -> tuple[Part, ...]:
    """The top-level headers and the body entity, in a multipart/mixed with the attachments."""
    if not files:
        return (b"".join(lines) + entity,)
    # "=_" cannot occur in base64 or quoted-printable output, and the random
    # rest in 7bit or 8bit text only by a 2**-128 chance (RFC 2046 5.1.1).
    boundary = f"=_{secrets.token_hex(16)}"
    content_type = f'multipart/mixed; boundary="{boundary}"'
    lines = [*lines, _header(policy, "attachments", "Content-Type", content_type)]
    dash = b"--" + boundary.encode("ascii")
    entities: list[list[Part]] = [[entity]] if entity else []
    entities += [[head, body] for head, body in files]
    parts: list[Part] = [b"".join(lines) + _CRLF + dash + _CRLF]
    for n, entity_parts in enumerate(entities):
        if n:
            parts.append(_CRLF + dash + _CRLF)  # delimiter (RFC 2046 5.1.1)
        parts += entity_parts
    parts.append(_CRLF + dash + b"--" + _CRLF)  # close-delimiter
    return tuple(parts)
