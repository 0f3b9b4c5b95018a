"""The interface every energy source implements: cumulative joules per domain, cheap to read.

Example (a meter that adds 2 J per read; :class:`~ecopt_lightning.energy.EnergyMonitor` reads it at each end
of a window, so the window holds the difference of the two reads):
    >>> from ecopt_lightning.energy import EnergyMonitor
    >>> class TwoJoulesPerRead:
    ...     sources = {"cpu:0": "estimate"}
    ...     update_period_s = 0.0
    ...     joules = 0.0
    ...     def read(self) -> Reading:
    ...         self.joules += 2.0
    ...         return Reading({"cpu:0": self.joules})
    ...     def close(self) -> None: ...
    >>> with EnergyMonitor(gpus=[], cpu=False, meters=[TwoJoulesPerRead()], proc_root=False) as monitor:
    ...     with monitor.window("work") as w:
    ...         pass
    >>> w.measurement.by_device, w.measurement.sources
    ({'cpu:0': 2.0}, {'cpu:0': 'estimate'})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Reading:
    """One read of a meter: cumulative energy per domain since the meter started (J), and failures."""

    energy_J: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: per domain, how many failed samples so far (polling meters): a change inside a window marks it invalid
    faults: dict[str, int] = field(default_factory=dict)
    #: per domain, why its last fault happened: the reason a window across it is invalid
    fault_reasons: dict[str, str] = field(default_factory=dict)
    #: per domain, how many gaps in its samples so far (polling meters): a change inside a window makes it approximate
    gaps: dict[str, int] = field(default_factory=dict)
    #: per domain, what its last gap was: the reason a window across it is approximate
    gap_reasons: dict[str, str] = field(default_factory=dict)


class Meter(Protocol):
    """A source of energy readings for one or more domains (``gpu:0``, ``cpu:0``, ``dram:0``).

    ``read()`` returns energy accumulated since the meter was created, so that a window is the difference of
    two reads and consecutive windows telescope exactly. It must not block (no sleeps, no sampling
    intervals) and must not raise: a failed domain goes to ``Reading.errors`` (the monitor counts every domain of
    a meter whose read raises anyway as failed in that read).
    """

    #: domain -> source label (``nvml_counter``, ``nvml_power``, ``rapl``, ``estimate``)
    sources: dict[str, str]
    #: how often the underlying sensor updates (s); windows shorter than this are approximate
    update_period_s: float

    def read(self) -> Reading: ...

    def close(self) -> None: ...
