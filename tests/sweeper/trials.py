"""Finished trials built by hand for the report's tests: two objectives, ``val_acc`` (max) and J per sample (min)."""

from __future__ import annotations

from typing import Any

from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial


def complete_trial(number: int, acc: float, j_per_sample: float, **attrs: Any) -> FrozenTrial:
    """A COMPLETE trial with both objectives also as user attributes, and ``attrs`` beside them."""
    t = create_trial(
        state=TrialState.COMPLETE,
        values=[acc, j_per_sample],
        params={"width": number + 1},
        distributions={"width": IntDistribution(1, 100)},
        user_attrs={"val_acc": acc, "energy/inference_per_sample_J": j_per_sample, **attrs},
    )
    t.number = number
    return t
