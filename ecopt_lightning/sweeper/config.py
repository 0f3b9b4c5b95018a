"""The sweeper's structured config (``hydra/sweeper=ecopt``) and its validation into plain :class:`Settings`.

Light module: no optuna, no torch (the Hydra plugin shim imports it at every application start).

Example:
    >>> s = validate({"objectives": [{"name": "val_acc", "direction": "maximize"}], "n_trials": 4})
    >>> s.directions, s.n_trials, s.sampler
    (['maximize'], 4, 'auto')
    >>> s = validate({"direction": ["minimize", "maximize"], "sampler": {"_target_": "optuna.samplers.TPESampler"}})
    >>> s.objective_names, s.sampler
    (['value_0', 'value_1'], 'tpe')
    >>> validate({"sampler": "foo"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ecopt_lightning.sweeper.errors.SweeperConfigError: hydra.sweeper.sampler='foo' is not allowed: one of auto, ...
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NoReturn, cast

from omegaconf import MISSING, OmegaConf

from ..metrics import INFERENCE_PER_SAMPLE_J, TOTAL_J
from . import _urls
from ._literals import hydra_literal
from ._metrics import Constraint
from ._override_hints import constraint_items
from ._schema import ReportSettings
from .errors import SweeperConfigError
from .successive_halving import RANKS, RungSchedule

#: Sampler names: hydra-optuna-sweeper's ``hydra/sweeper/sampler`` group (tpe, random, cmaes, nsgaii, grid, qmc,
#: gp) and ours (auto, nsga3); ``nsga2`` (ours) and ``nsgaii`` (the official group's name) are the same sampler.
SAMPLERS = ("auto", "tpe", "random", "cmaes", "nsga2", "nsga3", "gp", "qmc", "grid")
SAMPLER_ALIASES = {"nsgaii": "nsga2"}
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
DIRECTIONS = ("maximize", "minimize")
LOGGERS = ("tensorboard", "wandb", "mlflow")
#: the keyword arguments the sweeper's TensorBoard and MLflow logging read (sweeper/_loggers.py); W&B's are
#: ``wandb.init``'s own
LOGGER_KWARGS = {"tensorboard": ("log_dir",), "mlflow": ("tracking_uri", "experiment_name", "run_name")}
MOTPE_REMOVED = (
    "The 'motpe' sampler was removed in Optuna 4.0. Use 'hydra/sweeper/sampler=tpe' instead. "
    "TPESampler now handles multi-objective optimization."
)

#: How one constraint is written (error messages).
_CONSTRAINT_FORM = "'<metric> <= <number>' (or <, >=, >)"

#: Where Hydra finds the sweeper class (the shim).
TARGET = "hydra_plugins.ecopt_sweeper.ecopt_sweeper.EcoptSweeper"
#: ``_target_`` of the ``auto`` and ``motpe`` group entries: markers read by :func:`validate`, never called.
AUTO_TARGET = "ecopt_lightning.sweeper.config.auto_sampler"
MOTPE_TARGET = "ecopt_lightning.sweeper.config.motpe_removed"

#: Sampler ``_target_`` -> name (the official plugin's targets included, so its configs keep working).
SAMPLER_TARGETS = {
    AUTO_TARGET: "auto",
    "optuna.samplers.TPESampler": "tpe",
    "optuna.samplers.RandomSampler": "random",
    "optuna.samplers.CmaEsSampler": "cmaes",
    "optuna.samplers.NSGAIISampler": "nsga2",
    "optuna.samplers.NSGAIIISampler": "nsga3",
    "optuna.samplers.GPSampler": "gp",
    "optuna.samplers.QMCSampler": "qmc",
    "optuna.samplers.GridSampler": "grid",
    MOTPE_TARGET: "motpe",
    "optuna.samplers.MOTPESampler": "motpe",
    "hydra_plugins.hydra_optuna_sweeper.config.raise_motpe_removed": "motpe",
}


def auto_sampler(**_: Any) -> NoReturn:
    """Marker ``_target_`` of ``hydra/sweeper/sampler=auto``: the sweeper picks the sampler, nothing calls this."""
    raise TypeError("hydra/sweeper/sampler=auto is resolved by the ecopt sweeper, not instantiated")


def motpe_removed(**_: Any) -> NoReturn:
    """Marker ``_target_`` of ``hydra/sweeper/sampler=motpe`` (refused by :func:`validate`)."""
    raise ValueError(MOTPE_REMOVED)


# ---- hydra/sweeper/sampler group: each entry a `_target_` config with `seed` (null fields: Optuna's default) ---
#: what a typed sampler field holds, besides null (the one-line error's "allowed")
_KINDS: dict[type, str] = {
    int: "an integer",
    float: "a number",
    bool: "true, false",
    str: "a string",
    dict: "a mapping",
}
#: the strings OmegaConf takes for a boolean field
_BOOL_TEXTS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


#: a typed sampler field's metadata: its kind (with null). The field is declared ``Any`` for OmegaConf, which would
#: refuse a bad value in four lines before the sweeper runs: :func:`_sampler_field` checks it, in one line
_INT, _FLOAT, _BOOL, _STR, _DICT = ({"kind": kind} for kind in (int, float, bool, str, dict))


@dataclass
class SamplerConf:
    """One entry of the ``hydra/sweeper/sampler`` group; fields left null take Optuna's default."""

    _target_: str = MISSING
    seed: Any = field(default=None, metadata=_INT)


