"""A constraint added when a study is resumed reaches the samplers on the earlier trials too, on Optuna 4 (the
list ``constraints_func`` stored when each trial finished) as on Optuna 5 (per-name constraints): judged as the
reports judge them; GP proposes in a constrained two-objective study. Runs in .ci/oldest (pyproject's Optuna floor)
as in the main suite."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution

from ecopt_lightning.sweeper import _failures
from ecopt_lightning.sweeper._optuna_compat import TrialWrite, constraints_key, write_trials
from ecopt_lightning.sweeper._samplers import build, constraints_optuna4
from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, SETTINGS_ATTR, ReportSettings

NAMES, DIRECTIONS = ["val_acc", "energy/total_J"], ["maximize", "minimize"]
FIRST, ADDED = "energy/total_J <= 100", "val_acc >= 0.8"
SPACE = {"x": FloatDistribution(0.0, 1.0)}


def _sweep(url: str, constraints: list[str], n: int, name: str = "nsga2", **kwargs: int) -> optuna.Study:
    """``n`` trials asked, stored and told as the sweeper does, by NSGA-II (generations of 2; or ``name`` with
    ``kwargs``) built as it builds it."""
    sampler = build(name, kwargs or {"population_size": 2}, 0, True, concurrent=False)
    study = optuna.create_study(
        study_name="s", storage=url, directions=DIRECTIONS, sampler=sampler, load_if_exists=True
    )
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(NAMES, DIRECTIONS, constraints).to_attrs())
    for _ in range(n):
        trial = study.ask(SPACE)
        metrics = {"val_acc": trial.params["x"], "energy/total_J": 10 * trial.params["x"]}
        values = {
            text: (metrics["energy/total_J"] - 100 if text == FIRST else 0.8 - metrics["val_acc"])
            for text in constraints
        }
        system = constraints_optuna4(list(values.values()))
        write_trials(study, [TrialWrite(trial, {**metrics, CONSTRAINTS_ATTR: values}, system)])
        study.tell(trial, [metrics["val_acc"], metrics["energy/total_J"]])
    return study


def test_a_constraint_added_on_resume_is_seen_by_the_samplers_on_the_earlier_trials(tmp_path: Path) -> None:
    # before, on Optuna 4: NSGA-II's next generation stopped the resumed sweep ("ValueError: Trials with different
    # numbers of constraints cannot be compared"), and TPE read the earlier trials as within the added constraint
    url = f"sqlite:///{tmp_path / 's.db'}"
    _sweep(url, [FIRST], 4)
    study = _sweep(url, [FIRST, ADDED], 6)  # resumed with a constraint more: its next generations are proposed
    assert len(study.trials) == 10
    sampler = build("nsga2", {"population_size": 2}, 0, True, concurrent=False)
    view = sampler._view(study)  # type: ignore[attr-defined]
    for shown, stored in zip(view.get_trials(deepcopy=False), study.trials, strict=True):
        if _failures.supported():
            seen = dict(shown.constraints)
        else:
            seen = dict(zip(sorted([FIRST, ADDED]), shown.system_attrs[constraints_key()], strict=True))
        assert seen == {FIRST: 10 * stored.params["x"] - 100, ADDED: 0.8 - stored.params["x"]}


def test_gp_proposes_in_a_constrained_two_objective_study(tmp_path: Path) -> None:
    """Optuna 4.4's GPSampler raised "GPSampler does not support constrained multi-objective optimization" at its
    first proposal after the start-up trials, which stopped a sweep with constraints wherever ``auto`` picked GP
    (small budgets): the floor is ``optuna>=4.5``, which .ci/oldest runs this test on."""
    study = _sweep(f"sqlite:///{tmp_path / 's.db'}", [FIRST, ADDED], 5, name="gp", n_startup_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5
