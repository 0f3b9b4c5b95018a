"""Small faults of the second adversarial round (issue 15, minor list): failed trials are never feasible,
artifacts get the umask's file mode, a bad command-line search argument is named as typed."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper._artifacts import write_all
from ecopt_lightning.sweeper._schema import ReportSettings
from ecopt_lightning.sweeper._space import parse_space
from ecopt_lightning.sweeper._sweep_report import build_report
from ecopt_lightning.sweeper.errors import SweeperConfigError

DIST = {"w": optuna.distributions.FloatDistribution(0, 2)}


@pytest.fixture
def report(tmp_path: Path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.8, 2.0], params={"w": 1.0}, distributions=DIST))
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.FAIL, params={"w": 1.5}, distributions=DIST, user_attrs={"ecopt.error": "boom"}
        )
    )
    return build_report(
        "faults", study.get_trials(), ReportSettings.default(["acc", "energy/total_J"], ["maximize", "minimize"])
    )


def test_a_failed_trial_is_not_feasible_in_trials_csv(report, tmp_path: Path) -> None:
    write_all(report, tmp_path)
    with open(tmp_path / "trials.csv", newline="") as f:
        rows = {r["state"]: r for r in csv.DictReader(f)}
    assert rows["COMPLETE"]["feasible"] == "True"
    assert rows["FAIL"]["feasible"] == "False"


def test_artifacts_get_the_umask_mode_like_every_other_file(report, tmp_path: Path) -> None:
    paths = write_all(report, tmp_path)
    (tmp_path / "plain.txt").write_text("x")  # what open() gives under this umask
    expected = stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
    assert paths and {stat.S_IMODE(os.stat(p).st_mode) for p in paths} == {expected}


def test_a_bad_command_line_search_argument_is_named_as_typed() -> None:
    with pytest.raises(SweeperConfigError) as info:
        parse_space({}, ["x=choice("])
    text = str(info.value)
    assert text.startswith("the command-line override 'x=choice(' is not allowed: ")
    assert "hydra.sweeper.command line" not in text
