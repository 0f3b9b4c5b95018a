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

Optuna 4 reads constraints only as the list a sampler's ``constraints_func`` stored when each trial finished
(system attribute ``constraints``): a constraint added when the study was resumed is missing from the earlier
trials' lists, which NSGA-II/III refuse to compare ("Trials with different numbers of constraints") and TPE
reads as met. There :func:`wrap` shows a constrained study's trials with that list as the reports judge them
(every trial in one order), and job failures stay invisible, as before; an unconstrained sampler is unchanged.

Example:
    >>> import optuna
    >>> sampler = wrap(optuna.samplers.TPESampler(seed=0), constrained=True)
    >>> type(sampler).__name__, type(sampler.inner).__name__
    ('FailuresAsInfeasible', 'TPESampler')
"""

from __future__ import annotations

import copy
import math
from collections.abc import Container, Sequence
from typing import Any, cast

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from typing_extensions import override

from ._feasibility import judged_constraints
from ._optuna_compat import constraint_attr, constraints_key, study_trials
from ._schema import FAILED_CONSTRAINT, JOB_FAILED_ATTR, ReportSettings


def supported() -> bool:
    """Optuna 5: samplers read constraints from the trials (``Trial.set_constraint``)."""
    return hasattr(optuna.trial.Trial, "set_constraint")


def wrap(
    sampler: optuna.samplers.BaseSampler, failures: bool = True, constrained: bool = False
) -> optuna.samplers.BaseSampler:
    """``sampler`` wrapped in :class:`FailuresAsInfeasible`. ``failures``: show job failures as infeasible
    (Optuna 5); without, the view only judges the constraints as the reports do, as on Optuna 4, where an
    unconstrained sampler is returned unchanged."""
    if supported():
        return FailuresAsInfeasible(sampler, failures)
    return FailuresAsInfeasible(sampler, failures=False) if constrained else sampler


class FailuresAsInfeasible(optuna.samplers.BaseSampler):
    """Delegates every call to ``inner`` with a :class:`StudyView` in place of the study."""

    def __init__(self, inner: optuna.samplers.BaseSampler, failures: bool = True) -> None:
        self.inner = inner
        self.failures = failures
        self._last = LastShown()

    @override
    def __str__(self) -> str:
        shown_as = "failed trials shown as infeasible" if self.failures else "constraints judged as in the reports"
        return f"{type(self.inner).__name__} ({shown_as})"

    @override
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(self._view(study), trial)

    @override
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(self._view(study), trial, search_space)

    @override
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.inner.sample_independent(self._view(study), trial, param_name, param_distribution)

    @override
    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(self._view(study), trial)

    @override
    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.inner.after_trial(self._view(study), trial, state, values)

    @override
    def reseed_rng(self) -> None:
        self.inner.reseed_rng()

    def _view(self, study: Study) -> Study:
        """``study`` as the inner sampler sees it: a :class:`StudyView`, which stands in for the Study it wraps."""
        return cast(Study, StudyView(study, self.failures, self._last))


class LastShown:
    """The finished trials last shown and what they were shown as. A sampler reads the study several times per
    proposal (TPE: once per parameter and once more), and at 300 trials showing them took 4 ms a read. A finished
    trial never changes (its storage refuses), and the view of a study depends on its finished trials only (the
    others are shown as they are), so while no trial has finished since, the view is not built again."""

    def __init__(self) -> None:
        self._entry: tuple[tuple[Any, ...], dict[int, FrozenTrial]] | None = None

    @staticmethod
    def key(trials: Sequence[FrozenTrial], settings: tuple[Any, ...]) -> tuple[Any, ...]:
        return (settings, tuple((t.number, t.state) for t in trials if t.state.is_finished()))

    def get(self, trials: Sequence[FrozenTrial], key: tuple[Any, ...]) -> list[FrozenTrial] | None:
        entry = self._entry  # one read: another thread may replace it
        if entry is None or entry[0] != key:
            return None
        return [entry[1][t.number] if t.state.is_finished() else t for t in trials]

    def put(self, key: tuple[Any, ...], out: Sequence[FrozenTrial]) -> None:
        self._entry = (key, {t.number: t for t in out if t.state.is_finished()})  # a shown finished trial is too


class StudyView:
    """The study as the inner sampler sees it: job failures as infeasible COMPLETE trials (see the module's
    docstring); every other attribute is the study's own. ``last``: the sampler's :class:`LastShown`."""

    def __init__(self, study: Study, failures: bool = True, last: LastShown | None = None) -> None:
        self._study = study
        self._failures = failures
        self._last = last

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def shown(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """``trials`` (the study's, in order) as the inner sampler sees them; a subclass may show them otherwise."""
        texts = ReportSettings.from_attrs(self._study.user_attrs, None, []).constraints
        key = LastShown.key(trials, (tuple(texts), self._failures))
        seen = None if self._last is None else self._last.get(trials, key)
        if seen is not None:
            return seen
        out = shown(trials, self._study.directions, texts, self._failures)
        if self._last is not None:
            self._last.put(key, out)
        return out

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


def shown(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    constraints: Sequence[str] = (),
    failures: bool = True,
) -> list[FrozenTrial]:
    """``trials`` as the inner sampler sees them; unchanged until a trial has failed in its job (``failures``) or
    the study has ``constraints`` (their texts), and one has completed. Shown trials are copies: the stored ones
    are never modified.

    A complete trial's constraints are those the reports judge it by (:func:`._feasibility.judged_constraints`): one
    added when the study was resumed is judged on its stored metrics, and where it lacks the metric (NaN, which
    Optuna's samplers would read as met: they count only values > 0) it is shown broken, by the largest violation
    of that constraint seen (1 when none was)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    failed = failures and any(job_failed(t) for t in trials)
    if not complete or not (failed or constraints):
        return list(trials)
    judged = {t.number: _judged(t, constraints) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
    names = sorted({k for t in complete for k in judged[t.number]})
    seen = {k: [judged[t.number][k] for t in complete if not math.isnan(judged[t.number].get(k, 0.0))] for k in names}
    broken = {k: max([v for v in seen[k] if v > 0], default=1.0) for k in names}
    extra = {FAILED_CONSTRAINT: 0.0} if failed else {}
    worst = [
        max(c.values[i] for c in complete) if d == StudyDirection.MINIMIZE else min(c.values[i] for c in complete)
        for i, d in enumerate(directions)
    ]
    largest = {k: max(seen[k], default=broken[k]) for k in names}
    out = []
    for t in trials:
        if failed and job_failed(t):
            out.append(_copy(t, TrialState.COMPLETE, worst, {**largest, FAILED_CONSTRAINT: 1.0}))
        elif t.number in judged:
            own = judged[t.number]
            values = {k: broken[k] if math.isnan(own.get(k, 0.0)) else own.get(k, 0.0) for k in names}
            out.append(_copy(t, t.state, t.values, {**values, **extra}))
        else:
            out.append(t)
    return out


def _judged(trial: FrozenTrial, constraints: Sequence[str]) -> dict[str, float]:
    """The trial's constraints as the reports judge them (by name), or as stored when the study names none; a
    trial pruned before training is shown the constraint its check broke (stored, it has no value: met to Optuna)."""
    return judged_constraints(trial, constraints, pruned=True) if constraints else dict(trial.constraints)


def _copy(
    trial: FrozenTrial, state: TrialState, values: Sequence[float] | None, constraints: dict[str, float]
) -> FrozenTrial:
    """A shallow copy with new state, values and constraints (in one order for every trial: GP needs it)."""
    shown_trial = copy.copy(trial)
    old_format = constraints_key()
    attrs = {k: v for k, v in trial.system_attrs.items() if k != old_format and not k.startswith(old_format + ":")}
    if supported():
        attrs.update({constraint_attr(k): v for k, v in constraints.items()})
    else:  # Optuna 4 reads the list alone
        attrs[old_format] = list(constraints.values())
    shown_trial.system_attrs = attrs
    shown_trial.state = state
    shown_trial.values = None if values is None else list(values)
    return shown_trial
