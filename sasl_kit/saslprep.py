"""SASLprep (RFC 4013): the stringprep profile for user names and passwords.

Rules of this module:
- Built on the standard library's ``stringprep`` tables (RFC 3454); the steps
  below follow RFC 4013 section 2 in order.
- ``allow_unassigned=True`` prepares a *query* string (what a peer presented);
  ``False`` a *stored* string (RFC 3454 section 7).
- A refused string raises ``MalformedMessage`` naming the rule and the position,
  not the string: it may be a password.
"""

from __future__ import annotations

import stringprep
import unicodedata

from sasl_kit.errors import MalformedMessage

# RFC 4013 2.3: the prohibited output tables (RFC 4505 3's trace profile takes most of them).
PROHIBITED = (
    ("non-ASCII space", stringprep.in_table_c12),
    ("ASCII control character", stringprep.in_table_c21),
    ("non-ASCII control character", stringprep.in_table_c22),
    ("private use character", stringprep.in_table_c3),
    ("non-character code point", stringprep.in_table_c4),
    ("surrogate code point", stringprep.in_table_c5),
    ("character inappropriate for plain text", stringprep.in_table_c6),
    ("character inappropriate for canonical representation", stringprep.in_table_c7),
    ("change display property or deprecated character", stringprep.in_table_c8),
    ("tagging character", stringprep.in_table_c9),
)


def saslprep(text: str, *, allow_unassigned: bool = False) -> str:
    """Prepare ``text`` per RFC 4013; raise ``MalformedMessage`` when it is prohibited."""
    if text.isascii() and text.isprintable():
        return text  # printable ASCII: no step below changes or refuses any of it
    # RFC 4013 2.1: non-ASCII spaces map to SPACE, "commonly mapped to nothing" are dropped.
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    # RFC 4013 2.2: Unicode normalization form KC.
    prepared = unicodedata.normalize("NFKC", mapped)
    for position, char in enumerate(prepared):
        for what, in_table in PROHIBITED:
            if in_table(char):
                raise MalformedMessage(f"SASLprep: prohibited {what} at position {position}")
        # RFC 4013 2.5: unassigned code points only in query strings.
        if not allow_unassigned and stringprep.in_table_a1(char):
            raise MalformedMessage(f"SASLprep: unassigned code point at position {position}")
    _check_bidi(prepared)
    return prepared


def _check_bidi(prepared: str) -> None:
    """RFC 4013 2.4, by RFC 3454 section 6."""
    rand_al = [stringprep.in_table_d1(c) for c in prepared]
    if not any(rand_al):
        return
    if any(stringprep.in_table_d2(c) for c in prepared):
        raise MalformedMessage("SASLprep: mixes right-to-left and left-to-right characters")
    if not (rand_al[0] and rand_al[-1]):
        raise MalformedMessage(
            "SASLprep: a right-to-left string must start and end with a right-to-left character"
        )
