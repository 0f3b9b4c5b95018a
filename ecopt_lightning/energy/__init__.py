"""Energy meters (NVML, RAPL, estimate), the monitor that opens windows over them, and unit conversions."""

from ._notices import EnergyNotice, EnergyWarning
from .carbon import carbon_g, cost, joules_to_kwh
from .measurement import ESTIMATE, NVML_COUNTER, NVML_POWER, RAPL, SOURCES, Measurement
from .monitor import EnergyMonitor, Snapshot, Window

__all__ = [
    "ESTIMATE",
    "NVML_COUNTER",
    "NVML_POWER",
    "RAPL",
    "SOURCES",
    "EnergyMonitor",
    "EnergyNotice",
    "EnergyWarning",
    "Measurement",
    "Snapshot",
    "Window",
    "carbon_g",
    "cost",
    "joules_to_kwh",
]
