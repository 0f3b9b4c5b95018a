"""GPU energy from NVML: the energy counter where the GPU has one, else polled power integrated over time.

NVML calls used (all through ``pynvml``, from the ``nvidia-ml-py`` distribution):

- ``nvmlInit`` / ``nvmlShutdown``: once per meter, never per read.
- ``nvmlDeviceGetCount``, ``nvmlDeviceGetHandleByIndex``, ``nvmlDeviceGetUUID``: the UUID of every GPU, to
  find the handle of each CUDA device by UUID (see :mod:`.devices`).
- ``nvmlDeviceIsMigDeviceHandle``, ``nvmlDeviceGetDeviceHandleFromMigDeviceHandle``: a MIG slice has no
  energy sensor of its own; its parent GPU is measured and the value labelled ``whole-GPU``.
- ``nvmlDeviceGetTotalEnergyConsumption``: mJ since the driver loaded (Volta and newer), updated about
  every 100 ms. Source ``nvml_counter``.
- ``nvmlDeviceGetFieldValues`` with ``NVML_FI_DEV_POWER_INSTANT`` (mW, instantaneous) where the driver
  has it, else ``nvmlDeviceGetPowerUsage`` (mW; on Ampere and newer, except GA100, a 1 s average):
  polled by a background thread and integrated with the trapezoid rule (a read between two samples holds the
  last one up to the read). Source ``nvml_power``.

Example (the trapezoid rule on polled power: 100 W, then 200 W one second later, is 150 J; a failed sample
is not bridged, the integral restarts at the next good one):
    >>> power = _Integrator()
    >>> power.add(0.0, 100.0)
    >>> power.add(1.0, 200.0)
    >>> power.fail("NVML_ERROR_GPU_IS_LOST")
    >>> power.add(5.0, 300.0)
    >>> power.total_J, power.faults
    (150.0, 1)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .devices import resolve_uuid, unmatched_reason, visible_count
from .measurement import NVML_COUNTER, NVML_POWER, WHOLE_GPU
from .meter import Reading

MJ_PER_J = 1000.0
MW_PER_W = 1000.0
#: how often the energy counter updates (s)
COUNTER_UPDATE_S = 0.1
#: the averaging period of ``nvmlDeviceGetPowerUsage`` on Ampere and newer (s)
AVERAGED_POWER_S = 1.0
#: polled power samples further apart than this many poll periods are a gap (the poller held up or starved): the
#: windows across it are approximate
GAP_POLLS = 5


class NvmlUnavailable(Exception):
    """NVML cannot be used at all (not installed, no driver, no GPU); the message says which."""


def load_nvml() -> ModuleType:
    """Import ``pynvml`` and initialise NVML; raise :class:`NvmlUnavailable` with the reason otherwise."""
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable(f"nvidia-ml-py (module pynvml) is not importable: {exc}") from exc
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        raise NvmlUnavailable(f"NVML did not start ({type(exc).__name__}: {exc})") from exc
    return pynvml


@dataclass
class Gpu:
    """One CUDA device and the NVML handle that measures it."""

    domain: str
    handle: Any
    uuid: str
    name: str
    whole_gpu: bool = False  # a MIG slice measured through its parent GPU

    def label(self, source: str) -> str:
        return f"{source}:{WHOLE_GPU}" if self.whole_gpu else source


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def find_gpus(nvml: ModuleType, indices: list[int]) -> tuple[list[Gpu], dict[str, str]]:
    """NVML handles for CUDA ``indices``, matched by UUID; returns the GPUs and, per domain, why one is missing."""
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception as exc:
        return [], {f"gpu:{i}": f"NVML could not count the GPUs ({_error(exc)})" for i in indices}
    visible = visible_count(count)
    if any(i >= visible for i in indices):
        sees = f"indices 0 to {visible - 1}" if visible else "none"
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = "" if env is None else f" with CUDA_VISIBLE_DEVICES={env!r}"
        raise ValueError(f"gpus={indices!r} is not allowed: this process sees {visible} CUDA device(s){where} ({sees})")
    uuids: list[str] = []
    faulty: dict[str, str] = {}  # a stand-in UUID of a device NVML failed on -> why
    for i in range(count):
        try:
            uuids.append(_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))))
        except Exception as exc:
            uuids.append(f"unreadable-nvml-device-{i}")
            faulty[uuids[-1]] = f"NVML failed on it at start ({_error(exc)})"
    gpus: list[Gpu] = []
    missing: dict[str, str] = {}
    seen: dict[str, str] = {}  # physical GPU UUID -> the domain that measures it
    for index in indices:
        domain = f"gpu:{index}"
        uuid = resolve_uuid(index, uuids)
        if uuid is None:
            missing[domain] = f"its UUID could not be matched to an NVML device: {unmatched_reason(index, uuids)}"
            continue
        if uuid in faulty:
            missing[domain] = faulty[uuid]
            continue
        try:
            handle = nvml.nvmlDeviceGetHandleByUUID(uuid.encode())
        except Exception as exc:
            missing[domain] = f"NVML has no device with UUID {uuid} ({exc})"
            continue
        whole = False
        try:
            if nvml.nvmlDeviceIsMigDeviceHandle(handle):
                handle = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle)
                whole = True
        except Exception:
            pass
        try:
            physical = _text(nvml.nvmlDeviceGetUUID(handle))
        except Exception as exc:
            missing[domain] = f"NVML failed on it at start ({_error(exc)})"
            continue
        if physical in seen:
            missing[domain] = f"it is on the same physical GPU as {seen[physical]}, which already counts its energy"
            continue
        seen[physical] = domain
        try:
            name = _text(nvml.nvmlDeviceGetName(handle))
        except Exception:
            name = "unknown GPU"
        gpus.append(Gpu(domain, handle, uuid, name, whole))
    return gpus, missing


#: the NVML errors that say a GPU has no such sensor (the energy counter before Volta; a driver without the call)
UNSUPPORTED_ERRORS = ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND")


def _unsupported(nvml: ModuleType, exc: Exception) -> bool:
    codes = {getattr(nvml, name, None) for name in UNSUPPORTED_ERRORS} - {None}
    return getattr(exc, "value", None) in codes


def _answers(nvml: ModuleType, read: Callable[[], Any]) -> bool:
    """Whether ``read`` answers: ``False`` on NotSupported; any other NVML error (the GPU lost, Unknown) says
    nothing about support and is raised."""
    try:
        read()
        return True
    except Exception as exc:
        if _unsupported(nvml, exc):
            return False
        raise


def counter_supported(nvml: ModuleType, handle: Any) -> bool:
    """Whether the GPU has the total-energy counter (Volta and newer). Any other NVML error (the GPU lost,
    Unknown) says nothing about the counter and is raised."""
    return _answers(nvml, lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle))


def power_supported(nvml: ModuleType, handle: Any) -> bool:
    """Whether NVML reads the GPU's power (the instantaneous field, or ``nvmlDeviceGetPowerUsage``); errors other
    than NotSupported are raised, as by :func:`counter_supported`."""
    field_id = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", None)
    if field_id is not None:
        try:
            if int(nvml.nvmlDeviceGetFieldValues(handle, [field_id])[0].nvmlReturn) == 0:
                return True
        except Exception:
            pass  # a driver without field values: the plain call says
    return _answers(nvml, lambda: nvml.nvmlDeviceGetPowerUsage(handle))


class NvmlCounterMeter:
    """Cumulative GPU energy (J) from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load)."""

    update_period_s = COUNTER_UPDATE_S

    def __init__(self, nvml: ModuleType, gpus: list[Gpu]) -> None:
        self._nvml = nvml
        self._gpus = gpus
        self._start_mJ: dict[str, int] = {}
        self._start_error: dict[str, str] = {}  # a GPU whose first read failed has no zero: never valid
        for g in gpus:
            try:
                self._start_mJ[g.domain] = int(nvml.nvmlDeviceGetTotalEnergyConsumption(g.handle))
            except Exception as exc:
                self._start_error[g.domain] = f"NVML energy read failed at start: {_error(exc)}"
        self.sources = {g.domain: g.label(NVML_COUNTER) for g in gpus}

    def read(self) -> Reading:
        reading = Reading(errors=dict(self._start_error))
        for g in self._gpus:
            if g.domain in self._start_error:
                continue
            try:
                now = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(g.handle))
            except Exception as exc:
                reading.errors[g.domain] = f"NVML energy read failed: {_error(exc)}"
                continue
            reading.energy_J[g.domain] = (now - self._start_mJ[g.domain]) / MJ_PER_J
        return reading

    def close(self) -> None:
        pass


def _field_value(field: Any) -> float:
    kind = int(field.valueType)
    attr = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}.get(kind, "uiVal")
    return float(getattr(field.value, attr))


class _Integrator:
    """Trapezoid integral of one GPU's power samples (W over s -> J); with a ``period_s``, samples (or a read) more
    than :data:`GAP_POLLS` periods after the last sample count as a gap (:attr:`gaps`, :attr:`gap_why`)."""

    def __init__(self, period_s: float | None = None) -> None:
        self.total_J = 0.0
        self.last_t: float | None = None
        self.last_W = 0.0
        self.faults = 0
        self.failing: str | None = None
        self.period_s = period_s
        self.sample_t: float | None = None  # when the last sample was taken (a read moves last_t, not this)
        self.gaps = 0
        self.gap_why = ""
        self._read_gap_of: float | None = None  # the sample whose gap a read counted already

    def _gap(self, t: float) -> bool:
        if self.period_s is None or self.sample_t is None or t - self.sample_t <= GAP_POLLS * self.period_s:
            return False
        self.gaps += 1
        self.gap_why = (
            f"NVML power not sampled for {t - self.sample_t:.3f} s (over {GAP_POLLS} x the {self.period_s:g} s poll "
            "period: the poller was held up); the power in between is interpolated"
        )
        return True

    def add(self, t: float, watts: float) -> None:
        self._gap(t)  # the windows from the last sample (or a read after it) to this one
        if self.last_t is not None:
            t = max(t, self.last_t)  # a read between this sample's time and now held the last one up to then
            self.total_J += 0.5 * (self.last_W + watts) * (t - self.last_t)
        self.last_t, self.last_W = t, watts
        self.sample_t = t
        self.failing = None

    def fail(self, reason: str) -> None:
        # the gap is not integrated: restart from the next good sample and mark the windows that span it
        self.last_t = self.sample_t = None
        self.faults += 1
        self.failing = reason

    def read(self, t: float) -> float:
        """The integral up to ``t`` (J), the last sample held since it was taken. The held part is kept (the next
        sample's trapezoid starts at ``t``), so that a later read never gives less, whatever that sample says."""
        if self._read_gap_of != self.sample_t and self._gap(t):  # the held sample stands in for the missing ones
            self._read_gap_of = self.sample_t
        if self.last_t is not None and t > self.last_t:
            self.total_J += self.last_W * (t - self.last_t)
            self.last_t = t
        return self.total_J


class NvmlPowerMeter:
    """GPU energy (J) integrated from power polled by a background thread every ``period_s`` seconds.

    Used where the energy counter is not supported. Reads ``NVML_FI_DEV_POWER_INSTANT`` where the driver has
    it; else ``nvmlDeviceGetPowerUsage``, which on recent GPUs is a 1 s average, so windows shorter than
    1 s are then approximate.
    """

    def __init__(self, nvml: ModuleType, gpus: list[Gpu], period_s: float = 0.05) -> None:
        if not period_s > 0:
            raise ValueError(f"poll_period_s={period_s!r} is not allowed: give a period in s greater than 0")
        self._nvml = nvml
        self._gpus = gpus
        self.period_s = period_s
        self._instant = {g.domain: self._instant_supported(g.handle) for g in gpus}
        self.update_period_s = max(period_s, 0.0 if all(self._instant.values()) else AVERAGED_POWER_S)
        self.sources = {g.domain: g.label(NVML_POWER) for g in gpus}
        self._lock = threading.Lock()
        self._int = {g.domain: _Integrator(period_s) for g in gpus}
        self._stop = threading.Event()
        self._poll()
        self._thread = threading.Thread(target=self._run, name="ecopt-nvml-power", daemon=True)
        self._thread.start()

    def _instant_supported(self, handle: Any) -> bool:
        field_id = getattr(self._nvml, "NVML_FI_DEV_POWER_INSTANT", None)
        if field_id is None:
            return False
        try:
            values = self._nvml.nvmlDeviceGetFieldValues(handle, [field_id])
            return int(values[0].nvmlReturn) == 0
        except Exception:
            return False

    def _power_W(self, gpu: Gpu) -> float:
        if self._instant[gpu.domain]:
            field = self._nvml.nvmlDeviceGetFieldValues(gpu.handle, [self._nvml.NVML_FI_DEV_POWER_INSTANT])[0]
            if int(field.nvmlReturn) == 0:
                return _field_value(field) / MW_PER_W
        return float(self._nvml.nvmlDeviceGetPowerUsage(gpu.handle)) / MW_PER_W

    def _poll(self) -> None:
        for g in self._gpus:
            try:
                watts = self._power_W(g)
                t = time.perf_counter()
            except Exception as exc:
                with self._lock:
                    self._int[g.domain].fail(f"NVML power read failed: {type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self._int[g.domain].add(t, watts)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._poll()

    def read(self) -> Reading:
        t = time.perf_counter()
        reading = Reading()
        with self._lock:
            for domain, integ in self._int.items():
                reading.faults[domain] = integ.faults
                if self._stop.is_set():  # no poller: the last sample would be extrapolated for ever
                    reading.errors[domain] = "NVML power is no longer polled: the meter is closed"
                elif integ.failing:
                    reading.errors[domain] = integ.failing
                else:
                    reading.energy_J[domain] = integ.read(t)
                if integ.gaps:  # after the read, which counts a gap it extrapolates over
                    reading.gaps[domain] = integ.gaps
                    reading.gap_reasons[domain] = integ.gap_why
        return reading

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self.period_s + 1.0)
