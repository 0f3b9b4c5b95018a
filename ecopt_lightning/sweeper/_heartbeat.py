"""Dead workers: heartbeats for trials run through ask/tell, and failing (then retrying) the trials of workers
that died.

Optuna records heartbeats only inside ``Study.optimize``; the sweeper asks and tells, so it beats itself:

- database storages created with ``heartbeat_interval``: :meth:`RDBStorage.record_heartbeat`;
- other storages (an Optuna journal file): the trial attribute ``ecopt.heartbeat_at`` (Unix time, s).

Each trial also records its worker (``ecopt.worker``: host, boot id, pid, heartbeat interval ``beat_s``).
:class:`DeadTrialWatch` marks a RUNNING trial FAIL when its worker is a dead process on this machine (seen at once,
unless the trial's job process runs on here: :func:`orphan_job`), when its heartbeat is older than twice the
interval (the longer of the watcher's and the worker's; any machine), or when no worker ever claimed it (a worker
killed between ``ask`` and its first record): at once when every other process that asks trials of the study is a
dead process on this machine, else after twice the interval on the watcher's own clock (no cross-machine clock
compared). A trial claimed without a heartbeat attribute (a worker killed between the claim's writes, which a
journal file stores one by one) is judged on the watcher's clock too. With ``max_retry`` a failed trial is enqueued
again with the same parameters (:class:`optuna.storages.RetryFailedTrialCallback`), so another worker runs it.

Example:
    >>> import optuna
    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> from ecopt_lightning.sweeper import _optuna_compat as oc
    >>> with Heartbeat(oc.storage(study), [oc.trial_id(trial)], interval_s=60):  # journal-style: an attribute
    ...     pass
    >>> "ecopt.heartbeat_at" in study.trials[0].user_attrs
    True
    >>> watch = DeadTrialWatch(interval_s=60, max_retry=0)
    >>> watch.fail_dead_trials(study)  # this process is alive: nothing failed
    []
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import optuna
from optuna.trial import TrialState

from . import _optuna_compat as compat
from ._launch import JOB_FILE, job_process, job_result, this_machine
from ._lost_jobs import dead_job_energy
from ._schema import ASKER_PREFIX, BEAT_ATTR, ERROR_ATTR, JOB_DIR_ATTR, WORKER_ATTR
from ._storage import error_line, retry_callback

log = logging.getLogger(__name__)


def worker() -> dict[str, Any]:
    """This process as a worker: host (``$ECOPT_WORKER_HOST`` overrides it), kernel boot id and pid."""
    return {**this_machine(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def announce_asker(study: optuna.Study) -> None:
    """Record on the study that this process asks trials of it, before its first ``ask``: an unclaimed trial
    whose every possible asker is gone was left by a dead one, and is failed at once (:class:`DeadTrialWatch`)."""
    me = worker()
    study.set_user_attr(f"{ASKER_PREFIX}{me['host']}:{me['boot']}:{me['pid']}", me)


def on_this_machine(who: Mapping[str, Any]) -> bool:
    """Whether the worker record ``who`` (``host``, ``boot``) is of this machine since its last boot, where its pid
    can be checked."""
    me = worker()
    return who.get("host") == me["host"] and who.get("boot") == me["boot"]


def beats_never(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial``'s worker runs without heartbeat (``beat_s`` 0 in its claim): silence says nothing of it."""
    owner = trial.user_attrs.get(WORKER_ATTR)
    return isinstance(owner, dict) and owner.get("beat_s") == 0


def askers_gone(study: optuna.Study) -> list[dict[str, Any]] | None:
    """The study's other askers when every one is a dead process on this machine; ``None`` when there is none
    or one may live (alive here, or on another machine, which this process cannot check)."""
    me = worker()
    gone = []
    for key, who in study.user_attrs.items():
        if not key.startswith(ASKER_PREFIX) or not isinstance(who, dict) or who.get("pid") == me["pid"]:
            continue
        pid = who.get("pid")
        if not (on_this_machine(who) and isinstance(pid, int) and not _alive(pid)):
            return None
        gone.append(who)
    return gone or None  # none recorded (a trial asked outside the sweeper): nothing to tell


def native(storage: Any) -> bool:
    """Whether ``storage`` keeps Optuna heartbeats itself (an RDBStorage made with ``heartbeat_interval``)."""
    check = getattr(storage, "get_heartbeat_interval", None)
    return callable(check) and check() is not None


def first_beat(storage: Any, interval_s: float) -> tuple[dict[str, Any], bool]:
    """The first heartbeat of a trial as part of another write (:func:`._optuna_compat.write_trials`): the user
    attributes to add (journal-style storages) and whether to record an Optuna heartbeat (RDB storages)."""
    if interval_s <= 0:
        return {}, False
    if native(storage):
        return {}, True
    return {BEAT_ATTR: time.time()}, False


