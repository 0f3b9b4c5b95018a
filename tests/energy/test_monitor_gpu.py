"""EnergyMonitor's NVML paths, driven through the simulated GPU."""

from __future__ import annotations

import math
import sys
import threading
import time

import pytest

from ecopt_lightning import EnergyMonitor, EnergyWarning
from tests.doubles.simulated_gpu import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NOT_SUPPORTED,
    HeldPower,
    SimGpu,
)
from tests.guards import wait_for


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_counter_mj_to_joules(simulated_gpu, manual_clock):
    clock = manual_clock()
    gpu = SimGpu("GPU-aaaa", power_W=200.0)
    simulated_gpu([gpu])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        assert monitor.sources == {"gpu:0": "nvml_counter"}
        with monitor.window("w") as w:
            clock.advance(0.3)
    m = w.measurement
    assert m.sources == {"gpu:0": "nvml_counter"}
    # 200 W for 0.3 s = 60 J, read in mJ and reported in J
    assert m.by_device["gpu:0"] == pytest.approx(60.0, abs=0.002)
    assert m.power_W == pytest.approx(200.0, rel=1e-4)
    assert m.seconds == pytest.approx(0.3)
    assert not m.approximate


def test_nvml_is_initialised_once_not_per_read(simulated_gpu):
    nvml = simulated_gpu()
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        for _ in range(50):
            monitor.snapshot()
    assert nvml.calls["nvmlInit"] == 1
    assert nvml.init_count == 0  # shut down on close


