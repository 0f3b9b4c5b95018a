"""A tiny Lightning job as a cluster runs it: measured by EnergyCallback on the simulated GPU its environment
shows it (``tests/doubles/pynvml_shim`` first on ``PYTHONPATH``, GPUs in ``$ECOPT_SIM_NVML``; CUDA device 0 is
mapped to an NVML device through ``CUDA_VISIBLE_DEVICES``) and a fake RAPL tree (``ECOPT_POWERCAP_ROOT``).

``kill_marker``: the first job to create this file (atomically, so exactly one job) SIGKILLs its own process
right after fit, as a cluster kills a job; its ``energy_summary.json`` is already written by then. With
``kill_if_visible`` set, only a job whose ``CUDA_VISIBLE_DEVICES`` equals it may.
``barrier_n``/``barrier_dir``: the first job of each process waits until ``barrier_n`` processes have started
theirs (files in ``barrier_dir``), so that several workers surely each run a first trial.

Example:
    ``python tests/sweeper/apps/cluster_job.py -m hydra/sweeper=ecopt hydra/launcher=submitit_local
    'width=choice(4,8,16)'``
"""

from __future__ import annotations

import os
import signal

import hydra
from hydra_compat import MAIN_KWARGS
from lit import Tiny, fit, loader
from meet import meet
from omegaconf import DictConfig


def _claim(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


_jobs = 0


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="cluster_job")
def main(cfg: DictConfig) -> dict:
    from ecopt_lightning.callback import EnergyCallback
    from ecopt_lightning.energy import EnergyMonitor

    global _jobs
    _jobs += 1
    if cfg.barrier_n and _jobs == 1:
        meet(str(cfg.barrier_dir), int(cfg.barrier_n))
    monitor = EnergyMonitor(gpus=[0], cpu="auto")  # explicit: torch sees no CUDA device here
    callback = EnergyCallback(monitor=monitor, proxies=False)
    trainer = fit(lambda: Tiny(cfg.width, cfg.lr), loader(128, 0), callback, monitor=monitor)
    visible_ok = cfg.kill_if_visible is None or os.environ.get("CUDA_VISIBLE_DEVICES") == str(cfg.kill_if_visible)
    if cfg.kill_marker and visible_ok and _claim(str(cfg.kill_marker)):
        os.kill(os.getpid(), signal.SIGKILL)
    return trainer.callback_metrics


if __name__ == "__main__":
    main()
