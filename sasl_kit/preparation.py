"""How a mechanism prepares user names and passwords: SASLprep, or PRECIS on request.

Rules of this module:
- ``"saslprep"`` (RFC 4013, the default) is what RFC 4616 and RFC 5802 name;
  ``"precis"`` is RFC 8265's replacement: user names through the
  UsernameCaseMapped profile (3.3: width-mapped, lower-cased, NFC), passwords
  through OpaqueString (4.2: non-ASCII spaces to SPACE, NFC). RFC 7677 notes
  that SCRAM may move to PRECIS; both sides must then use it, or a non-ASCII
  string prepares differently and the login fails.
- PRECIS comes from the ``precis-i18n`` package (the ``precis`` extra), imported
  on first use; without it, asking for PRECIS is a ``UsageError``.
- A refused string raises ``MalformedMessage`` naming the profile, the rule and
  the position, never the string or its characters: it may be a password.
  ``query=True`` prepares what a peer presented (SASLprep then allows
  unassigned code points, RFC 3454 7); PRECIS has one behaviour for both.
"""

from __future__ import annotations

from sasl_kit.errors import MalformedMessage, UsageError
from sasl_kit.saslprep import saslprep

PREPARATIONS = ("saslprep", "precis")
USERNAME_PROFILE, PASSWORD_PROFILE = "UsernameCaseMapped", "OpaqueString"


def username(text: str, preparation: str = "saslprep", *, query: bool = True) -> str:
    """A user name prepared as ``preparation`` says (RFC 4013, or RFC 8265 3.3)."""
    if preparation == "saslprep":
        return saslprep(text, allow_unassigned=query)
    return _precis(text, preparation, USERNAME_PROFILE)


def password(text: str, preparation: str = "saslprep", *, query: bool = True) -> str:
    """A password prepared as ``preparation`` says (RFC 4013, or RFC 8265 4.2)."""
    if preparation == "saslprep":
        return saslprep(text, allow_unassigned=query)
    return _precis(text, preparation, PASSWORD_PROFILE)


def _precis(text: str, preparation: str, profile: str) -> str:
    if preparation != "precis":
        raise UsageError(
            f"unknown string preparation {preparation!r}; known: {', '.join(PREPARATIONS)}"
        )
    try:
        import precis_i18n  # an optional dependency, imported on first use
    except ImportError:
        raise UsageError(
            "PRECIS needs the precis-i18n package: pip install 'sasl-kit[precis]'"
        ) from None
    try:
        prepared: str = precis_i18n.get_profile(profile).enforce(text)
    except UnicodeEncodeError as exc:  # precis-i18n's refusal: reason and position only
        where = f" at position {exc.start}" if text else ""
        raise MalformedMessage(f"PRECIS {profile}: {exc.reason}{where}") from None
    return prepared
