"""Sampler choice (``auto``) and construction, for Optuna 4 and 5.

``auto`` rules, in order (budget = ``n_trials``):

1. a custom search space (shape unknown) or any categorical parameter -> TPE (handles both, cheap);
2. budget >= 300 trials: NSGA-III for 4+ objectives, NSGA-II for 2-3 (populations of 50 need many trials);
3. all parameters numeric and budget <= 200 -> GP (the most sample-efficient for small numeric budgets);
4. otherwise TPE.

Example:
    >>> from optuna.distributions import FloatDistribution
    >>> choose("auto", 2, {"lr": FloatDistribution(1e-4, 1e-1, log=True)}, 50, custom_space=False)[0]
    'gp'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial

from ._optuna_compat import constraints_key, set_trial_system_attr
from ._schema import CONSTRAINTS_ATTR
from .errors import SweeperConfigError


def choose(
    name: str, n_objectives: int, space: Mapping[str, BaseDistribution], n_trials: int, custom_space: bool
) -> tuple[str, str]:
    """``(sampler, reason)``: ``name`` itself unless it is ``auto``."""
    if name != "auto":
        return name, "chosen in config"
    n_cat = sum(isinstance(d, CategoricalDistribution) for d in space.values())
    if custom_space:
        return "tpe", "a custom search space may be conditional; TPE handles dynamic spaces"
    if n_trials >= 300:
        if n_objectives >= 4:
            return "nsga3", f"{n_objectives} objectives and a budget of {n_trials} trials (>= 300)"
        if n_objectives >= 2:
            return "nsga2", f"{n_objectives} objectives and a budget of {n_trials} trials (>= 300)"
    if n_cat:
        return "tpe", f"{n_cat} categorical parameter(s); TPE models them directly"
    if space and n_trials <= 200:
        return "gp", f"{len(space)} numeric parameter(s) and a small budget ({n_trials} <= 200 trials)"
    return "tpe", f"{len(space)} parameter(s), budget {n_trials} trials"


def has_set_constraint() -> bool:
    """Optuna 5 sets constraints per trial; Optuna 4 needs the sampler's ``constraints_func``."""
    return hasattr(optuna.trial.Trial, "set_constraint")


def store_constraints_optuna4(study: optuna.Study, trial: optuna.trial.Trial, values: Sequence[float]) -> None:
    """Optuna 4 reads feasibility (``Study.best_trials``, the constrained samplers) from the trial's system
    attribute ``constraints``, which only a sampler's ``constraints_func`` writes; samplers without one (random,
    QMC, GP) would leave infeasible trials on Optuna's own front. Write it here, with the same values."""
    set_trial_system_attr(study, trial, constraints_key(), list(values))


def stored_constraints(trial: FrozenTrial) -> Sequence[float]:
    """``constraints_func`` for Optuna 4: the values the sweeper stored before telling the trial."""
    return list((trial.user_attrs.get(CONSTRAINTS_ATTR) or {}).values())


def _instantiate_nested(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # hydra-core 1.4 instantiates plugin configs non-recursively: build nested `_target_` objects here.
    from hydra.utils import instantiate

    return {k: instantiate(v) if isinstance(v, Mapping) and "_target_" in v else v for k, v in kwargs.items()}


def build(
    name: str, kwargs: Mapping[str, Any], seed: int | None, constrained: bool, field: str = "sampler_kwargs"
) -> optuna.samplers.BaseSampler:
    """An Optuna sampler; ``kwargs`` come from ``sampler_kwargs``, ``seed`` is added unless given there."""
    samplers: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "tpe": optuna.samplers.TPESampler,
        "nsga2": optuna.samplers.NSGAIISampler,
        "nsga3": optuna.samplers.NSGAIIISampler,
        "gp": optuna.samplers.GPSampler,
        "random": optuna.samplers.RandomSampler,
        "qmc": optuna.samplers.QMCSampler,
    }
    args = _instantiate_nested(kwargs)
    args.setdefault("seed", seed)
    if name == "tpe":
        args.setdefault("constant_liar", True)  # batches of n_jobs run at once; default only since Optuna 5
    if constrained and not has_set_constraint() and name in ("tpe", "nsga2", "nsga3", "gp"):
        args.setdefault("constraints_func", stored_constraints)
    try:
        return samplers[name](**args)
    except (TypeError, ValueError) as exc:
        raise SweeperConfigError(field, dict(kwargs), f"arguments of {samplers[name].__name__} ({exc})") from None
