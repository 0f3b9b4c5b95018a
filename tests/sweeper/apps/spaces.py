"""A conditional search space for ``hydra.sweeper.custom_search_space=spaces.conditional``."""

from __future__ import annotations

from typing import Any


def conditional(cfg: Any, trial: Any) -> dict[str, Any]:
    """``depth`` is searched only for wide models; ``mode`` is fixed through the returned overrides."""
    width = trial.suggest_categorical("width", [8, 16, 32])
    if width >= 16:
        trial.suggest_int("depth", 1, 3)
    return {"energy_keys": "total"}
