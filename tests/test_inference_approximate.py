"""The inference benchmark says how many of its repeats were approximate, and never takes a still counter's 0 J."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.inference import measure_inference
from tests.callback.models import TinyModel, loader
from tests.doubles.simulated_gpu import SimGpu

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize(
    ("tick", "approximate", "why"),
    [
        pytest.param(1e-3, 3, "the window (", id="windows-shorter-than-the-update"),
        pytest.param(0.2, 0, None, id="windows-outlasting-the-update"),  # the counter moves in every window
    ],
)
def test_repeats_shorter_than_the_counters_update_and_only_those_are_counted_approximate_in_the_result(
    simulated_gpu, manual_clock, tick: float, approximate: int, why: str | None
):
    """Regression (energy audit): every repeat's window was shorter than the NVML counter's 100 ms update (the user's
    min_window_s=0), each flagged approximate, but the benchmark's result and its summary entry said nothing of it."""
    manual_clock(tick=tick)  # every read moves time on: windows last what the code does, not the machine's speed
    simulated_gpu([SimGpu("GPU-AAAA", power_W=250.0)])
    with EnergyMonitor(gpus=[0], cpu=False, proc_root=False) as monitor:
        result = measure_inference(
            TinyModel(), loader(32), repeats=3, rel_precision=None, min_window_s=0, monitor=monitor
        )
    assert result.repeats == 3 and all(j > 0 for j in result.per_repeat_J)
    assert result.approximate_repeats == approximate and result.to_dict()["approximate_repeats"] == approximate
    if why is None:
        assert "gpu:0" not in result.measurement.approximate_why
    else:
        assert result.measurement.approximate_why["gpu:0"].startswith(why)


def test_repeats_whose_gpu_counter_did_not_move_are_left_out_never_0_J(simulated_gpu, manual_clock):
    """Regression (energy audit): a GPU whose NVML counter did not move in any repeat (it updates more slowly than
    stated) gave every repeat 0 J, each window flagged approximate with its 0 J no reading, and the benchmark logged
    energy/inference_per_sample_J 0.0: a zero where nothing was measured, which a sweep ranks best."""
    manual_clock(tick=0.2)  # every window outlasts the counter's stated 100 ms update, whatever the machine's speed
    simulated_gpu([SimGpu("GPU-AAAA", power_W=250.0, counter_period_s=1e9)])  # its counter never moves
    with EnergyMonitor(gpus=[0], cpu=False, proc_root=False) as monitor, pytest.raises(ValueError) as info:
        measure_inference(
            TinyModel(), loader(32), repeats=3, rel_precision=None, max_repeats=4, min_window_s=0, monitor=monitor
        )
    assert str(info.value) == (
        "inference energy not measured: a reading failed in all 4 repeats (gpu:0: the NVML energy counter did not "
        "move: it updates more slowly on this GPU, its 0 J is no reading)"
    )
