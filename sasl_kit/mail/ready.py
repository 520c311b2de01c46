"""A message written elsewhere, sent as it is: ``sasl-kit send --data`` and ``sendmail``.

Rules of this module:
- The message is taken as written. Line endings become CRLF (a bare CR or LF
  is what SMTP smuggling is made of, RFC 5321 2.3.8) and a final CRLF is
  added when missing; nothing else changes unless the caller asks for it:
  ``headers`` adds or replaces fields, ``read_recipients`` takes the envelope
  from To, Cc and Bcc and removes Bcc.
- A header the caller adds is checked as ``compose`` checks its own: a field
  name of printable ASCII without ":", a value without CR, LF or other control
  characters (header injection), which ``email`` can fold. Errors are
  ``MessageError`` naming the header, never echoing a whole message.
- Bcc never reaches the wire: with ``read_recipients`` every Bcc field (and
  its folded lines) is cut from the header section before sending.
- The message is held in memory: messages read from a pipe (mail(1), cron,
  git send-email) are small. Use ``compose`` for large attachments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email import errors as email_errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, SMTPUTF8

from sasl_kit.errors import MessageError

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ":" (RFC 5322 3.6.8)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_RECIPIENT_FIELDS = ("to", "cc", "bcc")


@dataclass(frozen=True)
class ReadyMessage:
    """A finished RFC 5322 message and its envelope, for ``SMTPClient.send``."""

    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool
    eight_bit: bool
    data: bytes = field(repr=False)
    crlf_only = True  # made so here: every line ends with CRLF

    def size(self) -> int:
        return len(self.data)

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        step = len(self.data) if size is None else size
        for start in range(0, len(self.data), max(step, 1)):
            yield self.data[start : start + step]


def ready(
    data: bytes,
    *,
    sender: str | None = None,
    recipients: Iterable[str] = (),
    read_recipients: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> ReadyMessage:
    """The message ``data`` with its envelope.

    ``sender`` defaults to the address of the From field. ``recipients`` are
    envelope recipients; ``read_recipients`` adds those of To, Cc and Bcc (as
    ``sendmail -t``) and removes the Bcc fields. ``headers`` are (name, value)
    pairs: each replaces every field of that name, or is added at the end of
    the header section.
    """
    text = _crlf(data)
    head, body = _split(text)
    for name, value in headers:
        head = _replace(head, name, _field(name, value))
    parsed = BytesHeaderParser(EmailMessage, policy=SMTPUTF8).parsebytes(head + b"\r\n")
    envelope = list(recipients)
    if read_recipients:
        envelope += [a for name in _RECIPIENT_FIELDS for a in _addresses(parsed, name)]
        head = _remove(head, "bcc")
    if sender is None:
        found = _addresses(parsed, "from")
        if len(found) != 1:
            raise MessageError("the message has no single From address: give the sender (-f)")
        sender = found[0]
    unique = tuple(dict.fromkeys(envelope))
    if not unique:
        raise MessageError("no recipient: name them, or read them from the message (-t)")
    message = head + b"\r\n" + body
    everyone = (sender, *unique)
    return ReadyMessage(
        sender=sender,
        recipients=unique,
        smtputf8=not all(a.isascii() for a in everyone),
        eight_bit=not message.isascii(),
        data=message,
    )


def _crlf(data: bytes) -> bytes:
    text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return text if not text or text.endswith(b"\r\n") else text + b"\r\n"


def _split(text: bytes) -> tuple[bytes, bytes]:
    """The header section (each field line ending in CRLF) and the body after the blank line."""
    if text.startswith(b"\r\n"):
        return b"", text[2:]
    end = text.find(b"\r\n\r\n")
    if end < 0:
        return text, b""
    return text[: end + 2], text[end + 4 :]


def _lines(head: bytes) -> list[bytes]:
    """The header section as fields, each with its folded continuation lines."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def _is(line: bytes, name: str) -> bool:
    field_name, colon, _ = line.partition(b":")
    return bool(colon) and field_name.strip().lower() == name.encode("ascii").lower()


def _remove(head: bytes, name: str) -> bytes:
    return b"".join(line + b"\r\n" for line in _lines(head) if not _is(line, name))


def _replace(head: bytes, name: str, new: bytes) -> bytes:
    kept = [line + b"\r\n" for line in _lines(head) if not _is(line, name)]
    return b"".join(kept) + new


def _field(name: str, value: str) -> bytes:
    """One header field, checked and folded by ``email`` (policy SMTPUTF8: UTF-8 as is)."""
    where = f"header {name!r}"
    if not _FIELD_NAME.fullmatch(name):
        raise MessageError(f"{where}: not a header field name (printable ASCII, no ':')")
    if _CONTROL.search(value):
        raise MessageError(f"{where}: the value holds a line break or control character")
    policy = SMTP if value.isascii() else SMTPUTF8
    try:
        header = policy.header_factory(name, value)
        folded = policy.fold_binary(name, header)
    except Exception as exc:  # email raises many kinds for a value it cannot fold
        raise MessageError(f"{where}: the value does not parse ({type(exc).__name__})") from None
    if header.defects:
        raise MessageError(f"{where}: the value is invalid: {header.defects[0]}")
    return folded


def _addresses(parsed: EmailMessage, name: str) -> list[str]:
    """The addr-specs of every ``name`` field; an unparsable one is an error, never a guess."""
    out: list[str] = []
    for header in parsed.get_all(name, []):
        for defect in getattr(header, "defects", ()):
            if not isinstance(defect, email_errors.NonASCIILocalPartDefect):
                raise MessageError(f"the message's {name.title()} field is invalid: {defect}")
        addresses: tuple[Address, ...] = getattr(header, "addresses", ())
        out += [a.addr_spec for a in addresses if a.addr_spec and a.addr_spec != "<>"]
    return out