@pytest.mark.parametrize(
    ("visible", "order", "expected"),
    [
        ("GPU-cccc,GPU-aaaa", None, {"gpu:0": 300.0, "gpu:1": 100.0}),  # UUIDs
        ("GPU-cc,GPU-aa", None, {"gpu:0": 300.0, "gpu:1": 100.0}),  # unique UUID prefixes
        ("2,0", "PCI_BUS_ID", {"gpu:0": 300.0, "gpu:1": 100.0}),  # indices in PCI order
        ("1", "PCI_BUS_ID", {"gpu:0": 200.0}),
    ],
)
def test_uuid_mapping_follows_cuda_visible_devices(simulated_gpu, manual_clock, monkeypatch, visible, order, expected):
    clock = manual_clock()
    gpus = [SimGpu("GPU-aaaa", 100.0), SimGpu("GPU-bbbb", 200.0), SimGpu("GPU-cccc", 300.0)]
    simulated_gpu(gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    if order:
        monkeypatch.setenv("CUDA_DEVICE_ORDER", order)
    with EnergyMonitor(gpus=list(range(len(expected))), cpu=False) as monitor, monitor.window() as w:
        clock.advance(0.25)
    powers = {d: e / w.measurement.seconds for d, e in w.measurement.by_device.items()}
    assert powers.keys() == expected.keys()
    for domain, watts in expected.items():
        assert powers[domain] == pytest.approx(watts, rel=1e-3), domain


def test_numeric_visible_devices_in_cuda_order_are_not_guessed(simulated_gpu, monkeypatch):
    simulated_gpu([SimGpu("GPU-aaaa"), SimGpu("GPU-bbbb")])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")  # fastest-first order: unknowable without CUDA
    with pytest.warns(EnergyWarning, match="gpu:0: its UUID could not be matched"):
        monitor = EnergyMonitor(gpus=[0], cpu=False)
    assert monitor.sources == {}
    assert "gpu:0" in monitor.missing
    monitor.close()


def test_power_polling_agrees_with_counter_on_a_known_trace(simulated_gpu, manual_clock, monkeypatch):
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    clock = manual_clock()

    def trace(t: float) -> float:
        return 250.0 + 150.0 * math.sin(2 * math.pi * t / 0.4) + (100.0 if int(t * 5) % 2 else 0.0)

    counted = SimGpu("GPU-aaaa", trace)
    polled = SimGpu("GPU-bbbb", trace, counter_supported=False)
    simulated_gpu([counted, polled])
    with EnergyMonitor(gpus=[0, 1], cpu=False, poll_period_s=0.01) as monitor:
        assert monitor.sources == {"gpu:0": "nvml_counter", "gpu:1": "nvml_power"}
        with monitor.window() as w:
            for _ in range(150):  # 1.5 s in 10 ms steps, each sampled by the poller once at least
                polls = polled.device_calls
                clock.advance(0.01)
                wait_for(lambda n=polls: polled.device_calls >= n + 2, what="two polls after a step", poll_s=0.001)
    by = w.measurement.by_device
    assert by["gpu:1"] == pytest.approx(by["gpu:0"], rel=0.02)


def test_averaged_power_makes_sub_second_windows_approximate(simulated_gpu, manual_clock):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-aaaa", counter_supported=False, instant_supported=False)])
    with EnergyMonitor(gpus=[0], cpu=False, poll_period_s=0.01) as monitor, monitor.window() as w:
        clock.advance(0.05)
    assert w.measurement.sources == {"gpu:0": "nvml_power"}
    assert w.measurement.approximate


def test_window_shorter_than_counter_update_is_flagged_not_zeroed(simulated_gpu, manual_clock):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-aaaa", 300.0, counter_period_s=0.1)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        with monitor.window("short") as short:
            clock.advance(0.01)
        with monitor.window("long") as long:
            clock.advance(0.35)
    assert short.measurement.approximate
    assert not long.measurement.approximate
    assert long.measurement.by_device["gpu:0"] == pytest.approx(300.0 * long.measurement.seconds, rel=0.35)


def test_gpu_lost_mid_window_marks_domain_invalid_without_raising(simulated_gpu):
    gpu = SimGpu("GPU-aaaa")
    simulated_gpu([gpu])
    with EnergyMonitor(gpus=[0], cpu="estimate") as monitor:
        with pytest.warns(EnergyWarning, match="gpu:0 invalid"), monitor.window("step") as w:
            busy(0.05)
            gpu.fail(NVML_ERROR_GPU_IS_LOST)
        after = monitor.snapshot()
    m = w.measurement
    assert "gpu:0" not in m.by_device
    assert "GpuIsLost" in m.invalid["gpu:0"]
    assert m.sources == {"cpu:0": "estimate"}  # the CPU is still there
    assert "gpu:0" in after.errors


def test_polling_fault_that_recovers_still_invalidates_the_window(simulated_gpu):
    gpu = SimGpu("GPU-aaaa", counter_supported=False)
    simulated_gpu([gpu])
    with EnergyMonitor(gpus=[0], cpu=False, poll_period_s=0.01) as monitor:
        with monitor.window() as spanning:
            gpu.fail(NVML_ERROR_GPU_IS_LOST)
            wait_for(lambda: gpu.failed_calls >= 1, what="a failed poll", poll_s=0.001)
            gpu.recover()
            polls = gpu.device_calls
            wait_for(lambda: gpu.device_calls >= polls + 2, what="a good poll after the fault", poll_s=0.001)
        with monitor.window() as clean:
            polls = gpu.device_calls
            wait_for(lambda: gpu.device_calls >= polls + 2, what="a good poll in the clean window", poll_s=0.001)
    assert "gpu:0" in spanning.measurement.invalid
    assert clean.measurement.by_device["gpu:0"] > 0


def test_mig_slice_measures_parent_and_says_whole_gpu(simulated_gpu, manual_clock, monkeypatch):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-aaaa", 150.0, mig_uuids=("MIG-1111", "MIG-2222"))])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1111")
    with pytest.warns(EnergyWarning, match="MIG slice"):
        monitor = EnergyMonitor(gpus=[0], cpu=False)
    assert monitor.sources == {"gpu:0": "nvml_counter:whole-GPU"}
    with monitor.window() as w:
        clock.advance(0.1)
    monitor.close()
    assert w.measurement.by_device["gpu:0"] > 0
    assert w.measurement.source == "nvml_counter"


def test_two_slices_of_one_gpu_are_not_counted_twice(simulated_gpu, monkeypatch):
    simulated_gpu([SimGpu("GPU-aaaa", mig_uuids=("MIG-1111", "MIG-2222"))])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1111,MIG-2222")
    with pytest.warns(EnergyWarning):
        monitor = EnergyMonitor(gpus=[0, 1], cpu=False)
    monitor.close()
    assert list(monitor.sources) == ["gpu:0"]
    assert "same physical GPU" in monitor.missing["gpu:1"]


def test_nvml_not_installed_leaves_gpu_absent_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with pytest.warns(EnergyWarning, match="gpu:0: nvidia-ml-py .* not importable"):
        monitor = EnergyMonitor(gpus=[0], cpu="estimate")
    assert monitor.sources == {"cpu:0": "estimate"}
    monitor.close()


