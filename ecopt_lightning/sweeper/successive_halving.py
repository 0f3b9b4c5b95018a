"""Multi-objective asynchronous successive halving (MOASHA-style): the rung schedule and the promotion rule.

Plain maths, no Optuna, no Lightning: :mod:`ecopt_lightning.sweeper.multi_fidelity` stores and reads the
rung values through the study, and ``EnergyCallback`` stops the Trainer when :func:`decide` says stop.

Rungs are epoch counts ``r, r*eta, r*eta^2, ...`` below the full budget ``max_epochs``, which is the last
rung. At a rung below the last, a trial continues only if it ranks in the top ``floor(n / eta)`` of the
``n`` trials that have reached that rung so far (itself included), ranked by non-dominated sorting
(:func:`~ecopt_lightning.sweeper._pareto.non_dominated_ranks`) with a tie-break inside a front (``rank``):

- ``nds_hv`` (default): hypervolume contribution, relative to the cohort's reference point (each objective's
  worst value at the rung plus 10% of its range). The front is thinned greedily: the point whose loss costs the
  least hypervolume is ranked last, then contributions are computed again among the rest (two near-duplicates
  do not both look worthless). A front's extremes rank by what they add, not first by rule.
- ``nds_crowding``: NSGA-II crowding distance (a less crowded point ranks higher; the extremes first).

Both tie-breaks measure energy-like objectives (``log_axes``: J, J per sample, samples per J, W, gCO2e, cost,
parameter and FLOP counts; :func:`ecopt_lightning.metrics.on_log_scale`) on log10 when all their values at the
rung are positive: such values span decades between architectures, and on a linear axis the frugal models'
differences vanish next to the dearest one (the front's frugal end then adds almost no hypervolume and is
stopped first). On log10 a model 10x more frugal gains as much at any size, and ``J per sample`` and
``samples per J`` rank alike. The fronts themselves do not depend on the scale.

Then the earlier trial number.

With ``keep_front`` (default), a trial on the rung's non-dominated front goes on even when it ranks below the
top ``floor(n / eta)``: at an early rung every member of the front is a trade-off nothing seen so far beats,
and the top ``1/eta`` of a two-objective cohort often holds fewer trials than a front has. Replayed on the
digits benchmark's measured trials (benchmarks/README.md, issue 20), the top ``1/eta`` alone stopped a member
of the final front (usually its frugal end) in 15-85% of the orders per seed; keeping the rung's front never
did, for a dearer sweep (measured at 27 epochs: 37% of the plain sweep's energy instead of 29%). Only dominated
trials stop then.

Decisions are asynchronous, as in ASHA: nothing waits for the cohort. While fewer than ``eta`` trials have
reached a rung (``floor(n / eta) == 0``), no place goes on: with ``keep_front`` a trial then continues unless an
earlier trial at the rung dominates it (the same rule as at any cohort size), without it every trial continues.
A lone trial is on its rung's front, so it never blocks and never stops for lack of company. Replayed on the
digits benchmark at 81 epochs (benchmarks/README.md, issue 20), stopping the dominated among the first few
trials took the whole sweep from 27% to 21% of the plain sweep's energy, for the same final hypervolume on the
benchmark's goal reference (which hides stopped front models: docs/sweeper.md, "What it costs the front").

Example:
    >>> RungSchedule(1, 3, 27).epochs()
    [1, 3, 9, 27]
    >>> RungSchedule(2, 2).epochs(max_epochs=10)  # max_epochs from the Trainer
    [2, 4, 8, 10]
    >>> # two objectives, both minimised; trial 2 is dominated by 0 and 1: with eta=3, the top 1 of 3 goes on
    >>> cohort = {0: [0.1, 1.0], 1: [0.2, 0.5], 2: [0.3, 2.0]}
    >>> decide(2, cohort, ["minimize", "minimize"], eta=3).go_on
    False
    >>> decide(1, {1: [0.2, 0.5]}, ["minimize", "minimize"], eta=3).go_on  # alone at the rung: continue
    True
    >>> decide(1, {0: [0.1, 0.4], 1: [0.2, 0.5]}, ["minimize", "minimize"], eta=3).reason  # 0 dominates 1
    'stop: dominated at this rung, where 2 trial(s), fewer than eta=3, have arrived: only the non-dominated go on'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._pareto import hypervolume, non_dominated_ranks, reference_point

#: Ranking rules: non-dominated sorting, then inside a front hypervolume contribution or crowding distance.
NDS_HV, NDS_CROWDING = "nds_hv", "nds_crowding"
RANKS = (NDS_HV, NDS_CROWDING)
#: Studies stored before the rule was configurable named crowding ``nds``.
_LEGACY_RANKS = {"nds": NDS_CROWDING}
#: Repeats of the inference benchmark at the first rung (``RungSchedule.rung_repeats``).
RUNG_REPEATS = 3
#: Whether a trial on the rung's non-dominated front goes on whatever its place (``RungSchedule.keep_front``).
KEEP_FRONT = True
#: Reference point margin for ``nds_hv``: this fraction of each objective's range beyond the cohort's worst value.
HV_MARGIN = 0.1


@dataclass(frozen=True)
class RungSchedule:
    """Rungs in epochs: ``min_epochs * eta**k`` below ``max_epochs``, then ``max_epochs`` itself.

    Args:
        min_epochs: the first rung (epochs, >= 1).
        eta: the reduction factor (integer >= 2): about 1 in ``eta`` trials goes on at each rung.
        max_epochs: the full budget (epochs); ``None``: the Trainer's ``max_epochs``.
        rank: the ranking rule, one of :data:`RANKS`.
        rung_metrics: objective -> the metric that stands in for it at a rung, for objectives known only at the
            end (e.g. ``{"test_acc": "val_acc"}``); other objectives are read under their own name.
        rung_repeats: repeats of the inference benchmark at the first rung, with no precision target (enough to
            rank: J per sample spans decades between architectures; a fraction of the full measurement's energy,
            which on a small model can outweigh many epochs). A trial that goes on continues that measurement
            there with ``EnergyCallback``'s own settings (the short repeats count), and that is its objective.
            ``None``: one measurement, at the first rung, with the callback's settings, reported again after fit.
        keep_front: a trial on the rung's non-dominated front goes on whatever its place; ``False``: only the
            top ``floor(n / eta)`` go on (studies stored before it existed).
    """

    min_epochs: int = 1
    eta: int = 3
    max_epochs: int | None = None
    rank: str = NDS_HV
    rung_metrics: Mapping[str, str] = field(default_factory=dict)
    rung_repeats: int | None = RUNG_REPEATS
    keep_front: bool = KEEP_FRONT

    def __post_init__(self) -> None:
        if isinstance(self.min_epochs, bool) or not isinstance(self.min_epochs, int) or self.min_epochs < 1:
            raise ValueError(f"min_epochs={self.min_epochs!r} is not allowed: an integer >= 1")
        if isinstance(self.eta, bool) or not isinstance(self.eta, int) or self.eta < 2:
            raise ValueError(f"eta={self.eta!r} is not allowed: an integer >= 2")
        m = self.max_epochs
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < self.min_epochs):
            raise ValueError(f"max_epochs={m!r} is not allowed: null or an integer >= min_epochs={self.min_epochs}")
        if self.rank not in RANKS:
            raise ValueError(f"rank={self.rank!r} is not allowed: one of {', '.join(RANKS)}")
        r = self.rung_metrics
        if not isinstance(r, Mapping) or not all(isinstance(v, str) and v for v in r.values()):
            raise ValueError(f"rung_metrics={r!r} is not allowed: a mapping objective -> metric name")
        n = self.rung_repeats
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"rung_repeats={n!r} is not allowed: null or an integer >= 1")
        if not isinstance(self.keep_front, bool):
            raise ValueError(f"keep_front={self.keep_front!r} is not allowed: true or false")

    def epochs(self, max_epochs: int | None = None) -> list[int]:
        """Every rung (epochs), the full budget last; ``max_epochs`` stands in when the schedule has none."""
        top = self.max_epochs if self.max_epochs is not None else max_epochs
        if top is None or top < 1:
            raise ValueError(f"max_epochs={top!r} is not allowed: give the full budget in epochs (>= 1)")
        rungs, epoch = [], self.min_epochs
        while epoch < top:
            rungs.append(epoch)
            epoch *= self.eta
        return [*rungs, top]

    def decision_epochs(self, max_epochs: int | None = None) -> list[int]:
        """The rungs where a trial may stop: all but the full budget (a trial there has finished anyway)."""
        return self.epochs(max_epochs)[:-1]

    def to_attrs(self) -> dict[str, Any]:
        return {
            "min_epochs": self.min_epochs,
            "eta": self.eta,
            "max_epochs": self.max_epochs,
            "rank": self.rank,
            "rung_metrics": dict(self.rung_metrics),
            "rung_repeats": self.rung_repeats,
            "keep_front": self.keep_front,
        }

    @classmethod
    def from_attrs(cls, stored: Mapping[str, Any]) -> RungSchedule:
        return cls(
            int(stored["min_epochs"]),
            int(stored["eta"]),
            stored.get("max_epochs"),
            _LEGACY_RANKS.get(stored.get("rank", NDS_CROWDING), stored.get("rank", NDS_CROWDING)),
            dict(stored.get("rung_metrics") or {}),
            stored.get("rung_repeats"),  # studies stored before it measured once, at the first rung
            bool(stored.get("keep_front", False)),  # and kept only the top 1/eta
        )

    def metric_at_rung(self, objective: str) -> str:
        """The metric read at a rung for ``objective``."""
        return self.rung_metrics.get(objective, objective)


@dataclass(frozen=True)
class RungDecision:
    """A trial's decision at a rung: go on or stop, its place in the ranking (0 = best) among ``n`` trials at
    the rung, how many go on (``keep = floor(n / eta)``) and why, in one line."""

    go_on: bool
    position: int
    n: int
    keep: int
    reason: str


def minimised(values: Sequence[float], directions: Sequence[str]) -> list[float]:
    """``values`` with maximised objectives negated, so that smaller is better everywhere."""
    return [-v if d == "maximize" else v for v, d in zip(values, directions, strict=True)]


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance of each point among ``points`` (one front): the sum over objectives of the
    normalised gap between its two neighbours; boundary points get ``inf``.

    Example:
        >>> crowding_distances([(0.0, 2.0), (1.0, 1.0), (2.0, 0.0)])
        [inf, 2.0, inf]
    """
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: (points[i][m], i))
        lo, hi = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if hi == lo:
            continue
        for before, here, after in zip(order, order[1:], order[2:], strict=False):
            distance[here] += (points[after][m] - points[before][m]) / (hi - lo)
    return distance


