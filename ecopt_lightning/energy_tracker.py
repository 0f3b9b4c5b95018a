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
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

from . import metrics
from .energy import EnergyMonitor, Measurement, Snapshot, carbon_g, cost
from .energy._notices import say_once
from .energy.contention import REMEDY, contended_share, span_contended

Op = Literal["sum", "max"]


class TotalsReducer(Protocol):
    """What :meth:`EnergyTracker.reduce` needs over ranks; :class:`~ecopt_lightning.ranks.RankReducer` is one
    (declared here so the accounting does not import the rank module, which imports it)."""

    def reduce_totals(self, spans: Mapping[Any, Totals]) -> dict[Any, Totals]: ...


#: the fit's time outside training steps and evaluation loops: its start (from the callback's set-up: the
#: LightningModule's setup, configure_model and on_fit_start, a checkpoint's restore; validate's, test's and
#: predict's set-up up to their loop likewise), checkpoint saves and other
#: callbacks' work after an epoch or a validation loop ends, the logging in between, the end of fit, the proxies'
#: extra forward pass (its clock runs whenever the training clock is paused between its steps; not during the idle
#: baseline or the sanity check)
OTHER = "other"
#: the inference benchmark's windows, warm-up included; its samples are the measured repeats' only
BENCHMARK = "benchmark"
#: Lightning's sanity check before fit's first epoch: measured apart from validation, and counted in the total
#: (its energy was spent: a sweep's cost leaves none out)
SANITY = "sanity"
#: the idle baseline (``idle_baseline_s``) before fit: its power is net energy's reference, its energy was spent
IDLE = "idle"
#: phases whose energy makes up ``energy/total_J``
COUNTED = ("train", "val", "test", "predict", BENCHMARK, OTHER, SANITY, IDLE)
#: the phase whose epoch a checkpoint can cut (``every_n_train_steps``): the evaluation loops end before any save
CUT = "train"
#: how a counted field of :class:`Totals` combines over DDP ranks (in the field's metadata)
REDUCE = "reduce"


def _counted(op: Op) -> Any:
    return field(default=0, metadata={REDUCE: op})


