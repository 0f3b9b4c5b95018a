"""The dead-worker watch on a journal file, where a claim's attributes are stored one by one: a worker killed
between them leaves a trial claimed without a heartbeat, which must still be failed (a worker that waited on it
hung in CI), and the sweeper writes the heartbeat before the claim."""

from __future__ import annotations

import json
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper import _optuna_compat as oc
from ecopt_lightning.sweeper._heartbeat import DeadTrialWatch
from ecopt_lightning.sweeper._schema import (
    BASELINE_ATTR,
    BEAT_ATTR,
    ENERGY_ATTR,
    ERROR_ATTR,
    JOB_DIR_ATTR,
    WORKER_ATTR,
)
from ecopt_lightning.sweeper._storage import open_storage, retry_callback

from .conftest import run_multirun

ELSEWHERE = {"host": "machine-a", "boot": "x", "pid": 1}  # another machine: no local pid check applies


class Clock:
    """A scripted clock (s): the watch's own timing moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _journal_study(tmp_path: Path, attrs: dict) -> optuna.Study:
    storage = open_storage(f"journal:///{tmp_path / 'study.log'}", heartbeat_interval_s=0)
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    trial = study.ask()
    for key, value in attrs.items():
        oc.storage(study).set_trial_user_attr(oc.trial_id(trial), key, value)
    return study


def test_a_trial_claimed_without_a_heartbeat_is_failed_after_two_intervals_of_the_watchers_clock(
    tmp_path: Path,
) -> None:
    study = _journal_study(tmp_path, {WORKER_ATTR: ELSEWHERE})
    clock = Clock()
    watch = DeadTrialWatch(interval_s=3600, max_retry=1, clock=clock)
    assert watch.fail_dead_trials(study) == []  # first seen now
    clock.now = 7200.0
    assert watch.fail_dead_trials(study) == []  # exactly two intervals: not yet
    clock.now = 7201.0
    assert watch.fail_dead_trials(study) == [0]
    dead = study.trials[0]
    assert dead.state == TrialState.FAIL
    why = "worker died: its worker claimed it but wrote no heartbeat for more than 7200 s"
    assert dead.user_attrs[ERROR_ATTR] == why
    assert [t.system_attrs.get("failed_trial") for t in study.trials[1:]] == [0]  # retried


def test_a_retry_carries_nothing_of_its_dead_run_but_the_baseline_flag(tmp_path: Path) -> None:
    # Optuna's retry copies every user attribute: the dead worker's record made the waiting retry, once asked by a
    # live worker and not yet claimed, look like the dead worker's trial (failed again), and a retry that died
    # without an energy summary kept the dead run's energy (counted twice in the sweep's energy)
    dead_run = {WORKER_ATTR: ELSEWHERE, BEAT_ATTR: 1.0, ENERGY_ATTR: 5.0, JOB_DIR_ATTR: str(tmp_path), "val_acc": 0.5}
    study = _journal_study(tmp_path, {BASELINE_ATTR: True, **dead_run})
    study.tell(study.trials[0].number, state=TrialState.FAIL)
    retry_callback(1)(study, study.trials[0])
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.user_attrs == {BASELINE_ATTR: True} and retry.params == study.trials[0].params
    assert retry.system_attrs["failed_trial"] == 0
    assert study.trials[0].user_attrs[ENERGY_ATTR] == 5.0  # the dead run keeps its own


def test_a_claimed_trial_with_a_fresh_heartbeat_is_left_running_however_long_the_watcher_waits(tmp_path: Path) -> None:
    study = _journal_study(tmp_path, {BEAT_ATTR: time.time(), WORKER_ATTR: ELSEWHERE})
    clock = Clock()
    watch = DeadTrialWatch(interval_s=3600, max_retry=0, clock=clock)
    assert watch.fail_dead_trials(study) == []
    clock.now = 1e6  # the watcher's clock never judges a trial that beats: its beat time does
    assert watch.fail_dead_trials(study) == []
    assert study.trials[0].state == TrialState.RUNNING


def test_the_sweeper_writes_the_heartbeat_before_the_claim_to_a_journal_file(tmp_path: Path) -> None:
    log = tmp_path / "shared" / "study.log"
    proc = run_multirun(
        tmp_path / "sweep",
        "width=choice(8,16)",
        f"hydra.sweeper.storage=journal:///{log}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.heartbeat_interval_s=60",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first: dict[tuple[int, str], int] = {}  # (trial id, attribute): the journal line that first sets it
    for line_no, line in enumerate(log.read_text().splitlines()):
        op = json.loads(line)
        for key in op.get("user_attr", {}) if "trial_id" in op else ():  # not the study's own attributes
            first.setdefault((op["trial_id"], key), line_no)
    for trial_id in (0, 1):
        assert first[(trial_id, BEAT_ATTR)] < first[(trial_id, WORKER_ATTR)], first


def _slow_beater(last_beat_s_ago: float, beat_s: int | None = 60) -> dict:
    """A claim by a worker elsewhere that beats every ``beat_s`` (None: a claim that does not say)."""
    who = {**ELSEWHERE, **({} if beat_s is None else {"beat_s": beat_s})}
    return {WORKER_ATTR: who, BEAT_ATTR: time.time() - last_beat_s_ago}


def test_a_worker_beating_slower_than_the_watcher_is_judged_by_its_own_interval_on_a_journal(tmp_path: Path) -> None:
    # a watcher started with heartbeat_interval_s=1 failed the live trials of a worker beating every 60 s (its last
    # beat 10 s ago, well within its interval), and that worker's results were lost
    watch = DeadTrialWatch(interval_s=1, max_retry=0)
    assert watch.fail_dead_trials(_journal_study(tmp_path / "a", _slow_beater(10))) == []
    old = _journal_study(tmp_path / "b", _slow_beater(10, beat_s=None))  # a claim that does not say: the watcher's
    assert watch.fail_dead_trials(old) == [0]
    # a worker run with heartbeat_interval_s=0 writes no beat: its claim is not taken for one cut short
    clock = Clock()
    silent = DeadTrialWatch(interval_s=1, max_retry=0, clock=clock)
    quiet = _journal_study(tmp_path / "q", {WORKER_ATTR: {**ELSEWHERE, "beat_s": 0}})
    assert silent.fail_dead_trials(quiet) == []
    clock.now = 3600.0
    assert silent.fail_dead_trials(quiet) == []
    assert not silent.judgeable(quiet.trials[0])  # on another machine: nothing tells, so a worker does not wait on it
    dead = _journal_study(tmp_path / "c", _slow_beater(130))
    assert watch.fail_dead_trials(dead) == [0]
    assert "stopped its heartbeat for more than 120 s" in dead.trials[0].user_attrs[ERROR_ATTR]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_worker_beating_slower_than_the_watcher_is_judged_by_its_own_interval_on_a_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "study.db"
    storage = open_storage(f"sqlite:///{path}", heartbeat_interval_s=1)
    study = optuna.create_study(storage=storage, directions=["maximize"])
    for _ in range(2):
        trial = study.ask()
        oc.storage(study).set_trial_user_attr(oc.trial_id(trial), WORKER_ATTR, {**ELSEWHERE, "beat_s": 60})
        storage.record_heartbeat(oc.trial_id(trial))
    with sqlite3.connect(path) as db:  # its last beats: 10 s ago (alive), 130 s ago (dead), on the database's clock
        for trial_id, ago in ((1, 10), (2, 130)):
            db.execute(
                "UPDATE trial_heartbeats SET heartbeat = datetime('now', ?) WHERE trial_id = ?",
                (f"-{ago} seconds", trial_id),
            )
    assert DeadTrialWatch(interval_s=1, max_retry=0).fail_dead_trials(study) == [1]
    assert study.trials[1].user_attrs[ERROR_ATTR] == "worker died: its worker stopped its heartbeat for more than 120 s"
    assert storage.grace_period is None  # the storage's own grace is left as it was
