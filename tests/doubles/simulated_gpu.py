"""A pynvml-compatible simulated GPU: the one stand-in for hardware this machine lacks.

The module object :class:`SimulatedNvml` exposes the subset of ``pynvml`` that ecopt-lightning calls, with the
same names, error classes and units (mJ, mW), so the product's real NVML code path runs against it unchanged
when it is put in ``sys.modules["pynvml"]`` (see the ``simulated_gpu`` fixture in ``tests/conftest.py``).

Each :class:`SimGpu` has a UUID, a power trace (W, a constant or a function of seconds since creation) and an
energy counter that is the exact integral of that trace, optionally quantised to ``counter_period_s`` like the
real ~100 ms counter. Faults: ``counter_supported=False`` (pre-Volta), ``instant_supported=False``,
``fail(code)``/``recover()`` to make every call on the device raise, e.g. ``GPU_IS_LOST`` mid-run, and
``fail_at_call=N`` to do the same from the device's Nth call on. Faults are triggered by events (a call, the
test's own ``fail()``), never by elapsed time, so a test's outcome does not depend on the machine's speed.

Example:
    >>> nvml = SimulatedNvml([SimGpu("GPU-aaaa", power_W=100.0)])
    >>> nvml.nvmlInit(); h = nvml.nvmlDeviceGetHandleByIndex(0)
    >>> nvml.nvmlDeviceGetPowerUsage(h)
    100000
"""

from __future__ import annotations

import math
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from typing_extensions import override

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999
NVML_FI_DEV_POWER_INSTANT = 186
NVML_VALUE_TYPE_UNSIGNED_INT = 1

_NAMES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "InvalidArgument",
    NVML_ERROR_NOT_SUPPORTED: "NotSupported",
    NVML_ERROR_NO_PERMISSION: "NoPermission",
    NVML_ERROR_NOT_FOUND: "NotFound",
    NVML_ERROR_DRIVER_NOT_LOADED: "DriverNotLoaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "LibraryNotFound",
    NVML_ERROR_GPU_IS_LOST: "GpuIsLost",
    NVML_ERROR_UNKNOWN: "Unknown",
}


class NVMLError(Exception):
    """Like pynvml's: ``NVMLError(code)`` builds the subclass for that code, e.g. ``NVMLError_NotSupported``."""

    _by_code: ClassVar[dict[int, type[NVMLError]]] = {}
    value: int

    def __new__(cls, value: int = NVML_ERROR_UNKNOWN):
        if cls is NVMLError:
            cls = NVMLError._by_code.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int = NVML_ERROR_UNKNOWN) -> None:
        super().__init__(value)

    @override
    def __str__(self) -> str:
        return _NAMES.get(self.value, f"NVML error {self.value}")


_error_classes: dict[str, type[NVMLError]] = {}
for _code, _name in _NAMES.items():

    def _make(code: int) -> Callable:
        def new(cls, *args):
            return NVMLError.__new__(cls, code)

        return new

    _cls = type(f"NVMLError_{_name}", (NVMLError,), {"__new__": _make(_code)})
    NVMLError._by_code[_code] = _cls
    _error_classes[_cls.__name__] = _cls


class _Value:
    def __init__(self, ui: int) -> None:
        self.uiVal = ui
        self.dVal = float(ui)


class _Field:
    def __init__(self, field_id: int, ret: int, value: int) -> None:
        self.fieldId = field_id
        self.nvmlReturn = ret
        self.valueType = NVML_VALUE_TYPE_UNSIGNED_INT
        self.value = _Value(value)


