"""`EnergyTracker`: the accounting behind `EnergyCallback`, with no Lightning in it.

A phase (``train``, ``val``, ``test``, ``predict``, ...) has a clock that can run or be paused. Each
:meth:`EnergyTracker.step` that reads closes a window from the previous read (or the phase's start or resume)
to now, so consecutive windows share a snapshot and their energies add up exactly to the epoch; time while a
phase is paused (training during validation) belongs to no step of that phase. A step with ``read=False`` is
only counted: the next read's window covers it too (one window per log interval instead of one per step, which
costs a counter increment and gives windows long enough for the sensors' update periods). Per phase the
tracker keeps the current epoch (or loop), the running total, and a buffer of steps since the last log point.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from typing import Any

from .energy import EnergyMonitor, Measurement, Snapshot


@dataclass
class Totals:
    """Energy over a span of steps: sums of windows plus the samples and items they processed.

    Attributes:
        energy_J: energy over all valid domains (J).
        seconds: time the phase's clock ran (s).
        estimated_J: the part of ``energy_J`` that is modelled, not measured (J).
        samples: samples processed; ``items``: items (e.g. tokens) when a ``length_fn`` counts them.
        steps: windows closed by :meth:`EnergyTracker.step`.
        by_device: energy per domain (J); ``sources``: per domain, where its numbers come from.

    Example:
        >>> t = Totals()
        >>> t.add(Measurement("s", 2.0, {"cpu:0": 10.0}, {"cpu:0": "estimate"}), samples=5)
        >>> t.energy_J, t.per_sample_J, t.power_W, t.source
        (10.0, 2.0, 5.0, 'estimate')
    """

    energy_J: float = 0.0
    seconds: float = 0.0
    estimated_J: float = 0.0
    samples: int = 0
    items: int = 0
    steps: int = 0
    by_device: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        m: Measurement,
        samples: int = 0,
        items: int = 0,
        steps: int = 0,
        energy: tuple[float, float] | None = None,
    ) -> None:
        """Add one window ``m`` and what it processed; ``energy`` is ``(m.energy_J, m.estimated_J)`` when
        the caller has it already."""
        energy_J, estimated_J = energy if energy is not None else (m.energy_J, m.estimated_J)
        self.energy_J += energy_J
        self.seconds += m.seconds
        self.estimated_J += estimated_J
        self.samples += samples
        self.items += items
        self.steps += steps
        for domain, value in m.by_device.items():
            self.by_device[domain] = self.by_device.get(domain, 0.0) + value
        self.sources.update(m.sources)

    def merge(self, other: Totals) -> None:
        """Add another span (e.g. a restored total)."""
        self.energy_J += other.energy_J
        self.seconds += other.seconds
        self.estimated_J += other.estimated_J
        self.samples += other.samples
        self.items += other.items
        self.steps += other.steps
        for domain, value in other.by_device.items():
            self.by_device[domain] = self.by_device.get(domain, 0.0) + value
        self.sources.update(other.sources)

    @property
    def power_W(self) -> float:
        """Mean power while the clock ran (W); NaN when no time passed."""
        return self.energy_J / self.seconds if self.seconds > 0 else math.nan

    @property
    def per_sample_J(self) -> float:
        """Energy per sample (J); NaN without samples."""
        return self.energy_J / self.samples if self.samples else math.nan

    @property
    def per_item_J(self) -> float:
        """Energy per item (J); NaN without items."""
        return self.energy_J / self.items if self.items else math.nan

    @property
    def source(self) -> str:
        """One label: the single source, ``mixed(...)`` when domains differ, ``none`` when nothing was read."""
        return Measurement("", 0.0, {}, self.sources).source

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields plus power, per-sample energy and the source label (NaN -> None)."""
        out: dict[str, Any] = asdict(self)
        for key in ("power_W", "per_sample_J", "per_item_J"):
            value = getattr(self, key)
            out[key] = None if math.isnan(value) else value
        out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        """Inverse of :meth:`to_dict` (extra keys are ignored)."""
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items() if k in names})


