"""ScheduledSampler: which sampler proposes each trial, and that every sampler learns from every trial."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from typing_extensions import override

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from scheduled_sampler import ScheduledSampler


class Recording(optuna.samplers.RandomSampler):
    """Optuna's RandomSampler that notes the trials it proposed, the finished trials it saw while proposing,
    and the trials it was told had finished."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed)
        self.proposed: list[int] = []
        self.saw_finished: list[int] = []
        self.told: list[int] = []

    @override
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if param_name == "x":
            self.proposed.append(trial.number)
            self.saw_finished.append(len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))))
        return super().sample_independent(study, trial, param_name, param_distribution)

    @override
    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.told.append(trial.number)
        super().after_trial(study, trial, state, values)


def test_each_trial_is_proposed_by_the_scheduled_sampler_and_all_of_them_see_every_finished_trial() -> None:
    base, every3, every5 = Recording(0), Recording(1), Recording(2)
    sampler = ScheduledSampler(base, [(every3, 3), (every5, 5)], start=4)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + len(t.suggest_categorical("c", ["a", "bb"])), n_trials=20)
    # after the first 4: every 3rd (6, 9, ...) to every3, every 5th (8, 13; 18 is taken) to every5
    assert every3.proposed == [6, 9, 12, 15, 18]
    assert every5.proposed == [8, 13]
    assert base.proposed == [n for n in range(20) if n not in (6, 9, 12, 15, 18, 8, 13)]
    for s in (base, every3, every5):
        assert s.saw_finished == s.proposed  # trial n is proposed after trials 0..n-1 finished, whoever proposed them
        assert s.told == list(range(20))
    assert {t.number for t in study.trials if t.state == TrialState.COMPLETE} == set(range(20))


def test_gp_with_every_third_proposal_from_multivariate_tpe_runs_a_mixed_study() -> None:
    tpe = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, n_startup_trials=10)
    sampler = ScheduledSampler(optuna.samplers.GPSampler(seed=0), [(tpe, 3)], start=10)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    space = {"a": CategoricalDistribution([0, 1, 2]), "x": FloatDistribution(0, 1)}
    for _ in range(14):
        trial = study.ask(space)
        study.tell(trial, [trial.params["x"] + trial.params["a"], 1 - trial.params["x"]])
    assert [type(sampler.pick(n)).__name__ for n in range(10, 14)] == [
        "GPSampler",
        "GPSampler",
        "TPESampler",
        "GPSampler",
    ]
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 14


@pytest.mark.parametrize(("period", "start"), [(1, 10), (3, -1)])
def test_a_period_below_two_or_a_negative_start_is_refused_naming_the_values(period: int, start: int) -> None:
    with pytest.raises(ValueError, match=f"got periods \\[{period}\\], start {start}"):
        ScheduledSampler(optuna.samplers.RandomSampler(), [(optuna.samplers.RandomSampler(), period)], start)