@dataclass
class Totals:
    """Energy over a span of steps: sums of windows plus the samples and items they processed.

    Attributes:
        energy_J: energy over all valid domains (J).
        seconds: time the phase's clock ran (s).
        estimated_J: the part of ``energy_J`` that is modelled, not measured (J).
        samples: samples processed; ``items``: items (e.g. tokens) when a ``length_fn`` counts them.
        steps: windows closed by :meth:`EnergyTracker.step`.
        by_device: energy per domain (J); ``sources``: per domain, where its numbers come from; ``invalid``: per
            domain whose reading failed in some window (its energy there is not counted), the first reason (this
            rank's; not reduced over ranks).
        proc_s: time of the windows in which ``/proc`` was read (s); foreign_core_s: the CPU time other
            processes used in them (core-seconds); contended_s: time of the windows that were contended on
            their own (s). Over ranks the most contended rank's figures are kept (:attr:`contended`).
        failed_windows: windows in which a domain's reading failed, or read a counter that stood still
            (:attr:`Measurement.frozen`), summed over ranks.
        interpolated_windows: windows whose value was interpolated across a gap in polled power's samples
            (:attr:`Measurement.interpolated`), summed over ranks; interpolated_J: the part of ``energy_J`` read in
            them (J). A window approximate for another reason (shorter than a sensor's update, an NVML counter
            that did not move) is not counted: its error moves energy into the next window, which a total keeps.

    The counted fields carry their DDP reduction in their metadata (energy sums, time and steps take the
    maximum): a new counted field is declared here and incremented in :meth:`add`, and nothing else changes.

    Example:
        >>> t = Totals()
        >>> t.add(Measurement("s", 2.0, {"cpu:0": 10.0}, {"cpu:0": "estimate"}), samples=5)
        >>> t.energy_J, t.per_sample_J, t.power_W, t.source
        (10.0, 2.0, 5.0, 'estimate')
        >>> Totals.reduce_ops()["seconds"], (t + t).counts()["energy_J"]
        ('max', 20.0)
    """

    energy_J: float = _counted("sum")
    seconds: float = _counted("max")
    estimated_J: float = _counted("sum")
    samples: int = _counted("sum")
    items: int = _counted("sum")
    steps: int = _counted("max")
    proc_s: float = _counted("max")
    foreign_core_s: float = _counted("max")
    contended_s: float = _counted("max")
    failed_windows: int = _counted("sum")
    interpolated_windows: int = _counted("sum")
    interpolated_J: float = _counted("sum")
    by_device: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)

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
        c = m.contention
        if c is not None:
            self.proc_s += c.seconds
            self.foreign_core_s += c.foreign_cores * c.seconds
            self.contended_s += c.seconds if c.contended else 0.0
        # a frozen domain's 0 J is no reading (Measurement.frozen): not measured there, as a failed one
        for domain, value in m.by_device.items():
            if domain not in m.frozen:
                self.by_device[domain] = self.by_device.get(domain, 0.0) + value
        self.sources.update(m.sources)  # a frozen domain was read by its source: its fault says it measured nothing
        for domain, reason in {**m.invalid, **m.frozen}.items():
            self.invalid.setdefault(domain, reason)
        self.failed_windows += bool(m.invalid or m.frozen)
        if m.interpolated:
            self.interpolated_windows += 1
            self.interpolated_J += energy_J

    @classmethod
    def reduce_ops(cls) -> dict[str, Op]:
        """Counted field -> how it combines over ranks (``sum`` or ``max``)."""
        return {f.name: f.metadata[REDUCE] for f in fields(cls) if REDUCE in f.metadata}

    def counts(self) -> dict[str, float]:
        """The counted fields (what a checkpoint keeps and ranks reduce)."""
        return {name: getattr(self, name) for name in self.reduce_ops()}

    @classmethod
    def from_counts(cls, counts: Mapping[str, float]) -> Totals:
        """Totals with only the counted fields (as :meth:`counts` gives them; absent ones are 0)."""
        types = {f.name: f.type for f in fields(cls)}
        out = cls()
        for name in cls.reduce_ops():
            value = counts.get(name, 0)
            setattr(out, name, int(value) if types[name] == "int" else float(value))
        return out

    def __add__(self, other: Totals) -> Totals:
        """Both spans together (e.g. a total restored from a checkpoint and this run's)."""
        out = Totals.from_counts({k: v + getattr(other, k) for k, v in self.counts().items()})
        for domain, value in (*self.by_device.items(), *other.by_device.items()):
            out.by_device[domain] = out.by_device.get(domain, 0.0) + value
        out.sources = {**self.sources, **other.sources}
        out.invalid = {**other.invalid, **self.invalid}
        return out

    @property
    def unread(self) -> bool:
        """Readings failed in the span's windows and none was read (on any rank): its 0 J is no measurement."""
        return bool(self.failed_windows) and not self.energy_J

    @property
    def contended(self) -> bool:
        """Other processes' CPU load may have biased the span (see
        :func:`~ecopt_lightning.energy.contention.span_contended`)."""
        return span_contended(self.proc_s, self.foreign_core_s, self.contended_s)

    @property
    def contended_fraction(self) -> float:
        """Share of the time ``/proc`` was read in that lay in contended windows (0..1); NaN when never read."""
        return _ratio(self.contended_s, self.proc_s)

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
    def per_step_J(self) -> float:
        """Mean energy of a step (J); NaN without steps."""
        return self.energy_J / self.steps if self.steps else math.nan

    def net_J(self, idle_W: float) -> float:
        """Energy above idle: ``energy_J - idle_W * seconds`` (J)."""
        return self.energy_J - idle_W * self.seconds

    @property
    def source(self) -> str:
        """One label: the single source, ``mixed(...)`` when domains differ, ``none`` when nothing was read."""
        return Measurement("", 0.0, {}, self.sources).source


