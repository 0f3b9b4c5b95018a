"""ParEgoSampler (benchmarks/parego_sampler.py): what the inner sampler sees, and that a GP study through it,
with the failure wrapper around it, runs and is reproducible given the seed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from typing_extensions import override

from ecopt_lightning.sweeper import _failures
from ecopt_lightning.sweeper._schema import FAILED_CONSTRAINT, JOB_FAILED_ATTR

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from parego_sampler import ParEgoSampler, scalarise


class Recording(optuna.samplers.RandomSampler):
    """Optuna's RandomSampler that notes, while proposing each trial, the directions and the completed trials
    it was shown."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed)
        self.seen: dict[int, tuple[list[StudyDirection], list[FrozenTrial]]] = {}

    @override
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        self.seen[trial.number] = (list(study.directions), study.get_trials(states=(TrialState.COMPLETE,)))
        return super().sample_independent(study, trial, param_name, param_distribution)


def test_the_inner_sampler_sees_one_minimised_objective_the_augmented_chebyshev_of_normalised_values() -> None:
    inner = Recording(0)
    sampler = ParEgoSampler(inner, seed=3)
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    told = [(2.0, 10.0), (4.0, 30.0), (3.0, 20.0)]
    for values in told:
        trial = study.ask({"x": FloatDistribution(0, 1)})
        study.tell(trial, list(values))
    study.ask({"x": FloatDistribution(0, 1)})
    directions, shown = inner.seen[3]
    assert directions == [StudyDirection.MINIMIZE]
    w = sampler.weights(3, 2)
    # min-max over the completed trials; the maximised objective flipped (its highest value is 0)
    normalised = [(0.0, 1.0), (1.0, 0.0), (0.5, 0.5)]
    assert [t.values for t in shown] == [[pytest.approx(scalarise(f, list(w)))] for f in normalised]
    assert [t.values for t in study.get_trials(states=(TrialState.COMPLETE,))] == [list(v) for v in told]
    assert not (sampler.weights(3, 2) == sampler.weights(4, 2)).all()


def test_a_job_failure_reaches_the_inner_sampler_as_an_infeasible_trial_at_the_worst_scalarised_value() -> None:
    inner = Recording(0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=_failures.wrap(ParEgoSampler(inner, 1)))
    for values in ([1.0, 5.0], None, [3.0, 1.0]):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        if values is None:
            trial.set_user_attr(JOB_FAILED_ATTR, True)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, values)
    study.ask({"x": FloatDistribution(0, 1)})
    _, shown = inner.seen[3]
    assert [t.constraints[FAILED_CONSTRAINT] for t in shown] == [0.0, 1.0, 0.0]
    w = list(ParEgoSampler(inner, 1).weights(3, 2))
    assert shown[1].values == [pytest.approx(scalarise([1.0, 1.0], w))]  # each objective's worst
    assert study.trials[1].state == TrialState.FAIL and study.trials[1].values is None


def _gp_parego_run(seed: int) -> list[dict[str, Any]]:
    gp = optuna.samplers.GPSampler(seed=seed, n_startup_trials=4)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=_failures.wrap(ParEgoSampler(gp, seed)))
    space = {"a": CategoricalDistribution([0, 1, 2]), "x": FloatDistribution(0, 1)}
    for _ in range(8):
        trial = study.ask(space)
        if trial.params["a"] == 2 and trial.params["x"] > 0.8:
            trial.set_user_attr(JOB_FAILED_ATTR, True)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, [trial.params["x"] + trial.params["a"], 1 - trial.params["x"]])
    return [t.params for t in study.trials]


def test_gp_through_parego_and_the_failure_wrapper_proposes_the_same_trials_given_the_seed() -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    first = _gp_parego_run(0)
    assert len(first) == 8 and first == _gp_parego_run(0)
    assert first != _gp_parego_run(1)


def test_cycled_weights_show_the_inner_sampler_one_objective_alone_in_turn() -> None:
    inner = Recording(0)
    sampler = ParEgoSampler(inner, seed=0, weights="cycle")
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    for values in ([1.0, 5.0], [3.0, 1.0], [2.0, 2.0]):
        study.tell(study.ask({"x": FloatDistribution(0, 1)}), values)
    study.ask({"x": FloatDistribution(0, 1)})
    study.tell(3, [2.0, 2.0])
    study.ask({"x": FloatDistribution(0, 1)})
    # trial 3: the second objective alone (3 % 2), trial 4: the first; 1.05 x the normalised value
    assert [t.values for t in inner.seen[3][1]] == [[pytest.approx(1.05 * f)] for f in (1.0, 0.0, 0.25)]
    assert [t.values for t in inner.seen[4][1]] == [[pytest.approx(1.05 * f)] for f in (0.0, 1.0, 0.5, 0.5)]


def test_an_unknown_weights_kind_is_refused_naming_it_and_the_kinds() -> None:
    with pytest.raises(ValueError, match="weights must be one of simplex, cycle; got 'ends'"):
        ParEgoSampler(optuna.samplers.RandomSampler(), seed=0, weights="ends")
