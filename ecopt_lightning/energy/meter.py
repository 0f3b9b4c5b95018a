"""The interface every energy source implements: cumulative joules per domain, cheap to read."""

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


class Meter(Protocol):
    """A source of energy readings for one or more domains (``gpu:0``, ``cpu:0``, ``dram:0``).

    ``read()`` returns energy accumulated since the meter was created, so that a window is the difference of
    two reads and consecutive windows telescope exactly. It must not block (no sleeps, no sampling
    intervals) and must not raise: a failed domain goes to ``Reading.errors``.
    """

    #: domain -> source label (``nvml_counter``, ``nvml_power``, ``rapl``, ``estimate``)
    sources: dict[str, str]
    #: how often the underlying sensor updates (s); windows shorter than this are approximate
    update_period_s: float

    def read(self) -> Reading: ...

    def close(self) -> None: ...