def merge_totals(*parts: Mapping[str, Totals]) -> dict[str, Totals]:
    """Per phase, the sum of every part's totals (restored from a checkpoint + this run's, reduced or local)."""
    out: dict[str, Totals] = {}
    for part in parts:
        for phase, totals in part.items():
            out[phase] = out[phase] + totals if phase in out else totals + Totals()
    return out


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
        #: idle power (W) measured before fit, over all ranks; net energy is energy above it
        self.idle_W: float | None = None
        #: per phase, totals over all ranks restored from a checkpoint
        self.restored: dict[str, Totals] = {}
        #: per phase, the sources of the restored totals (domain -> source, as the checkpoint's summary named them)
        self.restored_sources: dict[str, dict[str, str]] = {}
        #: per phase, restored + this run's totals over all ranks, as of the last :meth:`reduce`
        self.cluster: dict[str, Totals] = {}
        #: :data:`CUT`'s open epoch and its steps since the last log point (:meth:`open_spans`) over all ranks, as of
        #: the last :meth:`reduce`: what a checkpoint saved in mid-epoch carries beside :attr:`cluster`
        self.cluster_open: dict[str, Totals] = {}

    def use(self, monitor: EnergyMonitor | None) -> None:
        """Read another monitor from now on; running clocks restart at its first reading."""
        self.monitor = monitor
        for p in self._phases.values():
            if p.mark is not None:
                p.mark = self._snap(False)

    def phase(self, name: str) -> _Phase:
        """The state of phase ``name`` (created empty on first use)."""
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

    def measure_idle(self, seconds: float, reduce: Callable[[Mapping[str, float]], Mapping[str, float]]) -> None:
        """Measure idle power (W) over ``seconds`` of sleep into :attr:`idle_W`, over all ranks: ``reduce``
        sums energy and maximises time (``RankReducer.reduce``). Nothing is measured without a monitor, and
        :attr:`idle_W` stays ``None`` (no net energy) when a reading failed meanwhile on any rank: the idle power
        of the domains still read would make the net energy of all of them too large; so it does when the window was
        approximate on any rank (shorter than a sensor's update, ...): every net value would carry its error."""
        if self.monitor is None:
            return
        start = self.monitor.snapshot(sync=True)
        time.sleep(seconds)
        m = self.monitor.measure(start, self.monitor.snapshot(sync=True), IDLE)
        self.add(IDLE, m)  # spent whether or not its power can serve as the reference below
        idle = reduce(
            {
                "energy_J": m.energy_J,
                "seconds": m.seconds,
                "failed": float(bool(m.invalid or m.frozen)),
                "approximate": float(m.approximate),
            }
        )
        refused = (
            ("failed", {**m.invalid, **m.frozen}, "a reading failed during the idle baseline", ""),
            (
                "approximate",
                m.approximate_why,
                "the idle baseline's window was approximate",
                " (a longer idle_baseline_s reads it)",
            ),
        )
        for key, why, what, remedy in refused:
            if idle.get(key, 0.0) > 0:
                reasons = "; ".join(f"{d}: {w}" for d, w in why.items()) or "on another rank"
                say_once(
                    f"idle-{key}",
                    f"ecopt energy: idle power not measured: {what} ({reasons}); net energy is not logged{remedy}",
                )
                return
        self.idle_W = idle["energy_J"] / idle["seconds"] if idle["seconds"] else math.nan

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

    @contextmanager
    def paused(self, name: str, sync: bool = False) -> Iterator[None]:
        """The clock of ``name`` paused inside (if it runs), so that work done there (an extra forward pass,
        a benchmark) is not counted as the phase's energy; it resumes at the first reading after."""
        running = self.running(name)
        if running:
            self.pause(name, sync)
        try:
            yield
        finally:
            if running:
                self.start(name)

    @contextmanager
    def lent(self, name: str, to: str, sync: bool = False) -> Iterator[None]:
        """The clock of ``name`` handed to ``to`` inside (if ``name``'s runs and ``to``'s does not), so that work
        done there (the proxies' extra forward pass) is not the phase's energy, yet in the total as ``to``'s;
        ``name``'s resumes where ``to``'s stops (no gap, no overlap)."""
        if not self.running(name) or self.running(to):
            yield
            return
        self.start(to, at=self.pause(name, sync))
        try:
            yield
        finally:
            at = self.pause(to, sync)
            self.flush(to, read=False)  # no step of ``to`` would take it
            self.start(name, at=at)

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

    def begin(self, name: str, key: Hashable = None, sync: bool = False) -> None:
        """A step of ``key`` begins: unread steps of another key are closed now, where its work starts (closed at
        its end, the window would charge this step to them); when that key's steps were all read, the window since
        the last read is theirs alike (as no step)."""
        p = self.phase(name)
        if key != p.pending_key and (p.pending_steps or p.pending_key in p.epoch_by_key):
            self._close(p, name, sync, True)

    def close(self, name: str, sync: bool = False, tail: bool = False) -> Measurement | None:
        """Read now for the steps counted with ``read=False`` since the last read (``None`` if there are none).

        With ``tail`` the steps end here: when every step of the epoch was read already, the window since the last
        read (up to a pause, or now) joins the last step's key as no step, as the unread steps would have taken it
        (an evaluation loop's tail after its last batch read every step)."""
        p = self.phase(name)
        return self._close(p, name, sync, True) if p.pending_steps or (tail and p.epoch.steps) else None

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

    def hand_over(self, name: str, to: str) -> None:
        """Give what the paused ``name`` measured since its last step to the total of ``to``, as no step: a tail
        no step of ``name`` will cover (its steps all read already). Nothing moves while steps are counted
        unread: they take it."""
        p = self.phase(name)
        if p.pending_steps:
            return
        self.add(to, p.pending, p.pending_samples, p.pending_items)
        p.pending, p.pending_samples, p.pending_items = Measurement.empty(name), 0, 0

    def end_epoch(self, name: str, sync: bool = True, read: bool = True) -> Totals:
        """Flush (see :meth:`flush`) and return the epoch's (or loop's) totals; the next epoch starts empty.
        With ``read=False`` the clock keeps running and the time since the last step goes to the next."""
        self.flush(name, sync, read)
        p = self.phase(name)
        epoch, p.epoch, p.epoch_by_key = p.epoch, Totals(), {}
        return epoch

    def abort(self) -> None:
        """After a failure: every running clock stopped and what is not yet in a step added to the totals (see
        :meth:`flush`), also a paused phase's (training during a validation loop); the open epochs and log
        intervals are dropped, so that a next run starts them afresh."""
        for name, p in self._phases.items():
            if p.mark is not None:
                self.pause(name)
            self.flush(name)
            p.epoch, p.epoch_by_key, p.since_log = Totals(), {}, {}

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

    @property
    def phases(self) -> list[str]:
        return list(self._phases)

    # over ranks -------------------------------------------------------------------------------------------
    def reduce(self, reducer: TotalsReducer, spans: Mapping[Hashable, Totals] | None = None) -> dict[Hashable, Totals]:
        """Reduce every counted phase's running total and ``spans`` (an epoch, a loop per dataloader) over
        ranks in one collective; :attr:`cluster` becomes restored + reduced. Returns the reduced ``spans``."""
        spans = dict(spans or {})
        phases = sorted(set(self.phases) | set(COUNTED))
        reduced = reducer.reduce_totals(
            {
                **{("total", p): self.total(p) for p in phases},
                **{("open", k): t for k, t in self.open_spans().items()},
                **{("span", k): t for k, t in spans.items()},
            }
        )
        self.cluster = merge_totals(self.restored, {p: reduced[("total", p)] for p in phases})
        self.cluster_open = {k: reduced[("open", k)] for k in self.open_spans()}
        return {k: reduced[("span", k)] for k in spans}

    def reduce_local(self) -> None:
        """:attr:`cluster` and :attr:`cluster_open` from this process's totals, with no collective (for one process)."""
        self.cluster = merge_totals(self.restored, {p: self.total(p) for p in self.phases})
        self.cluster_open = self.open_spans()

    def open_spans(self) -> dict[str, Totals]:
        """This process's open epoch of :data:`CUT` (``epoch``) and its steps since the last log point
        (``since_log``), as far as they are closed (copies)."""
        p = self._phases.get(CUT) or _Phase()  # not created: a test alone has no training phase
        return {"epoch": p.epoch + Totals(), "since_log": p.since_log.get(None, Totals()) + Totals()}

    def carry(self, spans: Mapping[str, Mapping[str, float]]) -> None:
        """Continue the open epoch of :data:`CUT` and its log interval from a checkpoint's :attr:`cluster_open`
        (``{name: Totals.counts()}``; empty: start them afresh). They are cluster totals: give them to one rank
        only, so that a reduction over ranks counts them once."""
        p = self.phase(CUT)
        p.epoch = Totals.from_counts(spans.get("epoch", {}))
        since_log = Totals.from_counts(spans.get("since_log", {}))
        p.epoch_by_key, p.since_log = {}, ({None: since_log} if since_log.steps else {})

    def restore(
        self,
        cluster: Mapping[str, Mapping[str, float]],
        sources: Mapping[str, Mapping[str, str]] | None = None,
        *,
        replace: bool = False,
    ) -> None:
        """Start from cluster totals saved as ``{phase: Totals.counts()}`` (a checkpoint), with their sources
        (``{phase: {domain: source}}``), beside the totals so far. With ``replace`` the totals so far (this process's
        and those restored before) are dropped: the checkpoint holds them already (a callback that fitted before
        resumes from its own checkpoint)."""
        saved = {p: Totals.from_counts(c) for p, c in cluster.items()}
        if replace:
            for p in self._phases.values():
                p.total = Totals()
            self.restored, self.cluster, self.restored_sources = {}, {}, {}
        for phase, by_domain in (sources or {}).items():
            self.restored_sources[phase] = {**by_domain, **self.restored_sources.get(phase, {})}
        self.restored = merge_totals(self.restored, saved)
        self.cluster = merge_totals(self.cluster, saved)  # as of the last reduction, until the next

    def compute(self) -> dict[str, float]:
        """The cluster totals as named metrics (:func:`total_metrics`); a contended phase is said once (the
        numbers are not changed)."""
        warn_contended(self.cluster)
        return total_metrics(self.cluster, self.idle_W)


