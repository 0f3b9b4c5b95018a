"""Sampler choice (``auto``) and construction, for Optuna 4 and 5.

``auto`` rules, in order (budget = ``n_trials``; measured in benchmarks/README.md):

1. a custom search space (shape unknown) -> TPE (handles dynamic spaces);
2. budget >= 300 trials: NSGA-III for 4+ objectives, NSGA-II for 2-3 (populations of 50 need many trials);
3. any categorical parameter: GP up to 100 trials (the best hypervolume on every categorical/mixed benchmark at
   50 trials), multivariate TPE beyond (next best, and cheap). GP keeps Optuna's settings: 5 or 20 start-up
   trials instead of 10, ``deterministic_objective``, and every 3rd or 5th proposal from multivariate TPE or
   random (``benchmarks/scheduled_sampler.py``) were no better on tuning seeds;
4. all parameters numeric and budget <= 200 -> GP (the most sample-efficient for small numeric budgets);
5. otherwise TPE; multivariate (``group``) where the space has integer parameters.

GP's own time is weighed against the trials': when a resumed study's trials are quick (:func:`choose`'s
``trial_seconds``) or when proposing a batch takes more than 10 % of the sweep's time (:func:`too_slow`, checked
after every batch), ``auto`` moves from GP to TPE and logs why.

Example:
    >>> from optuna.distributions import FloatDistribution
    >>> choose("auto", 2, {"lr": FloatDistribution(1e-4, 1e-1, log=True)}, 50, custom_space=False)[0]
    'gp'
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial
from typing_extensions import override

from . import _failures
from ._optuna_compat import constraints_key
from ._schema import CONSTRAINTS_ATTR
from .config import SAMPLER_ALIASES, resolve_callable
from .errors import SweeperConfigError

#: samplers that learn from past trials (the others ignore them, so failures need not be shown to them)
LEARNING = ("tpe", "nsga2", "nsga3", "gp")


#: largest budget at which ``auto`` picks GP for a space with categorical parameters (measured best at 50
#: trials; GP's proposing time grows with the trials, so beyond this multivariate TPE)
GP_CATEGORICAL_MAX_TRIALS = 100
#: proposing trials may take at most this share of the sweep's time; past it ``auto`` moves to a cheaper sampler
SAMPLER_TIME_SHARE = 0.1
#: where ``auto`` moves when proposing costs too much
CHEAPER = {"gp": "tpe"}
#: GP's proposing time per trial already in the study (s): ~0.4 s a proposal on average over a 50-trial run on
#: a 2-core CPU (benchmarks/search.py); it grows with the trials it models. An estimate for the first choice
#: only: during the sweep the measured time decides (:func:`too_slow`).
GP_SECONDS_PER_TRIAL = 0.016


def too_slow(name: str, propose_s: float, trial_s: float, completed: bool = True) -> str | None:
    """Why to leave sampler ``name`` when proposing a batch took ``propose_s`` and running it ``trial_s`` (s);
    ``None`` while proposing stays within :data:`SAMPLER_TIME_SHARE` of the time or nothing is cheaper, and when
    no trial of the batch ``completed``: a batch of trials that failed at once says nothing of how long trials take.

    Example:
        >>> too_slow("gp", 2.0, 0.5)
        'proposing took 2 s against 0.5 s of running trials (80% > 10% of the time); tpe is cheaper'
        >>> too_slow("gp", 2.0, 60.0) is None, too_slow("gp", 2.0, 0.5, completed=False) is None
        (True, True)
    """
    total = propose_s + trial_s
    if not completed or name not in CHEAPER or total <= 0 or propose_s <= SAMPLER_TIME_SHARE * total:
        return None
    return (
        f"proposing took {propose_s:.3g} s against {trial_s:.3g} s of running trials "
        f"({propose_s / total:.0%} > {SAMPLER_TIME_SHARE:.0%} of the time); {CHEAPER[name]} is cheaper"
    )


def choose(
    name: str,
    n_objectives: int,
    space: Mapping[str, BaseDistribution],
    n_trials: int,
    custom_space: bool,
    trial_seconds: float | None = None,
) -> tuple[str, str]:
    """``(sampler, reason)``: ``name`` itself unless it is ``auto``. ``trial_seconds``: the trials' median
    duration when known (a resumed study), weighed against GP's estimated proposing time at the budget's end."""
    if name != "auto":
        return name, "chosen in config"
    chosen, reason = _rules(n_objectives, space, n_trials, custom_space)
    if chosen == "gp" and trial_seconds is not None:
        why = too_slow("gp", GP_SECONDS_PER_TRIAL * n_trials, trial_seconds)
        if why:
            return CHEAPER["gp"], f"{reason}, but at {n_trials} trials GP (estimated) {why.split('; ')[0]}"
    return chosen, reason


def _rules(
    n_objectives: int, space: Mapping[str, BaseDistribution], n_trials: int, custom_space: bool
) -> tuple[str, str]:
    n_cat = sum(isinstance(d, CategoricalDistribution) for d in space.values())
    if custom_space:
        return "tpe", "a custom search space may be conditional; TPE handles dynamic spaces"
    if n_trials >= 300:
        if n_objectives >= 4:
            return "nsga3", f"{n_objectives} objectives and a budget of {n_trials} trials (>= 300)"
        if n_objectives >= 2:
            return "nsga2", f"{n_objectives} objectives and a budget of {n_trials} trials (>= 300)"
    if n_cat and n_trials <= GP_CATEGORICAL_MAX_TRIALS:
        return "gp", (
            f"{n_cat} categorical parameter(s) and a small budget ({n_trials} <= {GP_CATEGORICAL_MAX_TRIALS} "
            "trials): GP had the best hypervolume on every categorical/mixed benchmark at 50 trials"
        )
    if n_cat:
        return "tpe", (
            f"{n_cat} categorical parameter(s) and {n_trials} trials (> {GP_CATEGORICAL_MAX_TRIALS}: GP's proposing "
            "time grows with the trials): multivariate TPE, next best on the categorical/mixed benchmarks"
        )
    if space and n_trials <= 200:
        return "gp", f"{len(space)} numeric parameter(s) and a small budget ({n_trials} <= 200 trials)"
    return "tpe", f"{len(space)} parameter(s), budget {n_trials} trials"


def has_set_constraint() -> bool:
    """Optuna 5 sets constraints per trial; Optuna 4 needs the sampler's ``constraints_func``."""
    return hasattr(optuna.trial.Trial, "set_constraint")


