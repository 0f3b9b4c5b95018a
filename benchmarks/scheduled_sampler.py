"""A sampler that takes each trial's proposal from one of several samplers, by trial number.

Benchmarks only (no product code uses it): used to mix exploration into GP (benchmarks/search.py ``gp_tpe3``,
``gp_tpe5``, ``gp_rand5``: issue 13). Every inner sampler reads the same study, so each one learns from every
finished trial, whichever sampler proposed it.

Example:
    >>> import optuna
    >>> s = ScheduledSampler(optuna.samplers.GPSampler(seed=0), [(optuna.samplers.RandomSampler(seed=0), 5)], 10)
    >>> [type(s.pick(n)).__name__ for n in (9, 13, 14, 19)]
    ['GPSampler', 'GPSampler', 'RandomSampler', 'RandomSampler']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from typing_extensions import override


class ScheduledSampler(optuna.samplers.BaseSampler):
    """``base`` proposes every trial except those that ``others`` take: trial number ``n >= start`` goes to the
    first ``(sampler, period)`` with ``(n - start) % period == period - 1`` (every ``period``-th trial after the
    first ``start``). ``start`` is usually the base sampler's start-up trials, which it samples at random."""

    def __init__(
        self,
        base: optuna.samplers.BaseSampler,
        others: Sequence[tuple[optuna.samplers.BaseSampler, int]],
        start: int,
    ) -> None:
        periods = [period for _, period in others]
        if min(periods, default=2) < 2 or start < 0:
            raise ValueError(f"periods must be >= 2 and start >= 0; got periods {periods}, start {start}")
        self.base = base
        self.others = list(others)
        self.start = start

    @override
    def __str__(self) -> str:
        mixed = ", ".join(f"every {p}th {type(s).__name__}" for s, p in self.others)
        return f"{type(self.base).__name__} ({mixed} after trial {self.start})"

    def pick(self, number: int) -> optuna.samplers.BaseSampler:
        """The sampler that proposes trial ``number``."""
        if number >= self.start:
            for sampler, period in self.others:
                if (number - self.start) % period == period - 1:
                    return sampler
        return self.base

    def _all(self) -> list[optuna.samplers.BaseSampler]:
        return [self.base, *(s for s, _ in self.others)]

    @override
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.pick(trial.number).infer_relative_search_space(study, trial)

    @override
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.pick(trial.number).sample_relative(study, trial, search_space)

    @override
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.pick(trial.number).sample_independent(study, trial, param_name, param_distribution)

    @override
    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.pick(trial.number).before_trial(study, trial)

    @override
    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        for sampler in self._all():  # every sampler hears of every finished trial
            sampler.after_trial(study, trial, state, values)

    @override
    def reseed_rng(self) -> None:
        for sampler in self._all():
            sampler.reseed_rng()
