"""Shared fixtures: the simulated GPU and the fake powercap tree, installed where the real ones are read."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest

from ecopt_lightning.energy import EnergyMonitor, _notices
from tests.doubles.clock import ManualClock
from tests.doubles.fake_powercap import FakePowercap
from tests.doubles.simulated_gpu import SimGpu, SimulatedNvml


@pytest.fixture(autouse=True)
def _fresh_notices() -> Iterator[None]:
    """Each test sees the once-per-process notices afresh."""
    _notices.forget_all()
    yield
    _notices.forget_all()


@pytest.fixture
def simulated_gpu(monkeypatch: pytest.MonkeyPatch) -> Callable[..., SimulatedNvml]:
    """Install a :class:`SimulatedNvml` as ``pynvml``; call with a list of :class:`SimGpu` (or nothing for one
    100 W GPU). ``CUDA_VISIBLE_DEVICES`` and ``CUDA_DEVICE_ORDER`` are cleared; set them in the test."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)

    def install(gpus: list[SimGpu] | None = None, **kwargs) -> SimulatedNvml:
        nvml = SimulatedNvml(gpus if gpus is not None else [SimGpu("GPU-00000000-sim0")], **kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", nvml)
        return nvml

    return install


@pytest.fixture
def fake_powercap(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakePowercap]:
    """A fake powercap tree under tmp_path, made the default RAPL root through ``ECOPT_POWERCAP_ROOT``."""

    def make(**kwargs) -> FakePowercap:
        cap = FakePowercap(tmp_path / "powercap", **kwargs)
        monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(cap.root))
        return cap

    return make


@pytest.fixture(autouse=True)
def _no_host_proc(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """Tests never judge contention from the host's /proc (its load is not theirs to decide): by default the
    /proc root is an empty folder; tests of contention use tests/doubles/fake_proc.py."""
    monkeypatch.setenv("ECOPT_PROC_ROOT", str(tmp_path_factory.mktemp("no-proc")))


@pytest.fixture(autouse=True)
def _no_host_powercap(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """Tests never read the host's RAPL: by default the powercap root is an empty folder."""
    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(tmp_path_factory.mktemp("no-powercap")))


@pytest.fixture
def manual_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ManualClock]:
    """Install a :class:`ManualClock` as ``time.perf_counter`` (call with ``tick=...`` to also move it on every
    read). Install it before creating a ``SimGpu``, whose trace starts at the clock's current time."""

    def install(tick: float = 0.0) -> ManualClock:
        clock = ManualClock(tick=tick)
        monkeypatch.setattr(time, "perf_counter", clock)  # the simulated GPU's trace and the power poller
        # EnergyMonitor bound time.perf_counter as its clock's default: monitors made in the test use this one
        monkeypatch.setitem(EnergyMonitor.__init__.__kwdefaults__, "clock", clock)
        return clock

    return install
