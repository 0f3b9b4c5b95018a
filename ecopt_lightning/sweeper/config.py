"""The sweeper's structured config (``hydra/sweeper=ecopt``) and its validation into plain :class:`Settings`.

Light module: no optuna, no torch (the Hydra plugin shim imports it at every application start).

Example:
    >>> s = validate({"objectives": [{"name": "val_acc", "direction": "maximize"}], "n_trials": 4})
    >>> s.directions, s.n_trials, s.sampler
    (['maximize'], 4, 'auto')
    >>> validate({"sampler": "foo"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ecopt_lightning.sweeper.errors.SweeperConfigError: hydra.sweeper.sampler='foo' is not allowed: one of auto, ...
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..metrics import INFERENCE_PER_SAMPLE_J, TOTAL_J
from . import _urls
from ._metrics import Constraint
from ._schema import ReportSettings
from .errors import SweeperConfigError
from .successive_halving import RungSchedule

SAMPLERS = ("auto", "tpe", "nsga2", "nsga3", "gp", "random", "qmc", "grid")
DIRECTIONS = ("maximize", "minimize")
LOGGERS = ("tensorboard", "wandb", "mlflow")

#: Where Hydra finds the sweeper class (the shim).
TARGET = "hydra_plugins.ecopt_sweeper.ecopt_sweeper.EcoptSweeper"


@dataclass
class ObjectiveConf:
    """One objective: a metric name returned by the task and ``maximize`` or ``minimize``."""

    name: str = "val_acc"
    direction: str = "maximize"


def _default_objectives() -> list[ObjectiveConf]:
    return [ObjectiveConf("val_acc", "maximize"), ObjectiveConf(INFERENCE_PER_SAMPLE_J, "minimize")]


@dataclass
class EcoptSweeperConf:
    """``hydra/sweeper=ecopt``; every field is documented in docs/sweeper.md.

    Fields are loosely typed where the sweeper validates them itself, so a bad value gives our one-line
    :class:`SweeperConfigError` rather than an OmegaConf type error.
    """

    _target_: str = TARGET
    objectives: list[Any] = field(default_factory=_default_objectives)
    params: dict[str, Any] = field(default_factory=dict)
    custom_search_space: Any = None
    sampler: Any = "auto"
    sampler_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: Any = None
    n_jobs: Any = 1
    n_trials: Any = 20
    storage: Any = None
    study_name: Any = None
    constraints: list[Any] = field(default_factory=list)
    max_failures: Any = None
    energy_budget_J: Any = None
    energy_metric: Any = TOTAL_J
    energy_per_sample_metric: Any = INFERENCE_PER_SAMPLE_J
    heartbeat_interval_s: Any = 60
    max_retry: Any = 1
    wait_for_running: Any = True
    baseline: Any = True
    prune_before_training: Any = False
    multi_fidelity: Any = None
    loggers: list[Any] = field(default_factory=list)
    logger_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    """Validated, plain-Python sweeper settings (no OmegaConf containers)."""

    objective_names: list[str]
    directions: list[str]
    params: dict[str, str]
    custom_search_space: str | None
    sampler: str
    sampler_kwargs: dict[str, Any]
    seed: int | None
    n_jobs: int
    n_trials: int
    storage: str | None
    study_name: str | None
    constraints: list[Constraint]
    max_failures: int
    energy_budget_J: float | None
    energy_metric: str
    energy_per_sample_metric: str
    heartbeat_interval_s: int
    loggers: list[str]
    logger_kwargs: dict[str, dict[str, Any]]
    baseline: bool = True
    prune_before_training: bool = False
    max_retry: int = 1
    wait_for_running: bool = True
    multi_fidelity: RungSchedule | None = None

    def for_report(self) -> ReportSettings:
        """What ``ecopt report`` needs to rebuild the artifacts from storage alone (stored on the study)."""
        return ReportSettings(
            list(self.objective_names),
            list(self.directions),
            [c.text for c in self.constraints],
            self.energy_metric,
            self.energy_per_sample_metric,
        )


def plain(value: Any) -> Any:
    """OmegaConf containers (hydra-core 1.3 or 1.4, recursive or not) to dicts and lists; others unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _int(raw: Mapping[str, Any], name: str, default: Any, minimum: int, allow_none: bool = False) -> Any:
    value = raw.get(name, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        none = " or null" if allow_none else ""
        raise SweeperConfigError(name, value, f"an integer >= {minimum}{none}")
    return value


def _objectives(raw: Any) -> tuple[list[str], list[str]]:
    if raw is None:
        raw = [vars(o) for o in _default_objectives()]
    if not isinstance(raw, list) or not raw:
        raise SweeperConfigError("objectives", raw, "a non-empty list of {name, direction}")
    names, directions = [], []
    for i, item in enumerate(raw):
        item = vars(item) if isinstance(item, ObjectiveConf) else item
        if not isinstance(item, Mapping) or set(item) - {"name", "direction"}:
            raise SweeperConfigError(
                f"objectives[{i}]", item, "a mapping {name: <metric>, direction: maximize|minimize}"
            )
        name, direction = item.get("name"), str(item.get("direction", "maximize")).lower()
        if not isinstance(name, str) or not name:
            raise SweeperConfigError(f"objectives[{i}].name", name, "a metric name returned by the task")
        if direction not in DIRECTIONS:
            raise SweeperConfigError(f"objectives[{i}].direction", item.get("direction"), "maximize or minimize")
        if name in names:
            raise SweeperConfigError(f"objectives[{i}].name", name, "a name not used by another objective")
        names.append(name)
        directions.append(direction)
    return names, directions


def _number(raw: Mapping[str, Any], name: str) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SweeperConfigError(name, value, "a positive number (J) or null")
    return float(value)


def _metric_name(raw: Mapping[str, Any], name: str, default: str) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise SweeperConfigError(name, value, "a metric name, e.g. 'energy/total_J'")
    return value


def _multi_fidelity(raw: Any) -> RungSchedule | None:
    """``{min_epochs, eta, max_epochs, rank}`` (all optional) to a schedule; ``null`` or ``false``: off."""
    if raw is None or raw is False:
        return None
    allowed = "null, or {min_epochs: int >= 1, eta: int >= 2, max_epochs: int or null, rank: nds, rung_metrics: {}}"
    if not isinstance(raw, Mapping) or set(raw) - set(RungSchedule.__dataclass_fields__):
        raise SweeperConfigError("multi_fidelity", raw, allowed)
    try:
        return RungSchedule(**{k: plain(v) for k, v in raw.items()})
    except ValueError as exc:
        field, value = str(exc).split("=", 1)[0], str(exc).split(" is not allowed: ", 1)
        raise SweeperConfigError(f"multi_fidelity.{field}", raw.get(field), value[-1]) from None


def resolve_callable(path: str) -> Callable[..., Any]:
    """The object at a dotted path ``package.module.function``."""
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def validate(raw_config: Any) -> Settings:
    """Check every field and return :class:`Settings`; raise :class:`SweeperConfigError` on the first bad one."""
    raw = plain(raw_config) or {}
    raw = {k: v for k, v in raw.items() if k != "_target_"}
    unknown = sorted(set(raw) - set(EcoptSweeperConf.__dataclass_fields__))
    if unknown:
        raise SweeperConfigError(unknown[0], raw[unknown[0]], "not a field of the ecopt sweeper (see docs/sweeper.md)")
    names, directions = _objectives(raw.get("objectives"))

    sampler = str(raw.get("sampler", "auto")).lower()
    if sampler not in SAMPLERS:
        raise SweeperConfigError("sampler", raw.get("sampler"), "one of " + ", ".join(SAMPLERS))
    sampler_kwargs = raw.get("sampler_kwargs") or {}
    if not isinstance(sampler_kwargs, Mapping):
        raise SweeperConfigError("sampler_kwargs", sampler_kwargs, "a mapping of the sampler's keyword arguments")

    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise SweeperConfigError("params", params, "a mapping of override key to search expression")

    space_fn = raw.get("custom_search_space")
    if space_fn is not None:
        try:
            if not callable(resolve_callable(str(space_fn))):
                raise TypeError
        except Exception:
            raise SweeperConfigError(
                "custom_search_space", space_fn, "an importable dotted path to a function (cfg, trial) -> dict | None"
            ) from None

    n_trials = _int(raw, "n_trials", 20, 1)
    constraints = []
    for i, text in enumerate(raw.get("constraints") or []):
        try:
            constraints.append(Constraint.parse(text))
        except ValueError:
            raise SweeperConfigError(
                f"constraints[{i}]", text, "'<metric> <= <number>' (or <, >=, >), e.g. 'energy/total_J <= 50'"
            ) from None

    loggers = [str(x).lower() for x in raw.get("loggers") or []]
    for logger in loggers:
        if logger not in LOGGERS:
            raise SweeperConfigError("loggers", logger, "any of " + ", ".join(LOGGERS))
    logger_kwargs = raw.get("logger_kwargs") or {}
    if not isinstance(logger_kwargs, Mapping) or any(k not in LOGGERS for k in logger_kwargs):
        raise SweeperConfigError("logger_kwargs", logger_kwargs, "a mapping from " + "|".join(LOGGERS) + " to kwargs")

    storage = _urls.check(raw.get("storage"))
    study_name = raw.get("study_name")
    if study_name is not None and not str(study_name).strip():
        raise SweeperConfigError("study_name", study_name, "a non-empty name or null")

    max_failures = _int(raw, "max_failures", None, 1, allow_none=True)
    baseline = raw.get("baseline", True)
    if not isinstance(baseline, bool):
        raise SweeperConfigError(
            "baseline", baseline, "true (run the app's own config first, as the baseline) or false"
        )
    wait = raw.get("wait_for_running", True)
    if not isinstance(wait, bool):
        raise SweeperConfigError("wait_for_running", wait, "true (wait for other workers' running trials) or false")
    heartbeat = _int(raw, "heartbeat_interval_s", 60, 0)
    prune = raw.get("prune_before_training", False)
    if not isinstance(prune, bool):
        raise SweeperConfigError("prune_before_training", prune, "true (jobs may prune before training) or false")
    return Settings(
        prune_before_training=prune,
        multi_fidelity=_multi_fidelity(raw.get("multi_fidelity")),
        max_retry=_int(raw, "max_retry", 1, 0),
        wait_for_running=wait and heartbeat > 0,
        baseline=baseline,
        objective_names=names,
        directions=directions,
        params={str(k): str(v) for k, v in params.items()},
        custom_search_space=None if space_fn is None else str(space_fn),
        sampler=sampler,
        sampler_kwargs=dict(sampler_kwargs),
        seed=_int(raw, "seed", None, 0, allow_none=True),
        n_jobs=_int(raw, "n_jobs", 1, 1),
        n_trials=n_trials,
        storage=storage,
        study_name=None if study_name is None else str(study_name),
        constraints=constraints,
        max_failures=n_trials if max_failures is None else max_failures,
        energy_budget_J=_number(raw, "energy_budget_J"),
        energy_metric=_metric_name(raw, "energy_metric", TOTAL_J),
        energy_per_sample_metric=_metric_name(raw, "energy_per_sample_metric", INFERENCE_PER_SAMPLE_J),
        heartbeat_interval_s=heartbeat,
        loggers=loggers,
        logger_kwargs={k: dict(v or {}) for k, v in logger_kwargs.items()},
    )