def warn_contended(cluster: Mapping[str, Totals]) -> None:
    """Say once per process, with the remedy, that a phase's totals were measured while other processes loaded
    the CPU (the same notice as a contended inference window; the values are kept as measured)."""
    for phase, t in cluster.items():
        if t.contended:
            foreign = _ratio(t.foreign_core_s, t.proc_s)
            say_once(
                "contended",
                f"ecopt energy: the {phase} totals were measured while other processes kept {foreign:.2f} cores "
                f"busy on average ({contended_share(t.contended_fraction)}); they may be "
                f"biased and are marked '{metrics.contended(phase)}'. To measure quietly: {REMEDY}.",
            )
            return


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _read(t: Totals, value: float) -> float:
    """``value``, or NaN when readings failed in ``t``'s windows and nothing was read (on any rank): its 0 J is no
    measurement."""
    return math.nan if t.unread else value


def step_metrics(phase: str, steps: Mapping[Hashable, Totals], per_dataloader: bool = False) -> dict[str, float]:
    """Mean step energy (J) and power (W) of the steps since the last log point, per key (dataloader index); NaN
    where every reading of those steps failed.

    Example:
        >>> step_metrics("val", {0: Totals(energy_J=6.0, seconds=3.0, steps=2)})
        {'energy/val_batch_J': 3.0, 'power/val_W': 2.0}
        >>> step_metrics("val", {0: Totals(seconds=3.0, steps=2, failed_windows=1)})
        {'energy/val_batch_J': nan, 'power/val_W': nan}
    """
    out: dict[str, float] = {}
    for key, t in steps.items():
        for name, value in (
            (metrics.step_J(phase), _read(t, t.per_step_J)),
            (metrics.power_W(phase), _read(t, t.power_W)),
        ):
            out[metrics.for_dataloader(name, key) if per_dataloader else name] = value
    return out


