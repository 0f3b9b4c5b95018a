"""Several sweeper processes on one study (PostgreSQL, or an Optuna journal file): one shared budget, no trial
run twice, artifacts of every worker covering all trials; a worker killed mid-trial is detected through its
heartbeat and its trial run again by the other worker."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.cli import main as ecopt_main
from ecopt_lightning.sweeper._budget import OVER_BUDGET_ERROR
from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._sweep_report import late_runs
from tests.guards import SUBPROCESS_S, wait_for

from .conftest import check_artifacts, finish, run, start

pytestmark = pytest.mark.slow
SPACE = ("width=choice(8,16,32,64)", "lr=tag(log, interval(1e-4, 1e-1))", "hydra.sweeper.sampler=random")


@pytest.fixture(params=["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request, tmp_path: Path) -> str:
    if request.param == "journal":
        return f"journal:///{tmp_path / 'shared' / 'study.log'}"
    return request.getfixturevalue("postgres_url")


def _load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat_interval_s=0))


def _claimed(url: str, name: str) -> bool:
    """A RUNNING trial whose worker has recorded itself and its parameters (asked, claimed, launched)."""
    try:
        return any(
            t.state == TrialState.RUNNING and t.params and "ecopt.worker" in t.user_attrs
            for t in _load(url, name).trials
        )
    except Exception:  # the study or the file does not exist yet
        return False


def test_two_workers_share_one_budget(tmp_path: Path, storage: str, study_name: str) -> None:
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    # each worker's first trial waits for the other's (an event, not a time), so both run trials however fast
    # either starts; no worker dies here, so a long heartbeat interval rules out a live one taken for dead
    common += ("hydra.sweeper.n_trials=8", "hydra.sweeper.heartbeat_interval_s=3600", f"meet_dir={tmp_path / 'met'}")
    workers = [start(tmp_path / f"w{i}", *common, f"hydra.sweeper.seed={i}") for i in range(2)]
    for i, proc in enumerate(workers):
        assert finish(proc, tmp_path / f"w{i}") == 0, Path(f"{tmp_path / f'w{i}'}.log").read_text()

    study = _load(storage, study_name)
    # both workers may count the last trial missing at once and each ask one: the later is told FAIL, never run
    # (ecopt_lightning.sweeper._budget); CI saw it once with the journal storage
    surplus = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    for t in surplus:
        assert t.user_attrs["ecopt.error"] == OVER_BUDGET_ERROR and "ecopt.job_dir" not in t.user_attrs
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(trials) == 8 == len(study.trials) - len(surplus)
    job_dirs = [t.user_attrs["ecopt.job_dir"] for t in trials]
    assert len(set(job_dirs)) == 8  # each trial ran once, in one worker's sweep dir
    ran = sorted(p for w in ("w0", "w1") for p in (tmp_path / w).iterdir() if p.is_dir() and p.name.isdigit())
    assert len(ran) == 8
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == 8  # no duplicate parameters
    pids = {t.user_attrs["ecopt.worker"]["pid"] for t in trials}
    assert len(pids) == 2, "both workers should have run trials"

    expected = {t.number for t in study.best_trials}
    for w in ("w0", "w1"):  # the artifacts of either worker cover all trials of both
        summary = check_artifacts(tmp_path / w)
        # a worker that ends first may see the other's surplus trial still RUNNING, before it was told FAIL
        others = {k: v for k, v in summary["states"].items() if k != "COMPLETE"}
        assert summary["states"]["COMPLETE"] == 8 and set(others) <= {"RUNNING", "FAIL"}
        assert summary["n_trials"] - 8 == sum(others.values()) <= len(surplus)
        front = json.loads((tmp_path / w / "pareto_front.json").read_text())["trials"]
        assert {r["trial"] for r in front} == expected


def test_a_killed_worker_is_failed_by_heartbeat_and_its_trial_retried(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    common += ("hydra.sweeper.heartbeat_interval_s=1", "hydra.sweeper.n_trials=3")
    # worker A claims another host, so only its heartbeat can tell it died (no local pid check)
    a = start(tmp_path / "a", *common, "sleep_s=60", env={"ECOPT_WORKER_HOST": "machine-a"})
    try:
        # not merely RUNNING: a kill between ask and the worker's first record leaves nothing to detect it by
        wait_for(lambda: _claimed(storage, study_name), what="worker A's first trial")
    except Exception:
        a.kill()
        raise
    a.send_signal(signal.SIGKILL)
    a.wait()
    victim = _load(storage, study_name).trials[0]
    assert victim.state == TrialState.RUNNING

    b = start(tmp_path / "b", *common, "hydra.sweeper.seed=1", "sleep_s=0.1")
    assert finish(b, tmp_path / "b") == 0, Path(f"{tmp_path / 'b'}.log").read_text()
    trials = _load(storage, study_name).trials
    dead = trials[0]
    assert dead.state == TrialState.FAIL
    assert dead.user_attrs["ecopt.error"].startswith("worker died: its worker stopped its heartbeat")
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == dead.params and retried[0].user_attrs.get("ecopt.error") is None
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    log = Path(f"{tmp_path / 'b'}.log").read_text()
    assert f"trial {dead.number} marked FAIL" in log


def test_a_worker_killed_before_claiming_its_trial_is_detected(tmp_path: Path, storage: str, study_name: str) -> None:
    # killed between ask and its first record: no worker, no heartbeat, nothing but a RUNNING trial; the lone
    # worker that runs next fails it at once (its asker is a dead process here), without waiting 2 x 60 s
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    common += ("hydra.sweeper.heartbeat_interval_s=60", "hydra.sweeper.n_trials=3")
    a = run(tmp_path / "a", *common, env={"ECOPT_CRASH_AT": "before_claim"})
    assert a.returncode == -signal.SIGKILL, a.stdout + a.stderr
    orphan = _load(storage, study_name).trials[0]
    assert orphan.state == TrialState.RUNNING and "ecopt.worker" not in orphan.user_attrs
    (a_pid,) = [w["pid"] for k, w in _load(storage, study_name).user_attrs.items() if k.startswith("ecopt.asker.")]

    b = run(tmp_path / "b", *common, "hydra.sweeper.seed=1", "sleep_s=0.1")
    assert b.returncode == 0, b.stdout + b.stderr
    trials = _load(storage, study_name).trials
    assert trials[0].state == TrialState.FAIL
    gone = f"every other process asking trials of this study is gone (pid {a_pid})"
    assert trials[0].user_attrs["ecopt.error"] == f"worker died: no worker claimed it, and {gone}"
    assert "waiting" not in b.stdout + b.stderr and "other workers" not in b.stdout + b.stderr
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE and retried[0].params == orphan.params
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


def _open_after(barrier: Any, url: str, results: Any) -> None:
    barrier.wait()  # every process opens the new database at the same moment
    try:
        open_storage(url, heartbeat_interval_s=60)
        results.put("ok")
    except Exception as exc:
        results.put(str(exc))


def test_workers_starting_at_once_on_a_new_sqlite_file_all_open_it(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(3):  # each round a new file, four processes creating Optuna's tables at once
        url = f"sqlite:///{tmp_path / f'new{round_}.db'}"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_after, args=(barrier, url, results)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=SUBPROCESS_S)
        assert [results.get(timeout=10) for _ in procs] == ["ok"] * 4


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def _run_while_paused(
    tmp_path: Path, paused: tuple[str, ...], point: str, what: str, other: tuple[str, ...], names: str = "ab"
) -> tuple[int, str, str]:
    """Start worker ``names[0]`` with ``paused`` overrides, paused (SIGSTOP) at the crash point ``point``; while it is
    paused, run worker ``names[1]`` with ``other`` to its end; resume the first and wait for it. Both must exit 0.
    Returns the first worker's pid and log, and the second's output."""
    first = start(tmp_path / names[0], *paused, env={"ECOPT_CRASH_AT": point, "ECOPT_CRASH_SIGNAL": "STOP"})
    try:
        wait_for(lambda: _stopped(first.pid), what=what)
        second = run(tmp_path / names[1], *other)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 0, second.stdout + second.stderr
    log = Path(f"{tmp_path / names[0]}.log")
    assert finish(first, tmp_path / names[0]) == 0, log.read_text()
    return first.pid, log.read_text(), second.stdout + second.stderr


def test_two_workers_counting_the_budget_at_once_do_not_overshoot_it(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    # no worker dies here: an interval of an hour rules out a live (or paused) one taken for dead on a slow machine
    common += ("hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=3", "hydra.sweeper.heartbeat_interval_s=3600")
    # worker A counts 4 missing trials and is paused before it asks; B then asks its batch of 3; A goes on and
    # asks 3 more, as if both had counted at the same moment. B's jobs wait until A has asked (they slept 0.5 s
    # each: an A slower than B's batch to ask found B's 4th trial asked first, and 3 of its own over budget)
    met = tmp_path / "met"
    a = start(tmp_path / "a", *common, env={"ECOPT_CRASH_AT": "before_ask:1", "ECOPT_CRASH_SIGNAL": "STOP"})
    try:
        wait_for(lambda: _stopped(a.pid), what="worker A paused before asking")
        b = start(tmp_path / "b", *common, "hydra.sweeper.seed=1", f"meet_dir={met}", "meet_n=2")
        wait_for(lambda: len(_load(storage, study_name).trials) >= 3, what="worker B's batch")
        a.send_signal(signal.SIGCONT)
        wait_for(lambda: len(_load(storage, study_name).trials) >= 6, what="worker A's batch")
    finally:
        a.send_signal(signal.SIGCONT)
        met.mkdir(exist_ok=True)
        (met / "test").touch()  # B's jobs go on
    assert finish(a, tmp_path / "a") == 0, Path(f"{tmp_path / 'a'}.log").read_text()
    assert finish(b, tmp_path / "b") == 0, Path(f"{tmp_path / 'b'}.log").read_text()
    trials = _load(storage, study_name).trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4, [(t.number, t.state.name) for t in trials]
    surplus = [t for t in trials if t.state == TrialState.FAIL]
    assert len(surplus) == 2 and all(t.user_attrs["ecopt.error"].startswith("not run: over budget") for t in surplus)


def test_a_retry_asked_by_a_live_worker_is_not_taken_for_the_dead_workers_trial(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    # A dies during its trial; B fails it and asks its retry, and is paused before claiming it; C then looks at the
    # study: the retry must not carry A's worker record (Optuna's retry copies every user attribute), else C fails it
    # as A's ("its worker (pid A) died"), the dead trial's parameters are never run, and B's claim is refused.
    # A dead process is seen at once; an unclaimed trial of a live worker only after twice the interval on C's clock:
    # an interval of an hour keeps C, however slow the machine, from taking paused B's retry for a dead worker's
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    common += ("hydra.sweeper.heartbeat_interval_s=3600", "hydra.sweeper.n_trials=3")
    died = f"die_marker={tmp_path / 'died'}"
    a = run(tmp_path / "a", *common, died)
    assert a.returncode == -signal.SIGKILL, a.stdout + a.stderr
    # C runs the trials still missing and, not waiting for B's (B is paused), ends
    c_ran = ("hydra.sweeper.seed=2", "hydra.sweeper.wait_for_running=false")
    what = "worker B paused with the retry asked, not claimed"
    b_pid, _, c_out = _run_while_paused(
        tmp_path, (*common, died, "hydra.sweeper.seed=1"), "before_claim:1", what, (*common, *c_ran), names="bc"
    )
    trials = _load(storage, study_name).trials
    dead = trials[0]
    assert dead.state == TrialState.FAIL and "its worker (pid" in dead.user_attrs["ecopt.error"]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params, retry.user_attrs.get("ecopt.error")
    assert retry.user_attrs["ecopt.worker"]["pid"] == b_pid
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [dead.number]
    assert "marked FAIL" not in c_out


def test_a_worker_paused_past_its_heartbeat_goes_on_when_its_trial_was_failed_meanwhile(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    # A is paused (SIGSTOP, as SLURM's suspend does) with its trial claimed; B fails the trial for its stale heartbeat
    # and runs it again; A, resumed, finishes its job: its result comes too late to be stored, which A says, and it
    # goes on (it crashed with UpdateFinishedTrialError)
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    common += ("hydra.sweeper.heartbeat_interval_s=1", "hydra.sweeper.n_trials=2")
    what = "worker A paused with its trial claimed"
    _, log, _ = _run_while_paused(tmp_path, common, "after_ask:1", what, (*common, "hydra.sweeper.seed=1"))
    trials = _load(storage, study_name).trials
    late = trials[0]
    assert late.state == TrialState.FAIL and "stopped its heartbeat" in late.user_attrs["ecopt.error"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert retry.state == TrialState.COMPLETE and retry.params == late.params
    assert "trial 0: result not stored: another worker marked the trial FAIL" in log and "Traceback" not in log
    # a finished trial takes no attribute: the run's energy beyond what its failed trial holds is a late run of the
    # study, counted in the sweep's energy (A's summary is written after it; B's before)
    (extra,) = re.findall(r"J, ([0-9.e+-]+) J more than its failed trial holds: counted in the sweep", log)
    assert late_runs(_load(storage, study_name).user_attrs)["0"]["energy_J"] == pytest.approx(float(extra), rel=1e-3)
    a_energy, b_energy = (check_artifacts(tmp_path / w)["sweep_energy"] for w in "ab")
    assert a_energy["sources"]["late result, not stored"] == 1
    assert a_energy["total_J"] - b_energy["total_J"] == pytest.approx(float(extra), rel=1e-3, abs=1e-9)
    out = tmp_path / "report"  # `ecopt report`, from the storage alone, counts it too
    assert ecopt_main(["report", "--storage", storage, "--study", study_name, "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["sweep_energy"]["total_J"] == a_energy["total_J"]


def test_a_result_saved_before_its_worker_was_paused_is_stored_once_by_the_watcher(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    # A's job finishes and saves its result; A is paused before storing it; B takes A for dead (stale heartbeat) and
    # stores that saved result instead of failing and retrying the trial; A, resumed, finds it stored and says so
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    common += ("hydra.sweeper.heartbeat_interval_s=1", "hydra.sweeper.n_trials=2")
    what = "worker A paused with its job's result saved, not stored"
    _, log, _ = _run_while_paused(tmp_path, common, "before_tell:1", what, (*common, "hydra.sweeper.seed=1"))
    trials = _load(storage, study_name).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [t.user_attrs.get("ecopt.error") for t in trials]
    assert not [t for t in trials if t.system_attrs.get("failed_trial") is not None]  # nothing trained twice
    assert "trial 0: its result is already stored: another worker took this one for dead" in log, log
    assert "result not stored" not in log and "Traceback" not in log


def test_a_worker_paused_between_ask_and_claim_goes_on_when_its_trial_was_failed_meanwhile(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    # A asks its trial and is paused before claiming it; B waits for that unclaimed trial for 2 heartbeat intervals
    # (A is alive), fails and retries it. A, resumed, finds its claim refused: it says so and goes on (it crashed
    # with UpdateFinishedTrialError), and the budget is met once
    common = (*SPACE, f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study_name}")
    common += ("hydra.sweeper.heartbeat_interval_s=1", "hydra.sweeper.n_trials=1")
    what = "worker A paused with its trial asked, not claimed"
    _, log, _ = _run_while_paused(tmp_path, common, "before_claim:1", what, (*common, "hydra.sweeper.seed=1"))
    trials = _load(storage, study_name).trials
    assert trials[0].state == TrialState.FAIL and "no worker claimed it" in trials[0].user_attrs["ecopt.error"]
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE] and trials[1].params == trials[0].params
    assert "another worker failed a trial of this batch before this worker claimed it" in log, log
    assert "Traceback" not in log


def test_a_worker_whose_first_batch_lies_wholly_beyond_the_budget_goes_on_under_the_auto_sampler(
    tmp_path: Path, storage: str, study_name: str
) -> None:
    # A counts 2 missing trials and is paused before it asks; B asks and runs both; A's batch is wholly beyond the
    # budget and not run. Under sampler=auto (the default) A then judged the speed of a batch it never launched and
    # crashed (AttributeError: no _batch_seconds)
    common = (
        "width=choice(8,16,32,64)",
        "lr=tag(log, interval(1e-4, 1e-1))",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweeper.study_name={study_name}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.heartbeat_interval_s=3600",  # no worker dies here (see above)
    )
    _run_while_paused(
        tmp_path, common, "before_ask:1", "worker A paused before asking", (*common, "hydra.sweeper.seed=1")
    )
    trials = _load(storage, study_name).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] * 2
    assert all(t.user_attrs["ecopt.error"] == OVER_BUDGET_ERROR for t in trials[2:])
    assert check_artifacts(tmp_path / "a")["states"] == {"COMPLETE": 2, "FAIL": 2}