def constraints_optuna4(values: Sequence[float]) -> dict[str, list[float]]:
    """The system attribute to store with a trial's constraint ``values``: Optuna 4 reads feasibility
    (``Study.best_trials``, the constrained samplers) from the trial's system attribute ``constraints``, which
    only a sampler's ``constraints_func`` writes; samplers without one (random, QMC, GP) would leave infeasible
    trials on Optuna's own front."""
    return {constraints_key(): list(values)}


def stored_constraints(trial: FrozenTrial) -> Sequence[float]:
    """``constraints_func`` for Optuna 4: the values the sweeper stored before telling the trial."""
    return list((trial.user_attrs.get(CONSTRAINTS_ATTR) or {}).values())


def _instantiate_nested(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # hydra-core 1.4 instantiates plugin configs non-recursively: build nested `_target_` objects here.
    from hydra.utils import instantiate

    return {k: instantiate(v) if isinstance(v, Mapping) and "_target_" in v else v for k, v in kwargs.items()}


def grid_points(space: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every value of each parameter, for ``grid``, as hydra-optuna-sweeper builds its grid: choices, and for
    integer and stepped float ranges the steps ``low + i * step`` below ``high`` (``range(1, 3)``: 1, 2, as
    Hydra lists a range; the other samplers draw ``range``'s ends both included, as hydra-optuna-sweeper does).

    Example:
        >>> from optuna.distributions import IntDistribution
        >>> grid_points({"w": CategoricalDistribution([8, 16]), "d": IntDistribution(1, 3)})
        {'w': [8, 16], 'd': [1, 2]}
        >>> grid_points({"r": IntDistribution(1, 9, step=2)})  # range(1, 10, 2): 9 is the other samplers' last
        {'r': [1, 3, 5, 7]}
    """
    out: dict[str, list[Any]] = {}
    for key, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            out[key] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            out[key] = list(range(dist.low, dist.high, dist.step)) or [dist.low]
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            n = max(1, round((dist.high - dist.low) / dist.step))
            out[key] = [dist.low + i * dist.step for i in range(n)]
        else:
            bounds = (
                f"({dist.low}, {dist.high}{', log' if dist.log else ''})"
                if isinstance(dist, IntDistribution | FloatDistribution)
                else ""
            )
            raise SweeperConfigError(
                "sampler",
                "grid",
                f"a search space of choice(...) and range(...) parameters only; {key} is {type(dist).__name__}"
                f"{bounds}, which has no finite grid",
            )
    if not out:
        raise SweeperConfigError("sampler", "grid", "a search space of choice/range parameters (it is empty)")
    return out


def grid_size(space: Mapping[str, BaseDistribution]) -> int:
    """Number of points of the grid over ``space``."""
    return math.prod(len(values) for values in grid_points(space).values())


def build(
    name: str,
    kwargs: Mapping[str, Any],
    seed: int | None,
    constrained: bool,
    field: str = "sampler_kwargs",
    failures_infeasible: bool = True,
    space: Mapping[str, BaseDistribution] | None = None,
    target: str | None = None,
    concurrent: bool = True,
) -> optuna.samplers.BaseSampler:
    """An Optuna sampler from its name (``custom``: the class at ``target``, a ``_target_`` from the config);
    ``kwargs`` come from the sampler's config and ``sampler_kwargs``, ``seed`` is added unless given there.

    Samplers that learn from past trials are wrapped so that failed trials count as infeasible
    (:mod:`._failures`) unless ``failures_infeasible`` is false, and, when ``constrained``, so that they judge
    each trial's constraints as the reports do. ``grid`` needs ``space`` (choice/range
    parameters: :func:`grid_points`). ``concurrent``: whether other trials may run while one is proposed (a
    batch of ``n_jobs``, or other workers on a shared storage); TPE's ``constant_liar`` defaults to it."""
    name = SAMPLER_ALIASES.get(name, name)  # hydra-optuna-sweeper's group name
    if name == "grid":
        return _build_grid(kwargs, seed, space or {}, field)
    if name == "custom":
        return _build_custom(target or "", kwargs, seed, field)
    samplers: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "tpe": optuna.samplers.TPESampler,
        "nsga2": optuna.samplers.NSGAIISampler,
        "nsga3": optuna.samplers.NSGAIIISampler,
        "gp": optuna.samplers.GPSampler,
        "random": optuna.samplers.RandomSampler,
        "qmc": optuna.samplers.QMCSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
    }
    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:  # Optuna imports it at the first proposal
        raise SweeperConfigError(
            "sampler", "cmaes", "a sampler whose package is installed (cmaes needs `pip install cmaes`)"
        )
    args = _instantiate_nested(kwargs)
    args.setdefault("seed", seed)
    if name == "tpe":
        # the running trials' points count as taken. Alone (one trial at a time, no other worker) there is none
        # but the one proposed, so the proposals are the same either way, and without it TPE reads the study
        # once per trial instead of once more per parameter (benchmarks/README.md, issue 14)
        args.setdefault("constant_liar", concurrent)
    if constrained and not has_set_constraint() and name in ("tpe", "nsga2", "nsga3", "gp"):
        args.setdefault("constraints_func", stored_constraints)
    try:
        with warnings.catch_warnings():  # multivariate/group TPE, NSGA-III, QMC: "experimental" since Optuna 2-3
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = samplers[name](**args)
    except (TypeError, ValueError, ImportError) as exc:  # ImportError: CmaEsSampler without the cmaes package
        reason = " ".join(str(exc).split())[:200]
        raise SweeperConfigError(field, dict(kwargs), f"arguments of {samplers[name].__name__} ({reason})") from None
    if name not in LEARNING or not (failures_infeasible or constrained):
        return sampler
    # constrained: they see each trial's constraints as the reports judge them (one a trial lacks: broken)
    return _failures.wrap(sampler, failures=failures_infeasible, constrained=constrained)


def _build_custom(target: str, kwargs: Mapping[str, Any], seed: int | None, field: str) -> optuna.samplers.BaseSampler:
    """``hydra.sweeper.sampler._target_=<class>`` outside the group: that class, with ``seed`` unless given."""
    try:
        factory = resolve_callable(target)
    except Exception as exc:  # the module's own import error too (a package it needs is missing)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise SweeperConfigError("sampler._target_", target, f"an importable Optuna sampler class ({reason})") from None
    args = _instantiate_nested(kwargs)
    args.setdefault("seed", seed)
    try:
        sampler = factory(**args)
    except (TypeError, ValueError, ImportError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise SweeperConfigError(field, dict(kwargs), f"arguments of {target} ({reason})") from None
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise SweeperConfigError("sampler._target_", target, "an Optuna sampler class (a BaseSampler)")
    return sampler


def describe(sampler: optuna.samplers.BaseSampler) -> str:
    """The sampler's class, and the failure wrapper when there is one: ``TPESampler (failed trials ...)``."""
    return str(sampler) if isinstance(sampler, _failures.FailuresAsInfeasible) else type(sampler).__name__


class SweepGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler without its ``study.stop()`` when the grid is exhausted (it raises outside
    ``Study.optimize``; the sweep loop stops itself when every point was tried)."""

    @override
    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: optuna.trial.TrialState, values: Sequence[float] | None
    ) -> None:
        return None


def _build_grid(
    kwargs: Mapping[str, Any], seed: int | None, space: Mapping[str, BaseDistribution], field: str
) -> optuna.samplers.GridSampler:
    args = {"seed": seed, **_instantiate_nested(kwargs)}
    args.setdefault("search_space", grid_points(space))
    try:
        return SweepGridSampler(**args)
    except (TypeError, ValueError) as exc:
        raise SweeperConfigError(field, dict(kwargs), f"arguments of GridSampler ({exc})") from None


def auto_kwargs(name: str, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """The sampler settings ``auto`` adds to its choice (the user's ``sampler_kwargs`` win): multivariate TPE
    (``group`` for conditional spaces) where the space has categorical or integer parameters, as measured."""
    discrete = any(isinstance(d, (CategoricalDistribution, IntDistribution)) for d in space.values())
    if name == "tpe" and discrete:
        return {"multivariate": True, "group": True}
    return {}
