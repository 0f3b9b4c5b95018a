"""A pure-Python task for real Hydra multiruns: accuracy rises and energy rises with ``width`` and ``lr``.

``mode`` makes the job misbehave on purpose: ``raise`` (exception), ``nan_acc`` (NaN objective), ``missing``
(no ``val_acc``), ``missing_if_wide`` (no ``val_acc`` when width >= 64), ``text_acc`` (``val_acc`` is a string),
``fail_if_wide`` (raises when width >= 64), ``oom`` (raises when width x depth > 128: the accurate corner fails, as
big models run out of memory).
``sleep_s`` keeps each job running that long; ``die_marker`` SIGKILLs (or sends ``die_signal``) the first job's
process (the whole sweep under the basic launcher) and leaves the marker file so the rerun goes on.
``meet_dir`` makes each job wait until ``meet_n`` processes have run a job there (so that several workers each
run one trial, whatever their speed); ``meet_by_batch`` makes jobs meet ``meet_n`` at a time by Hydra job number
(jobs 0 to n-1, then n to 2n-1, ...: each launched batch of ``meet_n`` jobs on its own).
Energy is reported as ``energy/total_J``
unless ``energy_keys=split`` (then ``energy/fit_total_J`` + ``energy/inference_total_J``).
``argv_file`` appends each job's ``sys.argv`` to that file (what a task that records its command line, as W&B
does, would record).
``repeats=N`` writes an ``energy_summary.json`` whose inference benchmark has N repeats that differ by job
(:func:`repeats_J`), and returns their median as the energy per sample.

Example:
    ``python tests/sweeper/apps/toy.py -m hydra/sweeper=ecopt 'width=choice(8,16,32)'``
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import hydra
from hydra_compat import MAIN_KWARGS
from meet import meet
from omegaconf import DictConfig


def metrics(cfg: DictConfig) -> dict[str, float]:
    """Deterministic metrics of a configuration (J, J per sample, fraction)."""
    width, lr, depth = float(cfg.width), float(cfg.lr), float(cfg.depth)
    acc = 1.0 - 0.5 / (1.0 + 0.05 * width * depth) - 0.1 * abs(math.log10(lr) + 2.0) / 2.0
    per_sample = 1e-4 * width * depth
    total = per_sample * 1000.0 + 0.5
    out = {"val_acc": acc, "energy/inference_per_sample_J": per_sample, "train_loss": 1.0 - acc}
    if cfg.energy_keys == "split":
        out.update({"energy/fit_total_J": 0.8 * total, "energy/inference_total_J": 0.2 * total})
    else:
        out["energy/total_J"] = total
    if cfg.mode == "nan_acc":
        out["val_acc"] = float("nan")
    elif cfg.mode == "missing" or (cfg.mode == "missing_if_wide" and cfg.width >= 64):
        del out["val_acc"]
    elif cfg.mode == "text_acc":
        out["val_acc"] = "high"  # type: ignore[assignment]
    return out


def repeats_J(per_sample: float, job_num: int, n: int) -> list[float]:
    """The toy benchmark's energy per sample of each repeat (J): job ``job_num``'s are ``1 + job_num / 10``
    times ``per_sample``, spread by 1% a repeat, so that two jobs of one config differ."""
    return [per_sample * (1.0 + 0.1 * job_num + 0.01 * i) for i in range(n)]


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="toy")
def main(cfg: DictConfig) -> dict[str, float]:
    if cfg.die_marker and not Path(cfg.die_marker).exists():
        Path(cfg.die_marker).write_text("died once")
        if cfg.die_signal == "EXIT":
            sys.exit(3)
        os.kill(os.getpid(), getattr(signal, f"SIG{cfg.die_signal}"))
    if cfg.meet_dir:
        folder = Path(cfg.meet_dir)
        if cfg.meet_by_batch:
            from hydra.core.hydra_config import HydraConfig

            folder /= str(HydraConfig.get().job.num // int(cfg.meet_n))
        meet(str(folder), int(cfg.meet_n))
    if cfg.argv_file:
        with open(cfg.argv_file, "a") as f:
            f.write(" ".join(sys.argv) + "\n")
    time.sleep(float(cfg.sleep_s))
    if cfg.mode == "raise" or (cfg.mode == "fail_if_wide" and cfg.width >= 64):
        raise RuntimeError(f"toy failure at width={cfg.width}")
    if cfg.mode == "oom" and cfg.width * cfg.depth > 128:
        raise RuntimeError(f"out of memory (simulated) at width={cfg.width} depth={cfg.depth}")
    out = metrics(cfg)
    if cfg.repeats:
        from hydra.core.hydra_config import HydraConfig

        values = repeats_J(out["energy/inference_per_sample_J"], HydraConfig.get().job.num, int(cfg.repeats))
        summary = {"inference": {"per_repeat_J": values}}
        Path(HydraConfig.get().runtime.output_dir, "energy_summary.json").write_text(json.dumps(summary))
        out["energy/inference_per_sample_J"] = statistics.median(values)
    return out


if __name__ == "__main__":
    main()
