"""Jobs a launcher lost: the batch's launcher raised because one of its jobs died.

Cluster launchers collect a batch as ``[job.result() for job in jobs]``: one job killed by the cluster
(SIGKILL at the time limit, the OOM killer, a lost node) raises (submitit's ``UncompletedJobError``, joblib's
``TerminatedWorkerError``) and takes the other jobs' results with it. The sweeper then rebuilds each job's
return from its job directory: the result :class:`._launch.TrackedTask` saved there, or :class:`JobDied` for
a job that saved none. The dead job's ``energy_summary.json``, when its EnergyCallback wrote one before the
kill, still counts as its energy. When no job of the batch even started, the launcher itself failed and its
error is raised as it is.

Example:
    >>> import tempfile
    >>> rets = recover([tempfile.mkdtemp()], [["x=1"]], RuntimeError("boom"))
    >>> rets is None  # no job started: the caller re-raises the launcher's error
    True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict

from ..metrics import ESTIMATED_FRACTION
from ._jobinfo import read_job
from ._launch import JOB_FILE, job_result
from ._schema import DEGRADED_ATTR, ENERGY_ATTR, ENERGY_SOURCE_ATTR, GRID_ATTR, SOURCES_ATTR

#: characters of the launcher's error kept in a dead job's ``ecopt.error``
MAX_REASON = 300


class JobDied(RuntimeError):
    """A job that ended without a result: its process was killed or crashed outside the task."""


class JobRaised(RuntimeError):
    """The task of a recovered job raised (its message is the task's ``Type: message``)."""


class DeadJobReturn(JobReturn):
    """The return :func:`recover` gives a job that died: FAILED, its value a :class:`JobDied`."""


def expected_job_dir(config_loader: Any, master: DictConfig, overrides: Sequence[str], num: int) -> str | None:
    """The directory Hydra's launchers give job ``num`` (``hydra.sweep.dir/hydra.sweep.subdir``), absolute;
    ``None`` when the subdir needs something only the job knows (e.g. ``${hydra.job.id}``)."""
    try:
        cfg = config_loader.load_sweep_config(master_config=master, sweep_overrides=list(overrides))
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = num
        subdir = OmegaConf.select(cfg, "hydra.sweep.subdir")
        return os.path.abspath(os.path.join(str(cfg.hydra.sweep.dir), str(subdir)))
    except Exception:
        return None


def _started(job_dir: str | None) -> bool:
    return bool(job_dir) and (Path(str(job_dir)) / JOB_FILE).exists()


def recover(
    job_dirs: Sequence[str | None], batch: Sequence[Sequence[str]], launcher_error: BaseException
) -> list[JobReturn] | None:
    """One :class:`JobReturn` per job, read from its job dir; ``None`` when no job of the batch started."""
    if not any(_started(d) for d in job_dirs):
        return None
    first_line = (str(launcher_error).strip().splitlines() or [""])[0]  # submitit appends the job's whole stderr
    reason = " ".join(f"{type(launcher_error).__name__}: {first_line}".split())[:MAX_REASON]
    return [
        rebuilt(job_dir, overrides, f"the launcher said: {reason}")
        for job_dir, overrides in zip(job_dirs, batch, strict=True)
    ]


def rebuilt(job_dir: str | None, overrides: Sequence[str], reason: str) -> JobReturn:
    """The return of a job, from what :class:`._launch.TrackedTask` saved in ``job_dir``: COMPLETED with its value,
    FAILED with the task's error, or a :class:`DeadJobReturn` (``reason`` says why) when it saved nothing."""
    result = job_result(job_dir)
    ret = (JobReturn if result is not None else DeadJobReturn)(overrides=list(overrides), working_dir=job_dir)
    if result is not None and result[0] == "returned":
        ret.status, ret.return_value = JobStatus.COMPLETED, result[1]
    elif result is not None:
        ret.status, ret.return_value = JobStatus.FAILED, JobRaised(str(result[1]))
    else:
        where = "after it started" if _started(job_dir) else "before it started"
        ret.status = JobStatus.FAILED
        ret.return_value = JobDied(f"job died {where}, without a result ({reason})")
    return ret


def died(ret: JobReturn) -> bool:
    """Whether ``ret`` is a job :func:`recover` found dead."""
    return isinstance(ret, DeadJobReturn)


def dead_job_energy(job_dir: str | None) -> dict[str, Any]:
    """User attributes that keep a dead job's energy on its trial (as :func:`._results.tell_result` writes them
    for a finished one), from its ``energy_summary.json`` when readable here (same machine or shared file
    system); ``{}`` when there is none, only the degraded reasons when it has no total (they say why)."""
    info = read_job(job_dir)
    if info.energy_J is None:
        return {DEGRADED_ATTR: list(info.degraded)} if info.degraded else {}
    attrs: dict[str, Any] = {
        ENERGY_ATTR: info.energy_J,
        ENERGY_SOURCE_ATTR: f"{Path(info.path or '').name} ({info.status})",
    }
    if info.degraded:
        attrs[DEGRADED_ATTR] = list(info.degraded)
    if info.sources:  # whether that energy is measured or estimated (the sweep's estimated share)
        attrs[SOURCES_ATTR] = dict(info.sources)
    if info.estimated_fraction is not None:  # as the metric EnergyCallback logs beside its total
        attrs[ESTIMATED_FRACTION] = info.estimated_fraction
    if info.grid:
        attrs[GRID_ATTR] = dict(info.grid)
    return attrs
