"""The samplers' view of the study (_failures.StudyView) is built once per finished-trial set, not once per read:
TPE reads the study once per parameter within one proposal."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from ecopt_lightning.sweeper import _failures
from ecopt_lightning.sweeper._samplers import build
from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, JOB_FAILED_ATTR, SETTINGS_ATTR, ReportSettings

pytestmark = pytest.mark.skipif(not _failures.supported(), reason="Optuna 4: samplers see no job failures")

NAMES, DIRECTIONS, CONSTRAINT = ["acc", "energy/total_J"], ["maximize", "minimize"], "energy/total_J <= 50"
SPACE = {f"x{i}": FloatDistribution(0, 1) for i in range(4)}


def _tell(study: optuna.Study, trial: optuna.Trial, energy: float) -> None:
    trial.set_user_attr("energy/total_J", energy)
    trial.set_user_attr(CONSTRAINTS_ATTR, {CONSTRAINT: energy - 50})
    study.tell(trial, [0.5, energy])


def test_one_proposal_builds_the_view_once_and_a_trial_finished_since_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: the view copied and judged every trial on each of TPE's reads (one per parameter and more)
    built: list[int] = []
    real = _failures.shown
    monkeypatch.setattr(_failures, "shown", lambda trials, *a, **k: built.append(len(trials)) or real(trials, *a, **k))
    sampler = build("tpe", {"n_startup_trials": 2}, 0, True, concurrent=False)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=DIRECTIONS, sampler=sampler)
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(NAMES, DIRECTIONS, [CONSTRAINT]).to_attrs())
    for energy in (10.0, 20.0, 30.0):
        _tell(study, study.ask(SPACE), energy)
    failed = study.ask(SPACE)
    failed.set_user_attr(JOB_FAILED_ATTR, True)
    study.tell(failed, state=TrialState.FAIL)
    built.clear()
    running = study.ask(SPACE)
    assert built == [5]  # one build for the whole proposal, of the 5 trials (the one being proposed among them)
    view = sampler._view(study)  # type: ignore[attr-defined]
    shown = {t.number: t for t in view.get_trials(deepcopy=False)}
    assert shown[running.number].params == running.params  # a running trial as stored now, not as last shown
    assert shown[failed.number].state == TrialState.COMPLETE and built == [5]  # unchanged since: not built again
    _tell(study, running, 80.0)  # breaks the constraint
    shown = {t.number: t for t in view.get_trials(deepcopy=False)}
    assert built == [5, 5] and shown[running.number].constraints[CONSTRAINT] == 30.0
