"""Pareto maths on objective vectors in minimisation form (negate maximised objectives first).

Own, tested implementations: Optuna's hypervolume lives in the private ``optuna._hypervolume``.

Example:
    >>> pts = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0), (3.0, 3.0)]
    >>> non_dominated_ranks(pts)
    [0, 0, 0, 1]
    >>> hypervolume([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)], (4.0, 4.0))
    6.0
    >>> knee_index([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)])
    1
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (minimisation)."""
    return all(x <= y for x, y in zip(a, b, strict=False)) and any(x < y for x, y in zip(a, b, strict=False))


def non_dominated_ranks(points: Sequence[Point]) -> list[int]:
    """Front index of each point (0 = non-dominated), by Deb's fast non-dominated sort, O(m n^2).

    The dominance matrix is built with numpy in row blocks (about 1 ms per 1000 x 1000 pairs), so the sweeper
    can rank the whole study after every batch.
    """
    import numpy as np

    n = len(points)
    if n == 0:
        return []
    pts = np.asarray(points, dtype=float).reshape(n, -1)
    dominates_m = np.zeros((n, n), dtype=bool)  # [i, j]: i dominates j
    block = max(1, 2_000_000 // max(1, n * pts.shape[1]))
    for lo in range(0, n, block):
        a = pts[lo : lo + block, None, :]
        dominates_m[lo : lo + block] = np.all(a <= pts[None], axis=2) & np.any(a < pts[None], axis=2)
    counts = dominates_m.sum(axis=0)
    ranks = np.full(n, -1)
    front = np.flatnonzero(counts == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        counts = counts - dominates_m[front].sum(axis=0)
        counts[ranks >= 0] = -1
        front = np.flatnonzero(counts == 0)
        rank += 1
    return [int(r) for r in ranks]


def pareto_indices(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points (duplicates of a front point are all kept, as Optuna does)."""
    return [i for i, r in enumerate(non_dominated_ranks(points)) if r == 0]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (exact; slicing over the last objective).

    Points not strictly better than the reference in every objective add nothing. Cost grows quickly with the
    number of objectives; fine for the fronts of a tuning run (tens of points, 2-4 objectives).
    """
    pts = [tuple(p) for p in points if all(x < r for x, r in zip(p, reference, strict=False))]
    if not pts:
        return 0.0
    dim = len(reference)
    if dim == 1:
        return reference[0] - min(p[0] for p in pts)
    front = [pts[i] for i in pareto_indices(pts)]
    if dim == 2:
        front = sorted(set(front))
        volume, prev_y = 0.0, reference[1]
        for x, y in front:  # ascending x on a 2-D front means descending y
            volume += (reference[0] - x) * (prev_y - y)
            prev_y = y
        return volume
    # Slice along the last objective: between consecutive levels the cross-section is constant.
    levels = [*sorted({p[-1] for p in front}), reference[-1]]
    volume = 0.0
    for lo, hi in itertools.pairwise(levels):
        section = [p[:-1] for p in front if p[-1] <= lo]
        volume += hypervolume(section, reference[:-1]) * (hi - lo)
    return volume


def reference_point(points: Sequence[Point], margin: float = 0.1) -> tuple[float, ...]:
    """Worst value per objective plus ``margin`` of its range (or of its magnitude when the range is 0)."""
    ref = []
    for column in zip(*points, strict=False):
        worst, best = max(column), min(column)
        span = worst - best or abs(worst) or 1.0
        ref.append(worst + margin * span)
    return tuple(ref)


def knee_index(front: Sequence[Point]) -> int | None:
    """The front point closest (Euclidean) to the ideal point once each objective is scaled to [0, 1]."""
    if not front:
        return None
    lows = [min(c) for c in zip(*front, strict=False)]
    highs = [max(c) for c in zip(*front, strict=False)]

    def distance(p: Point) -> float:
        return math.sqrt(
            sum(((x - lo) / (hi - lo) if hi > lo else 0.0) ** 2 for x, lo, hi in zip(p, lows, highs, strict=False))
        )

    return min(range(len(front)), key=lambda i: (distance(front[i]), i))


#: Front statuses, from :func:`front_status`.
ROBUST, ON_FRONT, POSSIBLY, DOMINATED = "on the front (robust)", "on the front", "possibly on the front", "dominated"


def front_status(points: Sequence[Point], lows: Sequence[Point], highs: Sequence[Point]) -> list[str]:
    """Each point's standing when its objectives (minimisation form) are the central values ``points`` (e.g.
    medians) known only within ``[lows, highs]``; a value without uncertainty has ``low == high``.

    - ``on the front (robust)``: non-dominated, and no trial that it does not dominate could beat it at the
      ends of the intervals (no ``j`` whose best corner ``lows[j]`` dominates its worst corner ``highs[i]``);
    - ``on the front``: non-dominated by the central values, but another trial's interval may beat it;
    - ``possibly on the front``: dominated by the central values, but no trial's worst corner dominates its
      best corner (its interval overlaps those of the trials that dominate it);
    - ``dominated``: some trial beats it even at the ends of both intervals.

    Example (hand-computed; both minimised, the first without noise, the second within the given bounds):
        >>> pts = [(0.10, 1.0), (0.12, 1.1), (0.30, 5.0), (0.05, 9.0), (0.09, 1.2)]
        >>> lows = [(0.10, 0.9), (0.12, 0.95), (0.30, 4.0), (0.05, 8.0), (0.09, 0.8)]
        >>> highs = [(0.10, 1.2), (0.12, 1.3), (0.30, 6.0), (0.05, 10.0), (0.09, 1.6)]
        >>> for status in front_status(pts, lows, highs): print(status)
        on the front
        possibly on the front
        dominated
        on the front (robust)
        on the front (robust)

    Trial 0 is on the front, but trial 4 (better first objective for sure, energy interval reaching below
    0's upper end) may beat it; trial 1 is dominated by 0's median, yet 0's upper end 1.2 is above 1's lower
    end 0.95; trial 2 is beaten by 0 even at the ends.
    """
    ranks = non_dominated_ranks(points)
    out = []
    for i, rank in enumerate(ranks):
        others = [j for j in range(len(points)) if j != i]
        if rank == 0:
            beatable = any(dominates(lows[j], highs[i]) and not dominates(points[i], points[j]) for j in others)
            out.append(ON_FRONT if beatable else ROBUST)
        else:
            beaten = any(dominates(highs[j], lows[i]) for j in others)
            out.append(DOMINATED if beaten else POSSIBLY)
    return out