@dataclass
class _Phase:
    mark: Snapshot | None = None  # where the running clock's current window starts; None: paused
    pending: Measurement = field(default_factory=Measurement.empty)  # closed but not yet part of a step
    pending_samples: int = 0
    pending_items: int = 0
    pending_steps: int = 0  # steps counted with read=False, waiting for the next read
    pending_key: Hashable = None
    epoch: Totals = field(default_factory=Totals)
    total: Totals = field(default_factory=Totals)
    epoch_by_key: dict[Hashable, Totals] = field(default_factory=dict)
    since_log: dict[Hashable, Totals] = field(default_factory=dict)


class EnergyTracker:
    """Step, epoch and total energy per phase from one :class:`EnergyMonitor`.

    Args:
        monitor: the monitor whose meters are read (may be replaced with :meth:`use`).

    Example:
        >>> from ecopt_lightning import EnergyMonitor
        >>> tracker = EnergyTracker(EnergyMonitor(gpus=[], cpu="estimate"))
        >>> _ = tracker.start("train")
        >>> a = tracker.step("train", samples=32); b = tracker.step("train", samples=32)
        >>> epoch = tracker.end_epoch("train")
        >>> epoch.steps, epoch.samples, epoch.energy_J >= a.energy_J + b.energy_J  # the epoch adds its tail
        (2, 64, True)
    """

    def __init__(self, monitor: EnergyMonitor | None) -> None:
        self.monitor = monitor
        self._phases: dict[str, _Phase] = {}

    def use(self, monitor: EnergyMonitor | None) -> None:
        """Read another monitor from now on; running clocks restart at its first reading."""
        self.monitor = monitor
        for p in self._phases.values():
            if p.mark is not None:
                p.mark = self._snap(False)

    def phase(self, name: str) -> _Phase:
        p = self._phases.get(name)
        if p is None:
            p = self._phases[name] = _Phase()
        return p

    def _snap(self, sync: bool) -> Snapshot | None:
        return None if self.monitor is None else self.monitor.snapshot(sync)

    def _measure(self, start: Snapshot | None, end: Snapshot | None, name: str) -> Measurement:
        if self.monitor is None or start is None or end is None:
            return Measurement.empty(name)
        return self.monitor.measure(start, end, name)

    # the clock --------------------------------------------------------------------------------------------
    def running(self, name: str) -> bool:
        """Whether the clock of phase ``name`` runs."""
        return name in self._phases and self._phases[name].mark is not None

    def start(self, name: str, at: Snapshot | None = None, sync: bool = False) -> Snapshot | None:
        """Start (or resume) the clock of ``name`` at snapshot ``at`` (default: read now). Returns it."""
        p = self.phase(name)
        p.mark = at if at is not None else self._snap(sync)
        return p.mark

    def pause(self, name: str, sync: bool = False) -> Snapshot | None:
        """Stop the clock of ``name``; energy since the last step waits for the next step. Returns the
        snapshot read, so that the next phase can start at it (no gap, no overlap)."""
        p = self.phase(name)
        now = self._snap(sync)
        if p.mark is not None:
            p.pending = p.pending + self._measure(p.mark, now, name)
            p.mark = None
        return now

    def count(self, name: str, samples: int = 0, items: int = 0) -> None:
        """Count samples for the next step without closing a window (gradient accumulation)."""
        p = self.phase(name)
        p.pending_samples += samples
        p.pending_items += items

    # windows ----------------------------------------------------------------------------------------------
    def step(
        self,
        name: str,
        samples: int = 0,
        items: int = 0,
        key: Hashable = None,
        sync: bool = False,
        read: bool = True,
    ) -> Measurement | None:
        """End one step of ``name``; with ``read`` (default) close the window now and return its
        :class:`Measurement` (J, s, per domain) covering this step and the unread ones before it.

        ``key`` groups steps for logging and per-key epoch totals (e.g. the dataloader index); unread steps of
        another key are closed first. ``read=False`` only counts the step (returns ``None``).
        """
        p = self.phase(name)
        if p.pending_steps and key != p.pending_key:
            self._close(p, name, sync, True)
        p.pending_samples += samples
        p.pending_items += items
        p.pending_steps += 1
        p.pending_key = key
        return self._close(p, name, sync, True) if read else None

    def close(self, name: str, sync: bool = False) -> Measurement | None:
        """Read now for the steps counted with ``read=False`` since the last read (``None`` if there are none)."""
        p = self.phase(name)
        return self._close(p, name, sync, True) if p.pending_steps else None

    def _close(self, p: _Phase, name: str, sync: bool, read: bool) -> Measurement:
        m = p.pending
        if read and p.mark is not None:
            now = self._snap(sync)
            window = self._measure(p.mark, now, name)
            m = window if not (m.by_device or m.seconds) else m + window
            p.mark = now
        samples, items, steps, key = p.pending_samples, p.pending_items, p.pending_steps, p.pending_key
        p.pending, p.pending_samples, p.pending_items, p.pending_steps = Measurement.empty(name), 0, 0, 0
        energy = (m.energy_J, m.estimated_J)
        for totals in (
            p.epoch,
            p.total,
            p.epoch_by_key.setdefault(key, Totals()),
            p.since_log.setdefault(key, Totals()),
        ):
            totals.add(m, samples, items, steps, energy)
        return m

    def flush(self, name: str, sync: bool = True, read: bool = True) -> None:
        """Add what is not yet in a step to the epoch and total, as no step: the energy since the last step
        when ``read`` (the epoch's tail), else only windows closed by :meth:`pause`."""
        p = self.phase(name)
        if p.pending_steps:  # counted steps take the energy up to now (or up to the pause): nothing is left
            self._close(p, name, sync, read)
            read = False
        m = p.pending
        if read and p.mark is not None:
            now = self._snap(sync)
            m = m + self._measure(p.mark, now, name)
            p.mark = now
        p.epoch.add(m, p.pending_samples, p.pending_items)
        p.total.add(m, p.pending_samples, p.pending_items)
        p.pending, p.pending_samples, p.pending_items = Measurement.empty(name), 0, 0

    def end_epoch(self, name: str, sync: bool = True, read: bool = True) -> Totals:
        """Flush (see :meth:`flush`) and return the epoch's (or loop's) totals; the next epoch starts empty.
        With ``read=False`` the clock keeps running and the time since the last step goes to the next."""
        self.flush(name, sync, read)
        p = self.phase(name)
        epoch, p.epoch, p.epoch_by_key = p.epoch, Totals(), {}
        return epoch

    def epoch_by_key(self, name: str) -> dict[Hashable, Totals]:
        """The current epoch's totals per step key (read before :meth:`end_epoch`)."""
        return dict(self.phase(name).epoch_by_key)

    def take_since_log(self, name: str) -> dict[Hashable, Totals]:
        """The steps since the last log point, per key, and start a new log interval."""
        p = self.phase(name)
        out, p.since_log = p.since_log, {}
        return {k: v for k, v in out.items() if v.steps}

    def add(self, name: str, m: Measurement, samples: int = 0, items: int = 0) -> None:
        """Add a window measured elsewhere (a benchmark, the sanity check) to the total of ``name``."""
        self.phase(name).total.add(m, samples, items)

    def total(self, name: str) -> Totals:
        """Running total of phase ``name`` (not including an unflushed tail)."""
        return self.phase(name).total

    def epoch(self, name: str) -> Totals:
        """The current epoch's totals so far."""
        return self.phase(name).epoch

    @property
    def phases(self) -> list[str]:
        return list(self._phases)

    # persistence ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Totals and open epochs per phase (the clock itself is not saved: a resumed run restarts it)."""
        return {n: {"total": p.total.to_dict(), "epoch": p.epoch.to_dict()} for n, p in self._phases.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore totals saved by :meth:`state_dict`."""
        for name, data in state.items():
            p = self.phase(name)
            p.total = Totals.from_dict(data["total"])
            p.epoch = Totals.from_dict(data.get("epoch", {}))


def estimated_fraction(totals: list[Totals]) -> float:
    """Share of the energy in ``totals`` that is estimated rather than measured (0..1; NaN when empty).

    Example:
        >>> estimated_fraction([Totals(energy_J=4.0, estimated_J=1.0)])
        0.25
    """
    energy = sum(t.energy_J for t in totals)
    return sum(t.estimated_J for t in totals) / energy if energy > 0 else math.nan


__all__ = ["EnergyTracker", "Totals", "estimated_fraction"]
