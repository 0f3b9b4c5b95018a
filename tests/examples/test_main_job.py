"""The README's main job, end to end: a real sweep of the digits app with a small budget, artifacts checked."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_digits_sweep_end_to_end(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "train.py"),
        "-m",
        "hydra/sweeper=ecopt",
        "hydra.sweeper.n_trials=3",
        "trainer.max_epochs=2",
        "energy.repeats=6",
        "energy.max_repeats=6",
        f"hydra.sweep.dir={sweep}",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    # progress per trial, the front as a table and one closing line
    assert "trial 0 is the baseline" in log
    assert "trial 2 (3 of 3 complete)" in log
    for number in range(3):  # every trial is reported, also when intermediate artifact writes are skipped
        assert f"ecopt: trial {number} (" in log
    assert "Pareto front (* = knee):" in log
    assert f"artifacts in {sweep}" in log
    # on this machine the energy is estimated, and said so
    assert "ESTIMATED, not measured: cpu:0" in log
    assert "(100% of it ESTIMATED, not measured;" in log
    # only our own lines, each event once: Lightning's per-run banners, Hydra's launcher lines and Optuna's
    # are quieted by the example (logging levels), the energy notice is one line without nested brackets
    assert [line for line in log.splitlines() if line.strip() and "ecopt" not in line] == []
    assert log.count("ESTIMATED, not measured: cpu:0") == 1
    assert "W per core (" not in log

    study = optuna.load_study(study_name="train", storage=f"sqlite:///{sweep / 'ecopt.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    assert study.trials[0].user_attrs["ecopt.baseline"] is True
    assert study.trials[0].user_attrs["ecopt.measurement_sources"] == {"cpu:0": "estimate"}  # the plots' axis titles
    assert study.trials[0].params == {"model.width": 64, "model.depth": 2, "model.lr": 0.003, "data.batch_size": 64}

    front = json.loads((sweep / "pareto_front.json").read_text())["trials"]
    assert {row["trial"] for row in front} == {t.number for t in study.best_trials}
    for row in front:
        assert 0 < row["objectives"]["val_acc"] <= 1
        assert row["energy_per_sample_J"] > 0 and row["samples_per_J"] > 0
        assert row["energy_sources"] == {"cpu:0": "estimate"}  # each row names its source (first-hour audit)

    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["impact"]["baseline_trial"] == 0
    assert summary["sweep_energy"]["total_J"] > 0
    assert summary["sweep_energy"]["estimated_J"] == pytest.approx(summary["sweep_energy"]["total_J"])
    assert set(summary["impact"]["proxy_spearman"]) == {"params", "flops_per_sample", "runtime_per_sample_s"}
    with open(sweep / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {r["energy_sources"] for r in rows} == {"cpu:0=estimate"}
    report = (sweep / "energy_report.md").read_text()
    assert "ESTIMATED" in report and "cpu:0: estimate" in report and "## Tuning cost" in report
    assert (sweep / "pareto_front.png").read_bytes()[:4] == b"\x89PNG"
    # each job's EnergyCallback summary labels its source
    job_summary = next((sweep / "0").glob("**/energy_summary.json"))
    assert set(json.loads(job_summary.read_text())["sources"].values()) == {"estimate"}


def test_a_single_run_ends_with_its_result_and_where_its_files_are(tmp_path):
    """Regression (first-hour audit, 2026-11-28): ``python examples/train.py``, the "one training run" of
    conf/train.yaml, printed only warnings: no accuracy, no J/sample, no path."""
    run_dir = tmp_path / "one"
    cmd = [
        sys.executable, str(ROOT / "examples" / "train.py"), "trainer.max_epochs=1", "energy.repeats=6",
        "energy.max_repeats=6", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("val_acc=") and " energy/inference_per_sample_J=" in last, out.stdout
    assert last.endswith(f"; logs and energy_summary.json under {run_dir}")
    # its energy values carry their source: estimated on this machine (they read as measurements)
    assert " energy/total_J=" in last and "(energy: 100% ESTIMATED, not measured); logs" in last, last
    assert next(run_dir.glob("**/energy_summary.json")).is_file()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.width", 8.0),
        ("model.width", "abc"),
        ("model.depth", 1.5),
        ("model.depth", -1),
        ("data.batch_size", 16.0),
    ],
)
def test_a_non_integer_size_is_refused_in_one_line(key, value):
    """Regression: ``model.width=interval(8, 256)`` in a search gives floats; every trial failed with torch's
    ``empty(): argument 'size' ... must be tuple of ints`` (a string: ``'<' not supported``), naming no key."""
    from examples.digits import DigitsClassifier, DigitsDataModule

    group, name = key.split(".")
    build = DigitsClassifier if group == "model" else DigitsDataModule
    least = 0 if name == "depth" else 1
    with pytest.raises(ValueError, match=rf"^{key}={value!r} is not allowed: give an integer >= {least} \(in a search"):
        build(**{name: value})


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("lr", -1.0, "a learning rate > 0"),
        ("lr", "fast", "a learning rate > 0"),
        ("dropout", 2.0, r"a probability in \[0, 1\)"),
    ],
)
def test_a_bad_learning_rate_or_dropout_is_refused_in_one_line(key, value, allowed):
    """Regression: ``model.lr=-1`` passed the model's construction and the pre-training check, then Adam stopped
    the run in ``configure_optimizers`` with 'Invalid learning rate: -1'; ``model.dropout=2`` with torch's
    'dropout probability has to be between 0 and 1, but got 2': neither named its key."""
    from examples.digits import DigitsClassifier

    with pytest.raises(ValueError, match=rf"^model\.{key}={value!r} is not allowed: give {allowed}$"):
        DigitsClassifier(**{key: value})


def test_the_pre_training_check_runs_on_the_trainers_device(monkeypatch, tmp_path):
    """The check measured on the first CUDA device whatever the Trainer ran on (its default): with
    ``trainer.accelerator=cpu`` on a GPU machine, a CPU model was pruned by a GPU measurement (H6's audit). The
    main job now hands it the trainer's root device."""
    from hydra import compose, initialize_config_dir

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "examples"))
    monkeypatch.chdir(tmp_path)
    import train

    seen: list[object] = []
    monkeypatch.setattr(train, "check_before_training", lambda *a, **kw: seen.append(kw.get("device")))
    with initialize_config_dir(str(Path(__file__).parents[2] / "conf"), version_base=None):
        cfg = compose("train", ["trainer.max_epochs=1", "trainer.accelerator=cpu", "energy.inference_benchmark=false"])
    train.run(cfg)
    assert [str(d) for d in seen] == ["cpu"]


@pytest.mark.parametrize("value", ["flase", 0])
def test_an_inference_benchmark_that_is_not_true_or_false_is_refused(monkeypatch, tmp_path, value):
    """Regression: ``energy.inference_benchmark=flase`` (a string to Hydra, and any string is true) ran the
    benchmark it meant to turn off, with nothing said."""
    from hydra import compose, initialize_config_dir

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "examples"))
    monkeypatch.chdir(tmp_path)
    import train

    with initialize_config_dir(str(Path(__file__).parents[2] / "conf"), version_base=None):
        cfg = compose("train", ["trainer.max_epochs=1", f"energy.inference_benchmark={value}"])
    with pytest.raises(
        ValueError, match=rf"^energy\.inference_benchmark={value!r} is not allowed: give true or false \(null: off\)$"
    ):
        train.run(cfg)
    assert list(tmp_path.iterdir()) == []  # refused before anything trained