def epoch_metrics(
    phase: str,
    epoch: Totals,
    per_dataloader: Mapping[Hashable, Totals] | None = None,
    *,
    items: bool = False,
    idle_W: float | None = None,
) -> dict[str, float]:
    """Energy of an epoch or loop (J), per sample and per item (J) (``items``: a ``length_fn`` counts them),
    net of idle power for training (J), and per sample per dataloader; NaN where every reading failed.

    Example:
        >>> epoch_metrics("train", Totals(energy_J=10.0, seconds=2.0, samples=4), idle_W=1.0)
        {'energy/train_epoch_J': 10.0, 'energy/train_per_sample_J': 2.5, 'energy/train_epoch_net_J': 8.0}
    """
    out = {
        metrics.epoch_J(phase): _read(epoch, epoch.energy_J),
        metrics.per_sample_J(phase): _read(epoch, epoch.per_sample_J),
    }
    if items:
        out[metrics.per_item_J(phase)] = _read(epoch, epoch.per_item_J)
    if idle_W is not None and phase == "train":
        out[metrics.epoch_net_J(phase)] = _read(epoch, epoch.net_J(idle_W))
    for key, t in (per_dataloader or {}).items():
        out[metrics.for_dataloader(metrics.per_sample_J(phase), key)] = _read(t, t.per_sample_J)
    return out


