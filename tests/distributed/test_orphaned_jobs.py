"""A sweep's process killed outright (the OOM killer, a scheduler's SIGKILL) leaves no job training on."""

from __future__ import annotations

import os
import signal

from tests.distributed.conftest import process_running, start
from tests.guards import SUBPROCESS_S, wait_for


def test_the_jobs_of_a_killed_sweep_stop_instead_of_training_on(tmp_path):
    """Regression (helper hG, 2026-11-29): the joblib launcher's worker processes, re-parented when the sweep was
    SIGKILLed, ran their jobs on for as long as the jobs took (a real trial: the rest of its training, on the
    GPU), though no sweep was left to record them. Each job now watches its parent and stops when it ends."""
    met = tmp_path / "met"
    sweep = start(
        tmp_path / "sweep", "width=choice(8,16,32,64)", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2", f"meet_dir={met}", "meet_n=2", "sleep_s=3600",
    )  # fmt: skip
    try:
        wait_for(lambda: met.is_dir() and len(list(met.iterdir())) == 2, timeout=SUBPROCESS_S, what="two jobs")
        jobs = [int(p.name) for p in met.iterdir()]
        assert all(os.getppid() != job and process_running(job) for job in jobs)
        sweep.kill()
        sweep.wait()
        # each job's watch sees its parent gone within a second; bounded here, never a sleep
        wait_for(lambda: not any(process_running(job) for job in jobs), timeout=SUBPROCESS_S, what="the jobs to stop")
    finally:
        for job in [int(p.name) for p in met.iterdir()] if met.is_dir() else []:
            if process_running(job):
                os.kill(job, signal.SIGKILL)
        if sweep.poll() is None:
            sweep.kill()
    log = (tmp_path / "sweep.log").read_text()
    assert log.count("ecopt: the sweep's process (pid") == 2, log[-3000:]
