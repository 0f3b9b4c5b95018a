"""The estimate used where no sensor is readable: process CPU time times a per-core power figure.

This is a model, not a measurement, and is always labelled ``estimate``. It counts the CPU time of this
process (all its threads; not its child processes such as DataLoader workers) and multiplies it by the power
one busy core draws, taken from the CPU's TDP divided by its core count. It leaves out idle and uncore power,
DRAM and other devices, so it is a lower bound of what the machine draws on the process's behalf.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from .checks import finite
from .measurement import ESTIMATE
from .meter import Reading

#: Watts per busy core when the CPU model is not in :data:`TDP_TABLE`: a mid-range server part
#: (for example a 32-core, 200 W package gives 6.25 W per core).
DEFAULT_WATTS_PER_CORE = 6.0

#: CPU model patterns -> (TDP in W, cores), from the vendors' product specifications.
TDP_TABLE: tuple[tuple[str, float, int], ...] = (
    (r"EPYC 9654", 360.0, 96),
    (r"EPYC 9554", 360.0, 64),
    (r"EPYC 7763", 280.0, 64),
    (r"EPYC 7742", 225.0, 64),
    (r"EPYC 7543", 225.0, 32),
    (r"EPYC 7B13", 240.0, 64),
    (r"Xeon.*Platinum 8480", 350.0, 56),
    (r"Xeon.*Platinum 8380", 270.0, 40),
    (r"Xeon.*Platinum 8275CL", 240.0, 24),
    (r"Xeon.*Gold 6248", 150.0, 20),
    (r"Xeon.*E5-2686 v4", 145.0, 18),
    (r"Core\(TM\) i9-13900K", 125.0, 24),
    (r"Core\(TM\) i7-12700", 65.0, 12),
    (r"Ryzen 9 7950X", 170.0, 16),
    (r"Neoverse-V2|Grace", 250.0, 72),
)


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (empty when unknown)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def watts_per_core(model: str | None = None) -> tuple[float, str]:
    """Power of one busy core (W) and how it was chosen.

    Example:
        >>> watts_per_core("AMD EPYC 7763 64-Core Processor")
        (4.375, 'from the TDP table: EPYC 7763 280 W / 64 cores')
    """
    model = cpu_model_name() if model is None else model
    for pattern, tdp, cores in TDP_TABLE:
        if re.search(pattern, model):
            return tdp / cores, f"from the TDP table: {pattern.replace(chr(92), '')} {tdp:g} W / {cores} cores"
    return (
        DEFAULT_WATTS_PER_CORE,
        f"the default for a CPU not in the TDP table, here {model or 'unknown'!r}",
    )


def _positive_watts(value: Any, name: str) -> float:
    try:
        watts = float(value)
    except (TypeError, ValueError):
        watts = float("nan")
    if not watts > 0 or watts == float("inf"):
        raise ValueError(f"{name}={value!r} is not allowed: give a power in W greater than 0")
    return watts


class CpuTimeEstimate:
    """Estimated CPU energy (J) = process CPU time (s) x watts per busy core (W), domain ``cpu:0``.

    Example:
        >>> m = CpuTimeEstimate(watts=5.0)
        >>> m.read().energy_J["cpu:0"] >= 0.0
        True
    """

    update_period_s = 0.0

    def __init__(self, watts: float | None = None, domain: str = "cpu:0") -> None:
        env = os.environ.get("ECOPT_CPU_WATTS_PER_CORE")
        if watts is not None:
            watts, self.basis = (
                finite("cpu_watts_per_core", watts, 0.0, strict=True),
                "the user's cpu_watts_per_core",
            )
        elif env:
            watts = _positive_watts(env, "ECOPT_CPU_WATTS_PER_CORE")
            self.basis = "the user's ECOPT_CPU_WATTS_PER_CORE"
        else:
            watts, self.basis = watts_per_core()
        self.watts = float(watts)
        self.domain = domain
        self.sources = {domain: ESTIMATE}
        self._t0 = time.process_time()

    def read(self) -> Reading:
        return Reading({self.domain: (time.process_time() - self._t0) * self.watts})

    def close(self) -> None:
        pass
