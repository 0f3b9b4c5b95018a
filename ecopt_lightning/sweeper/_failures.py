"""Failed trials steer the search away: a sampler wrapper that shows its inner sampler each failed trial as an
infeasible one, through Optuna's own constraint mechanism.

Optuna's samplers read only COMPLETE (TPE: and PRUNED) trials, so a region where jobs fail (out of memory,
NaN, an exception) looks unexplored and keeps being proposed. The wrapper hands the inner sampler a *view* of
the study in which, once a trial has completed:

- every FAIL trial that failed in its job (marked with ``JOB_FAILED_ATTR``; not a dead worker's nor a refused
  batch's) appears COMPLETE with the constraint ``ecopt.failed`` = 1 (violated);
- every COMPLETE and PRUNED trial carries ``ecopt.failed`` = 0 (satisfied) beside its own constraints.

Optuna 5's TPE (infeasible trials go to the "above" group), NSGA-II/III (constrained domination) and GP (a
feasibility model per constraint) all read constraints from the trials themselves, so all of them learn the
failing region. The view needs values for a failed trial: each objective's worst COMPLETE value, and each user
constraint's largest observed value (pessimistic). These exist only in the view: the study keeps the trial
FAIL with no values, so nothing invented reaches the front, ``best_trials`` or the artifacts.

Optuna 4 reads constraints only through a sampler's ``constraints_func``: there :func:`wrap` returns the
sampler unchanged (failures stay invisible to it, as before) and says so.

Example:
    >>> import optuna
    >>> sampler = wrap(optuna.samplers.TPESampler(seed=0))
    >>> type(sampler).__name__, type(sampler.inner).__name__
    ('FailuresAsInfeasible', 'TPESampler')
"""

from __future__ import annotations

import copy
from collections.abc import Container, Sequence
from typing import Any, cast

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from typing_extensions import override

from ._optuna_compat import constraint_attr, constraints_key, study_trials
from ._schema import FAILED_CONSTRAINT, JOB_FAILED_ATTR


def supported() -> bool:
    """Optuna 5: samplers read constraints from the trials (``Trial.set_constraint``)."""
    return hasattr(optuna.trial.Trial, "set_constraint")


def wrap(sampler: optuna.samplers.BaseSampler) -> optuna.samplers.BaseSampler:
    """``sampler`` wrapped in :class:`FailuresAsInfeasible` (Optuna 5), or unchanged (Optuna 4)."""
    return FailuresAsInfeasible(sampler) if supported() else sampler


class FailuresAsInfeasible(optuna.samplers.BaseSampler):
    """Delegates every call to ``inner`` with a :class:`StudyView` in place of the study."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner

    @override
    def __str__(self) -> str:
        return f"{type(self.inner).__name__} (failed trials shown as infeasible)"

    @override
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(_view(study), trial)

    @override
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(_view(study), trial, search_space)

    @override
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.inner.sample_independent(_view(study), trial, param_name, param_distribution)

    @override
    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(_view(study), trial)

    @override
    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.inner.after_trial(_view(study), trial, state, values)

    @override
    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def _view(study: Study) -> Study:
    """``study`` as the inner sampler sees it: a :class:`StudyView`, which stands in for the Study it wraps."""
    return cast(Study, StudyView(study))


class StudyView:
    """The study as the inner sampler sees it: job failures as infeasible COMPLETE trials (see the module's
    docstring); every other attribute is the study's own."""

    def __init__(self, study: Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def shown(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """``trials`` (the study's, in order) as the inner sampler sees them; a subclass may show them otherwise."""
        return shown(trials, self._study.directions)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=True)

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        trials = self.shown(study_trials(self._study, use_cache))
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials


def job_failed(trial: FrozenTrial) -> bool:
    """A FAIL trial whose job ran and failed (exception, NaN, missing metric), as the sweeper marks them."""
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(JOB_FAILED_ATTR))


def shown(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """``trials`` as the inner sampler sees them; unchanged until a trial has failed in its job and one has
    completed. Shown trials are copies: the stored ones are never modified."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not complete or not any(job_failed(t) for t in trials):
        return list(trials)
    worst = [
        max(t.values[i] for t in complete) if d == StudyDirection.MINIMIZE else min(t.values[i] for t in complete)
        for i, d in enumerate(directions)
    ]
    names = sorted({k for t in complete for k in t.constraints})
    largest = {k: max(t.constraints[k] for t in complete if k in t.constraints) for k in names}
    out = []
    for t in trials:
        if job_failed(t):
            out.append(_copy(t, TrialState.COMPLETE, worst, {**largest, FAILED_CONSTRAINT: 1.0}))
        elif t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            own = t.constraints
            out.append(_copy(t, t.state, t.values, {**{k: own.get(k, 0.0) for k in names}, FAILED_CONSTRAINT: 0.0}))
        else:
            out.append(t)
    return out


def _copy(
    trial: FrozenTrial, state: TrialState, values: Sequence[float] | None, constraints: dict[str, float]
) -> FrozenTrial:
    """A shallow copy with new state, values and constraints (in one order for every trial: GP needs it)."""
    shown_trial = copy.copy(trial)
    old_format = constraints_key()
    attrs = {k: v for k, v in trial.system_attrs.items() if k != old_format and not k.startswith(old_format + ":")}
    attrs.update({constraint_attr(k): v for k, v in constraints.items()})
    shown_trial.system_attrs = attrs
    shown_trial.state = state
    shown_trial.values = None if values is None else list(values)
    return shown_trial
