"""Each trial measured in a fresh process: the task wrapper that records its process and result, and worker
recycling for Hydra's joblib launcher.

joblib's default loky backend keeps its worker processes between calls, so a second trial in the same worker
would find CUDA initialised, caches warm and once-per-process notices spent, and be measured unlike the first.
The sweeper shuts the loky executor down (killing its workers) after every batch, and :class:`TrackedTask`
writes ``.ecopt_job.json`` into each job dir with the pid and how many jobs that process ran; a trial run in
a reused process is reported as a degraded measurement. It also writes what the task returned (or raised)
to ``.ecopt_result.pkl``, so a batch whose launcher raised because one job died (SIGKILL on a cluster, a
killed joblib worker) still yields the results of the jobs that finished (:mod:`._lost_jobs`).

Example:
    >>> task = TrackedTask(lambda cfg: {"x": 1.0})
    >>> task(None)  # outside Hydra there is no job dir: nothing is written
    {'x': 1.0}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JOB_FILE = ".ecopt_job.json"
RESULT_FILE = ".ecopt_result.pkl"
#: what :class:`TrackedTask` saves for a job that Ctrl-C interrupted
CTRL_C_RESULT = ("raised", "KeyboardInterrupt: interrupted (Ctrl-C)")
_jobs_in_process = 0


@lru_cache(maxsize=1)
def this_machine() -> dict[str, str]:
    """This machine: host (``$ECOPT_WORKER_HOST`` overrides it) and kernel boot id, where a pid can be checked."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return {"host": os.environ.get("ECOPT_WORKER_HOST") or socket.gethostname(), "boot": boot}


class TrackedTask:
    """Wraps the Hydra task function; picklable (joblib sends it to its workers)."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def __call__(self, cfg: Any) -> Any:
        global _jobs_in_process
        _jobs_in_process += 1
        out: Path | None = None
        with contextlib.suppress(Exception):  # outside a Hydra job: no output dir
            from hydra.core.hydra_config import HydraConfig

            out = Path(HydraConfig.get().runtime.output_dir)
            job = {"pid": os.getpid(), "jobs_in_process": _jobs_in_process, **this_machine()}
            (out / JOB_FILE).write_text(json.dumps(job))
        try:
            with CtrlC() as ctrl_c:
                value = self.task(cfg)
        except SystemExit as exc:
            if not ctrl_c.pressed:  # (Lightning turns Ctrl-C into sys.exit(1) after its graceful shutdown)
                # sys.exit() in the task ends that job, not the sweep (Hydra passes SystemExit through every launcher)
                exited = TaskExited(f"the task called sys.exit({exc.code!r})")
                _save_result(out, ("raised", f"{type(exited).__name__}: {exited}"))
                raise exited from None
        except KeyboardInterrupt:
            ctrl_c.pressed = True
        except Exception as exc:
            if not ctrl_c.pressed:
                _save_result(out, ("raised", f"{type(exc).__name__}: {exc}"))
                raise
        if ctrl_c.pressed:  # whatever the task made of it: a result of an interrupted run is not one
            _save_result(out, CTRL_C_RESULT)
            raise KeyboardInterrupt
        _save_result(out, ("returned", value))
        return value


class CtrlC:
    """Notes a Ctrl-C (SIGINT) that reaches the process while the task runs, whatever the task makes of it,
    and gives SIGINT its handler back afterwards.

    Lightning catches the ``KeyboardInterrupt``, shuts down, sets SIGINT to be ignored for the rest of the
    process and calls ``sys.exit(1)``: without this the sweeper saw an ordinary failed task and went on, deaf to
    any further Ctrl-C. Only in the main thread (where Python delivers signals); elsewhere it notes nothing.

    Example:
        >>> import os, signal
        >>> with CtrlC() as ctrl_c:
        ...     try:
        ...         os.kill(os.getpid(), signal.SIGINT)
        ...     except KeyboardInterrupt:
        ...         pass  # caught inside the task, as Lightning does
        >>> ctrl_c.pressed
        True
    """

    def __init__(self) -> None:
        self.pressed = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._note)
            self._installed = True
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.pressed = True
        if callable(self._previous):
            self._previous(signum, frame)  # Python's default handler raises KeyboardInterrupt
        elif self._previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self._installed:  # None: a handler not set from Python, which Python cannot put back
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.SIG_DFL)


class TaskExited(RuntimeError):
    """The task function called ``sys.exit``: its trial fails with this message and the sweep goes on."""


def _save_result(job_dir: Path | None, result: tuple[str, Any]) -> None:
    """Pickle ``(kind, value)`` into the job dir, atomically (a half-written file would read as a result)."""
    if job_dir is None:
        return
    tmp = job_dir / f"{RESULT_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_bytes(pickle.dumps(result))
    except Exception:  # an unpicklable return value: the launcher's own channel still carries it
        tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, job_dir / RESULT_FILE)


def job_result(job_dir: str | None) -> tuple[str, Any] | None:
    """What :class:`TrackedTask` saved in ``job_dir``: ``("returned", value)``, ``("raised", "Type: msg")`` or
    ``None`` (the job never finished: killed, or never started)."""
    if not job_dir:
        return None
    try:
        return pickle.loads((Path(job_dir) / RESULT_FILE).read_bytes())
    except Exception:
        return None


def interrupted(job_dir: str | None) -> bool:
    """Whether the job in ``job_dir`` was interrupted by Ctrl-C (a job process of its own, e.g. submitit's, that
    got the terminal's SIGINT: its launcher reports a failed job, as for any other)."""
    return job_result(job_dir) == CTRL_C_RESULT


def job_process(job_dir: str | None) -> dict[str, Any]:
    """What :class:`TrackedTask` wrote in ``job_dir`` (``{}`` when nothing)."""
    if not job_dir:
        return {}
    try:
        return json.loads((Path(job_dir) / JOB_FILE).read_text())
    except (OSError, ValueError):
        return {}


def recycle_workers(launcher: Any) -> None:
    """After a batch on the joblib launcher: shut the loky executor down so the next batch gets new processes."""
    if type(launcher).__name__ != "JoblibLauncher":
        return
    from ._joblib_compat import kill_loky_workers

    kill_loky_workers()


def check_parallelism(launcher_cfg: Any, n_jobs: int) -> str | None:
    """A warning when the joblib launcher runs fewer processes than the sweeper's batch (then reused). A negative
    ``hydra.launcher.n_jobs`` counts back from this machine's CPUs, as joblib does (-1: all of them)."""
    workers = getattr(launcher_cfg, "n_jobs", None) if launcher_cfg is not None else None
    if not isinstance(workers, int) or isinstance(workers, bool) or workers == 0:
        return None
    said = f"hydra.launcher.n_jobs={workers}"
    if workers < 0:
        import joblib

        workers = joblib.effective_n_jobs(workers)
        said += f" ({workers} process{'es' if workers > 1 else ''} here)"
    if workers < n_jobs:
        return (
            f"{said} < hydra.sweeper.n_jobs={n_jobs}: some trials of a batch will run in "
            "a process that already ran one (reported as degraded); set them equal"
        )
    return None
