"""A conditional search space for ``hydra.sweeper.custom_search_space=spaces.conditional``."""

from __future__ import annotations

from typing import Any


def conditional(cfg: Any, trial: Any) -> dict[str, Any]:
    """``depth`` is searched only for wide models; ``mode`` is fixed through the returned overrides."""
    width = trial.suggest_categorical("width", [8, 16, 32])
    if width >= 16:
        trial.suggest_int("depth", 1, 3)
    return {"energy_keys": "total"}


FAULTS = ("none", "crash", "nvml_missing", "driver_missing", "no_counter", "gpu_lost", "rapl_denied")


def each_fault(cfg: Any, trial: Any) -> dict[str, Any]:
    """Trial n gets fault ``FAULTS[n % 7]`` (a fixed override), so one sweep meets every fault once."""
    trial.suggest_categorical("width", [4, 8])
    return {"fault": FAULTS[trial.number % len(FAULTS)]}