@dataclass
class AutoSamplerConf(SamplerConf):
    """``auto``: the sweeper picks a sampler from the space, objectives and budget (docs/sweeper.md)."""

    _target_: str = AUTO_TARGET


@dataclass
class TPESamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.TPESampler"
    consider_prior: Any = field(default=None, metadata=_BOOL)
    prior_weight: Any = field(default=None, metadata=_FLOAT)
    consider_magic_clip: Any = field(default=None, metadata=_BOOL)
    consider_endpoints: Any = field(default=None, metadata=_BOOL)
    n_startup_trials: Any = field(default=None, metadata=_INT)
    n_ei_candidates: Any = field(default=None, metadata=_INT)
    multivariate: Any = field(default=None, metadata=_BOOL)
    group: Any = field(default=None, metadata=_BOOL)
    constant_liar: Any = field(default=None, metadata=_BOOL)
    warn_independent_sampling: Any = field(default=None, metadata=_BOOL)


@dataclass
class RandomSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class CmaEsSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: Any = field(default=None, metadata=_DICT)
    sigma0: Any = field(default=None, metadata=_FLOAT)
    n_startup_trials: Any = field(default=None, metadata=_INT)
    independent_sampler: Any | None = None
    warn_independent_sampling: Any = field(default=None, metadata=_BOOL)
    consider_pruned_trials: Any = field(default=None, metadata=_BOOL)
    restart_strategy: Any = field(default=None, metadata=_STR)
    inc_popsize: Any = field(default=None, metadata=_INT)
    use_separable_cma: Any = field(default=None, metadata=_BOOL)
    with_margin: Any = field(default=None, metadata=_BOOL)
    source_trials: Any | None = None


@dataclass
class NSGAIISamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: Any = field(default=None, metadata=_INT)
    mutation_prob: Any = field(default=None, metadata=_FLOAT)
    crossover_prob: Any = field(default=None, metadata=_FLOAT)
    swapping_prob: Any = field(default=None, metadata=_FLOAT)
    constraints_func: Any | None = None


@dataclass
class NSGAIIISamplerConf(NSGAIISamplerConf):
    _target_: str = "optuna.samplers.NSGAIIISampler"
    dividing_parameter: Any = field(default=None, metadata=_INT)


@dataclass
class GPSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.GPSampler"
    independent_sampler: Any | None = None
    n_startup_trials: Any = field(default=None, metadata=_INT)
    deterministic_objective: Any = field(default=None, metadata=_BOOL)
    constraints_func: Any | None = None
    warn_independent_sampling: Any = field(default=None, metadata=_BOOL)


@dataclass
class QMCSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: Any = field(default=None, metadata=_STR)
    scramble: Any = field(default=None, metadata=_BOOL)
    independent_sampler: Any | None = None
    warn_asynchronous_seeding: Any = field(default=None, metadata=_BOOL)
    warn_independent_sampling: Any = field(default=None, metadata=_BOOL)


@dataclass
class GridSamplerConf(SamplerConf):
    """``grid``: every combination of the (discrete) search space, built by the sweeper; ``n_trials`` is capped."""

    _target_: str = "optuna.samplers.GridSampler"


@dataclass
class MOTPESamplerConf(SamplerConf):
    """``motpe``: removed in Optuna 4.0; selecting it stops with a one-line error."""

    _target_: str = MOTPE_TARGET


#: The ``hydra/sweeper/sampler`` group: name -> config node (registered by the plugin shim).
SAMPLER_GROUP: dict[str, type[SamplerConf]] = {
    "auto": AutoSamplerConf,
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "nsgaii": NSGAIISamplerConf,
    "nsga2": NSGAIISamplerConf,
    "nsga3": NSGAIIISamplerConf,
    "gp": GPSamplerConf,
    "qmc": QMCSamplerConf,
    "grid": GridSamplerConf,
    "motpe": MOTPESamplerConf,
}


