"""A scripted energy meter (a test double of :class:`~ecopt_lightning.energy.meter.Meter`): each read adds the
next joules of a deterministic sequence, quiet (constant) or noisy (seeded pseudo-random), counted by reads,
never by time.

Example:
    >>> m = ScriptedMeter.noisy(seed=1)
    >>> a, b = m.read().energy_J["cpu:0"], m.read().energy_J["cpu:0"]
    >>> 0 < a < b
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ecopt_lightning.energy.meter import Reading


class ScriptedMeter:
    """Domain ``cpu:0`` labelled ``estimate``; ``step(n)`` gives the joules added by the n-th read (n from 0)."""

    update_period_s = 0.0

    def __init__(self, step: Callable[[int], float], source: str = "estimate") -> None:
        self.sources = {"cpu:0": source}
        self._step = step
        self.reads = 0
        self.energy = 0.0

    @classmethod
    def quiet(cls, joules: float = 1.0) -> ScriptedMeter:
        return cls(lambda n: joules)

    @classmethod
    def noisy(cls, seed: int = 0, low: float = 0.3, high: float = 3.0) -> ScriptedMeter:
        rng = random.Random(seed)
        return cls(lambda n: rng.uniform(low, high))

    def read(self) -> Reading:
        self.energy += self._step(self.reads)
        self.reads += 1
        return Reading({"cpu:0": self.energy})

    def close(self) -> None:
        pass


class GappyMeter(ScriptedMeter):
    """A :class:`ScriptedMeter` that reports a gap in its samples at each read ``n`` where ``gap(n)`` holds, as a
    polling meter whose poller was held up reports one (:attr:`Reading.gaps`)."""

    REASON = "samples missing for a while (the poller was held up)"

    def __init__(self, step: Callable[[int], float], gap: Callable[[int], bool], source: str = "nvml_power") -> None:
        super().__init__(step, source)
        self._gap = gap
        self.gaps = 0

    def read(self) -> Reading:
        self.gaps += self._gap(self.reads)
        reading = super().read()
        reading.gaps = {"cpu:0": self.gaps}
        reading.gap_reasons = {"cpu:0": self.REASON} if self.gaps else {}
        return reading
