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


#: (width, flip) of trial n: good, clearly dominated (wide, inverted labels), good, clearly dominated again
RUNG_PLAN = ((4, 0.0), (64, 1.0), (8, 0.0), (64, 1.0))


def rung_plan(cfg: Any, trial: Any) -> dict[str, Any]:
    """Trial n runs ``RUNG_PLAN[n % 4]`` (fixed overrides), so a multi-fidelity test knows who is dominated."""
    width, flip = RUNG_PLAN[trial.number % len(RUNG_PLAN)]
    return {"width": width, "flip": flip}


def with_containers(cfg: Any, trial: Any) -> dict[str, Any]:
    """Fixed overrides holding a dict and a list with a null (composed.py's ``optim``)."""
    trial.suggest_categorical("width", [8, 16])
    return {"optim": {"name": "sgd", "betas": [0.5, None]}}
