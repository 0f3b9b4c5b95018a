"""Whether a trial is within its constraints, judged one way for the reports, the rung cohort
(:mod:`.multi_fidelity`) and the samplers' view (:mod:`._failures`): the values stored when it ran, and a
constraint the study got later judged on its stored metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from optuna.trial import FrozenTrial, TrialState

from ._metrics import later_constraint
from ._optuna_compat import constraints_key
from ._schema import CONSTRAINTS_ATTR, stored_metrics


def _constraints(trial: FrozenTrial) -> dict[str, float]:
    stored = trial.user_attrs.get(CONSTRAINTS_ATTR)
    if stored:
        return {str(k): float(v) for k, v in stored.items()}
    native = getattr(trial, "constraints", None)  # Optuna 5
    if isinstance(native, Mapping):
        return {str(k): float(v) for k, v in native.items()}
    legacy = trial.system_attrs.get(constraints_key())  # Optuna 4 list
    return {str(i): float(v) for i, v in enumerate(legacy or [])}


def judged_constraints(trial: FrozenTrial, texts: Sequence[str], pruned: bool = False) -> dict[str, float]:
    """A trial's constraint values as every report reads them: those stored, and for a complete trial each of
    ``texts`` (the study's constraints now) it was not judged by (added when the study was resumed) judged on its
    stored metrics, NaN where it lacks the metric (not feasible: nothing shows it met). ``pruned``: a pruned
    trial's too, where it stored the metric (the check that pruned it before training stores what it measured)."""
    constraints = _constraints(trial)
    missing = [text for text in texts if text not in constraints]
    if trial.state == TrialState.COMPLETE and missing:
        metrics = stored_metrics(trial.user_attrs)
        constraints.update({text: later_constraint(text, metrics) for text in missing})
    elif pruned and trial.state == TrialState.PRUNED and missing:
        metrics = stored_metrics(trial.user_attrs)
        judged = {text: later_constraint(text, metrics) for text in missing}
        constraints.update({text: v for text, v in judged.items() if not math.isnan(v)})
    return constraints


def broke_constraints(trial: FrozenTrial, texts: Sequence[str]) -> bool:
    """Whether ``trial`` breaks one of its :func:`judged_constraints` (NaN, a metric it lacks, included)."""
    return not within(judged_constraints(trial, texts))


def within(constraints: Mapping[str, float]) -> bool:
    """Whether every constraint value is met (<= 0; NaN is not)."""
    return all(v <= 0 for v in constraints.values())
