"""A sampler for real multiruns that raises at its Nth proposed parameter (an event, not a time), as a sampler's bug
or numerical failure would: ``+hydra.sweeper.sampler={_target_: breaking_sampler.BreaksAt, at: 5}``."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial


class BreaksAt(optuna.samplers.RandomSampler):
    """Random proposals; the ``at``-th ``sample_independent`` call of the process raises ``RuntimeError``."""

    def __init__(self, at: int, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.at, self.calls = at, 0

    def sample_independent(self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError(f"no proposal for {name} (call {self.calls})")
        return super().sample_independent(study, trial, name, dist)
