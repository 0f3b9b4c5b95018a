"""Hydra's joblib launcher: every trial is measured in a process of its own (loky workers are not reused)."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import optuna
import pytest

from .conftest import check_artifacts, ok, run

pytestmark = pytest.mark.slow


def test_joblib_trials_each_run_in_a_fresh_process(tmp_path: Path) -> None:
    """Its jobs slept 0.3 s, so that the first worker was still busy when the second took the batch's other job:
    a second worker slower than that to start (a loaded machine) left both jobs to the first, which ran two."""
    sweep = tmp_path / "sweep"
    ok(
        run(
            sweep,
            "width=choice(8,16,32,64)",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.n_trials=4",
            f"meet_dir={tmp_path / 'met'}",  # a batch's two jobs wait for each other: neither worker can take both
            "meet_by_batch=true",
        )
    )
    trials = optuna.load_study(study_name="toy", storage=f"sqlite:///{sweep / 'ecopt.db'}").trials
    jobs = [json.loads((Path(t.user_attrs["ecopt.job_dir"]) / ".ecopt_job.json").read_text()) for t in trials]
    assert len({j["pid"] for j in jobs}) == 4  # four trials, four processes
    assert all(j["jobs_in_process"] == 1 for j in jobs)
    assert not check_artifacts(sweep)["degraded_measurements"]["trials"]


def test_a_negative_launcher_n_jobs_below_the_batch_is_warned_of(tmp_path: Path) -> None:
    """joblib's ``n_jobs=-k`` means this machine's CPUs + 1 - k processes: one here, for a batch of two."""
    one_process = -joblib.cpu_count()
    proc = ok(
        run(
            tmp_path / "sweep",
            "width=choice(8,16,32,64)",
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={one_process}",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.n_trials=2",
        )
    )
    said = (
        f"ecopt: hydra.launcher.n_jobs={one_process} (1 process here) < hydra.sweeper.n_jobs=2: some trials of a "
        "batch will run in a process that already ran one (reported as degraded); set them equal"
    )
    assert said in proc.stdout + proc.stderr, proc.stdout + proc.stderr
