"""Config mistakes caught at the first finished job: a misspelt objective or constraint metric, or a result of
the wrong type, stops the sweep at once with one line naming the missing and the available names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.trial import TrialState

from .conftest import load_study

pytestmark = pytest.mark.slow
AVAILABLE = "available: energy/inference_per_sample_J, energy/total_J, train_loss, val_acc"


def _error_lines(stderr: str) -> list[str]:
    """The error's lines: Hydra's hint and Optuna's/our INFO and WARNING log lines left out."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and "HYDRA_FULL_ERROR" not in line and not line.startswith(("[I ", "[W ", "[20"))
    ]


@pytest.mark.parametrize(
    ("overrides", "start", "text"),
    [
        (
            ["hydra.sweeper.objectives=[{name: val_accc, direction: maximize}]"],
            "hydra.sweeper.objectives=[{name: 'val_accc', direction: 'maximize'}] is not allowed: ",
            f"(trial 0: missing objective 'val_accc' (did you mean 'val_acc'?); {AVAILABLE})",
        ),
        (
            ["hydra.sweeper.constraints=['energy/totl_J <= 5']"],
            "hydra.sweeper.constraints=['energy/totl_J <= 5'] is not allowed: ",
            f"(trial 0: missing constraint metric 'energy/totl_J' (did you mean 'energy/total_J'?); {AVAILABLE})",
        ),
        (
            ["mode=text_acc"],
            "hydra.sweeper.objectives=[{name: 'val_acc', direction: 'maximize'}, "
            "{name: 'energy/inference_per_sample_J', direction: 'minimize'}] is not allowed: ",
            "(trial 0: metric 'val_acc' is 'high' (str): return a number (float, int or 0-d tensor); available: "
            "energy/inference_per_sample_J, energy/total_J, train_loss)",
        ),
    ],
    ids=["misspelt objective", "misspelt constraint metric", "objective not a number"],
)
def test_config_mistake_stops_after_the_first_job_with_one_line(
    multirun, tmp_path: Path, overrides: list[str], start: str, text: str
) -> None:
    sweep = tmp_path / "sweep"
    proc = multirun(
        "width=choice(8,16,32)",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.baseline=false",
        *overrides,
        expect_fail=True,
    )
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(start) and text in lines[0], lines[0]
    assert "the sweep stopped after its first finished job" in lines[0]
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # one job ran, not n_trials
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["states"]["FAIL"] == 1


def test_a_metric_missing_after_a_complete_trial_fails_only_that_trial(multirun, tmp_path: Path) -> None:
    """Once a trial has completed, the names are right: a later job without them is a failed trial."""
    sweep = tmp_path / "sweep"
    multirun(
        "width=choice(16,64)",
        "mode=missing_if_wide",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.baseline=true",
        "hydra.sweeper.max_failures=20",
    )
    study = load_study(sweep)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert failed and all(t.params["width"] == 64 for t in failed)


def test_an_energy_per_sample_metric_no_trial_reports_is_said_once(multirun, tmp_path: Path) -> None:
    """Regression (first-hour audit, 2026-11-29): a misspelt energy_per_sample_metric, which no objective needs, was
    silent: samples per J, the payback and the proxy check stayed empty ('-') with no word of why."""
    proc = multirun(
        "width=choice(8,16,32)",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.objectives=[{name: val_acc, direction: maximize}, {name: energy/total_J, direction: minimize}]",
        "hydra.sweeper.energy_per_sample_metric=energy/inference_per_sampl_J",
    )
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "energy_per_sample_metric=" in line]
    assert len(said) == 1, proc.stdout + proc.stderr
    assert "'energy/inference_per_sampl_J' is not among the metrics of trial 0 (did you mean " in said[0]
    assert "'energy/inference_per_sample_J'?)" in said[0] and f"({AVAILABLE})" in said[0]
    assert sum(t.state == TrialState.COMPLETE for t in load_study(tmp_path / "sweep").trials) == 3  # not stopped


def test_a_task_that_reports_no_energy_gets_no_word_on_the_default_per_sample_metric(tmp_path: Path) -> None:
    """hydra-optuna-sweeper's example returns a float: no energy at all, and no warning about a metric it never
    named."""
    import subprocess
    import sys

    root = Path(__file__).parents[2]
    cmd = [sys.executable, str(root / "tests/compat_official/example/sphere.py"), "-m", "hydra/sweeper=ecopt"]
    cmd += [f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweeper.n_trials=2", "hydra.sweeper.direction=minimize"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "energy_per_sample_metric" not in proc.stdout + proc.stderr