def hypervolume_order(points: Sequence[Sequence[float]], reference: Sequence[float]) -> list[int]:
    """Indices of one front's ``points`` (minimisation form), best first, by hypervolume contribution.

    Greedy thinning: the point whose removal loses the least hypervolume (relative to ``reference``) goes last,
    then contributions are computed again among the points left; equal contributions: the later index goes
    first. The last point left ranks first.

    Example (hand-computed, reference (4, 4)): contributions (1-0)x(4-3)=1, (3-1)x(3-1)=4, (4-3)x(1-0)=1: the
    extremes tie and the later, (3, 0), goes first; then (0, 3) adds (1-0)x(4-3)=1 against the middle's
    (4-1)x(3-1)=6:
        >>> hypervolume_order([(0.0, 3.0), (1.0, 1.0), (3.0, 0.0)], (4.0, 4.0))
        [1, 0, 2]
    """
    left = list(range(len(points)))
    dropped: list[int] = []
    while left:
        total = hypervolume([points[i] for i in left], reference)
        scale = total if total > 0 else 1.0
        lost = {i: total - hypervolume([points[j] for j in left if j != i], reference) for i in left}
        # relative and rounded, so that contributions equal on paper tie exactly (then the later index goes)
        worst = min(left, key=lambda i: (round(lost[i] / scale, 12), -i))
        dropped.append(worst)
        left.remove(worst)
    return dropped[::-1]


