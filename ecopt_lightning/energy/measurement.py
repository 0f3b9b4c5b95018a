"""What a measurement window returns: energy in joules per domain, with where each number came from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .contention import Contention

#: Read from NVML's cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``).
NVML_COUNTER = "nvml_counter"
#: Integrated from NVML power readings polled by a background thread.
NVML_POWER = "nvml_power"
#: Read from RAPL energy counters in ``/sys/class/powercap``.
RAPL = "rapl"
#: Not measured: modelled from process CPU time and a per-core power figure.
ESTIMATE = "estimate"

SOURCES = (NVML_COUNTER, NVML_POWER, RAPL, ESTIMATE)
#: Shortest window (s) whose value each source resolves well enough to rank models, used as the length floor
#: of an inference-benchmark repeat: 10 updates of the NVML counter (about 100 ms each); the 1 s averaging
#: window of NVML power on recent GPUs; for RAPL (updates about every 1 ms) and the CPU-time estimate, 0.2 s,
#: so that one scheduler tick (4 ms at HZ=250) or one RAPL update is under 2% of a window.
MIN_WINDOW_S = {NVML_COUNTER: 1.0, NVML_POWER: 1.0, RAPL: 0.2, ESTIMATE: 0.2}
#: Suffix added to a GPU source when a MIG slice is measured through its parent GPU.
WHOLE_GPU = "whole-GPU"
#: Why a domain made a window approximate when its NVML energy counter did not move (:attr:`Measurement.unread`).
STILL_COUNTER = "the NVML energy counter did not move: it updates more slowly on this GPU, its 0 J is no reading"
#: Why a domain made a window approximate when the window was shorter than its sensor's update (part of the reason).
SHORT_WINDOW = "shorter than the sensor's update"
#: RAPL counters are frozen (:attr:`Measurement.frozen`) once none of them has moved (since their meter started, or
#: since they last moved: a counter that stops mid-run) over at least this many of the monitor's reads, spanning at
#: least :data:`FROZEN_UPDATES` of their updates (about 1 ms each): a powered CPU package never reads 0 J over so
#: long, while a DRAM zone alone may.
FROZEN_READS = 5
FROZEN_UPDATES = 100
#: Why a domain's 0 J in a window is no reading (:attr:`Measurement.frozen`).
FROZEN_RAPL = (
    f"no RAPL counter of this machine has moved over its last {FROZEN_READS} reads and {FROZEN_UPDATES} updates or "
    "more (RAPL files that are there but not updated, as some VMs expose them, or that stopped updating): its 0 J is "
    "no reading"
)


def sources_text(sources: Mapping[str, str]) -> str:
    """Domain -> source as one line, domains sorted: what loggers and CSV files carry.

    Example:
        >>> sources_text({"gpu:0": "nvml_counter", "cpu:0": "rapl"})
        'cpu:0=rapl, gpu:0=nvml_counter'
    """
    return ", ".join(f"{domain}={source}" for domain, source in sorted(sources.items()))


def base_source(source: str) -> str:
    """The source without its qualifier: ``"nvml_counter:whole-GPU"`` -> ``"nvml_counter"``."""
    return source.split(":", 1)[0]


def min_window_s(sources: Mapping[str, str]) -> float:
    """The window length floor (s) for reading every domain of ``sources``: the largest of their floors.

    Example:
        >>> min_window_s({"gpu:0": "nvml_counter:whole-GPU", "cpu:0": "rapl"})
        1.0
    """
    return max((MIN_WINDOW_S.get(base_source(s), 1.0) for s in sources.values()), default=0.0)


def source_label(sources: Mapping[str, str]) -> str:
    """One label for a value summed over ``sources`` (domain -> source): the single source, ``mixed(...)`` when
    domains differ, ``none`` without any.

    Example:
        >>> source_label({"rank0/cpu:0": "rapl", "rank1/cpu:0": "estimate"})
        'mixed(estimate,rapl)'
    """
    kinds = sorted({base_source(s) for s in sources.values()})
    if not kinds:
        return "none"
    return kinds[0] if len(kinds) == 1 else "mixed(" + ",".join(kinds) + ")"


def is_measured(source: str) -> bool:
    """True for sensor readings (NVML, RAPL), False for estimates."""
    return base_source(source) != ESTIMATE


@dataclass(frozen=True)
class Measurement:
    """Energy over one window.

    Attributes:
        name: the window's name.
        seconds: wall-clock length of the window (s).
        by_device: energy per domain (J), e.g. ``{"gpu:0": 41.2, "cpu:0": 3.1}``. Invalid domains are absent.
        sources: per domain in ``by_device``, one of ``nvml_counter``, ``nvml_power``, ``rapl``, ``estimate``
            (a MIG slice read through its parent GPU is ``nvml_counter:whole-GPU``).
        approximate: the window was shorter than some domain's sensor update period, so its value may be
            off by up to one update (the NVML counter updates about every 100 ms), or an NVML energy counter did
            not move in it (it updates more slowly on that GPU: its 0 J is not a measurement), or polled power had
            a gap in its samples (the poller held up: the power in between is interpolated).
        invalid: domains whose reading failed during the window, with the reason; they count for nothing.
        contention: what else the machine's CPUs did during the window (``None`` where ``/proc`` is not
            read, or where no domain was measured: there is no value to bias); :attr:`contended` says whether it
            was enough to bias the value.
        approximate_why: per domain that made the window :attr:`approximate`, why.
        frozen: domains whose 0 J here is no reading, though valid (they stay in ``by_device``), with the reason: no
            RAPL counter of the monitor has moved over its last :data:`FROZEN_READS` reads and
            :data:`FROZEN_UPDATES` updates or more, since its meter started or after it moved
            (:data:`FROZEN_RAPL`). `EnergyCallback` counts them as not measured.

    Example:
        >>> m = Measurement("step", 2.0, {"gpu:0": 500.0, "cpu:0": 40.0}, {"gpu:0": "nvml_counter", "cpu:0": "rapl"})
        >>> m.energy_J, m.power_W
        (540.0, 270.0)
    """

    name: str
    seconds: float
    by_device: Mapping[str, float]
    sources: Mapping[str, str]
    approximate: bool = False
    invalid: Mapping[str, str] = field(default_factory=dict)
    contention: Contention | None = None
    approximate_why: Mapping[str, str] = field(default_factory=dict)
    frozen: Mapping[str, str] = field(default_factory=dict)

    @property
    def contended(self) -> bool:
        """Other processes' CPU load, or more compute threads than free cores, may bias this window's value."""
        return self.contention is not None and self.contention.contended

    @property
    def unread(self) -> list[str]:
        """Domains whose value here is no reading though valid: an NVML energy counter that did not move (0 J)."""
        return [d for d, why in self.approximate_why.items() if why == STILL_COUNTER]

    @property
    def interpolated(self) -> list[str]:
        """Domains whose value here was interpolated across a gap in a polled sensor's samples. The other reasons a
        window is :attr:`approximate` (shorter than a sensor's update, an NVML counter that did not move) move
        energy into a neighbouring window, so a sum of consecutive windows keeps it; this error stays in every
        total the window is part of."""
        return [d for d, why in self.approximate_why.items() if why != STILL_COUNTER and SHORT_WINDOW not in why]

    @property
    def energy_J(self) -> float:
        """Total energy over all valid domains (J)."""
        return float(sum(self.by_device.values()))

    @property
    def power_W(self) -> float:
        """Mean power over the window (W); NaN for a zero-length window."""
        return self.energy_J / self.seconds if self.seconds > 0 else math.nan

    @property
    def measured_J(self) -> float:
        """Energy from sensors only (J)."""
        return float(sum(v for d, v in self.by_device.items() if is_measured(self.sources[d])))

    @property
    def estimated_J(self) -> float:
        """Energy that is modelled, not measured (J)."""
        return self.energy_J - self.measured_J

    @property
    def source(self) -> str:
        """One label for the whole value: :func:`source_label` of its sources."""
        return source_label(self.sources)

    def __add__(self, other: Measurement) -> Measurement:
        """Sum two windows (energy and time add; used for running totals)."""
        by_device = dict(self.by_device)
        for d, v in other.by_device.items():
            by_device[d] = by_device.get(d, 0.0) + v
        return Measurement(
            name=self.name,
            seconds=self.seconds + other.seconds,
            by_device=by_device,
            sources={**other.sources, **self.sources},
            approximate=self.approximate or other.approximate,
            invalid={**other.invalid, **self.invalid},
            contention=_add_contention(self.contention, other.contention),
            approximate_why={**other.approximate_why, **self.approximate_why},
            frozen={**other.frozen, **self.frozen},
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with totals, per-domain values and their sources."""
        return {
            "name": self.name,
            "seconds": self.seconds,
            "energy_J": self.energy_J,
            "measured_J": self.measured_J,
            "estimated_J": self.estimated_J,
            "power_W": None if math.isnan(self.power_W) else self.power_W,
            "by_device": dict(self.by_device),
            "sources": dict(self.sources),
            "approximate": self.approximate,
            "approximate_why": dict(self.approximate_why),
            "frozen": dict(self.frozen),
            "invalid": dict(self.invalid),
            "contended": self.contended,
            "contention": None if self.contention is None else self.contention.to_dict(),
        }

    @classmethod
    def empty(cls, name: str = "") -> Measurement:
        """A zero-length window with no domains (the start of a running total)."""
        return cls(name=name, seconds=0.0, by_device={}, sources={})


def _add_contention(a: Contention | None, b: Contention | None) -> Contention | None:
    if a is None or b is None:
        return a or b
    return a + b