@dataclass
class ObjectiveConf:
    """One objective: a metric name returned by the task and ``maximize`` or ``minimize``."""

    name: str = "val_acc"
    direction: str = "maximize"


#: The objectives when neither ``objectives`` nor ``direction`` is set: the quality/energy trade-off.
DEFAULT_OBJECTIVES = (("val_acc", "maximize"), (INFERENCE_PER_SAMPLE_J, "minimize"))


@dataclass
class EcoptSweeperConf:
    """``hydra/sweeper=ecopt``: the one place where the sweeper's fields and their defaults are declared.

    Every field is documented in docs/sweeper.md. Fields are typed ``Any`` for OmegaConf because the sweeper
    validates them itself (:func:`validate`), so a bad value gives the one-line :class:`SweeperConfigError`
    rather than an OmegaConf type error; the type each one must have is in its comment.
    """

    _target_: str = TARGET
    # `hydra/sweeper/sampler=<name>` picks an entry of the group (merged over `sampler`); none by default, so
    # that `sampler: <name>` in a config file or on the command line is not overridden by a default entry
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": None}])
    # Hydra 1.3 instantiates plugin configs recursively: keep the sampler a config; the sweeper builds it.
    _recursive_: bool = False
    objectives: Any = None  # list of {name, direction}; null: DEFAULT_OBJECTIVES (unless `direction` is set)
    direction: Any = None  # hydra-optuna-sweeper's: maximize|minimize or a list, for unnamed (float/tuple) returns
    params: Any = None  # mapping: override key -> search expression
    search_space: Any = None  # deprecated (hydra-optuna-sweeper 1.1): {key: {type, low, high, step, log, choices}}
    custom_search_space: Any = None  # dotted path to (cfg, trial) -> dict | None
    # a `hydra/sweeper/sampler` entry ({_target_, seed, ...}) or a name from SAMPLERS; by default `auto` as an
    # entry, so that `sampler.seed=...` merges into it as into the official sweeper's default (TPE)
    sampler: Any = field(
        default_factory=lambda: OmegaConf.create({"_target_": AUTO_TARGET, "seed": None}, flags={"struct": False})
    )
    sampler_kwargs: Any = None  # mapping: extra keyword arguments of the sampler
    seed: Any = None  # int >= 0 or null (hydra.sweeper.sampler.seed means the same)
    n_jobs: Any = 1  # int >= 1: trials per batch
    n_trials: Any = 20  # int >= 0: COMPLETE trials the study should hold (0: run none, rewrite the reports)
    storage: Any = None  # Optuna storage URL; null: sqlite in the sweep dir
    study_name: Any = None  # null: the app's job name
    constraints: Any = None  # list of '<metric> <= <number>', or one string of them separated by commas
    max_failures: Any = None  # int >= 1 or null: failed trials in one run before it fails (null: n_trials)
    max_failure_rate: Any = None  # 0..1 or null: failed share of one batch above which the run stops
    energy_budget_J: Any = None  # positive number (J) or null
    energy_metric: Any = TOTAL_J
    energy_per_sample_metric: Any = INFERENCE_PER_SAMPLE_J
    heartbeat_interval_s: Any = 60  # int >= 0 (0: no heartbeat)
    max_retry: Any = 1  # int >= 0
    wait_for_running: Any = True
    baseline: Any = True
    prune_before_training: Any = False
    multi_fidelity: Any = None  # null or {min_epochs, eta, max_epochs, rank, rung_metrics, rung_repeats, keep_front}
    loggers: Any = None  # list from LOGGERS, or one name
    logger_kwargs: Any = None  # mapping: logger -> kwargs


#: The declared defaults, read by :func:`validate` (nowhere else).
_DEFAULTS = {f.name: getattr(EcoptSweeperConf(), f.name) for f in fields(EcoptSweeperConf)}
#: Keys Hydra uses itself, not sweeper fields.
_HYDRA_KEYS = ("_target_", "_recursive_", "defaults")