def on_log_axes(values: Sequence[Sequence[float]], log_axes: Sequence[bool]) -> list[list[float]]:
    """``values`` (one row per trial) with each column flagged in ``log_axes`` on log10, when every value in it
    is positive (a column with a value <= 0 stays as it is).

    Example:
        >>> on_log_axes([[0.9, 1e-4], [0.5, 1e-6]], [False, True])
        [[0.9, -4.0], [0.5, -6.0]]
        >>> on_log_axes([[0.9, 2.0], [0.5, -1.0]], [False, True])  # net energy can be negative: left linear
        [[0.9, 2.0], [0.5, -1.0]]
    """
    rows = [list(v) for v in values]
    for axis, log in enumerate(log_axes):
        if log and rows and all(r[axis] > 0 for r in rows):
            for r in rows:
                r[axis] = math.log10(r[axis])
    return rows


def ranking(
    cohort: Mapping[int, Sequence[float]],
    directions: Sequence[str],
    rank: str = NDS_HV,
    log_axes: Sequence[bool] = (),
) -> list[int]:
    """Trial numbers best first: non-dominated front, then the ``rank`` rule's tie-break inside a front (on
    log10 for the objectives flagged in ``log_axes``: :func:`on_log_axes`), then trial number.

    Example:
        >>> ranking({5: [1.0, 1.0], 3: [0.0, 2.0], 4: [2.0, 2.0]}, ["minimize", "minimize"], "nds_crowding")
        [3, 5, 4]
        >>> # a front of three (accuracy up, J per sample down) and one dominated trial, 4: on the linear axis
        >>> # the frugal 3 adds least, on log10 the accurate 1 does
        >>> front = {0: [0.85, 1e-5], 1: [0.9, 1e-4], 3: [0.6, 1e-6], 4: [0.7, 1e-4]}
        >>> ranking(front, ["maximize", "minimize"]), ranking(front, ["maximize", "minimize"], log_axes=[False, True])
        ([0, 1, 3, 4], [0, 3, 1, 4])
    """
    return _ranked(cohort, directions, rank, log_axes)[0]


