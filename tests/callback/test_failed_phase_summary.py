"""A phase whose every reading failed has no energy in the summary: null, never 0 J."""

from __future__ import annotations

import pytest
from lightning.pytorch import Callback
from typing_extensions import override

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.callback import EnergyCallback
from tests.callback.helpers import make_trainer, read_summary
from tests.callback.models import TinyModel
from tests.doubles.simulated_gpu import NVML_ERROR_GPU_IS_LOST, SimGpu

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class _LoseGpuInValidation(Callback):
    """The GPU is lost from the validation loop's start to its end (events of the loop, not times)."""

    def __init__(self, gpu: SimGpu) -> None:
        self.gpu = gpu

    @override
    def on_validation_start(self, trainer, pl_module):
        self.gpu.fail(NVML_ERROR_GPU_IS_LOST)

    @override
    def on_validation_end(self, trainer, pl_module):
        self.gpu.recover()


def test_a_phase_whose_every_reading_failed_has_null_energy_in_the_summary_not_0_J(
    simulated_gpu, manual_clock, tmp_path
):
    """Regression (energy audit): every reading of the validation loop failed (the GPU lost); its metrics were left
    unpublished (no value), but energy_summary.json gave the phase energy_J 0.0, power_W 0.0 and per_sample_J 0.0:
    zeros where nothing was measured, beside a measured training phase."""
    manual_clock(tick=1e-3)  # every read moves time on: windows last what the code does, not the machine's speed
    gpu = SimGpu("GPU-AAAA", power_W=250.0)
    simulated_gpu([gpu])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        cb = EnergyCallback(monitor=monitor, proxies=False)
        lose = _LoseGpuInValidation(gpu)
        make_trainer(tmp_path, [lose, cb], loggers=False, limit_val_batches=2, num_sanity_val_steps=0).fit(TinyModel())
    summary = read_summary(tmp_path / "energy_summary.json")
    val, train = summary["phases"]["val"], summary["phases"]["train"]
    assert val["failed_windows"] > 0 and val["samples"] == 16
    for key in ("energy_J", "estimated_J", "interpolated_J", "power_W", "per_sample_J"):
        assert val[key] is None, key
    assert "energy/val_total_J" not in summary["metrics"]
    assert summary["measurement_faults"]["gpu:0"].startswith("invalid in ")
    assert train["energy_J"] > 0 and train["power_W"] > 0  # measured in its other windows: kept
