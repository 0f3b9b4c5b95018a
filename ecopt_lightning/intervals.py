"""Intervals of a median from repeated measurements: distribution-free, no resampling, no torch (the sweeper's
report pools repeats with them, the inference benchmark stops on them).

Example:
    >>> median_interval([5.0, 1.0, 3.0, 2.0, 4.0, 6.0])
    (1.0, 6.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Confidence of the interval of the median that :func:`measure_inference` reports and stops on.
CONFIDENCE = 0.95
#: the fewest values whose median has a 95% interval (the range of 6 values covers 1 - 2/2**6 = 96.9%)
MIN_VALUES_FOR_INTERVAL = 6
#: the default precision target (relative half-width of that interval) of the inference benchmark, of the points
#: a repeated config's pooled repeats make, and of ``ecopt confirm``
REL_PRECISION = 0.05


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