def _ranked(
    cohort: Mapping[int, Sequence[float]],
    directions: Sequence[str],
    rank: str,
    log_axes: Sequence[bool],
) -> tuple[list[int], dict[int, int]]:
    """:func:`ranking`'s order, and each trial number's front (0: non-dominated)."""
    if rank not in RANKS:
        raise ValueError(f"rank={rank!r} is not allowed: one of {', '.join(RANKS)}")
    numbers = sorted(cohort)
    scaled = on_log_axes([cohort[k] for k in numbers], log_axes)
    points = [minimised(v, directions) for v in scaled]
    fronts = non_dominated_ranks(points)
    reference = reference_point(points, HV_MARGIN)
    place: dict[int, float] = {}  # index -> sort key inside its front (smaller first)
    for front in set(fronts):
        members = [i for i, f in enumerate(fronts) if f == front]
        if rank == NDS_HV:
            for position, m in enumerate(hypervolume_order([points[i] for i in members], reference)):
                place[members[m]] = position
        else:
            for i, d in zip(members, crowding_distances([points[i] for i in members]), strict=True):
                place[i] = -d
    order = sorted(range(len(numbers)), key=lambda i: (fronts[i], place[i], numbers[i]))
    return [numbers[i] for i in order], {numbers[i]: fronts[i] for i in range(len(numbers))}


def can_stop(n: int, eta: int, keep_front: bool = KEEP_FRONT) -> bool:
    """Whether :func:`decide` could stop a trial at a rung that ``n`` trials (itself included) have reached: a
    place is open (``n >= eta``), or with ``keep_front`` another trial there may dominate it.

    Example:
        >>> can_stop(1, 3), can_stop(2, 3), can_stop(2, 3, keep_front=False), can_stop(3, 3, keep_front=False)
        (False, True, False, True)
    """
    return n >= eta or (keep_front and n >= 2)


def decide(
    number: int,
    cohort: Mapping[int, Sequence[float]],
    directions: Sequence[str],
    eta: int,
    rank: str = NDS_HV,
    log_axes: Sequence[bool] = (),
    keep_front: bool = KEEP_FRONT,
) -> RungDecision:
    """Whether trial ``number`` goes on past a rung, given every trial that has reached the rung so far
    (``cohort``: trial number -> objective values in the study's order, ``number`` included), ranked by the
    ``rank`` rule (:data:`RANKS`), energy-like objectives (``log_axes``) on log10 inside a front; with
    ``keep_front``, a trial on the cohort's non-dominated front goes on whatever its place.

    Example (a front of three, the top 1 of 3 go on by place; trial 2, the frugal end, ranks second):
        >>> front = {0: [0.9, 1e-4], 1: [0.85, 1e-5], 2: [0.6, 1e-6]}
        >>> d = decide(2, front, ["maximize", "minimize"], eta=3, log_axes=[False, True], keep_front=False)
        >>> d.go_on, decide(2, front, ["maximize", "minimize"], eta=3, log_axes=[False, True]).reason
        (False, "continue: on the rung's non-dominated front (ranked 2 of 3; the top 1, 1/eta=3, go on by place)")

    Raises:
        ValueError: ``number`` is not in ``cohort``, or a value is not finite.
    """
    if number not in cohort:
        raise ValueError(f"trial {number} is not in the rung's cohort {sorted(cohort)}: record its values first")
    for k, values in cohort.items():
        if len(values) != len(directions) or not all(math.isfinite(v) for v in values):
            raise ValueError(f"trial {k}'s rung values {list(values)!r} are not {len(directions)} finite numbers")
    n = len(cohort)
    keep = n // eta
    order, front_of = _ranked(cohort, directions, rank, log_axes)
    position = order.index(number)
    if keep == 0:
        if keep_front and front_of[number] != 0:
            reason = (
                f"stop: dominated at this rung, where {n} trial(s), fewer than eta={eta}, have arrived: only the "
                "non-dominated go on"
            )
            return RungDecision(False, position, n, keep, reason)
        why = "on the rung's non-dominated front" if keep_front else "nobody is stopped yet"
        reason = f"continue: {n} trial(s) at this rung, fewer than eta={eta} ({why})"
        return RungDecision(True, position, n, keep, reason)
    go_on = position < keep
    if not go_on and keep_front and front_of[number] == 0:
        reason = (
            f"continue: on the rung's non-dominated front (ranked {position + 1} of {n}; the top {keep}, "
            f"1/eta={eta}, go on by place)"
        )
        return RungDecision(True, position, n, keep, reason)
    verb = "continue" if go_on else "stop"
    reason = f"{verb}: ranked {position + 1} of {n} at this rung, the top {keep} (1/eta={eta}) go on"
    return RungDecision(go_on, position, n, keep, reason)
