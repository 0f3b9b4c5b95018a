"""ecopt-lightning: measure and optimise the energy of PyTorch Lightning models.

Public API:

- :class:`EnergyMonitor`, :class:`Measurement`: explicit measurement windows over NVML, RAPL or an estimate.
- :func:`carbon_g`, :func:`cost`: joules to gCO2e and money.
"""

from .energy import (
    ESTIMATE,
    NVML_COUNTER,
    NVML_POWER,
    RAPL,
    SOURCES,
    EnergyMonitor,
    EnergyWarning,
    Measurement,
    Snapshot,
    carbon_g,
    cost,
    joules_to_kwh,
)

__version__ = "0.1.0"

__all__ = [
    "ESTIMATE",
    "NVML_COUNTER",
    "NVML_POWER",
    "RAPL",
    "SOURCES",
    "EnergyMonitor",
    "EnergyWarning",
    "Measurement",
    "Snapshot",
    "__version__",
    "carbon_g",
    "cost",
    "joules_to_kwh",
]
