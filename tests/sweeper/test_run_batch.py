"""One batch of the sweep loop, on a real SQLite study, without Hydra: what it returns when it runs nothing."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from ecopt_lightning.sweeper._budget import OVER_BUDGET_ERROR
from ecopt_lightning.sweeper._schema import ERROR_ATTR, STOPPED_AT_ATTR
from ecopt_lightning.sweeper._space import SearchSpace
from ecopt_lightning.sweeper._sweeper import EcoptSweeperImpl
from ecopt_lightning.sweeper.config import validate


def test_a_batch_wholly_beyond_the_shared_budget_is_not_run_and_returns_four_empty_lists(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize"])
    study.ask()
    study.ask()  # another worker's two RUNNING trials already cover n_trials=2
    settings = validate({"objectives": [{"name": "val_acc", "direction": "maximize"}], "n_trials": 2})
    space = SearchSpace({"width": CategoricalDistribution([8, 16])})
    errors, numbers, mismatches, raised = EcoptSweeperImpl({})._run_batch(study, None, space, None, settings, 1)
    assert (errors, numbers, mismatches, raised) == ([], [], [], [])
    (dropped,) = study.get_trials(states=(TrialState.FAIL,))
    assert dropped.number == 2 and dropped.user_attrs[ERROR_ATTR] == OVER_BUDGET_ERROR


def test_trials_stopped_at_a_rung_count_towards_the_shared_budget_as_the_sweep_loop_counts_them() -> None:
    # the loop counts a trial multi-fidelity stopped (PRUNED) as done; the race rule read only COMPLETE and RUNNING,
    # so two workers that both saw one trial missing both kept theirs, and the study ended one trial over budget
    study = optuna.create_study(directions=["maximize"])
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={STOPPED_AT_ATTR: 1}))
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))  # pruned before training: not counted
    study.add_trial(optuna.trial.create_trial(values=[1.0]))
    study.ask()  # trial 4: worker A's, for the last missing trial of n_trials=4
    mine = study.ask()  # trial 5: worker B counted the same and asked one too
    assert EcoptSweeperImpl._drop_over_budget(study, [mine], n_trials=4) == []
    assert study.trials[5].state == TrialState.FAIL and study.trials[5].user_attrs[ERROR_ATTR] == OVER_BUDGET_ERROR
    assert study.trials[4].state == TrialState.RUNNING
