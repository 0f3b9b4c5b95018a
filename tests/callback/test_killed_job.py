"""A job killed mid-training (SIGKILL: no hook runs) keeps the energy measured up to its last epoch end: the
summary is written atomically at every training epoch end, saying it is partial."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.sweeper._jobinfo import read_job
from tests.callback.killed_fit import EPOCHS, JOULES_PER_STEP

from .helpers import make_trainer
from .models import TinyModel

ROOT = Path(__file__).resolve().parents[2]
STEPS_PER_EPOCH = 8  # TinyModel's training set: 64 samples in batches of 8


def _killed_fit(folder: Path, *args: int) -> None:
    """tests/callback/killed_fit.py with ``args`` (the step it is killed at, the set-up's J), SIGKILLed there."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.callback.killed_fit", str(folder), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def test_a_job_killed_in_its_third_epoch_keeps_the_energy_of_the_first_two(tmp_path: Path) -> None:
    kill_at = 2 * STEPS_PER_EPOCH + 3  # three steps into the third epoch
    _killed_fit(tmp_path, kill_at)

    summary = json.loads((tmp_path / "energy_summary.json").read_text())
    assert summary["status"] == "running fit" and summary["partial"] is True
    assert summary["progress"] == {"epochs": 2, "steps": 2 * STEPS_PER_EPOCH} and EPOCHS > 2
    train = summary["phases"]["train"]
    assert train["steps"] == 2 * STEPS_PER_EPOCH and train["samples"] == 2 * STEPS_PER_EPOCH * 8
    # the meter moved only in training steps: the two epochs' steps, nothing of the third
    assert train["energy_J"] == pytest.approx(2 * STEPS_PER_EPOCH * JOULES_PER_STEP)
    assert summary["total_J"] == pytest.approx(2 * STEPS_PER_EPOCH * JOULES_PER_STEP)
    assert summary["sources"] == {"cpu:0": "rapl", "dram:0": "rapl"}
    assert not list(tmp_path.glob("*.tmp"))  # every write was whole: no temporary file left

    # the sweeper reads it as a dead job's energy, marked degraded
    job = read_job(str(tmp_path))
    assert job.energy_J == pytest.approx(summary["total_J"])
    said = "partial: the job ended while 'running fit'; energy counted up to epoch 2 (step 16) only"
    assert said in job.degraded


def test_a_job_killed_in_its_first_epoch_keeps_the_energy_of_its_set_up(tmp_path: Path) -> None:
    """Regression (tuning-cost audit, 2026-11-30): a job killed before its first epoch end (out of memory in a long
    first epoch) left no summary: the summary was first written at that epoch's end, so the energy its set-up, idle
    baseline and sanity check had spent was in no sweep total. The summary is now written at the training's start."""
    _killed_fit(tmp_path, 3, 25)
    summary = json.loads((tmp_path / "energy_summary.json").read_text())
    assert summary["status"] == "running fit" and summary["partial"] is True
    assert summary["progress"] == {"epochs": 0, "steps": 0}
    assert summary["total_J"] == pytest.approx(25.0) and summary["no_energy"] is None
    job = read_job(str(tmp_path))
    assert job.energy_J == pytest.approx(25.0)
    assert "partial: the job ended while 'running fit'; energy counted up to epoch 0 (step 0) only" in job.degraded


def test_a_finished_fit_is_not_partial(tmp_path: Path) -> None:
    path = tmp_path / "energy_summary.json"
    trainer = make_trainer(tmp_path, [EnergyCallback(cpu="estimate", proxies=False, summary_path=path)], False)
    trainer.fit(TinyModel())
    summary = json.loads(path.read_text())
    assert summary["status"] == "finished fit" and summary["partial"] is False
    assert summary["progress"] == {"epochs": 1, "steps": STEPS_PER_EPOCH}
    assert not any(d.startswith("partial") for d in read_job(str(tmp_path)).degraded)
