"""A trial that reports EnergyCallback's metrics but whose job dir holds no energy_summary.json (the app wrote it
elsewhere) is said once, in one line: where the sweeper looked and what the reports lack."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper._schema import JOB_DIR_ATTR, SOURCES_ATTR

from .conftest import load_study

pytestmark = pytest.mark.slow

LINE = "holds no energy_summary.json (looked up to 4 folders below): the reports lack its measurement sources"


def test_a_summary_written_outside_the_job_dir_is_said_once_with_where_the_sweeper_looked(
    multirun, tmp_path: Path
) -> None:
    # before: silent; every trial's sources, degraded sensors and grid intensity were missing from the reports
    proc = multirun(
        "width=choice(4,8)", "hydra.sweeper.n_trials=2", "epochs=1", "summary_elsewhere=true", app="rungs.py"
    )
    out = proc.stdout + proc.stderr
    assert out.count(LINE) == 1, out[-3000:]
    trials = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    line = next(x for x in out.splitlines() if LINE in x)
    job = trials[0].user_attrs[JOB_DIR_ATTR]
    assert f"trial 0 reported EnergyCallback's energy/estimated_fraction but its job dir {job} " in line
    assert (tmp_path / "energy_summary.json").exists()  # where this app wrote it: the launch dir


def test_a_summary_in_the_job_dir_is_read_and_nothing_is_said(multirun, tmp_path: Path) -> None:
    proc = multirun("width=choice(4,8)", "hydra.sweeper.n_trials=1", "epochs=1", app="rungs.py")
    assert LINE not in proc.stdout + proc.stderr
    (trial,) = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert trial.user_attrs[SOURCES_ATTR] and not (tmp_path / "energy_summary.json").exists()
