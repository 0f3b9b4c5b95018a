"""ecopt-lightning: measure and optimise the energy of PyTorch Lightning models.

Public API:

- :class:`EnergyMonitor`, :class:`Measurement`: explicit measurement windows over NVML, RAPL or an estimate.
- :class:`EnergyCallback`, :class:`InferenceBenchmark`: energy per training step and inference batch in a Trainer.
- :func:`measure_inference`: J per inference sample of a model on a dataloader (median and IQR).
- :func:`count_parameters`, :func:`flops_per_sample`: the proxies energy is often judged by.
- :func:`carbon_g`, :func:`cost`: joules to gCO2e and money.
- :func:`check_before_training`: in a sweep with ``prune_before_training``, prune a trial whose untrained
  model already breaks an inference-energy constraint.

The Lightning-dependent names load on first use, so that importing the package (as Hydra does for every
plugin at every app start) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_LAZY = {
    "EnergyCallback": "ecopt_lightning.callback",
    "InferenceBenchmark": "ecopt_lightning.inference",
    "InferenceResult": "ecopt_lightning.inference",
    "measure_inference": "ecopt_lightning.inference",
    "count_parameters": "ecopt_lightning.proxies",
    "flops_per_sample": "ecopt_lightning.proxies",
    "check_before_training": "ecopt_lightning.sweeper.pruning",
    "PrunedBeforeTraining": "ecopt_lightning.sweeper.pruning",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecopt_lightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ESTIMATE",
    "NVML_COUNTER",
    "NVML_POWER",
    "RAPL",
    "SOURCES",
    "EnergyCallback",
    "EnergyMonitor",
    "EnergyWarning",
    "InferenceBenchmark",
    "InferenceResult",
    "Measurement",
    "PrunedBeforeTraining",
    "Snapshot",
    "__version__",
    "carbon_g",
    "check_before_training",
    "cost",
    "count_parameters",
    "flops_per_sample",
    "joules_to_kwh",
    "measure_inference",
]
