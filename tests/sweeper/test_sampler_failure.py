"""A sampler that raises while proposing stops the sweep in one line and leaves no trial RUNNING: ``Study.ask``
created the trial before the sampler raised, and it stayed RUNNING until the next run failed it as "worker died"."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from ecopt_lightning.sweeper._proposals import ProposalError, ask_batch
from tests.sweeper.apps.breaking_sampler import BreaksAt
from tests.sweeper.conftest import load_study

SPACE = ("width=choice(8,16,32,64)", "lr=tag(log, interval(0.001, 0.1))")
BREAKS = "+hydra.sweeper.sampler={_target_: breaking_sampler.BreaksAt, at: 5}"
NOT_RUN = "not run: the sampler failed while proposing it: RuntimeError: no proposal for"


def test_a_sampler_error_fails_the_whole_batch_asked_so_far() -> None:
    study = optuna.create_study(sampler=BreaksAt(at=3, seed=0))
    space = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
    with pytest.raises(ProposalError, match=r"^the sampler BreaksAt failed while proposing trial 1: RuntimeError: "):
        ask_batch(study, space, 3)  # trial 0 gets x and y; trial 1 breaks at its x
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all(t.user_attrs["ecopt.error"].startswith(NOT_RUN) for t in trials)


def test_a_sampler_error_stops_the_sweep_in_one_line_with_no_trial_left_running(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = multirun(*SPACE, "hydra.sweeper.n_trials=6", BREAKS, expect_fail=True)
    said = [line for line in proc.stderr.splitlines() if "failed while proposing" in line]
    assert said == [
        "the sampler BreaksAt failed while proposing trial 3: RuntimeError: no proposal for width (call 5); "
        f"its batch is FAIL (not run); artifacts in {sweep}; the same command resumes the sweep"
    ], proc.stderr
    assert "Traceback" not in proc.stderr
    trials = load_study(sweep).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]
    assert trials[-1].user_attrs["ecopt.error"].startswith(NOT_RUN)
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["stopped"].startswith("the sampler BreaksAt failed while proposing trial 3")
    # the same command with a working sampler resumes: the not-run trial is not taken for a dead worker's
    again = multirun(*SPACE, "hydra.sweeper.n_trials=6", "hydra.sweeper.sampler=random")
    assert "worker died" not in again.stdout + again.stderr
    trials = load_study(sweep).get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
    assert trials[3].user_attrs["ecopt.error"].startswith(NOT_RUN)


class _NoStart(optuna.samplers.RandomSampler):
    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 1:
            raise ValueError("no start")


def test_a_sampler_error_inside_study_ask_fails_the_trial_the_storage_made_there() -> None:
    """Regression: ``Study.ask`` creates the trial in storage, then calls the sampler's ``before_trial``; when that
    raised, the trial stayed RUNNING with no worker until a later run failed it as a dead worker's."""
    study = optuna.create_study(sampler=_NoStart(seed=0))
    with pytest.raises(ProposalError, match=r"^the sampler _NoStart failed while proposing trial 1: ValueError"):
        ask_batch(study, {"x": FloatDistribution(0, 1)}, 2)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]  # the batch's first, and the one made
    assert trials[1].user_attrs["ecopt.error"] == "not run: the sampler failed while proposing it: ValueError: no start"
    assert isinstance(study.sampler, _NoStart)  # the study's own sampler again


class _StorageGone(optuna.samplers.RandomSampler):
    def sample_independent(self, study, trial, name, dist):  # type: ignore[no-untyped-def]
        import sqlalchemy.exc

        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))


def test_a_lost_storage_while_asking_is_not_called_a_sampler_failure() -> None:
    import sqlalchemy.exc

    study = optuna.create_study(sampler=_StorageGone(seed=0))
    with pytest.raises(sqlalchemy.exc.OperationalError):  # the sweep names the storage for it (storage_lost)
        ask_batch(study, {"x": FloatDistribution(0, 1)}, 1)