def test_driver_not_loaded_is_reported(simulated_gpu):
    simulated_gpu(init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.warns(EnergyWarning, match="NVML did not start .*DriverNotLoaded"):
        monitor = EnergyMonitor(gpus=[0], cpu=False)
    assert monitor.sources == {}
    monitor.close()


@pytest.mark.parametrize(
    ("fail_at_call", "used"),
    [
        (1, [1]),  # listing every GPU's UUID: a lost GPU this process does not use
        (1, [0, 1]),  # the same, for a GPU it uses
        (2, [0, 1]),  # the UUID of the GPU behind the CUDA device
        (5, [0, 1]),  # the counter's first read, after the check that it has one
    ],
)
def test_a_gpu_lost_at_start_is_left_out_with_the_reason_and_the_others_are_measured(
    simulated_gpu, manual_clock, monkeypatch, fail_at_call, used
):
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    clock = manual_clock()
    lost = SimGpu("GPU-aaaa", 100.0, fail_at_call=fail_at_call)
    simulated_gpu([lost, SimGpu("GPU-bbbb", 200.0)])
    with EnergyMonitor(gpus=used, cpu=False) as monitor, monitor.window() as w:
        clock.advance(0.5)
    assert lost.failed_calls >= 1
    assert w.measurement.by_device == {"gpu:1": pytest.approx(100.0, rel=1e-3)}
    if 0 in used:
        why = monitor.missing.get("gpu:0") or w.measurement.invalid["gpu:0"]
        assert "GpuIsLost" in why


def test_a_gpu_lost_at_the_counter_check_is_left_out_not_labelled_power_polled(simulated_gpu, monkeypatch):
    """Only NVML's NotSupported means a GPU has no counter; a lost GPU is not one to poll for power."""
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    lost = SimGpu("GPU-aaaa", fail_at_call=4)  # its 4th NVML call is the check that it has a counter
    simulated_gpu([lost, SimGpu("GPU-bbbb", counter_supported=False)])
    with pytest.warns(EnergyWarning, match="gpu:0: NVML failed on it at start .*GpuIsLost"):
        monitor = EnergyMonitor(gpus=[0, 1], cpu=False)
    monitor.close()
    assert lost.failed_calls == 1
    assert monitor.sources == {"gpu:1": "nvml_power"}
    assert "GpuIsLost" in monitor.missing["gpu:0"]


def test_polled_power_read_after_close_is_invalid_not_the_last_sample_extrapolated(simulated_gpu, manual_clock):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-aaaa", 100.0, counter_supported=False)])
    monitor = EnergyMonitor(gpus=[0], cpu=False)
    (meter,) = monitor.meters
    clock.advance(1.0)
    monitor.close()
    clock.advance(10.0)
    after = meter.read()  # the monitor refuses to read once closed; a meter read on its own says why it cannot
    assert "gpu:0" not in after.energy_J
    assert after.errors == {"gpu:0": "NVML power is no longer polled: the meter is closed"}


@pytest.mark.parametrize(
    ("visible", "gpus", "message"),
    [
        (None, [2], r"gpus=\[2\] is not allowed: this process sees 2 CUDA device\(s\) \(indices 0 to 1\)"),
        ("1", [0, 1], r"gpus=\[0, 1\] is not allowed: .* sees 1 .* CUDA_VISIBLE_DEVICES='1' \(indices 0 to 0\)"),
        ("", [0], r"gpus=\[0\] is not allowed: this process sees 0 CUDA device\(s\) .*\(none\)"),
    ],
)
def test_a_gpu_index_this_process_cannot_see_is_a_one_line_error(simulated_gpu, monkeypatch, visible, gpus, message):
    simulated_gpu([SimGpu("GPU-aaaa"), SimGpu("GPU-bbbb")])
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    with pytest.raises(ValueError, match=message) as info:
        EnergyMonitor(gpus=gpus, cpu=False)
    assert "\n" not in str(info.value)


def test_polled_power_read_between_samples_is_never_taken_back_when_the_power_drops(simulated_gpu, manual_clock):
    """Regression: a read between two polls extrapolated the last sample (300 W x 1 s = 300 J), and the next poll's
    trapezoid (300 W to 0 W: 150 J) then put the cumulative reading below it: the next window read -150 J and was
    marked invalid as 'counter went backwards (driver reload or reset?)'. The poller is held inside a poll by an
    event, never by a time."""
    clock = manual_clock()
    trace = HeldPower(300.0)
    simulated_gpu([SimGpu("GPU-aaaa", trace, counter_supported=False)])
    with EnergyMonitor(gpus=[0], cpu=False, poll_period_s=1e-3) as monitor:
        trace.hold()  # a poll is now held before its sample
        clock.advance(1.0)
        first = monitor.snapshot()  # between two samples: the last one extrapolated
        trace.watts = 0.0
        trace.release()  # the held poll samples 0 W ...
        trace.hold()  # ... and the next poll begins: it was added
        second = monitor.snapshot()
        trace.release()
    m = monitor.measure(first, second)
    assert m.invalid == {}
    assert m.by_device["gpu:0"] >= 0.0
    assert second.energy_J["gpu:0"] == pytest.approx(300.0, rel=1e-6)  # the 300 J already read stand


def test_a_monitor_that_fails_to_start_stops_what_it_started(simulated_gpu):
    """Regression: cpu='rapl' without RAPL raised after the GPU's power poller had started: the exception left a
    thread polling NVML for the rest of the process, and NVML initialised, with no monitor to close."""
    nvml = simulated_gpu([SimGpu("GPU-aaaa", counter_supported=False)])
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="cpu='rapl' is not possible here"):
        EnergyMonitor(gpus=[0], cpu="rapl")
    assert nvml.init_count == 0
    assert [t.name for t in set(threading.enumerate()) - before] == []


