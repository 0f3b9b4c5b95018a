"""Intervals of a median from repeated measurements: distribution-free, no resampling, no torch (the sweeper's
report pools repeats with them, the inference benchmark stops on them), and the runs test that checks the
repeats' independence those intervals assume.

Example:
    >>> median_interval([5.0, 1.0, 3.0, 2.0, 4.0, 6.0])
    (1.0, 6.0)
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Confidence of the interval of the median that :func:`measure_inference` reports and stops on.
CONFIDENCE = 0.95
#: the fewest values whose median has a 95% interval (the range of 6 values covers 1 - 2/2**6 = 96.9%)
MIN_VALUES_FOR_INTERVAL = 6
#: the default precision target (relative half-width of that interval) of the inference benchmark, of the points
#: a repeated config's pooled repeats make, and of ``ecopt confirm``
REL_PRECISION = 0.05
#: one-sided level of the runs test below which repeats are taken to shift in level (not independent)
LEVEL_SHIFT_ALPHA = 0.01


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """A distribution-free interval of the median: order statistics ``(x_(l), x_(n+1-l))`` of the sorted
    ``values``, ``l`` the largest rank whose coverage ``1 - 2 P(B <= l - 1)``, ``B ~ Binomial(n, 1/2)``, is at
    least ``confidence``. Exact for any continuous distribution, no resampling, the same answer every time.
    ``None`` when no such interval exists (fewer than 6 values at 95%).

    Example:
        >>> median_interval([5.0, 1.0, 3.0, 2.0, 4.0, 6.0])  # n = 6: (min, max) covers 1 - 2/64 = 96.9%
        (1.0, 6.0)
        >>> median_interval([float(i) for i in range(1, 11)])  # n = 10: (x_(2), x_(9)) covers 97.9%
        (2.0, 9.0)
        >>> median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None  # (min, max) covers only 93.8%
        True
    """
    n = len(values)
    ordered = sorted(values)
    below = 0.0  # P(B <= l - 1), grown one rank at a time
    best = None
    for low in range(1, n // 2 + 1):
        below += math.comb(n, low - 1) / 2.0**n
        if 1.0 - 2.0 * below < confidence:
            break
        best = low
    return None if best is None else (ordered[best - 1], ordered[n - best])


def precision_reached(median: float, interval: tuple[float, float] | None, rel_precision: float) -> bool:
    """The interval lies within ``median * (1 +- rel_precision)``.

    Example:
        >>> precision_reached(100.0, (96.0, 104.9), 0.05), precision_reached(100.0, (94.0, 101.0), 0.05)
        (True, False)
    """
    if interval is None or not median > 0:
        return False
    return max(median - interval[0], interval[1] - median) <= rel_precision * median * (1 + 1e-12)  # rounding


@dataclass(frozen=True)
class Runs:
    """The runs test of repeats taken in time order (:func:`runs_test`).

    Attributes:
        runs: maximal stretches of consecutive repeats on one side of their median.
        expected: the runs independent repeats give on average with as many above and below.
        p: the probability of at most ``runs`` runs for independent repeats (one-sided, exact).
    """

    runs: int
    expected: float
    p: float

    @property
    def level_shifts(self) -> bool:
        """Too few runs for independent repeats (``p`` below :data:`LEVEL_SHIFT_ALPHA`): they came in stretches
        at different levels, so an interval that assumes independence understates the uncertainty."""
        return self.p < LEVEL_SHIFT_ALPHA

    def to_dict(self) -> dict[str, float]:
        """JSON-ready."""
        return {"runs": self.runs, "expected": self.expected, "p": self.p}

    @classmethod
    def from_dict(cls, entry: Any) -> Runs | None:
        """From :meth:`to_dict`'s form as a summary file holds it; ``None`` for anything else.

        Example:
            >>> Runs.from_dict({"runs": 2, "expected": 6.0, "p": 0.0079}).level_shifts, Runs.from_dict({"runs": 2})
            (True, None)
        """
        try:
            return cls(runs=int(entry["runs"]), expected=float(entry["expected"]), p=float(entry["p"]))
        except (TypeError, KeyError, ValueError):
            return None

    def describe(self) -> str:
        """What a level shift means for the interval, in words (``""`` when there is none).

        Example:
            >>> Runs(runs=2, expected=6.0, p=0.0079).describe()[:60]
            'the repeats shifted in level (2 runs about their median, 6.0'
        """
        if not self.level_shifts:
            return ""
        return (
            f"the repeats shifted in level ({self.runs} runs about their median, {self.expected:.1f} for independent"
            f" repeats, p={self.p:.2g}), so the interval is their range"
        )


def runs_test(values: Sequence[float]) -> Runs | None:
    """The Wald-Wolfowitz runs test of ``values`` (in the order measured) about their median, exact and
    one-sided: few runs mean the values came in stretches (a GPU's power state, a machine's drift), not
    independently. Values equal to the median are left out. ``None`` when nothing lies on one side.

    Example:
        >>> r = runs_test([1.0, 1.01, 0.99, 1.0, 1.02, 1.05, 1.06, 1.04, 1.06, 1.05])  # two stretches
        >>> r.runs, round(r.expected, 1), round(r.p, 4), r.level_shifts
        (2, 6.0, 0.0079, True)
        >>> runs_test([1.0, 1.05, 0.99, 1.06, 1.01, 1.04, 1.0, 1.05]).level_shifts  # alternating
        False
    """
    median = statistics.median(values)
    above = [v > median for v in values if v != median]
    n1 = sum(above)
    n2 = len(above) - n1
    if n1 == 0 or n2 == 0:
        return None
    runs = 1 + sum(a != b for a, b in itertools.pairwise(above))
    total = math.comb(n1 + n2, n1)

    def ways(r: int) -> int:  # arrangements with exactly r runs
        k, odd = divmod(r, 2)
        if not odd:
            return 2 * math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k - 1)
        return math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k) + math.comb(n1 - 1, k) * math.comb(n2 - 1, k - 1)

    p = sum(ways(r) for r in range(2, runs + 1)) / total
    return Runs(runs=runs, expected=1.0 + 2.0 * n1 * n2 / (n1 + n2), p=min(p, 1.0))


def repeats_interval(values: Sequence[float]) -> tuple[tuple[float, float] | None, Runs | None]:
    """The interval of the median of repeats taken in time order, and their :func:`runs_test`: the
    order-statistic :func:`median_interval` when the repeats look independent, their range when they shift in
    level (the interval's coverage then does not hold, and the range holds every level seen).

    Example:
        >>> repeats_interval([1.0, 1.01, 0.99, 1.0, 1.02, 1.05, 1.06, 1.04, 1.06, 1.05])[0]  # shifts: the range
        (0.99, 1.06)
        >>> repeats_interval([1.0, 1.05, 0.99, 1.06, 1.01, 1.04, 1.0, 1.05, 1.02, 1.03])[0]  # x_(2), x_(9)
        (1.0, 1.05)
    """
    interval = median_interval(values)
    runs = runs_test(values) if interval is not None else None
    if runs is not None and runs.level_shifts:
        return (min(values), max(values)), runs
    return interval, runs
