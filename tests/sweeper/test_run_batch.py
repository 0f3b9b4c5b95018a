"""One batch of the sweep loop, on a real SQLite study, without Hydra: what it returns when it runs nothing."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from ecopt_lightning.sweeper._budget import OVER_BUDGET_ERROR
from ecopt_lightning.sweeper._schema import ERROR_ATTR
from ecopt_lightning.sweeper._space import SearchSpace
from ecopt_lightning.sweeper._sweeper import EcoptSweeperImpl
from ecopt_lightning.sweeper.config import validate


def test_a_batch_wholly_beyond_the_shared_budget_is_not_run_and_returns_three_empty_lists(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize"])
    study.ask()
    study.ask()  # another worker's two RUNNING trials already cover n_trials=2
    settings = validate({"objectives": [{"name": "val_acc", "direction": "maximize"}], "n_trials": 2})
    space = SearchSpace({"width": CategoricalDistribution([8, 16])})
    errors, numbers, mismatches = EcoptSweeperImpl({})._run_batch(study, None, space, None, settings, 1)
    assert (errors, numbers, mismatches) == ([], [], [])
    (dropped,) = study.get_trials(states=(TrialState.FAIL,))
    assert dropped.number == 2 and dropped.user_attrs[ERROR_ATTR] == OVER_BUDGET_ERROR
