"""Fault injection for ``sasl-kit serve``: refused commands, hang-ups, slow replies.

Rules of this module:
- A ``Faults`` value says what to inject; a ``FaultInjector`` (one per server)
  decides, command by command, with its own ``random.Random(seed)``: the same
  seed and the same sequence of commands give the same faults.
- A *step* is ``greeting``, an SMTP verb as the client sent it (``EHLO``,
  ``AUTH``, ``MAIL``, ``RCPT``, ``DATA`` ...) or ``end-of-data`` (the message
  data has arrived; its final reply is next).
- A refused command is not acted on: the client gets the reply instead
  (421 also closes the connection, RFC 5321 3.8). A drop hangs up on receiving
  the step, before acting on it. A delay holds every reply given at the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sasl_kit.errors import UsageError

REPLIES = {
    421: "421 4.3.0 service not available, closing connection (injected fault)",
    451: "451 4.3.0 local error in processing (injected fault)",
    452: "452 4.3.1 insufficient system storage (injected fault)",
    554: "554 5.3.0 transaction failed (injected fault)",
}
SPECIAL_STEPS = ("greeting", "end-of-data")
DROP = "drop"


@dataclass(frozen=True)
class Faults:
    """What to inject; the default injects nothing.

    ``rate``: the share (0 to 1) of the ``commands`` steps answered with one of
    ``codes`` (chosen at random) instead of being carried out. ``drop_at``: the
    step at which every session is hung up on. ``delay``: seconds to wait before
    each reply given at ``delay_at`` (every step when ``None``). ``seed`` makes
    the choices repeatable.
    """

    rate: float = 0.0
    codes: tuple[int, ...] = tuple(REPLIES)
    commands: tuple[str, ...] = ("MAIL", "RCPT", "DATA")
    drop_at: str | None = None
    delay: float = 0.0
    delay_at: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise UsageError(f"fault rate {self.rate} is not between 0 and 1")
        if self.delay < 0:
            raise UsageError(f"delay {self.delay} is negative")
        unknown = [c for c in self.codes if c not in REPLIES]
        if unknown or not self.codes:
            raise UsageError(
                f"fault codes must be some of {', '.join(map(str, REPLIES))}, not {unknown}"
            )
        object.__setattr__(self, "commands", tuple(_step(c) for c in self.commands))
        for name in ("drop_at", "delay_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _step(value))


def _step(name: str) -> str:
    return name if name in SPECIAL_STEPS else name.upper()


class FaultInjector:
    """One server's fault decisions, in the order its steps arrive."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 -- a test tool, not a secret

    def decide(self, step: str) -> str | None:
        """``DROP``, a reply to give instead of acting, or ``None``: carry on."""
        f = self.faults
        if f.drop_at == step:
            return DROP
        if f.rate and step in f.commands and self._random.random() < f.rate:
            return REPLIES[self._random.choice(f.codes)]
        return None

    def delay(self, step: str) -> float:
        f = self.faults
        return f.delay if f.delay_at in (None, step) else 0.0
