"""``kill -9`` of a sweep during a trial, right after a tell, and while an artifact is being written; the same
command again continues the study: completed trials stay, artifacts are valid files at every point."""

from __future__ import annotations

import signal
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from .conftest import check_artifacts, ok, run

pytestmark = pytest.mark.slow
COMMAND = ("width=choice(8,16,32,64)", "lr=interval(0.001, 0.1)", "hydra.sweeper.sampler=random")
COMMAND += ("hydra.sweeper.n_trials=4", "hydra.sweeper.seed=0")


@pytest.mark.parametrize(
    ("where", "env", "extra"),
    [
        ("during a trial", {}, ("die_marker=died.txt",)),  # the task SIGKILLs the sweep (basic launcher)
        ("right after a tell", {"ECOPT_CRASH_AT": "after_tell:2"}, ()),
        ("during artifact writing", {"ECOPT_CRASH_AT": "artifact_write:9"}, ()),
    ],
)
def test_kill_9_then_same_command_continues(tmp_path: Path, where: str, env: dict, extra: tuple) -> None:
    sweep = tmp_path / "sweep"
    first = run(sweep, *COMMAND, *(e.replace("died.txt", str(tmp_path / "died.txt")) for e in extra), env=env)
    assert first.returncode == -signal.SIGKILL, (where, first.returncode, first.stderr)
    check_artifacts(sweep)  # whatever exists after the kill parses
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    before = {
        t.number: t.params
        for t in optuna.load_study(study_name="toy", storage=storage).trials
        if t.state == TrialState.COMPLETE
    }

    again = ok(run(sweep, *COMMAND, *(e.replace("died.txt", str(tmp_path / "died.txt")) for e in extra)))
    trials = optuna.load_study(study_name="toy", storage=storage).trials
    complete = {t.number: t.params for t in trials if t.state == TrialState.COMPLETE}
    assert len(complete) == 4, again.stderr
    assert before.items() <= complete.items()  # nothing completed before the kill was lost or rerun
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    summary = check_artifacts(sweep)
    assert summary["states"].get("COMPLETE") == 4
    assert not [p for p in sweep.iterdir() if p.name.startswith(".") and p.is_file()]  # no temp file left
    if where == "during a trial":  # the dead run's trial is failed at once (its pid is gone) and run again
        dead = [t for t in trials if t.state == TrialState.FAIL]
        assert len(dead) == 1 and "worker died: its worker (pid" in dead[0].user_attrs["ecopt.error"]
        retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead[0].number]
        assert retried and retried[0].params == dead[0].params
