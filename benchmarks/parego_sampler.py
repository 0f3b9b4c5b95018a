"""ParEGO (Knowles 2006) on Optuna's single-objective GPSampler: each proposal minimises one random
scalarisation of the objectives.

Benchmarks only (no product code uses it): issue 13, GP on ``nas6x5`` misses the low-error, costly end of the
front on some seeds (benchmarks/search.py ``gp_parego``). For trial number ``n`` the sampler draws a weight
vector ``w`` uniform on the simplex (Dirichlet(1, ..., 1)) from an RNG seeded with ``(seed, n)``, so the same
seed gives the same weights whatever ran before. It normalises each objective over the completed trials to
[0, 1] (min-max; flipped for a maximised one) and scalarises with the augmented Chebyshev function
``max_i(w_i f_i) + 0.05 * sum_i(w_i f_i)``. The inner sampler (a GPSampler: log EI) proposes through a
:class:`ScalarisedView` of the study: one direction (minimise) and each completed trial's scalarised value;
everything else (constraints, running trials, the storage) is the study's own. Start-up trials are the inner
sampler's (GP: 10 random).

``weights="cycle"`` takes one objective alone instead (the unit vector of objective ``n % n_objectives``):
the front's ends, proposed on every ``k``-th trial of a :class:`scheduled_sampler.ScheduledSampler` (``gp_ext5``).

Example:
    >>> import optuna
    >>> s = ParEgoSampler(optuna.samplers.GPSampler(seed=0), seed=0)
    >>> w = s.weights(12, 2)
    >>> bool((w >= 0).all() and abs(w.sum() - 1) < 1e-12 and (w == s.weights(12, 2)).all())
    True
    >>> round(scalarise([1.0, 0.0], [0.5, 0.5]), 3)
    0.525
    >>> ParEgoSampler(optuna.samplers.GPSampler(seed=0), seed=0, weights="cycle").weights(13, 2).tolist()
    [0.0, 1.0]
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from typing_extensions import override

from ecopt_lightning.sweeper._failures import StudyView
from ecopt_lightning.sweeper._optuna_compat import study_trials

#: weight of the sum in the augmented Chebyshev function (ParEGO's rho)
RHO = 0.05
#: how :class:`ParEgoSampler` draws each trial's weights (see the module docstring)
WEIGHTS = ("simplex", "cycle")


def scalarise(normalised: Sequence[float], weights: Sequence[float], rho: float = RHO) -> float:
    """Augmented Chebyshev scalarisation of objectives already normalised to [0, 1] (lower is better)."""
    weighted = [w * f for w, f in zip(weights, normalised, strict=True)]
    return max(weighted) + rho * sum(weighted)


class ParEgoSampler(optuna.samplers.BaseSampler):
    """Delegates every call to ``inner`` with a :class:`ScalarisedView` (the weights of the trial proposed) in
    place of the study; see the module docstring."""

    def __init__(self, inner: optuna.samplers.BaseSampler, seed: int | None = None, weights: str = "simplex") -> None:
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}; got {weights!r}")
        self.inner = inner
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        self.kind = weights

    @override
    def __str__(self) -> str:
        return f"ParEGO on {type(self.inner).__name__}"

    def weights(self, number: int, n_objectives: int) -> np.ndarray:
        """Trial ``number``'s weight vector: uniform on the simplex, from ``(seed, number)`` alone (``simplex``), or
        the unit vector of objective ``number % n_objectives`` (``cycle``)."""
        if self.kind == "cycle":
            return np.eye(n_objectives)[number % n_objectives]
        return np.random.default_rng([self.seed, number]).dirichlet(np.ones(n_objectives))

    def _view(self, study: Study, trial: FrozenTrial) -> Study:
        return cast(Study, ScalarisedView(study, self.weights(trial.number, len(study.directions))))

    @override
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(self._view(study, trial), trial)

    @override
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(self._view(study, trial), trial, search_space)

    @override
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.inner.sample_independent(self._view(study, trial), trial, param_name, param_distribution)

    @override
    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(self._view(study, trial), trial)

    @override
    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        view = ScalarisedView(study, self.weights(trial.number, len(study.directions)))
        shown = None if values is None or state != TrialState.COMPLETE else [view.scalarised(values)]
        self.inner.after_trial(cast(Study, view), trial, state, shown)

    @override
    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class ScalarisedView(StudyView):
    """``study`` as the inner sampler sees it: one direction (minimise), each COMPLETE trial's values replaced
    by its scalarised value under ``weights``; every other attribute is the study's own. Shown trials are
    copies: the stored ones are never modified."""

    def __init__(self, study: Study, weights: np.ndarray) -> None:
        super().__init__(study)
        self._weights = weights
        self._bounds: tuple[list[float], list[float]] | None = None  # per view: one proposal's

    @property
    def directions(self) -> list[StudyDirection]:
        return [StudyDirection.MINIMIZE]

    @property
    def direction(self) -> StudyDirection:
        return StudyDirection.MINIMIZE

    def _is_multi_objective(self) -> bool:  # Study's own check, read by Optuna's samplers
        return False

    @override
    def shown(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        if self._bounds is None:
            self._bounds = _bounds(trials, len(self._study.directions))
        out = []
        for t in trials:
            if t.state == TrialState.COMPLETE and t.values is not None:
                scalar = copy.copy(t)
                scalar.values = [self.scalarised(t.values)]
                out.append(scalar)
            else:
                out.append(t)
        return out

    def scalarised(self, values: Sequence[float]) -> float:
        """``values`` normalised over the study's completed trials (min-max, 0 = best) and scalarised."""
        if self._bounds is None:
            self._bounds = _bounds(study_trials(self._study, False), len(self._study.directions))
        low, high = self._bounds
        normalised = []
        for v, lo, hi, d in zip(values, low, high, self._study.directions, strict=True):
            span = hi - lo
            f = 0.0 if span <= 0 else (v - lo) / span
            normalised.append(f if d == StudyDirection.MINIMIZE else 1.0 - f)
        return scalarise(normalised, list(self._weights))


def _bounds(trials: Sequence[FrozenTrial], n_objectives: int) -> tuple[list[float], list[float]]:
    """Each objective's lowest and highest value over the COMPLETE trials (0 and 0 when there is none)."""
    values = [t.values for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not values:
        return [0.0] * n_objectives, [0.0] * n_objectives
    columns = list(zip(*values, strict=True))
    return [min(c) for c in columns], [max(c) for c in columns]
