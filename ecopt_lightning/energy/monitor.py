"""`EnergyMonitor`: explicit measurement windows over every meter that works on this machine."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from . import _notices
from .checks import finite, flag
from .contention import REMEDY, Contention, ProcReader, ProcSample, compute_threads, proc_root
from .estimate import CpuTimeEstimate
from .measurement import (
    ESTIMATE,
    FROZEN_RAPL,
    FROZEN_READS,
    FROZEN_UPDATES,
    NVML_COUNTER,
    RAPL,
    SHORT_WINDOW,
    SOURCES,
    STILL_COUNTER,
    Measurement,
    base_source,
    is_measured,
    min_window_s,
)
from .meter import Meter, Reading
from .nvml import (
    Gpu,
    NvmlCounterMeter,
    NvmlPowerMeter,
    NvmlUnavailable,
    counter_supported,
    find_gpus,
    load_nvml,
    power_supported,
)
from .rapl import RaplError, RaplMeter, powercap_root

CpuChoice = Literal["auto", "rapl", "estimate"] | bool
GpuChoice = Literal["auto"] | Sequence[int]


def check_cpu(cpu: object) -> CpuChoice:
    """``cpu`` when it is a :data:`CpuChoice`, else a one-line ``ValueError``."""
    if not (isinstance(cpu, bool) or cpu in ("auto", "rapl", "estimate")):
        raise ValueError(f"cpu={cpu!r} is not allowed: use 'auto', True, 'rapl', 'estimate' or False")
    return cpu


@dataclass(frozen=True)
class Snapshot:
    """All meters read at one moment: cumulative energy per domain (J) at ``t`` (``time.perf_counter``, s)."""

    t: float
    energy_J: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    #: CPU time counters from ``/proc`` (``None`` where it is not read)
    proc: ProcSample | None = None
    #: per domain, why its last fault happened (:attr:`Reading.fault_reasons`)
    fault_reasons: dict[str, str] = field(default_factory=dict)
    #: per domain, the gaps in its samples so far and what the last one was (:attr:`Reading.gaps`)
    gaps: dict[str, int] = field(default_factory=dict)
    gap_reasons: dict[str, str] = field(default_factory=dict)
    #: how long (s, by the monitor's clock) and over how many reads, this one included, no RAPL counter had moved, as of
    #: this read: since the last read where one moved, or the first read (0 s and 1 read there; 0 reads when a RAPL
    #: domain was not read, or with none)
    still_s: float = 0.0
    still_reads: int = 0


@dataclass
class Window:
    """An open or closed window; its :attr:`measurement` is readable once it closes."""

    name: str
    start: Snapshot
    closed: Measurement | None = None  # set when the window closes

    @property
    def measurement(self) -> Measurement:
        """What the window measured (J, s, per domain).

        Raises:
            RuntimeError: the window is still open (read it after the ``with`` block or :meth:`EnergyMonitor.end`).
        """
        if self.closed is None:
            raise RuntimeError(f"window {self.name!r} is still open: read its measurement after it closes")
        return self.closed


def _proc_root(root: str | os.PathLike[str] | None) -> Path | None:
    path = proc_root() if root is None else Path(root)
    try:
        return path if (path / "stat").is_file() else None
    except OSError:  # e.g. a folder this user may not read
        return None


def _cuda_indices(gpus: GpuChoice) -> list[int]:
    if isinstance(gpus, str):
        if gpus != "auto":
            raise ValueError(f"gpus={gpus!r} is not allowed: use 'auto', a list of CUDA device indices, or []")
        try:
            import torch
        except ImportError:
            return []
        return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        indices = list(gpus)
    except TypeError:  # an int, None
        raise ValueError(f"gpus={gpus!r} is not allowed: use 'auto', a list of CUDA device indices, or []") from None
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ValueError(f"gpus={list(gpus)!r} is not allowed: CUDA device indices must be integers >= 0")
    if len(set(indices)) != len(indices):
        raise ValueError(f"gpus={indices!r} is not allowed: each CUDA device may be listed once")
    return indices


def _check_meter(meter: Any) -> None:
    """A one-line ``ValueError`` unless ``meter`` has ``read()``, ``close()``, ``sources`` whose every label is one
    of :data:`SOURCES` (an unknown label would be counted as measured), and an ``update_period_s`` >= 0."""
    if not all(callable(getattr(meter, name, None)) for name in ("read", "close")) or not isinstance(
        getattr(meter, "sources", None), dict
    ):
        raise ValueError(f"meters=[{meter!r}, ...] is not allowed: give Meters (read(), close() and sources)")
    for domain, source in meter.sources.items():
        if not isinstance(source, str) or base_source(source) not in SOURCES:
            raise ValueError(
                f"meters=[{meter!r}, ...] is not allowed: its source {source!r} for {domain!r} is not one of "
                f"{', '.join(SOURCES)}"
            )
    period = getattr(meter, "update_period_s", None)
    if isinstance(period, bool) or not isinstance(period, int | float) or not period >= 0 or period == math.inf:
        raise ValueError(
            f"meters=[{meter!r}, ...] is not allowed: its update_period_s={period!r} is not a finite number of "
            "seconds >= 0"
        )


class EnergyMonitor:
    """Measures energy (J) over explicit windows on the GPUs and CPU this process uses.

    Each domain is read by the best meter available: the NVML energy counter (``nvml_counter``), else NVML
    power polled and integrated (``nvml_power``) for GPUs; RAPL (``rapl``) for CPU packages and DRAM; else an
    estimate from process CPU time (``estimate``). What is measured and what is estimated is said once, when
    the monitor starts, and every :class:`Measurement` carries its sources.

    Args:
        gpus: CUDA device indices as torch sees them, ``"auto"`` (all visible CUDA devices), or ``[]``; an index
            this process cannot see (past ``CUDA_VISIBLE_DEVICES``' entries, or NVML's GPUs) is a ``ValueError``.
        cpu: ``"auto"`` or ``True`` (RAPL where readable, else the estimate), ``"rapl"`` (RAPL or an error),
            ``"estimate"``, or ``False`` (no CPU domain).
        sync: synchronise the measured CUDA devices at both ends of each window (default), so the window holds
            the GPU work queued inside it rather than whatever happens to run then. Costs one
            ``torch.cuda.synchronize`` per device per window end, i.e. it drains the launch queue; turn it off
            for windows inside a pipeline you do not want to stall, and accept that queued work may spill over.
        poll_period_s: sampling period of the power-polling fallback (s).
        cpu_watts_per_core: power of one busy core for the estimate (W); default from a TDP table.
        rapl_root: the powercap folder (default ``$ECOPT_POWERCAP_ROOT`` or ``/sys/class/powercap``); one given
            here must exist.
        keepalive_s: period of a background read that keeps RAPL wrap-around visible in long windows (s).
        meters: read these meters instead of finding them (a custom sensor, or a test double); ``gpus`` and
            ``cpu`` are then not used.
        proc_root: where ``/proc`` is read for the CPU load of other processes during each window (default
            ``$ECOPT_PROC_ROOT`` or ``/proc``, read where it has a ``stat`` file); ``False`` reads nothing. One
            given here must have a ``stat`` file.
        clock: the clock of window ends (s; default ``time.perf_counter``).

    Example:
        >>> monitor = EnergyMonitor(gpus=[], cpu="estimate")
        >>> with monitor.window("work") as w:
        ...     _ = sum(i * i for i in range(10_000))
        >>> w.measurement.sources
        {'cpu:0': 'estimate'}
        >>> monitor.close()
    """

    def __init__(
        self,
        gpus: GpuChoice = "auto",
        cpu: CpuChoice = "auto",
        *,
        sync: bool = True,
        poll_period_s: float = 0.05,
        cpu_watts_per_core: float | None = None,
        rapl_root: str | os.PathLike[str] | None = None,
        keepalive_s: float = 30.0,
        meters: Sequence[Meter] | None = None,
        proc_root: str | os.PathLike[str] | Literal[False] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        check_cpu(cpu)
        flag("sync", sync)
        finite("keepalive_s", keepalive_s, 0.0, strict=True)
        finite("poll_period_s", poll_period_s, 0.0, strict=True)
        if not callable(clock):
            raise ValueError(f"clock={clock!r} is not allowed: give a function () -> seconds, or leave the default")
        for meter in meters or []:
            _check_meter(meter)
        if rapl_root is not None and not Path(rapl_root).is_dir():
            raise ValueError(
                f"rapl_root={rapl_root!r} is not allowed: no such folder; give the powercap folder (such as "
                "/sys/class/powercap), or None for $ECOPT_POWERCAP_ROOT or /sys/class/powercap"
            )
        root = None if proc_root is False else _proc_root(proc_root)
        if proc_root not in (None, False) and root is None:
            raise ValueError(
                f"proc_root={proc_root!r} is not allowed: it has no readable stat file; give a /proc folder, None "
                "for $ECOPT_PROC_ROOT or /proc, or False to read nothing"
            )
        self.sync = sync
        self.clock = clock
        self._proc = None if root is None else ProcReader(root)
        self.gpu_indices = _cuda_indices(gpus) if meters is None else []
        self.meters: list[Meter] = list(meters or [])
        self.missing: dict[str, str] = {}
        self.notes: dict[str, str] = {}  # domain -> what it is (GPU name, estimate basis)
        self.uuids: dict[str, str] = {}  # GPU domain -> NVML UUID of the device it reads (for de-duplication)
        self._windows: dict[str, Window] = {}
        self._lock = threading.Lock()
        self._nvml: ModuleType | None = None
        self._stop = threading.Event()
        self._keepalive: threading.Thread | None = None
        if meters is None:
            try:
                self._add_gpu_meters(poll_period_s)
                self._add_cpu_meters(cpu, cpu_watts_per_core, rapl_root, keepalive_s)
            except BaseException:  # a monitor never returned cannot be closed by its caller
                self.close()
                raise
        self.sources: dict[str, str] = {}
        self._period: dict[str, float] = {}
        self._meter_of: dict[str, Meter] = {}
        for meter in self.meters:
            for domain, source in meter.sources.items():
                self.sources[domain] = source
                self._period[domain] = meter.update_period_s
                self._meter_of[domain] = meter
        self._rapl = [d for d, s in self.sources.items() if base_source(s) == RAPL]
        #: RAPL counters that did not move are frozen once they read so over this long (s)
        self._frozen_after_s = FROZEN_UPDATES * max((self._period[d] for d in self._rapl), default=0.0)
        #: the RAPL counters' values at the last read where one moved (or the first read), when it was, and how many
        #: reads since with none moved, that one included
        self._still: tuple[tuple[float, ...], float, int] | None = None
        self._announce()

    # set-up -------------------------------------------------------------------------------------------------
    def _add_gpu_meters(self, poll_period_s: float) -> None:
        if not self.gpu_indices:
            return
        try:
            self._nvml = nvml = load_nvml()
        except NvmlUnavailable as exc:
            for i in self.gpu_indices:
                self.missing[f"gpu:{i}"] = str(exc)
            return
        gpus, missing = find_gpus(nvml, self.gpu_indices)
        self.missing.update(missing)
        with_counter: list[Gpu] = []
        polled: list[Gpu] = []
        for g in list(gpus):
            try:
                if counter_supported(nvml, g.handle):
                    with_counter.append(g)
                elif power_supported(nvml, g.handle):
                    polled.append(g)
                else:
                    self.missing[g.domain] = "NVML reads neither its energy counter nor its power (NotSupported)"
                    gpus.remove(g)
            except Exception as exc:
                self.missing[g.domain] = f"NVML failed on it at start ({type(exc).__name__}: {exc})"
                gpus.remove(g)
        if with_counter:
            self.meters.append(NvmlCounterMeter(nvml, with_counter))
        if polled:
            self.meters.append(NvmlPowerMeter(nvml, polled, poll_period_s))
        for g in gpus:
            self.notes[g.domain] = g.name
            self.uuids[g.domain] = g.uuid
            if g.whole_gpu:
                _notices.say_once(
                    f"mig:{g.uuid}",
                    f"{g.domain} is a MIG slice ({g.uuid}); NVML has no energy sensor per slice, so the whole "
                    "parent GPU is measured, including other slices' work (source labelled 'whole-GPU').",
                )

    def _add_cpu_meters(self, cpu: CpuChoice, watts: float | None, rapl_root, keepalive_s: float) -> None:
        if cpu is False:
            return
        unreadable = ""  # RAPL zones found but not read, and why
        if cpu != "estimate":
            try:
                rapl = RaplMeter(rapl_root)
            except RaplError as exc:
                if cpu == "rapl":
                    raise ValueError(f"cpu='rapl' is not possible here: {exc}") from None
                _notices.say_once("rapl-permission", str(exc))
                rapl = None
            if rapl is not None and rapl.sources:
                self.meters.append(rapl)
                self.missing.update(rapl.missing)
                self._keepalive = threading.Thread(
                    target=self._keep_reading,
                    args=(rapl, keepalive_s),
                    name="ecopt-rapl-keepalive",
                    daemon=True,
                )
                self._keepalive.start()
                return
            if rapl is not None:
                unreadable = "; ".join(f"{d}: {why}" for d, why in rapl.missing.items())
            if cpu == "rapl":
                why = unreadable or f"no RAPL zones under {powercap_root(rapl_root)}"
                raise ValueError(f"cpu='rapl' is not possible here: {why}")
        estimate = CpuTimeEstimate(watts)
        self.meters.append(estimate)
        self.notes[estimate.domain] = f"process CPU time x {estimate.watts:g} W per core, {estimate.basis}" + (
            f"; RAPL not readable: {unreadable}" if unreadable else ""
        )

    @property
    def min_window_s(self) -> float:
        """The shortest window (s) that every meter here resolves well enough to compare models: see
        :data:`~ecopt_lightning.energy.measurement.MIN_WINDOW_S` (at least 10 updates of an NVML counter)."""
        floor = min_window_s(self.sources)
        counters = [self._period[d] for d, s in self.sources.items() if base_source(s) == NVML_COUNTER]
        return max([floor, *(10 * p for p in counters)])

    def _keep_reading(self, meter: Meter, period: float) -> None:
        while not self._stop.wait(period):
            meter.read()

    def describe(self) -> str:
        """One paragraph: which domains are measured, which estimated, which absent and why."""
        measured = [
            f"{d} ({s}{', ' + self.notes[d] if d in self.notes else ''})"
            for d, s in self.sources.items()
            if is_measured(s)
        ]
        estimated = [f"{d} ({self.notes.get(d, '')})" for d, s in self.sources.items() if not is_measured(s)]
        parts = [f"measured: {', '.join(measured) or 'nothing'}"]
        if estimated:
            parts.append(f"ESTIMATED, not measured: {', '.join(estimated)}")
        if self.missing:
            parts.append("not measured at all: " + "; ".join(f"{d}: {why}" for d, why in self.missing.items()))
        return "ecopt energy: " + ". ".join(parts) + "."

    def _announce(self) -> None:
        text = self.describe()
        if self.missing or any(base_source(s) == ESTIMATE for s in self.sources.values()):
            _notices.say_once(text, text)
        else:
            _notices.log.info(text)

    # reading ------------------------------------------------------------------------------------------------
    def _synchronize(self) -> None:
        torch = sys.modules.get("torch")
        if torch is None or not self.gpu_indices or not torch.cuda.is_initialized():
            return
        for i in self.gpu_indices:
            try:
                torch.cuda.synchronize(i)
            except Exception:  # a lost device must not break the user's loop; the read will say so
                pass

    def snapshot(self, sync: bool | None = None) -> Snapshot:
        """Read every meter now (cheap: one counter read per domain; synchronises CUDA if ``sync``).

        Raises:
            RuntimeError: the monitor is closed: its meters are stopped, so a read would not be a measurement.
        """
        if self.closed:
            raise RuntimeError(
                "this EnergyMonitor is closed: its meters are stopped (NVML shut down, no power polling, no RAPL "
                "keep-alive read), so it measures nothing more; open a new EnergyMonitor to measure again"
            )
        if self.sync if sync is None else sync:
            self._synchronize()
        energy: dict[str, float] = {}
        errors: dict[str, str] = {}
        faults: dict[str, int] = {}
        fault_reasons: dict[str, str] = {}
        gaps: dict[str, int] = {}
        gap_reasons: dict[str, str] = {}
        t = self.clock()
        for meter in self.meters:
            try:
                reading = meter.read()
            except Exception as exc:  # breaks the Meter contract: its domains fail in this read, the loop goes on
                why = f"the meter's read raised {type(exc).__name__}: {exc}"
                reading = Reading(errors=dict.fromkeys(meter.sources, why))
            energy.update(reading.energy_J)
            errors.update(reading.errors)
            faults.update(reading.faults)
            fault_reasons.update(reading.fault_reasons)
            gaps.update(reading.gaps)
            gap_reasons.update(reading.gap_reasons)
        proc = None if self._proc is None else self._proc.read(t)
        still_s, still_reads = self._still_for(t, energy)
        return Snapshot(t, energy, errors, faults, proc, fault_reasons, gaps, gap_reasons, still_s, still_reads)

    def _still_for(self, t: float, energy: Mapping[str, float]) -> tuple[float, int]:
        """How long (s) and over how many reads no RAPL counter has moved, as of this read at ``t``: since the last
        read where one did, or the first read (:attr:`Snapshot.still_s`, :attr:`Snapshot.still_reads`)."""
        with self._lock:
            if not self._rapl or any(d not in energy for d in self._rapl):
                return 0.0, 0  # a domain not read says nothing of the others
            values = tuple(energy[d] for d in self._rapl)
            if self._still is None or self._still[0] != values:
                self._still = (values, t, 1)
                return 0.0, 1
            _, since, reads = self._still
            self._still = (values, since, reads + 1)
            return max(0.0, t - since), reads + 1

    def measure(self, start: Snapshot, end: Snapshot, name: str = "") -> Measurement:
        """The :class:`Measurement` between two snapshots. Consecutive windows that share a snapshot add up
        exactly to the window from the first start to the last end.

        Example:
            >>> m = EnergyMonitor(gpus=[], cpu="estimate")
            >>> a = m.snapshot(); b = m.snapshot(); c = m.snapshot()
            >>> abs((m.measure(a, b) + m.measure(b, c)).energy_J - m.measure(a, c).energy_J) < 1e-12
            True
        """
        seconds = max(0.0, end.t - start.t)
        by_device: dict[str, float] = {}
        invalid: dict[str, str] = {}
        approximate_why: dict[str, str] = {}
        for domain in self.sources:
            reason = end.errors.get(domain) or start.errors.get(domain)
            if reason is None and start.faults.get(domain, 0) != end.faults.get(domain, 0):
                reason = end.fault_reasons.get(domain) or "readings failed during the window"
            if reason is None and (domain not in start.energy_J or domain not in end.energy_J):
                reason = "no reading"
            if reason is None:
                value = end.energy_J[domain] - start.energy_J[domain]
                if value < 0:
                    reason = f"counter went backwards by {-value:.3f} J (driver reload or reset?)"
                else:
                    by_device[domain] = value
                    why = self._approximate_why(domain, start, end, seconds, value, name)
                    if why:
                        approximate_why[domain] = why
            if reason is not None:
                invalid[domain] = reason
                _notices.say_once(
                    f"invalid:{domain}:{reason}",
                    f"ecopt energy: {domain} invalid in window "
                    f"{name!r}: {reason}; it is left out of the window's energy.",
                )
        sources = {d: self.sources[d] for d in by_device}
        contention = None
        if start.proc is not None and end.proc is not None and by_device:  # it qualifies a value: none, nothing to say
            contention = Contention.between(start.proc, end.proc, seconds, compute_threads())
            if contention.contended:
                _notices.say_once(
                    "contended",
                    f"ecopt energy: window {name!r} was contended: {contention.describe()}; its value may be "
                    "biased. A result pooled over several windows (the inference benchmark's repeats, a phase's "
                    "totals) is marked 'contended' only when its windows together were: see its own 'contended' "
                    f"field. To measure quietly: {REMEDY}.",
                )
        approximate = bool(approximate_why)
        frozen = self._frozen(by_device, end, name)
        return Measurement(name, seconds, by_device, sources, approximate, invalid, contention, approximate_why, frozen)

    def _frozen(self, by_device: Mapping[str, float], end: Snapshot, name: str) -> dict[str, str]:
        """The RAPL domains whose 0 J in this window is no reading (:attr:`Measurement.frozen`): every one read 0 J,
        and none has moved over its last :data:`FROZEN_READS` reads and :data:`FROZEN_UPDATES` updates or more, since
        its meter started or after it moved (a DRAM zone alone may read 0 J; a few reads may fall between two
        updates)."""
        if not self._rapl or end.still_reads < FROZEN_READS or end.still_s < self._frozen_after_s:
            return {}
        if any(by_device.get(d) != 0 for d in self._rapl):
            return {}
        _notices.say_once(
            "frozen-rapl",
            f"ecopt energy: {', '.join(self._rapl)} not measured from window {name!r} on: {FROZEN_RAPL}. Their "
            "windows count as not measured: no total, epoch or step value holding them is logged as 0 J; "
            "cpu='estimate' gives a labelled estimate instead.",
        )
        return dict.fromkeys(self._rapl, FROZEN_RAPL)

    def _approximate_why(
        self, domain: str, start: Snapshot, end: Snapshot, seconds: float, value: float, name: str
    ) -> str:
        """Why the window's ``value`` (J) of ``domain`` is approximate; empty when it is not."""
        if start.gaps.get(domain, 0) != end.gaps.get(domain, 0):
            why = end.gap_reasons.get(domain) or "a gap in its samples"
            _notices.say_once(f"gap:{domain}", f"ecopt energy: {domain} approximate in window {name!r}: {why}.")
            return why
        if seconds < self._period[domain]:
            return f"the window ({seconds:.3g} s) is {SHORT_WINDOW} ({self._period[domain]:g} s)"
        # a GPU draws power all the time: a counter that did not move updates more slowly than stated
        if value == 0 and seconds > 0 and base_source(self.sources[domain]) == NVML_COUNTER:
            return STILL_COUNTER
        return ""

    # windows ------------------------------------------------------------------------------------------------
    @contextmanager
    def window(self, name: str = "window", sync: bool | None = None) -> Iterator[Window]:
        """Measure the block inside ``with``; ``w.measurement`` holds the result after the block.

        Example:
            >>> with EnergyMonitor(gpus=[], cpu="estimate").window("step") as w:
            ...     pass
            >>> w.measurement.energy_J >= 0
            True
        """
        w = Window(name, self.snapshot(sync))
        try:
            yield w
        finally:
            w.closed = self.measure(w.start, self.snapshot(sync), name)

    def begin(self, name: str, sync: bool | None = None) -> None:
        """Open the window ``name``; windows of other names may be open too (nested or overlapping)."""
        self._check_not_open(name)
        start = self.snapshot(sync)
        with self._lock:  # checked again where it is opened: another thread may have opened it meanwhile
            self._check_not_open(name)
            self._windows[name] = Window(name, start)

    def _check_not_open(self, name: str) -> None:
        if name in self._windows:
            raise ValueError(f"window {name!r} is already open: end it first or use another name")

    def end(self, name: str, sync: bool | None = None) -> Measurement:
        """Close the window ``name`` and return its :class:`Measurement`."""
        end = self.snapshot(sync)
        with self._lock:
            window = self._windows.pop(name, None)
        if window is None:
            open_names = sorted(self._windows) or "none"
            raise ValueError(f"window {name!r} is not open (open windows: {open_names})")
        window.closed = self.measure(window.start, end, name)
        return window.closed

    # life-cycle ---------------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a read then fails for that reason, not the sensor's)."""
        return self._stop.is_set()

    def close(self) -> None:
        """Stop background threads and release NVML. Idempotent."""
        self._stop.set()
        for meter in self.meters:
            meter.close()
        if self._proc is not None:
            self._proc.close()
        if self._keepalive is not None:
            self._keepalive.join(timeout=1.0)
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._nvml = None

    def __enter__(self) -> EnergyMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
