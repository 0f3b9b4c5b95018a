"""``hydra.sweeper.n_trials=0`` runs no trial and writes the reports from the study, as hydra-optuna-sweeper runs
none and writes optimization_results.yaml (it was refused: "an integer >= 1")."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import load_study

pytestmark = pytest.mark.slow

SPACE = "width=choice(8,16,32,64)"
LINE = "ecopt: n_trials=0: no trial run; the reports are written from the study's 2 trial(s)"


def test_n_trials_zero_runs_no_trial_and_rewrites_the_reports_of_a_resumed_study(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(SPACE, "hydra.sweeper.n_trials=2")
    for name in ("trials.csv", "optimization_results.yaml"):
        (sweep / name).unlink()
    proc = multirun(SPACE, "hydra.sweeper.n_trials=0")
    assert LINE in proc.stdout, proc.stdout[-3000:]
    assert "Launching" not in proc.stdout and len(load_study(sweep).trials) == 2
    assert len((sweep / "trials.csv").read_text().splitlines()) == 3 and (sweep / "optimization_results.yaml").exists()


def test_n_trials_zero_on_a_new_study_leaves_it_empty(multirun, tmp_path: Path) -> None:
    proc = multirun(SPACE, "hydra.sweeper.n_trials=0")
    assert "ecopt: n_trials=0: no trial run; the reports are written from the study's 0 trial(s)" in proc.stdout
    assert load_study(tmp_path / "sweep").trials == []  # not even the baseline, enqueued and left waiting
    assert (tmp_path / "sweep" / "summary.json").exists()
