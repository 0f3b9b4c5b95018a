"""Multi-fidelity in the examples: the main job's sweep with it on (tiny budget), the CIFAR-10 search configs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper._schema import JOB_DIR_ATTR
from ecopt_lightning.sweeper.config import validate
from ecopt_lightning.sweeper.multi_fidelity import rung_values, stopped_at
from ecopt_lightning.sweeper.successive_halving import RungSchedule

from .test_cifar10 import compose_search

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_main_job_with_multi_fidelity(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "train.py"),
        "-m",
        "hydra/sweeper=ecopt",
        "hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2}",  # as conf/train.yaml's comment says, no '+'
        "hydra.sweeper.n_trials=3",
        "trainer.max_epochs=3",
        "energy.repeats=2",
        "energy.rel_precision=null",  # two repeats, not until the interval is known (up to max_seconds per trial)
        f"hydra.sweep.dir={sweep}",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    trials = optuna.load_study(study_name="train", storage=f"sqlite:///{sweep / 'ecopt.db'}").get_trials()
    assert len(trials) == 3 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    # the baseline ran first, alone at rungs 1 and 2: it went on to the end
    assert trials[0].state == TrialState.COMPLETE
    assert [e["decision"] for e in rung_values(trials[0].user_attrs).values()] == ["continue", "continue"]
    for t in trials:  # every trial was ranked at epoch 1 on (val_acc, J per inference sample)
        assert len(rung_values(t.user_attrs)[1]["values"]) == 2
    with open(sweep / "trials.csv") as f:
        header = next(csv.reader(f))
    assert "stopped_at_epoch" in header and "rung1:energy/inference_per_sample_J" in header
    saved = json.loads((sweep / "summary.json").read_text())["multi_fidelity"]
    assert saved["note"].startswith("ESTIMATE") and saved["trials_stopped"] == sum(
        t.state == TrialState.PRUNED for t in trials
    )
    assert (sweep / "rungs.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", ["paper_multi_fidelity", "smoke_multi_fidelity"])
def test_cifar10_multi_fidelity_searches_validate(name: str) -> None:
    settings = validate(compose_search(name))
    assert settings.objective_names == ["test_acc", "energy/inference_per_sample_J"]
    eta = 3 if name.startswith("paper") else 2
    assert settings.multi_fidelity == RungSchedule(1, eta, None, rung_metrics={"test_acc": "val_acc"})
    top = 100 if name.startswith("paper") else 3
    assert settings.multi_fidelity.epochs(top) == ([1, 3, 9, 27, 81, 100] if eta == 3 else [1, 2, 3])


@pytest.mark.slow
def test_cifar10_smoke_multi_fidelity_search_runs_as_its_comment_says(tmp_path: Path) -> None:
    # the command in search/smoke_multi_fidelity.yaml; every trial used to fail (model.filters came as a float)
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "examples" / "cifar10" / "train.py"), "-m", "hydra/sweeper=ecopt"]
    cmd += ["+search=smoke_multi_fidelity", f"hydra.sweep.dir={sweep}"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    trials = optuna.load_study(study_name="train", storage=f"sqlite:///{sweep / 'ecopt.db'}").get_trials()
    assert len(trials) == 4 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}, trials
    assert all(isinstance(t.params["model.filters"], int) for t in trials)
    for t in trials:  # every trial reached rung 1 and was ranked there on (val_acc, J per inference sample)
        assert len(rung_values(t.user_attrs)[1]["values"]) == 2


@pytest.mark.slow
def test_a_digits_trial_stopped_at_a_rung_is_not_tested(tmp_path: Path) -> None:
    # both examples ran trainer.test after a rung stop: test energy spent on a discarded trial, its test metrics
    # reported as if it had finished
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "train.py"),
        "-m",
        "hydra/sweeper=ecopt",
        # 2 epochs: one rung, at epoch 1; test_acc ranked there as val_acc (the CIFAR-10 searches' way)
        "hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2, rung_metrics: {test_acc: val_acc}}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.custom_search_space=tests.examples.rung_plans.digits_plan",
        "hydra.sweeper.params=null",
        # deterministic objectives: the plan's second trial is dominated at rung 1 whatever the machine measures
        "hydra.sweeper.objectives=[{name: test_acc, direction: maximize}, {name: model/params, direction: minimize}]",
        "trainer.max_epochs=2",
        "energy.inference_benchmark=false",
        f"hydra.sweep.dir={sweep}",
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    trials = optuna.load_study(study_name="train", storage=f"sqlite:///{sweep / 'ecopt.db'}").get_trials()
    # the stopped trial returns no test_acc, an objective: PRUNED as stopped, not FAIL for a missing objective
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED], [t.user_attrs for t in trials]
    done, stopped = (t.user_attrs for t in trials)
    assert stopped_at(stopped) == 1 and stopped_at(done) is None
    # the trial that trained to its end was tested, and its test energy counted
    assert "test_acc" in done and done["energy/test_total_J"] > 0
    summary = _summary(done)
    assert summary["status"] == "finished test" and summary["phases"]["test"]["steps"] > 0
    # the stopped one was not: no test metric, no test energy, its summary the fit's
    assert not [k for k in stopped if k.startswith(("test_", "energy/test_"))], sorted(stopped)
    summary = _summary(stopped)
    assert summary["status"] == "finished fit (stopped by multi-fidelity at epoch 1)"
    assert summary["phases"].get("test", {}).get("energy_J", 0) == 0


def _summary(attrs: dict) -> dict:
    """The energy summary EnergyCallback wrote in a trial's job folder (the trainer's log folder inside it)."""
    (path,) = Path(attrs[JOB_DIR_ATTR]).rglob("energy_summary.json")
    return json.loads(path.read_text())
