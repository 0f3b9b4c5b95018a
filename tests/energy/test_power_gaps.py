"""Polled NVML power with a gap in its samples (the poller held up, starved) is approximate, with the reason."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.energy.nvml import GAP_POLLS
from tests.doubles.simulated_gpu import HeldPower, SimGpu
from tests.guards import wait_for


def test_a_gap_in_the_polled_power_samples_makes_the_window_approximate_with_the_reason(simulated_gpu, manual_clock):
    """Regression (energy audit): the power poller's samples 1 s apart (poll period 10 ms: a thread starved or held
    up) were integrated across silently, as a measurement as good as any: the window said nothing of the 100
    periods with no sample. The gap is made by the test's clock (1 s between two polls), never by sleeping."""
    clock = manual_clock()
    gpu = SimGpu("GPU-aaaa", 200.0, counter_supported=False)
    simulated_gpu([gpu])

    def polls(n: int) -> None:
        calls = gpu.device_calls
        wait_for(lambda: gpu.device_calls >= calls + n, what=f"{n} polls", poll_s=0.001)

    with EnergyMonitor(gpus=[0], cpu=False, poll_period_s=0.01, proc_root=False) as monitor:
        assert monitor.sources == {"gpu:0": "nvml_power"}
        polls(2)
        start = monitor.snapshot()
        clock.advance(1.0)  # no sample for 1 s: 100 poll periods
        polls(2)  # the poller samples again after the gap
        clock.advance(0.02)
        polls(2)
        after_gap = monitor.snapshot()
        clock.advance(0.02)  # two poll periods: no gap
        polls(2)
        end = monitor.snapshot()
    gap = monitor.measure(start, after_gap, "across the gap")
    assert gap.invalid == {} and gap.by_device["gpu:0"] == pytest.approx(200.0 * 1.02, rel=1e-6)
    assert gap.approximate
    assert gap.approximate_why["gpu:0"] == (
        f"NVML power not sampled for 1.000 s (over {GAP_POLLS} x the 0.01 s poll period: the poller was held up); "
        "the power in between is interpolated"
    )
    clean = monitor.measure(after_gap, end, "after the gap")
    assert not clean.approximate and clean.approximate_why == {}
    assert (gap + clean).approximate_why == gap.approximate_why
    assert gap.to_dict()["approximate_why"] == gap.approximate_why


def test_a_read_while_the_poller_is_held_up_is_approximate_before_the_next_sample(simulated_gpu, manual_clock):
    """A window read while the poller is held up holds the last sample extrapolated over the gap: approximate too.
    The poller is held inside a poll by an event, never by a time."""
    clock = manual_clock()
    trace = HeldPower(200.0)
    simulated_gpu([SimGpu("GPU-aaaa", trace, counter_supported=False)])
    with EnergyMonitor(gpus=[0], cpu=False, poll_period_s=0.01, proc_root=False) as monitor:
        trace.hold()  # a poll is now held before its sample
        start = monitor.snapshot()
        clock.advance(1.0)
        end = monitor.snapshot()
        trace.release()
    m = monitor.measure(start, end)
    assert m.invalid == {} and m.by_device["gpu:0"] == pytest.approx(200.0)
    assert m.approximate and m.approximate_why["gpu:0"].startswith("NVML power not sampled for 1.000 s")