@dataclass
class Settings:
    """Validated, plain-Python sweeper settings (no OmegaConf containers); built by :func:`validate` only."""

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
    max_failures: int | None
    max_failure_rate: float | None
    energy_budget_J: float | None
    energy_metric: str
    energy_per_sample_metric: str
    heartbeat_interval_s: int
    loggers: list[str]
    logger_kwargs: dict[str, dict[str, Any]]
    baseline: bool
    prune_before_training: bool
    max_retry: int
    wait_for_running: bool
    #: ``_target_`` of a sampler class outside :data:`SAMPLERS` (``sampler == "custom"``)
    sampler_target: str | None = None
    #: the field ``sampler_kwargs`` came from, named when the sampler refuses them: ``sampler`` when all were set
    #: on the sampler's config (``hydra.sweeper.sampler.n_startup_trials=5``)
    sampler_kwargs_field: str = "sampler_kwargs"
    #: True when the objectives come from ``direction``: the task returns a float or a tuple, not a dict
    unnamed_returns: bool = False
    #: the deprecated ``search_space`` entries: key -> {type, low, high, step, log, choices}
    legacy_space: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: successive halving over epochs (docs/sweeper.md#multi-fidelity); ``None``: off
    multi_fidelity: RungSchedule | None = None
    #: neither ``max_failures`` nor ``max_failure_rate`` was set: the first trials all failing the same way, before
    #: any has completed, stop the sweep (an explicit setting wins)
    stop_on_same_failure: bool = True

    @property
    def jobs_reach_their_trials(self) -> bool:
        """Whether jobs open their trial through the storage (the pre-training check, the rung decisions), and so
        may have pruned or stopped it themselves."""
        return self.prune_before_training or self.multi_fidelity is not None

    def objectives_as_given(self) -> tuple[str, Any]:
        """``(field, value)`` of the objectives as a config writes them, for error messages: ``direction`` for
        unnamed returns, else ``objectives`` as ``{name, direction}`` mappings."""
        if self.unnamed_returns:
            return "direction", self.directions[0] if len(self.directions) == 1 else list(self.directions)
        return "objectives", [
            {"name": n, "direction": d} for n, d in zip(self.objective_names, self.directions, strict=True)
        ]

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


def _from_text(value: Any, kind: type[int] | type[float]) -> Any:
    """``value`` converted to ``kind`` when it is a string of one (``'30'``, ``${oc.env:N_TRIALS}``'s result), as
    hydra-optuna-sweeper's typed config fields (OmegaConf) convert it; anything else unchanged, to be judged.

    Example:
        >>> _from_text(" 30 ", int), _from_text("0.5", float), _from_text("2.0", int), _from_text(2, int)
        (30, 0.5, '2.0', 2)
    """
    if not isinstance(value, str):
        return value
    try:
        return kind(value.strip())
    except ValueError:
        return value


def _int(raw: Mapping[str, Any], name: str, minimum: int, allow_none: bool = False) -> Any:
    value = _from_text(raw[name], int)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        none = " or null" if allow_none else ""
        raise SweeperConfigError(name, value, f"an integer >= {minimum}{none}")
    return value


def _bool(raw: Mapping[str, Any], name: str, meaning: str) -> bool:
    value = raw[name]
    if not isinstance(value, bool):
        raise SweeperConfigError(name, value, f"true ({meaning}) or false")
    return value


def _direction(value: Any, where: str) -> str:
    direction = getattr(value, "name", value)  # hydra-optuna-sweeper's Direction enum
    if not isinstance(direction, str) or direction.lower() not in DIRECTIONS:
        raise SweeperConfigError(where, value, "maximize or minimize")
    return direction.lower()


def _objectives(raw: Mapping[str, Any]) -> tuple[list[str], list[str], bool]:
    """``(names, directions, unnamed)``: from ``objectives``, else from ``direction``, else the defaults."""
    objectives, direction = raw["objectives"], raw["direction"]
    if objectives is not None and direction is not None:
        raise SweeperConfigError(
            "direction", direction, "null when objectives are set (objectives name the metrics and their directions)"
        )
    if direction is not None:
        directions = direction if isinstance(direction, list) else [direction]
        if not directions:
            raise SweeperConfigError("direction", direction, "maximize, minimize or a non-empty list of them")
        directions = [
            _direction(d, "direction" if d is direction else f"direction[{i}]") for i, d in enumerate(directions)
        ]
        names = ["value"] if len(directions) == 1 else [f"value_{i}" for i in range(len(directions))]
        return names, directions, True
    if objectives is None:
        return [n for n, _ in DEFAULT_OBJECTIVES], [d for _, d in DEFAULT_OBJECTIVES], False
    if not isinstance(objectives, list) or not objectives:
        raise SweeperConfigError("objectives", objectives, "a non-empty list of {name, direction}")
    names, directions = [], []
    for i, item in enumerate(objectives):
        item = vars(item) if isinstance(item, ObjectiveConf) else item
        if not isinstance(item, Mapping) or set(item) - {"name", "direction"}:
            raise SweeperConfigError(
                f"objectives[{i}]", item, "a mapping {name: <metric>, direction: maximize|minimize}"
            )
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise SweeperConfigError(f"objectives[{i}].name", name, "a metric name returned by the task")
        if name in names:
            raise SweeperConfigError(f"objectives[{i}].name", name, "a name not used by another objective")
        names.append(name)
        directions.append(_direction(item.get("direction", "maximize"), f"objectives[{i}].direction"))
    return names, directions, False


def _sampler(raw: Mapping[str, Any]) -> tuple[str, str | None, dict[str, Any], int | None, str]:
    """``(name, custom _target_, keyword arguments, seed, field the keyword arguments came from)`` of the
    ``sampler`` field (a name or a config)."""
    value, kwargs = raw["sampler"], _mapping_or_null(raw["sampler_kwargs"])
    kwargs_field = "sampler_kwargs"
    if not isinstance(kwargs, Mapping):
        raise SweeperConfigError("sampler_kwargs", kwargs, "a mapping of the sampler's keyword arguments")
    seed = _int(raw, "seed", 0, allow_none=True)
    target = None
    allowed = "one of " + ", ".join(SAMPLERS) + " (hydra/sweeper/sampler=<name>) or a {_target_: <sampler class>}"
    if value is None:
        name = "auto"
    elif isinstance(value, str):
        name = SAMPLER_ALIASES.get(value.lower(), value.lower())
    elif isinstance(value, Mapping) and "_target_" not in value:  # `sampler: {seed: 123}` alone: the default's
        unknown = sorted(str(k) for k, v in value.items() if k != "seed" and v is not None)
        if unknown:
            raise SweeperConfigError(
                "sampler", dict(value), f"{allowed}; without a _target_ only seed may be set (not {', '.join(unknown)})"
            )
        return _sampler({**raw, "sampler": {**value, "_target_": AUTO_TARGET}})
    elif isinstance(value, Mapping) and isinstance(value.get("_target_"), str):
        extra = {str(k): v for k, v in value.items() if k not in ("_target_", "_partial_") and v is not None}
        inner_seed = _from_text(extra.pop("seed", None), int)
        if inner_seed is not None:
            if isinstance(inner_seed, bool) or not isinstance(inner_seed, int) or inner_seed < 0:
                raise SweeperConfigError("sampler.seed", inner_seed, "an integer >= 0 or null")
            if seed is not None and seed != inner_seed:
                raise SweeperConfigError("seed", seed, f"null or the same as hydra.sweeper.sampler.seed={inner_seed}")
            seed = inner_seed
        name = SAMPLER_TARGETS.get(value["_target_"], "custom")
        target = value["_target_"] if name == "custom" else None
        extra = {k: _sampler_field(name, value["_target_"], k, v) for k, v in extra.items()}
        if extra and not kwargs:
            kwargs_field = "sampler"
        kwargs = {**extra, **kwargs}
    else:
        raise SweeperConfigError("sampler", value, allowed)
    if name == "motpe":
        raise SweeperConfigError("sampler", "motpe", MOTPE_REMOVED)
    if name not in (*SAMPLERS, "custom"):
        raise SweeperConfigError("sampler", value, allowed)
    kwargs = dict(kwargs)
    named = next((t for t, n in SAMPLER_TARGETS.items() if n == name), "")  # its class, named in the error
    for key, given in (_mapping_or_null(raw["sampler_kwargs"]) or {}).items():
        kwargs[key] = _sampler_field(name, named, str(key), given, "sampler_kwargs")
    return name, target, kwargs, seed, kwargs_field


def _sampler_field(name: str, target: str, key: str, value: Any, where: str = "sampler") -> Any:
    """``value`` of the field ``key`` of sampler ``name``'s entry in the group, checked against its declared kind
    (``kind`` in its metadata); a string of a number converts, as OmegaConf converts it for a typed field.
    ``where``: the field it was given in (``sampler``, or ``sampler_kwargs``, which the same checks hold).

    Example:
        >>> _sampler_field("tpe", "optuna.samplers.TPESampler", "n_startup_trials", "5")
        5
        >>> _sampler_field("tpe", "optuna.samplers.TPESampler", "n_startup_trials", 1.5)
        Traceback (most recent call last):
        ...
        ecopt_lightning.sweeper.errors.SweeperConfigError: hydra.sweeper.sampler.n_startup_trials=1.5 is not allowed: \
an integer or null (TPESampler's n_startup_trials)
    """
    # auto picks its sampler later: the kind the samplers it picks from agree on
    confs = SAMPLER_GROUP.values() if name == "auto" else [SAMPLER_GROUP[name]] if name in SAMPLER_GROUP else []
    kinds = {f.metadata["kind"] for conf in confs for f in fields(conf) if f.name == key and "kind" in f.metadata}
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind is None or value is None:
        return value  # a custom sampler's, or an untyped field: the sampler's constructor judges it
    if kind is bool and isinstance(value, str) and value.strip().lower() in _BOOL_TEXTS:
        return _BOOL_TEXTS[value.strip().lower()]
    converted = _from_text(value, kind) if kind in (int, float) else value
    if isinstance(converted, bool) and kind is not bool:  # an int to Python, not to OmegaConf
        ok = False
    elif kind is dict:
        ok = isinstance(converted, Mapping)  # a DictConfig too
    else:
        ok = isinstance(converted, kind) or (kind is float and isinstance(converted, int))
    if ok:
        return converted
    owner = f"{key} of the samplers auto picks from" if name == "auto" else f"{target.rsplit('.', 1)[-1]}'s {key}"
    raise SweeperConfigError(f"{where}.{key}", value, f"{_KINDS[kind]} or null ({owner})")


def _max_failure_rate(raw: Mapping[str, Any]) -> float | None:
    value = _from_text(raw["max_failure_rate"], float)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SweeperConfigError(
            "max_failure_rate",
            value,
            "a number from 0 to 1 (the failed share of a batch above which the run stops; "
            "1 tolerates every failure) or null",
        )
    return float(value)


def _legacy_space(raw: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """hydra-optuna-sweeper 1.1's ``search_space`` ({key: {type, low, high, step, log, choices}}), deprecated."""
    value = raw["search_space"]
    if value is None:
        return {}, []
    allowed = (
        "a mapping of key to {type: int|float|categorical, low, high, step, log, choices} (deprecated: use params)"
    )
    if not isinstance(value, Mapping):
        raise SweeperConfigError("search_space", value, allowed)
    space = {}
    for key, item in value.items():
        if not isinstance(item, Mapping) or item.get("type") not in ("int", "float", "categorical"):
            raise SweeperConfigError(f"search_space.{key}", item, allowed)
        if set(item) - {"type", "low", "high", "step", "log", "choices"}:
            raise SweeperConfigError(f"search_space.{key}", item, allowed)
        space[str(key)] = dict(item)
    note = "hydra.sweeper.search_space is deprecated (as in hydra-optuna-sweeper): write hydra.sweeper.params"
    if raw["params"] is not None:
        note += "; params and search_space are both set: params win for keys in both"
    return space, [note]


def _number(raw: Mapping[str, Any], name: str) -> float | None:
    value = _from_text(raw[name], float)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SweeperConfigError(name, value, "a positive number (J) or null")
    return float(value)


def _metric_name(raw: Mapping[str, Any], name: str) -> str:
    value = raw[name]
    if not isinstance(value, str) or not value.strip():
        raise SweeperConfigError(name, value, "a metric name, e.g. 'energy/total_J'")
    return value


def _multi_fidelity(raw: Any, objective_names: Sequence[str] = ()) -> RungSchedule | None:
    """``{min_epochs, eta, max_epochs, rank, rung_metrics, rung_repeats, keep_front}`` (all optional) to a schedule;
    ``null`` or ``false``: off. ``rung_metrics``' keys must be among ``objective_names`` (when known)."""
    if raw is None or raw is False:
        return None
    allowed = (
        "null, or {min_epochs: int >= 1, eta: int >= 2, max_epochs: int or null, "
        f"rank: {' or '.join(RANKS)}, rung_metrics: {{}}, rung_repeats: int >= 1 or null, keep_front: bool}}"
    )
    if not isinstance(raw, Mapping) or set(raw) - set(RungSchedule.__dataclass_fields__):
        raise SweeperConfigError("multi_fidelity", raw, allowed)
    try:
        schedule = RungSchedule(**{k: plain(v) for k, v in raw.items()})
    except ValueError as exc:
        field, value = str(exc).split("=", 1)[0], str(exc).split(" is not allowed: ", 1)
        allowed = value[-1]
        if field == "max_epochs":  # min_epochs passed the schedule's checks (it checks it first)
            allowed = _max_epochs_allowed(plain(raw.get("min_epochs", RungSchedule.min_epochs)))
        raise SweeperConfigError(f"multi_fidelity.{field}", raw.get(field), allowed) from None
    m = schedule.max_epochs
    if m is not None and m <= schedule.min_epochs:  # the schedule class allows it (a bracket's last rung): no sweep
        raise SweeperConfigError("multi_fidelity.max_epochs", m, _max_epochs_allowed(schedule.min_epochs))
    stray = [k for k in schedule.rung_metrics if objective_names and k not in objective_names]
    if stray:  # a stand-in for no objective would never be read: the objective itself is looked for at the rung
        raise SweeperConfigError(
            "multi_fidelity.rung_metrics",
            dict(schedule.rung_metrics),
            f"keys among the objectives ({', '.join(objective_names)}), each mapped to a metric logged every epoch; "
            f"{', '.join(map(repr, stray))} is none",
        )
    return schedule


def _max_epochs_allowed(min_epochs: int) -> str:
    return (
        f"null or an integer > min_epochs={min_epochs}: no rung would lie below the full budget, so no trial could stop"
    )


def _constraints(value: Any) -> list[Constraint]:
    """A list of ``'<metric> <= <number>'`` strings, or one string holding them (``'a <= 1, b >= 2'``)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = constraint_items(value)
    if not isinstance(value, list):
        raise SweeperConfigError("constraints", value, f"a list of {_CONSTRAINT_FORM} strings, or one such string")
    constraints = []
    for i, text in enumerate(value):
        try:
            constraints.append(Constraint.parse(text))
        except ValueError:
            raise SweeperConfigError(
                f"constraints[{i}]", text, _CONSTRAINT_FORM + ", e.g. 'energy/total_J <= 50'"
            ) from None
    return constraints


def _expression(value: Any) -> str:
    """A ``params`` value as a Hydra override's text: a YAML ``null`` or boolean in Hydra's spelling (``str`` gave
    ``None``, which Hydra reads as the string 'None')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # str() wrote [1, None]: Hydra reads None as the string 'None'
        return hydra_literal(value)
    return str(value)


def _flat_params(params: Mapping[Any, Any], prefix: str = "") -> dict[str, str]:
    """``params`` with nested mappings as dotted keys: ``hydra.sweeper.params.model.width='choice(8,16)'`` on the
    command line makes ``{model: {width: ...}}``, whose text was no override Hydra could parse."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(_flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = _expression(value)
    return flat


def _mapping_or_null(value: Any) -> Any:
    """``{}`` for null, else the value as given (checked by the caller): ``value or {}`` took ``''`` and ``[]`` for
    an empty mapping."""
    return {} if value is None else value


def _loggers(value: Any) -> list[str]:
    """A list of names from :data:`LOGGERS`, or one name alone (``hydra.sweeper.loggers=tensorboard``)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise SweeperConfigError("loggers", value, "a list of any of " + ", ".join(LOGGERS) + ", or one of them")
    for item in items:
        if str(item).lower() not in LOGGERS:  # the bad name itself, as a list may hold several
            raise SweeperConfigError("loggers", item, "a list of any of " + ", ".join(LOGGERS) + ", or one of them")
    return [str(x).lower() for x in items]


def resolve_callable(path: str) -> Callable[..., Any]:
    """The object at a dotted path ``package.module.function``, or deeper (``module.Class.method``), as Hydra
    locates a ``_target_`` (hydra-optuna-sweeper's ``custom_search_space`` is located so).

    Example:
        >>> resolve_callable("collections.OrderedDict.fromkeys").__name__
        'fromkeys'
    """
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # not a module: a shorter prefix may be; a module the found one imports that is missing is its error
            if cut > 1 and exc.name is not None and (module_name + ".").startswith(exc.name + "."):
                continue
            raise
        for attr in parts[cut:]:
            found = getattr(found, attr)
        return cast(Callable[..., Any], found)
    raise ValueError(f"{path!r} is not a dotted path: module.function")


def validate(raw_config: Any) -> Settings:
    """Check every field and return :class:`Settings`; raise :class:`SweeperConfigError` on the first bad one.

    Fields not given take :class:`EcoptSweeperConf`'s defaults.
    """
    given = {k: v for k, v in (plain(raw_config) or {}).items() if k not in _HYDRA_KEYS}
    unknown = sorted(set(given) - set(_DEFAULTS))
    if unknown:
        # a mistyped storage or logger_kwargs holds their URLs: shown with the passwords redacted
        raise SweeperConfigError(
            unknown[0], _urls.redact(given[unknown[0]]), "not a field of the ecopt sweeper (see docs/sweeper.md)"
        )
    raw = {**plain(_DEFAULTS), **given}
    names, directions, unnamed = _objectives(raw)
    sampler, sampler_target, sampler_kwargs, seed, sampler_kwargs_field = _sampler(raw)
    if sampler in SINGLE_OBJECTIVE_SAMPLERS and len(directions) > 1:
        raise SweeperConfigError(
            "sampler",
            sampler,
            f"a sampler for {len(directions)} objectives ({sampler} handles one objective): "
            "auto, tpe, nsgaii, nsga3, gp, random, qmc or grid",
        )

    params = _mapping_or_null(raw["params"])
    if not isinstance(params, Mapping):
        raise SweeperConfigError("params", params, "a mapping of override key to search expression")
    legacy_space, notes = _legacy_space(raw)

    space_fn = raw["custom_search_space"]
    if space_fn is not None:
        try:
            found = resolve_callable(str(space_fn))
            why = "" if callable(found) else f" (it is a {type(found).__name__})"
        except Exception as exc:  # the module's own import error too (a package it needs is missing)
            why = f" ({' '.join(f'{type(exc).__name__}: {exc}'.split())[:200]})"
        if why:
            raise SweeperConfigError(
                "custom_search_space",
                space_fn,
                f"an importable dotted path to a function (cfg, trial) -> dict | None{why}",
            ) from None

    n_trials = _int(raw, "n_trials", 0)
    constraints = _constraints(raw["constraints"])
    prune = _bool(raw, "prune_before_training", "jobs may prune before training")
    if prune and not constraints:
        raise SweeperConfigError(
            "prune_before_training",
            True,
            "false, unless hydra.sweeper.constraints holds one on the metric the check measures (e.g. "
            "['energy/inference_per_sample_J <= 0.001']): without one no trial can be pruned",
        )

    loggers = _loggers(raw["loggers"])
    logger_kwargs = _mapping_or_null(raw["logger_kwargs"])
    if not isinstance(logger_kwargs, Mapping) or any(k not in LOGGERS for k in logger_kwargs):
        raise SweeperConfigError(
            "logger_kwargs", _urls.redact(logger_kwargs), "a mapping from " + "|".join(LOGGERS) + " to kwargs"
        )
    for name, kwargs in logger_kwargs.items():
        if kwargs is not None and not isinstance(kwargs, Mapping):
            allowed = f"a mapping of {name}'s keyword arguments or null"
            raise SweeperConfigError(f"logger_kwargs.{name}", _urls.redact(kwargs), allowed)
        known = LOGGER_KWARGS.get(name)
        unknown = [str(k) for k in kwargs or {} if known is not None and k not in known]
        if known is not None and unknown:
            allowed = f"keys among {', '.join(known)} ({', '.join(unknown)} is not one)"
            raise SweeperConfigError(f"logger_kwargs.{name}", _urls.redact(kwargs), allowed)

    storage = _urls.check(_urls.as_url(raw["storage"]))
    study_name = raw["study_name"]
    # a number is a name (study_name=2024 on the command line); a list or mapping was one by its repr
    named = isinstance(study_name, str | int | float) and not isinstance(study_name, bool)
    if study_name is not None and (not named or not str(study_name).strip()):
        raise SweeperConfigError("study_name", study_name, "a non-empty name or null")

    max_failures = _int(raw, "max_failures", 1, allow_none=True)
    max_failure_rate = _max_failure_rate(raw)
    tolerance_given = max_failures is not None or max_failure_rate is not None
    if not tolerance_given:
        max_failures = n_trials
    heartbeat = _int(raw, "heartbeat_interval_s", 0)
    wait = _bool(raw, "wait_for_running", "wait for other workers' running trials")
    return Settings(
        multi_fidelity=_multi_fidelity(raw.get("multi_fidelity"), names),
        objective_names=names,
        directions=directions,
        unnamed_returns=unnamed,
        params=_flat_params(params),
        legacy_space=legacy_space,
        custom_search_space=None if space_fn is None else str(space_fn),
        sampler=sampler,
        sampler_target=sampler_target,
        sampler_kwargs=sampler_kwargs,
        sampler_kwargs_field=sampler_kwargs_field,
        seed=seed,
        n_jobs=_int(raw, "n_jobs", 1),
        n_trials=n_trials,
        storage=storage,
        study_name=None if study_name is None else str(study_name),
        constraints=constraints,
        max_failures=max_failures,
        stop_on_same_failure=not tolerance_given,
        max_failure_rate=max_failure_rate,
        energy_budget_J=_number(raw, "energy_budget_J"),
        energy_metric=_metric_name(raw, "energy_metric"),
        energy_per_sample_metric=_metric_name(raw, "energy_per_sample_metric"),
        heartbeat_interval_s=heartbeat,
        loggers=loggers,
        logger_kwargs={k: dict(v or {}) for k, v in logger_kwargs.items()},
        baseline=_bool(raw, "baseline", "run the app's own config first, as the baseline"),
        prune_before_training=prune,
        max_retry=_int(raw, "max_retry", 0),
        wait_for_running=wait and heartbeat > 0,
        warnings=notes,
    )
