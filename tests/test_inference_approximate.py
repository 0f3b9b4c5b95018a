"""The inference benchmark says how many of its repeats were approximate readings."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.inference import measure_inference
from tests.callback.models import TinyModel, loader
from tests.doubles.simulated_gpu import SimGpu

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_repeats_whose_gpu_counter_did_not_move_are_counted_approximate_in_the_result(simulated_gpu, manual_clock):
    """Regression (energy audit): every repeat read the GPU's NVML counter still (a GPU whose counter updates more
    slowly than stated): each window was flagged approximate, its 0 J no reading, but the benchmark's result and
    its summary entry gave per_sample_J 0.0 as a measurement, with nothing to say so."""
    manual_clock(tick=0.2)  # every window outlasts the counter's stated 100 ms update, whatever the machine's speed
    simulated_gpu([SimGpu("GPU-AAAA", power_W=250.0, counter_period_s=1e9)])  # its counter never moves
    with EnergyMonitor(gpus=[0], cpu=False, proc_root=False) as monitor:
        result = measure_inference(
            TinyModel(), loader(32), repeats=3, rel_precision=None, min_window_s=0, monitor=monitor
        )
    assert result.repeats == 3 and result.per_repeat_J == [0.0, 0.0, 0.0]
    assert result.approximate_repeats == 3 and result.to_dict()["approximate_repeats"] == 3
    assert result.measurement.approximate_why["gpu:0"].startswith("the NVML energy counter did not move")


def test_repeats_of_a_moving_counter_are_not_approximate(simulated_gpu, manual_clock):
    manual_clock(tick=0.2)  # every window outlasts the counter's 100 ms update
    simulated_gpu([SimGpu("GPU-AAAA", power_W=250.0)])
    with EnergyMonitor(gpus=[0], cpu=False, proc_root=False) as monitor:
        result = measure_inference(
            TinyModel(), loader(32), repeats=3, rel_precision=None, min_window_s=0, monitor=monitor
        )
    assert result.repeats == 3 and all(j > 0 for j in result.per_repeat_J)
    assert result.approximate_repeats == 0 and result.to_dict()["approximate_repeats"] == 0