class SimGpu:
    """One simulated GPU.

    Args:
        uuid: as NVML spells it (``GPU-...``).
        power_W: a constant (W) or a function of seconds since creation returning W.
        counter_supported: whether ``nvmlDeviceGetTotalEnergyConsumption`` works (Volta and newer).
        instant_supported: whether ``NVML_FI_DEV_POWER_INSTANT`` works.
        counter_period_s: the counter only moves at multiples of this period (0: continuous).
        start_mJ: the counter's value at creation (mJ since "driver load").
        mig_uuids: UUIDs (``MIG-...``) of MIG slices on this GPU.
        fail_at_call: every call on this device raises ``fail_code`` from its Nth call on (1-based; every
            call that reaches the device counts: its UUID, name and sensor reads; ``None``: never).
        fail_code: the NVML error code of that fault (default ``GPU_IS_LOST``).
    """

    def __init__(
        self,
        uuid: str,
        power_W: float | Callable[[float], float] = 100.0,
        *,
        name: str = "Simulated H100",
        counter_supported: bool = True,
        instant_supported: bool = True,
        counter_period_s: float = 0.0,
        start_mJ: int = 123_456_789,
        mig_uuids: tuple[str, ...] = (),
        fail_at_call: int | None = None,
        fail_code: int = NVML_ERROR_GPU_IS_LOST,
    ) -> None:
        if fail_at_call is not None and fail_at_call < 1:
            raise ValueError(f"fail_at_call={fail_at_call!r} is not allowed: give a call number >= 1 or None")
        self.uuid = uuid
        self.name = name
        self.counter_supported = counter_supported
        self.instant_supported = instant_supported
        self.counter_period_s = counter_period_s
        self.start_mJ = start_mJ
        self.mig_uuids = mig_uuids
        self.failure: int | None = None
        self.fail_at_call = fail_at_call
        self.fail_code = fail_code
        self.device_calls = 0  # calls that reached this device (see check)
        self.failed_calls = 0  # of which raised the device's fault: a test waits for this event, not for a time
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._t = 0.0  # seconds since creation up to which _energy_J is integrated
        self._energy_J = 0.0
        self._power: Callable[[float], float] = (lambda t: float(power_W)) if not callable(power_W) else power_W

    # the physics: exact (1 ms midpoint) integral of the trace
    def _advance(self, t: float) -> None:
        while self._t < t:
            dt = min(0.001, t - self._t)
            self._energy_J += self._power(self._t + dt / 2) * dt
            self._t += dt

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def energy_J(self, t: float | None = None) -> float:
        """True energy since creation (J) at ``t`` (default now)."""
        with self._lock:
            self._advance(self.now() if t is None else t)
            return self._energy_J

    def set_power(self, watts: float | Callable[[float], float]) -> None:
        """Change the power from now on (energy so far is kept)."""
        with self._lock:
            self._advance(self.now())
            self._power = (lambda t: float(watts)) if not callable(watts) else watts

    def power_W(self) -> float:
        return self._power(self.now())

    def fail(self, code: int = NVML_ERROR_GPU_IS_LOST) -> None:
        """Every call on this device raises ``NVMLError(code)`` until :meth:`recover`."""
        self.failure = code

    def recover(self) -> None:
        self.failure = None

    def check(self) -> None:
        """Count one call on this device; raise its fault if it has one (set, or due from this call on)."""
        with self._lock:
            self.device_calls += 1
            if self.fail_at_call is not None and self.device_calls >= self.fail_at_call and self.failure is None:
                self.failure = self.fail_code
            failure = self.failure
            if failure is not None:
                self.failed_calls += 1
        if failure is not None:
            raise NVMLError(failure)

    def counter_mJ(self) -> int:
        t = self.now()
        if self.counter_period_s > 0:
            t = math.floor(t / self.counter_period_s) * self.counter_period_s
        return self.start_mJ + int(self.energy_J(t) * 1000.0)


@dataclass(frozen=True)
class _Handle:
    gpu: SimGpu
    mig_uuid: str | None = None


class SimulatedNvml(types.ModuleType):
    """The simulated ``pynvml`` module for a list of :class:`SimGpu` in PCI-bus order."""

    def __init__(self, gpus: list[SimGpu], *, init_error: int | None = None, driver: str = "550.54.15") -> None:
        super().__init__("pynvml")
        self.gpus = gpus
        self.init_error = init_error
        self.driver = driver
        self.init_count = 0
        self.calls: dict[str, int] = {}
        for k, v in globals().items():
            if k.startswith("NVML_"):
                setattr(self, k, v)
        self.NVMLError = NVMLError
        for k, v in _error_classes.items():
            setattr(self, k, v)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _ready(self) -> None:
        if self.init_count <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    # library
    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.init_count += 1

    def nvmlShutdown(self) -> None:
        self._ready()
        self.init_count -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._ready()
        return self.driver

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._ready()
        return "12." + self.driver

    # devices
    def nvmlDeviceGetCount(self) -> int:
        self._ready()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._ready()
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(self.gpus[index])

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> _Handle:
        self._ready()
        text = uuid.decode() if isinstance(uuid, bytes) else uuid
        for g in self.gpus:
            if g.uuid == text:
                return _Handle(g)
            if text in g.mig_uuids:
                return _Handle(g, text)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        self._ready()
        handle.gpu.check()
        return handle.mig_uuid or handle.gpu.uuid

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        self._ready()
        handle.gpu.check()
        return handle.gpu.name

    def nvmlDeviceIsMigDeviceHandle(self, handle: _Handle) -> bool:
        self._ready()
        return handle.mig_uuid is not None

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: _Handle) -> _Handle:
        self._ready()
        return _Handle(handle.gpu)

    # sensors
    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        self._ready()
        self._count("nvmlDeviceGetTotalEnergyConsumption")
        if handle.mig_uuid is not None or not handle.gpu.counter_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        handle.gpu.check()
        return handle.gpu.counter_mJ()

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        self._ready()
        self._count("nvmlDeviceGetPowerUsage")
        handle.gpu.check()
        return int(handle.gpu.power_W() * 1000.0)

    def nvmlDeviceGetFieldValues(self, handle: _Handle, field_ids: list[int]) -> list[_Field]:
        self._ready()
        self._count("nvmlDeviceGetFieldValues")
        handle.gpu.check()
        out = []
        for fid in field_ids:
            if fid == NVML_FI_DEV_POWER_INSTANT and handle.gpu.instant_supported:
                out.append(_Field(fid, NVML_SUCCESS, int(handle.gpu.power_W() * 1000.0)))
            else:
                out.append(_Field(fid, NVML_ERROR_NOT_SUPPORTED, 0))
        return out


class HeldPower:
    """A power trace (W, settable as :attr:`watts`) whose poller can be held inside a poll, before its sample, by
    an event, never by a time: :meth:`hold` returns once a poll is held, :meth:`release` lets it sample."""

    def __init__(self, watts: float) -> None:
        self.watts = watts
        self._free, self._held = threading.Event(), threading.Event()
        self._free.set()

    def __call__(self, t: float) -> float:
        if not self._free.is_set():
            self._held.set()
            self._free.wait()
        return self.watts

    def hold(self) -> None:
        self._held.clear()
        self._free.clear()
        assert self._held.wait(60), "the poller never polled"  # a hang guard: it polls every few ms

    def release(self) -> None:
        self._free.set()