class Heartbeat:
    """Beat for ``trial_ids`` now (unless ``beat_now`` is false: the caller wrote the first beat, see
    :func:`first_beat`) and then every ``interval_s`` seconds while the ``with`` block runs.

    ``interval_s = 0`` disables it.
    """

    def __init__(self, storage: Any, trial_ids: Sequence[int], interval_s: float, beat_now: bool = True) -> None:
        self._storage = storage
        self._ids = list(trial_ids)
        self._interval = interval_s
        self._beat_now = beat_now
        self._native = native(storage)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Record one heartbeat for every trial (errors are logged: a missed beat is not fatal)."""
        for trial_id in self._ids:
            try:
                if self._native:
                    self._storage.record_heartbeat(trial_id)
                else:
                    self._storage.set_trial_user_attr(trial_id, BEAT_ATTR, time.time())
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # failed by another worker that thought we were dead
            except Exception as exc:
                log.warning("ecopt: heartbeat of trial id %s failed: %s", trial_id, error_line(exc))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()

    def __enter__(self) -> Heartbeat:
        if self._interval > 0:
            if self._beat_now:
                self.beat()
            self._thread = threading.Thread(target=self._run, name="ecopt-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def beat_interval(trial: optuna.trial.FrozenTrial, interval_s: float) -> float:
    """The heartbeat interval (s) ``trial`` is judged by: its worker's own (``beat_s`` in its claim) when longer
    than the watcher's ``interval_s``, since a worker beating every 60 s is not dead after a watcher's 2 x 1 s."""
    owner = trial.user_attrs.get(WORKER_ATTR) or {}
    beat_s = owner.get("beat_s") if isinstance(owner, dict) else None
    return max(interval_s, beat_s) if isinstance(beat_s, (int, float)) and not isinstance(beat_s, bool) else interval_s


def _started_by(pid: int, when: float) -> bool:
    """Whether process ``pid`` was started by ``when`` (Unix time), so it is not a later process given a freed pid;
    ``True`` where ``/proc`` cannot tell."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        stat = Path("/proc/stat").read_text().splitlines()
        boot = next(float(line.split()[1]) for line in stat if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return True
    return boot + ticks / os.sysconf("SC_CLK_TCK") <= when + 1.0  # btime is whole seconds


def orphan_job(trial: optuna.trial.FrozenTrial) -> int | None:
    """The pid of ``trial``'s job process when it runs on here, its result not yet saved, after its worker died:
    a launcher's job process (a joblib loky worker, a submitit local job) outlives the sweeper killed above it,
    and its result is stored once it ends (the watch's ``salvage``); ``None`` otherwise."""
    job_dir = trial.user_attrs.get(JOB_DIR_ATTR)
    job = job_process(job_dir)
    pid = job.get("pid")
    if not (isinstance(pid, int) and on_this_machine(job) and _alive(pid)) or job_result(job_dir) is not None:
        return None
    try:
        written = os.stat(Path(str(job_dir)) / JOB_FILE).st_mtime
    except OSError:
        return None
    return pid if _started_by(pid, written) else None


def _why_dead(
    trial: optuna.trial.FrozenTrial, interval_s: float, now: float, stale: dict[float, set[int]], said: set[int]
) -> str | None:
    me = worker()
    owner = trial.user_attrs.get(WORKER_ATTR) or {}
    pid = owner.get("pid")
    if on_this_machine(owner) and isinstance(pid, int) and pid != me["pid"] and not _alive(pid):
        job_pid = orphan_job(trial)
        if job_pid is None:
            return f"its worker (pid {pid} on {me['host']}) died"
        if trial.number not in said:  # its heartbeat stopped with the worker: the job's own end decides
            said.add(trial.number)
            log.info(
                "ecopt: trial %d: its worker (pid %d) died but its job (pid %d) runs on: its result is stored when "
                "it ends (end that process to have the trial failed and run again)",
                trial.number,
                pid,
                job_pid,
            )
        return None
    if interval_s <= 0:
        return None
    interval_s = beat_interval(trial, interval_s)
    if compat.trial_id(trial) in stale.get(interval_s, set()):
        return f"its worker stopped its heartbeat for more than {2 * interval_s:g} s"
    beat = trial.user_attrs.get(BEAT_ATTR)
    if isinstance(beat, (int, float)) and now - beat > 2 * interval_s:
        return f"its worker stopped its heartbeat for more than {2 * interval_s:g} s (last {now - beat:.0f} s ago)"
    return None


class DeadTrialWatch:
    """Finds RUNNING trials whose worker died, fails them and retries them; one per sweeper process.

    A RUNNING trial that no worker has claimed (no ``ecopt.worker`` record) was left by a worker killed
    between ``ask`` and its first record, or is being claimed right now. When every other process that asks
    trials of the study (:func:`announce_asker`) is a dead process on this machine, it is failed at once.
    Otherwise the watch remembers when it first saw the trial: unclaimed for ``2 * interval_s`` seconds of
    this process's monotonic clock means dead; a timestamp written by another machine is never compared
    with this one's clock. A trial claimed on a storage without native heartbeats but carrying no
    ``ecopt.heartbeat_at`` (its worker died between the claim's attribute writes) is timed the same way.

    Args:
        interval_s: the heartbeat interval (s); 0 turns off every check but the local dead-pid one.
        max_retry: times a failed trial is enqueued again with the same parameters.
        clock: this process's clock (s) for the trials it times itself; tests pass a scripted one.
    """

    def __init__(self, interval_s: float, max_retry: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.max_retry = max_retry
        self._clock = clock
        self._silent_since: dict[int, float] = {}
        self._orphans_said: set[int] = set()

    def judgeable(self, trial: optuna.trial.FrozenTrial) -> bool:
        """Whether this watch can tell if ``trial``'s worker died (worth waiting for, rather than leaving): a worker
        run without heartbeat only by its pid, on this machine."""
        if beats_never(trial):
            return on_this_machine(trial.user_attrs[WORKER_ATTR])
        return WORKER_ATTR in trial.user_attrs or self.interval_s > 0

    def _why_silent_dead(
        self, trial: optuna.trial.FrozenTrial, clock: float, gone: list[dict[str, Any]] | None, beats: bool
    ) -> str | None:
        """Why a trial that has said nothing to judge it by (unclaimed, or claimed without a heartbeat attribute
        where ``beats`` says there should be one) is dead; ``None`` while it may still be written."""
        claimed = WORKER_ATTR in trial.user_attrs
        if claimed and (beats_never(trial) or not (beats and BEAT_ATTR not in trial.user_attrs)):
            self._silent_since.pop(compat.trial_id(trial), None)
            return None
        if not claimed and gone is not None:
            pids = ", ".join(str(w.get("pid")) for w in gone)
            return f"no worker claimed it, and every other process asking trials of this study is gone (pid {pids})"
        if self.interval_s <= 0:
            return None
        since = self._silent_since.setdefault(compat.trial_id(trial), clock)
        if clock - since <= 2 * self.interval_s:
            return None
        if claimed:
            return f"its worker claimed it but wrote no heartbeat for more than {2 * self.interval_s:g} s"
        return f"no worker claimed it for more than {2 * self.interval_s:g} s (its worker died right after ask)"

    def fail_dead_trials(
        self,
        study: optuna.Study,
        trials: Sequence[optuna.trial.FrozenTrial] | None = None,
        salvage: Callable[[optuna.trial.FrozenTrial], bool] | None = None,
    ) -> list[int]:
        """Mark RUNNING trials of dead workers FAIL (reason in ``ecopt.error``); retry each up to ``max_retry``
        times. Returns the numbers of the trials finished by this call (failed, or salvaged).

        ``trials``: the study's trials as the caller has just read them (saves a read; a trial that finished
        since then refuses the FAIL, as one failed by another worker does); ``None``: read here. ``salvage``:
        called first with each dead worker's trial; ``True`` when it stored the trial's result itself (its job
        finished and saved one before the worker died), and the trial is then neither failed nor retried."""
        store = compat.storage(study)
        interval_s = self.interval_s
        if trials is None:
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        else:
            running = [t for t in trials if t.state == TrialState.RUNNING]
        stale: dict[float, set[int]] = {}  # per heartbeat interval judged by (the watcher's, or a slower worker's)
        if native(store) and interval_s > 0:
            for judged_s in {beat_interval(t, interval_s) for t in running}:
                stale[judged_s] = compat.stale_trial_ids(study, grace_s=2 * judged_s)
        ids = {compat.trial_id(t) for t in running}
        self._silent_since = {k: v for k, v in self._silent_since.items() if k in ids}
        beats = interval_s > 0 and not native(store)  # journal-style: every claim carries ecopt.heartbeat_at
        retry = retry_callback(self.max_retry)
        failed: list[int] = []
        now, clock = time.time(), self._clock()
        unclaimed = any(WORKER_ATTR not in t.user_attrs for t in running)
        gone = askers_gone(study) if unclaimed else None
        for trial in running:
            reason = _why_dead(trial, interval_s, now, stale, self._orphans_said) or self._why_silent_dead(
                trial, clock, gone, beats
            )
            if reason is None:
                continue
            if salvage is not None and salvage(trial):
                failed.append(trial.number)
                log.warning(
                    "ecopt: trial %d: its worker died (%s) after its job finished: its result is stored",
                    trial.number,
                    reason,
                )
                continue
            try:
                for key, value in dead_job_energy(trial.user_attrs.get(JOB_DIR_ATTR)).items():  # before FAIL
                    store.set_trial_user_attr(compat.trial_id(trial), key, value)
                store.set_trial_user_attr(compat.trial_id(trial), ERROR_ATTR, f"worker died: {reason}")
                if not store.set_trial_state_values(compat.trial_id(trial), state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker got there first
            failed.append(trial.number)
            log.warning("ecopt: trial %d marked FAIL: %s", trial.number, reason)
            if retry is not None:
                retry(study, store.get_trial(compat.trial_id(trial)))
        return failed
