"""The sweep's files at the edges a user meets: a study with no trial, every trial infeasible, a maximised
efficiency objective, a folder that cannot be written."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._artifacts import write_all
from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

DIST = {"w": optuna.distributions.FloatDistribution(0, 2)}
NAMES, DIRECTIONS = ["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"]
CONSTRAINT = "energy/total_J <= 1"


def _infeasible_study() -> optuna.Study:
    """Two complete trials, both breaking ``CONSTRAINT``."""
    study = optuna.create_study(directions=DIRECTIONS)
    for w in (0.5, 1.5):
        attrs = {"energy/total_J": 2.0 + w, CONSTRAINTS_ATTR: {CONSTRAINT: 1.0 + w}}
        study.add_trial(
            optuna.trial.create_trial(values=[w / 2, w], params={"w": w}, distributions=DIST, user_attrs=attrs)
        )
    return study


@pytest.mark.parametrize("trials", ["none", "all infeasible"])
def test_a_csv_without_rows_still_has_its_header(tmp_path: Path, trials: str) -> None:
    study = optuna.create_study(directions=DIRECTIONS) if trials == "none" else _infeasible_study()
    settings = ReportSettings(NAMES, DIRECTIONS, [] if trials == "none" else [CONSTRAINT])
    write_all(build_report("edges", study.get_trials(), settings), tmp_path, figures=False)
    with open(tmp_path / "pareto_front.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert list(reader) == []
        assert reader.fieldnames is not None and {"trial", *NAMES, "energy_J", "job_dir"} <= set(reader.fieldnames)
    with open(tmp_path / "trials.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert reader.fieldnames is not None and {"trial", "state", "feasible", *NAMES} <= set(reader.fieldnames)
    assert len(rows) == (0 if trials == "none" else 2)
