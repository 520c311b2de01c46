"""Socket drivers: one small module per protocol that moves a profile's bytes.

Rules of this package:
- A driver opens the connection, does the protocol's TLS (STARTTLS or
  implicit, certificates verified by the caller's ``ssl.SSLContext``), reads
  the capability list, and runs exchanges with ``base.run``. Everything about
  the protocol's framing is the profile's (``sasl_kit.protocols``): a driver
  only moves bytes.
- ``DRIVERS`` is the one table of them; ``open_session`` picks by protocol.
  A driver that reads a URL's path and query (PostgreSQL's database and
  ``sslmode``) has ``url_options(path, query)`` and its inverse
  ``url_tail(tls, options)``; the functions of the same names here ask it.
- ``aio`` is the asyncio twin of the IMAP and POP3 drivers: it performs the
  same sans-I/O ``LineDialogue`` steps and profile exchanges on asyncio
  streams. It is not in ``DRIVERS`` (its sessions are awaited).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from sasl_kit.drivers.base import Session, SessionSettings
from sasl_kit.errors import UsageError
from sasl_kit.protocols import TLSMode

URLOptions = Callable[[str, str], tuple[TLSMode | None, dict[str, str]]]
URLTail = Callable[[TLSMode, Mapping[str, str]], str]

DRIVERS: dict[str, str] = {
    "smtp": "sasl_kit.drivers.smtp",
    "imap": "sasl_kit.drivers.imap",
    "pop3": "sasl_kit.drivers.pop3",
    "ldap": "sasl_kit.drivers.ldap",
    "postgresql": "sasl_kit.drivers.postgresql",
    "sieve": "sasl_kit.drivers.sieve",
    "xmpp": "sasl_kit.drivers.xmpp",
}
"""Protocol name -> module holding ``open_session(settings) -> Session``."""


def open_session(protocol: str, settings: SessionSettings) -> Session:
    """A connected session of ``protocol``, past TLS as ``settings.tls`` asks."""
    try:
        module = DRIVERS[protocol]
    except KeyError:
        raise UsageError(f"no driver for protocol {protocol!r}") from None
    session: Session = importlib.import_module(module).open_session(settings)
    return session


def url_options(protocol: str, path: str, query: str) -> tuple[TLSMode | None, dict[str, str]]:
    """What a URL's path and query say for ``protocol``: a TLS mode (``None``: the
    scheme's) and session options; ``UsageError`` where its driver reads none."""
    module = importlib.import_module(DRIVERS[protocol])
    read: URLOptions | None = getattr(module, "url_options", None)
    if read is None:
        if path not in ("", "/") or query:
            raise UsageError(f"{protocol} URLs have no path or query: SCHEME://HOST[:PORT]")
        return None, {}
    return read(path, query)


def url_tail(protocol: str, tls: TLSMode, options: Mapping[str, str]) -> str:
    """The path and query that ``url_options`` reads back as ``tls`` and ``options``
    (``""`` where the protocol's driver reads none)."""
    write: URLTail | None = getattr(importlib.import_module(DRIVERS[protocol]), "url_tail", None)
    return "" if write is None else write(tls, options)
