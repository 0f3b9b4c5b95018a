"""The sweeper's own cost per trial (issue 14), bounded by construction instead of timed, on a whole sweep of
one-job batches (the counts: apps/counted.py):

- each batch reads the study's trials once (for its report; the next turn of the sweep loop starts from that
  read), so the dead-trial watch, the budget count, the pruned count and the clean-up of a batch add no read;
- a trial is read from the database once by ``ask`` and once by ``tell`` (Optuna 5; Optuna 4's ``tell`` reads
  it back after storing the state), never read back after the sweeper wrote it;
- a trial's attributes are written in two transactions: the claim (worker, overrides, job dir, first heartbeat)
  and the result (metrics, energy, constraints) just before ``tell``;
- Hydra composes one job's config for the sweep's set of keys: the others are built from it (``_compose``)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._compose import FULL_COMPOSE_ENV

from .conftest import isolated_env, run_multirun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def five_trials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The counts of a sweep of 5 trials with the defaults (heartbeats, reuse of the composed config), which two
    tests read: run once for the module."""
    folder = tmp_path_factory.mktemp("reads")
    return _counts(folder, 5, env=isolated_env(folder))


def _counts(tmp_path: Path, n_trials: int, *overrides: str, env: dict[str, str] | None = None) -> dict[str, int]:
    """apps/counted.py's counts for a whole sweep of ``n_trials`` one-job batches."""
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / f"counts-{n_trials}.json"
    proc = run_multirun(
        tmp_path / f"sweep-{n_trials}",
        "width=choice(8,16,32)",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.n_trials={n_trials}",
        *overrides,
        app="counted.py",
        env={"ECOPT_TEST_TRIAL_READS": str(out), **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_each_batch_reads_the_studys_trials_once(tmp_path: Path, five_trials: dict[str, int]) -> None:
    # no heartbeat thread: nothing but the loop itself acts
    short, long = _counts(tmp_path, 2, "hydra.sweeper.heartbeat_interval_s=0"), five_trials
    assert long["get_trials"] - short["get_trials"] <= 5 - 2  # three more one-job batches, one read each (were 6)


def test_each_trial_is_read_twice_and_its_attributes_written_twice(tmp_path: Path) -> None:
    # heartbeats on (their first beat is part of the claim; the next comes after 60 s, long after these jobs) and
    # a constraint (stored as a system attribute too, for Optuna 4): neither adds a write
    on = ("hydra.sweeper.heartbeat_interval_s=60", "hydra.sweeper.constraints=['energy/total_J <= 100']")
    short, long = _counts(tmp_path, 2, *on), _counts(tmp_path, 5, *on)
    extra = 5 - 2
    # ask and tell; Study.tell's read for its return value was a third (Optuna 4's tell reads it back inside)
    reads = 2 if int(optuna.__version__.split(".")[0]) >= 5 else 3
    assert long["trial_reads"] - short["trial_reads"] == reads * extra
    # the claim, job dir and first heartbeat were three transactions and a constraint a fifth
    assert long["attr_writes"] - short["attr_writes"] == 2 * extra


def test_hydra_composes_one_job_config_for_the_sweeps_keys(tmp_path: Path, five_trials: dict[str, int]) -> None:
    # the sweep's first composition checks the space's keys (before the study exists); each job sets width and
    # is built from that config
    assert five_trials["composes"] == 1
    # the count sees every composition: with reuse off, the check and each job's (it was twice each, issue 14)
    assert _counts(tmp_path / "full", 5, env={FULL_COMPOSE_ENV: "1"})["composes"] == 1 + 5