def test_a_gpu_nvml_reads_no_power_of_is_not_announced_as_measured(simulated_gpu, monkeypatch):
    """Regression: a GPU without the energy counter whose power NVML does not read either (NotSupported, as on
    some consumer and laptop GPUs) was announced 'measured: gpu:0 (nvml_power, ...)', and then every window marked
    it invalid."""
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    no_power = SimGpu(  # its 4th NVML call on is the first power read: NotSupported from there
        "GPU-aaaa", counter_supported=False, instant_supported=False, fail_at_call=4, fail_code=NVML_ERROR_NOT_SUPPORTED
    )
    simulated_gpu([no_power, SimGpu("GPU-bbbb", counter_supported=False)])
    with pytest.warns(EnergyWarning, match=r"not measured at all: gpu:0: NVML reads neither its energy counter nor"):
        monitor = EnergyMonitor(gpus=[0, 1], cpu=False)
    monitor.close()
    assert monitor.sources == {"gpu:1": "nvml_power"}
    assert "measured: gpu:0" not in monitor.describe()


def test_a_window_in_which_the_gpu_counter_did_not_move_is_approximate_not_an_exact_zero(simulated_gpu, manual_clock):
    """Regression: on a GPU whose energy counter updates once a second (not every ~100 ms as assumed), a 0.3 s
    window read 0 J of a 300 W GPU and was not flagged approximate."""
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-aaaa", 300.0, counter_period_s=1.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        with monitor.window("still") as still:
            clock.advance(0.3)
        clock.advance(0.5)
        with monitor.window("moved") as moved:  # from 0.8 s to 1.1 s: across the counter's update at 1 s
            clock.advance(0.3)
    assert still.measurement.by_device == {"gpu:0": 0.0} and still.measurement.approximate
    assert moved.measurement.by_device["gpu:0"] > 0 and not moved.measurement.approximate


@pytest.mark.parametrize(
    ("visible", "why"),
    [
        ("1,0", "CUDA numbers GPUs fastest-first .* set CUDA_DEVICE_ORDER=PCI_BUS_ID, or give GPU UUIDs"),
        ("GPU-zzzz", "CUDA_VISIBLE_DEVICES entry 'GPU-zzzz' is the UUID .* of no NVML GPU"),
    ],
)
def test_a_gpu_that_cannot_be_matched_says_why_and_what_to_set(simulated_gpu, monkeypatch, visible, why):
    """Regression: the reason was 'its UUID could not be matched to an NVML device', whatever the cause, with
    nothing to act on."""
    simulated_gpu([SimGpu("GPU-aaaa"), SimGpu("GPU-bbbb")])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    with pytest.warns(EnergyWarning, match=f"gpu:0: its UUID could not be matched to an NVML device: {why}"):
        EnergyMonitor(gpus=[0], cpu=False).close()
