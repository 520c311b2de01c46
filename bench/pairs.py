"""What bench/mechanisms.py and bench/scram.py share: two things timed in adjacent pairs,
and the text tables they print.

Rules of this module:
- A pair is one timed unit of each side, back to back; which side goes first
  alternates from pair to pair, the garbage collector is off, and a few pairs
  (up to 10) warm both sides up untimed first. A unit prepares whatever it
  needs untimed and returns the seconds of what it timed.
- The result is the median of the per-pair ratios with its quartiles: two
  units a few milliseconds apart see the machine at the same speed, while the
  best batches of two rows may come from different minutes (docs/bench.md).
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Collection
from dataclasses import dataclass

Unit = Callable[[], float]
"""One timed unit: prepares untimed, returns the seconds of what it timed."""

WARM_UP = 10  # pairs run and dropped before the measured ones


@dataclass(frozen=True)
class Paired:
    """Per-pair ratios of two sides timed adjacently: their median and quartiles."""

    ratio: str  # what is divided by what, e.g. "sasl-kit/floor"
    median: float
    p25: float
    p75: float
    pairs: int
    calls_per_batch: int = 1  # calls in one timed unit, the same on both sides

    def cell(self, digits: int = 2) -> str:
        return f"{self.median:.{digits}f} ({self.p25:.{digits}f}-{self.p75:.{digits}f})"


def time_pairs(upper: Unit, lower: Unit, pairs: int, ratio: str, calls: int = 1) -> Paired:
    """``upper``'s time over ``lower``'s, pair by adjacent pair (module rules)."""
    ratios: list[float] = []
    collecting = gc.isenabled()
    gc.disable()
    try:
        for i in range(-min(pairs, WARM_UP), pairs):
            if i % 2:
                up = upper()
                low = lower()
            else:
                low = lower()
                up = upper()
            if i >= 0:
                ratios.append(up / low)
    finally:
        if collecting:
            gc.enable()
    p25, median, p75 = statistics.quantiles(ratios, n=4, method="inclusive")
    return Paired(ratio, median, p25, p75, pairs, calls)


def text_table(table: list[list[str]], numeric: Collection[int]) -> list[str]:
    """``table`` (a header, then rows) as padded lines, ``numeric`` columns right-aligned,
    with a rule under the header."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines
