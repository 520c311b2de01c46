"""Which side of a failed login is wrong, and why (issue 7; docs/verify.md).

``read`` finds the AUTH exchanges in a transcript (``transcript``); ``diagnose``
judges one exchange (``diagnose``). ``probe`` builds ``Exchange`` values from a
live session and calls ``diagnose`` the same way.
"""

from __future__ import annotations

from sasl_kit.verify.diagnose import (
    CORRECT,
    MALFORMED,
    SIDE_CLIENT,
    SIDE_SERVER,
    SIDE_UNKNOWN,
    UNVERIFIABLE,
    VERDICTS,
    WRONG,
    Diagnosis,
    diagnose,
)
from sasl_kit.verify.transcript import Exchange, Message, Outcome, notation, read

__all__ = [
    "CORRECT",
    "MALFORMED",
    "SIDE_CLIENT",
    "SIDE_SERVER",
    "SIDE_UNKNOWN",
    "UNVERIFIABLE",
    "VERDICTS",
    "WRONG",
    "Diagnosis",
    "Exchange",
    "Message",
    "Outcome",
    "diagnose",
    "notation",
    "read",
]