def nothing_read(cluster: Mapping[str, Totals]) -> bool:
    """Readings failed in the :data:`COUNTED` phases and none was read (on any rank): their 0 J is no measurement.

    Example:
        >>> nothing_read({"train": Totals(seconds=2.0, failed_windows=2)}), nothing_read({"train": Totals()})
        (True, False)
    """
    counted = [t for p, t in cluster.items() if p in COUNTED]
    return any(t.failed_windows for t in counted) and not any(t.energy_J for t in counted)


def total_metrics(cluster: Mapping[str, Totals], idle_W: float | None = None) -> dict[str, float]:
    """``energy/total_J`` (the :data:`COUNTED` phases), its estimated share and the share interpolated across gaps
    in polled power, each phase's running total (J) and, with an idle power (W), the net totals (J); NaN (not published)
    where every reading failed.

    Example:
        >>> total_metrics({"train": Totals(energy_J=8.0, estimated_J=2.0, interpolated_J=1.0, seconds=4.0, steps=2)},
        ...               idle_W=1.0)
        {'energy/total_J': 8.0, 'energy/estimated_fraction': 0.25, 'energy/interpolated_fraction': 0.125, \
'energy/train_total_J': 8.0, 'energy/total_net_J': 4.0, 'energy/train_total_net_J': 4.0}
    """
    empty = Totals()
    counted = [cluster.get(p, empty) for p in COUNTED]
    total = math.nan if nothing_read(cluster) else sum(t.energy_J for t in counted)
    out = {
        metrics.TOTAL_J: total,
        metrics.ESTIMATED_FRACTION: _ratio(sum(t.estimated_J for t in counted), total),
        metrics.INTERPOLATED_FRACTION: _ratio(sum(t.interpolated_J for t in counted), total),
    }
    for p in ("train", "val", "test", "predict", OTHER):
        t = cluster.get(p, empty)
        if t.steps or t.energy_J:
            out[metrics.total_J(p)] = _read(t, t.energy_J)
        if t.proc_s > 0:  # /proc was read: say whether other processes' load may have biased the total
            out[metrics.contended(p)] = float(t.contended)
            out[metrics.contended_fraction(p)] = t.contended_fraction
    if idle_W is not None:
        out[metrics.TOTAL_NET_J] = total - idle_W * sum(t.seconds for t in counted)
        if "train" in cluster:
            out[metrics.total_net_J("train")] = cluster["train"].net_J(idle_W)
    return out


def carbon_and_cost(
    totals: Mapping[str, float],
    *,
    carbon_intensity_g_per_kWh: float | None,
    price_per_kWh: float | None,
    currency: str,
    pue: float,
) -> dict[str, float]:
    """Carbon (gCO2e) and cost of the energy in the metrics :func:`total_metrics` computed; empty without an
    intensity and a price. Training's carbon only where training ran (no zero for a phase that never ran).

    Example:
        >>> carbon_and_cost({"energy/total_J": 3.6e6}, carbon_intensity_g_per_kWh=400.0, price_per_kWh=0.25,
        ...                 currency="EUR", pue=1.0)
        {'carbon/total_gCO2e': 400.0, 'cost/total_EUR': 0.25}
    """
    out: dict[str, float] = {}
    total = totals[metrics.TOTAL_J]
    if carbon_intensity_g_per_kWh is not None:
        out[metrics.CARBON_TOTAL_G] = carbon_g(total, carbon_intensity_g_per_kWh, pue)
        train = totals.get(metrics.total_J("train"))
        if train is not None:
            out[metrics.carbon_total_g("train")] = carbon_g(train, carbon_intensity_g_per_kWh, pue)
    if price_per_kWh is not None:
        out[metrics.cost_total(currency)] = cost(total, price_per_kWh, pue)
    return out


__all__ = [
    "COUNTED",
    "CUT",
    "IDLE",
    "OTHER",
    "SANITY",
    "EnergyTracker",
    "Totals",
    "carbon_and_cost",
    "epoch_metrics",
    "merge_totals",
    "nothing_read",
    "step_metrics",
    "total_metrics",
]
