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
