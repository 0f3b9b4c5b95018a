"""A tiny Lightning task measured on one simulated GPU (``pynvml`` shim) and a fake RAPL tree, with one
measurement fault per run, chosen by ``fault``:

``none``; ``nvml_missing`` (no nvidia-ml-py); ``driver_missing`` (nvmlInit: driver not loaded); ``no_counter``
(pre-Volta: no energy counter, power is polled); ``gpu_lost`` (every NVML call fails mid-run);
``rapl_denied`` (RAPL energy files not readable, as for non-root users); ``crash`` (training raises).

Needs ``tests/doubles/pynvml_shim`` first on ``PYTHONPATH`` and ``ECOPT_POWERCAP_ROOT`` pointing at a fake tree.

Example:
    ``python tests/sweeper/apps/faulty.py -m hydra/sweeper=ecopt hydra.sweeper.custom_search_space=spaces.each_fault``
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import hydra
from hydra_compat import MAIN_KWARGS
from lit import Tiny, fit, loader
from omegaconf import DictConfig
from typing_extensions import override

SPECS = {
    "none": {"gpus": [{"power_W": 80}]},
    "nvml_missing": {"missing": True},
    "driver_missing": {"init_error": 9},
    "no_counter": {"gpus": [{"power_W": 80, "counter_supported": False}]},
    "gpu_lost": {"gpus": [{"power_W": 80, "fail_at_call": 10}]},  # lost mid-training (5 calls set the meter up)
    "rapl_denied": {"gpus": [{"power_W": 80}]},
    "crash": {"gpus": [{"power_W": 80}]},
}


class Crash(Tiny):
    @override
    def training_step(self, batch, batch_idx):
        if batch_idx == 3:
            raise RuntimeError("simulated crash in training")
        return super().training_step(batch, batch_idx)


def _deny_rapl() -> None:
    """As for a non-root user since CVE-2020-8694 (root can read anything, so the read itself is refused)."""
    from ecopt_lightning.energy import rapl

    real = rapl._read_int

    def read(path):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    rapl._read_int = read


def _rapl_moves(model: Tiny) -> Tiny:
    """The fake RAPL package counts 1 mJ per sample ``model`` sees, as a CPU draws power while it computes (a counter
    that never moves reads 0 J, which the inference benchmark reports as nothing measured)."""
    counter = Path(os.environ["ECOPT_POWERCAP_ROOT"]) / "intel-rapl:0" / "energy_uj"

    def count(module, args, out) -> None:
        counter.write_text(f"{int(counter.read_text()) + 1000 * args[0].shape[0]}\n")

    model.register_forward_hook(count)
    return model


def _package_draws() -> None:
    """The fake RAPL package counter also moves (1 uJ) at each read, as a powered CPU package does between any two:
    the monitor judges a counter still over 5 reads frozen (by its clock), which a trial whose fault is elsewhere must
    not meet by the machine's speed between two forward passes."""
    from ecopt_lightning.energy import rapl

    real = rapl._read_int

    def read(path):
        if path.name == "energy_uj" and path.parent.name == "intel-rapl:0":
            path.write_text(f"{real(path) + 1}\n")
        return real(path)

    rapl._read_int = read


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="faulty")
def main(cfg: DictConfig) -> dict:
    from ecopt_lightning.callback import EnergyCallback
    from ecopt_lightning.energy import EnergyMonitor

    os.environ["ECOPT_SIM_NVML"] = json.dumps(SPECS[cfg.fault])
    sys.modules.pop("pynvml", None)  # a fresh simulated NVML for this trial
    _package_draws()
    if cfg.fault == "rapl_denied":
        _deny_rapl()
    monitor = EnergyMonitor(gpus=[0], cpu="auto")  # explicit: torch sees no CUDA device here
    benchmark = {"repeats": 2, "rel_precision": None, "min_window_s": 0.0}
    callback = EnergyCallback(monitor=monitor, inference_benchmark=benchmark, proxies=False)
    model = Crash if cfg.fault == "crash" else Tiny
    trainer = fit(
        lambda: _rapl_moves(model(cfg.width, cfg.lr)), loader(256, 0), callback, max_epochs=2, monitor=monitor
    )
    return trainer.callback_metrics


if __name__ == "__main__":
    main()
