"""The shared budget of workers on one study: which freshly asked trials lie beyond ``n_trials``.

Each worker counts the COMPLETE and RUNNING trials and asks for what is missing, but counting and asking are
not one atomic step: two workers that both see one trial missing both ask one, and a study shared by 8 workers
ends with up to 7 trials too many. The storage numbers trials atomically, so after asking, a worker keeps a
trial only when fewer than ``n_trials`` counted trials (COMPLETE, RUNNING, or PRUNED at a multi-fidelity rung,
as the sweep loop counts them) have a lower number; the others are told FAIL at once, never run
(``ecopt.error`` starts with ``not run:``). Every worker applies the same rule to the same numbers, so exactly
the first ``n_trials`` run; should one of them fail later, a waiting worker asks again.

Example:
    >>> beyond([3, 5, 6], counted=[0, 1, 2, 3, 4, 5, 6], n_trials=5)
    [5, 6]
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from .multi_fidelity import stopped_at_rung

#: ``ecopt.error`` of a trial asked beyond the budget (the prefix ``not run:`` marks trials that never ran)
OVER_BUDGET_ERROR = (
    "not run: over budget: n_trials was already covered by COMPLETE, RUNNING or rung-stopped trials with lower numbers "
    "when it was asked (workers raced for the last trials)"
)


def counts(trial: Any) -> bool:
    """Whether ``trial`` (a ``FrozenTrial``) counts towards ``n_trials``: COMPLETE, RUNNING, or PRUNED where
    multi-fidelity stopped it at a rung (trained in part), not pruned before training, failed or waiting.

    Example:
        >>> from optuna.trial import TrialState, create_trial
        >>> counts(create_trial(state=TrialState.PRUNED)), counts(create_trial(state=TrialState.FAIL))
        (False, False)
    """
    return trial.state.name in ("COMPLETE", "RUNNING") or stopped_at_rung(trial) is not None


def beyond(asked: Sequence[int], counted: Sequence[int], n_trials: int) -> list[int]:
    """The numbers in ``asked`` with at least ``n_trials`` numbers of ``counted`` (the counted trials, the asked
    ones included) below them."""
    ordered = sorted(counted)
    return [n for n in asked if bisect_left(ordered, n) >= n_trials]


def may_exceed(asked: Sequence[int], n_trials: int) -> bool:
    """Whether any of ``asked`` can lie :func:`beyond` the budget, whatever the other trials' states: a number
    below ``n_trials`` has fewer than ``n_trials`` numbers below it, so only a higher one needs the count read.

    Example:
        >>> may_exceed([3, 4], n_trials=5), may_exceed([4, 5], n_trials=5)
        (False, True)
    """
    return bool(asked) and max(asked) >= n_trials
