"""Protocol profiles: how each protocol carries SASL (RFC 4422 section 4).

One module per protocol, sans-I/O (rules in ``base``). This table is the one
place that lists them; a module is imported when its profile is first asked for.
URL schemes (``SCHEMES``) say which profile, which TLS mode and which default
port a ``sasl-kit probe`` target names.
"""

from __future__ import annotations

import importlib
from typing import Literal

from sasl_kit.errors import UsageError
from sasl_kit.protocols.base import Profile

TLSMode = Literal["starttls", "implicit", "none"]

PROFILES: dict[str, str] = {
    "smtp": "sasl_kit.protocols.smtp",
    "imap": "sasl_kit.protocols.imap",
    "pop3": "sasl_kit.protocols.pop3",
    "postgresql": "sasl_kit.protocols.postgresql",
    "sieve": "sasl_kit.protocols.sieve",
    "ldap": "sasl_kit.protocols.ldap",
    "xmpp": "sasl_kit.protocols.xmpp",
}
"""Protocol name -> module holding its ``PROFILE`` (a ``Profile`` instance)."""

SCHEMES: dict[str, tuple[str, TLSMode, int]] = {
    "smtp": ("smtp", "starttls", 587),
    "smtps": ("smtp", "implicit", 465),
    "imap": ("imap", "starttls", 143),
    "imaps": ("imap", "implicit", 993),
    "pop3": ("pop3", "starttls", 110),
    "pop3s": ("pop3", "implicit", 995),
    "postgresql": ("postgresql", "none", 5432),  # ?sslmode=require: SSLRequest ("starttls")
    "postgres": ("postgresql", "none", 5432),
    "sieve": ("sieve", "starttls", 4190),
    "ldap": ("ldap", "starttls", 389),
    "ldaps": ("ldap", "implicit", 636),
    "xmpp": ("xmpp", "starttls", 5222),
}
"""URL scheme -> protocol, TLS mode, default port (smtp:// is submission, as in ``send``).
A target without TLS (``none``) is the scheme's protocol and port with its TLS turned off."""


def profile(name: str) -> Profile:
    """The profile of protocol ``name`` (``smtp``, ``imap``, ...)."""
    try:
        module = PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES)) or "none"
        raise UsageError(f"no protocol profile named {name!r}; known: {known}") from None
    found: Profile = importlib.import_module(module).PROFILE
    return found
