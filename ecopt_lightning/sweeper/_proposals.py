"""Asking the sampler for a batch of trials, without leaving one RUNNING when the sampler fails.

``Study.ask(fixed_distributions)`` creates the trial in storage before the sampler proposes its parameters, and
returns nothing when the sampler raises: the trial stayed RUNNING with no worker, to be failed as "worker died"
by the next run. Here the trial is asked first, then its parameters are suggested (the public ``suggest_*``
calls, the same path ``ask`` takes), so a sampler error can be told on the trials it concerns.

Example:
    >>> import optuna
    >>> from optuna.distributions import CategoricalDistribution, IntDistribution
    >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    >>> space = {"width": IntDistribution(8, 64, step=8), "act": CategoricalDistribution(["relu", "gelu"])}
    >>> [sorted(t.params) for t in ask_batch(study, space, 2)]
    [['act', 'width'], ['act', 'width']]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from ._optuna_compat import set_user_attrs
from ._samplers import describe
from ._schema import ERROR_ATTR
from ._storage import storage_lost

#: why a trial of a batch whose proposing was interrupted is FAIL
INTERRUPTED_ASKING = "not run: interrupted (Ctrl-C) while the sampler proposed its batch"


class ProposalError(RuntimeError):
    """The sampler raised while proposing a trial; the batch's trials are FAIL (never run). The message is one
    line naming the sampler's exception; the exception itself is the ``__cause__``."""


def suggest(trial: Trial, name: str, distribution: BaseDistribution) -> Any:
    """The trial's value of ``name`` from the study's sampler, through the public ``suggest_*`` call that builds
    ``distribution``."""
    d = distribution
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    raise TypeError(f"distribution {distribution!r} is not allowed: a Float, Int or Categorical distribution")


def ask_batch(study: optuna.Study, distributions: Mapping[str, BaseDistribution], size: int) -> list[Trial]:
    """``size`` new trials with their parameters from ``distributions``.

    Raises:
        ProposalError: the sampler raised; every trial asked for the batch so far is told FAIL with the reason in
            ``ecopt.error`` (a "not run" one: not a failure of the job, so the failure wrapper does not mark its
            region), the trial the storage made inside ``Study.ask`` when the sampler's ``before_trial`` raised
            included. A Ctrl-C fails them the same way and is raised as it came.
    """
    trials: list[Trial] = []
    current: int | None = None  # the number of the trial being proposed, once the storage has made it
    watching = _Watching(study.sampler)
    try:
        for _ in range(size):
            current = None
            study.sampler = cast(optuna.samplers.BaseSampler, watching)
            try:
                trial = study.ask()
            finally:
                study.sampler = watching.inner
                if watching.begun is not None:  # made by the storage; before_trial may have raised on it
                    current = watching.begun.number
            trials.append(trial)
            watching.begun = None
            for name, distribution in distributions.items():
                suggest(trial, name, distribution)
    except BaseException as exc:
        told: list[Trial | FrozenTrial] = [*trials, *([watching.begun] if watching.begun is not None else [])]
        if isinstance(exc, Exception) and storage_lost(exc):
            raise  # the storage, not the sampler: the sweep says so, and a rerun fails what this left RUNNING
        if isinstance(exc, KeyboardInterrupt):
            why = INTERRUPTED_ASKING
        else:
            why = " ".join(f"not run: the sampler failed while proposing it: {type(exc).__name__}: {exc}".split())
        for failed in told:
            tell_failed(study, failed, why)
        if isinstance(exc, Exception):
            which = "a new trial" if current is None else f"trial {current}"
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise ProposalError(
                f"the sampler {describe(study.sampler)} failed while proposing {which}: {error}"
            ) from exc
        raise
    return trials


class _Watching:
    """Stands in for the study's sampler during ``Study.ask``, which creates the trial in storage and then calls the
    sampler's ``before_trial``: keeps the trial it was called with (``begun``), so that a ``before_trial`` that
    raises leaves a trial this worker can tell FAIL, not one that looks like another worker's being asked."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner
        self.begun: FrozenTrial | None = None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.begun = trial
        self.inner.before_trial(study, trial)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def tell_failed(
    study: optuna.Study, trial: Trial | FrozenTrial, why: str, attrs: Mapping[str, Any] | None = None
) -> None:
    """Tell ``trial`` FAIL with ``why`` in ``ecopt.error`` (and ``attrs``, e.g. the energy its job spent), unless
    it was told meanwhile (another worker, or a tell that committed before a Ctrl-C)."""
    try:
        set_user_attrs(study, trial, {**(attrs or {}), ERROR_ATTR: why})
        study.tell(trial if isinstance(trial, Trial) else trial.number, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
