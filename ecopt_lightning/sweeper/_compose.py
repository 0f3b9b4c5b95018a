"""Compose each job's config once, and cheaply.

:class:`ComposeOnce` wraps Hydra's config loader in the ``HydraContext`` the launcher gets. A config composed by
:meth:`ComposeOnce.compose` is handed out once, to the first ``load_sweep_config`` with the same overrides (the
launcher then sets the job's id on it); any other call composes as Hydra does.

:class:`ReuseComposed` sits between it and Hydra's loader. Hydra composes a job's config from the config files
(about 50 ms); most jobs of a sweep differ from an earlier one only in the values of plain ``key=value``
overrides. Such a job's config is a copy of the earlier job's composed config with those values set, as Hydra
sets them, and the fields Hydra derives from the overrides set again (about 4 ms). Anything else is composed by
Hydra (see :meth:`ReuseComposed.load_sweep_config`); ``ECOPT_FULL_COMPOSE=1`` composes every job with Hydra.

Example:
    >>> class Loader:
    ...     calls = 0
    ...     def load_sweep_config(self, master_config, sweep_overrides):
    ...         Loader.calls += 1
    ...         return {"overrides": list(sweep_overrides)}
    >>> once = ComposeOnce(Loader())
    >>> once.compose(None, ["x=1"])
    >>> once.peeking().load_sweep_config(None, ["x=1"]), Loader.calls  # a reader: the config stays
    ({'overrides': ['x=1']}, 1)
    >>> once.load_sweep_config(None, ["x=1"]), Loader.calls
    ({'overrides': ['x=1']}, 1)
    >>> once.load_sweep_config(None, ["x=1"]), Loader.calls
    ({'overrides': ['x=1']}, 2)
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict

from ._hydra_compat import override_dirname, reuse_checked
from .errors import EnvSettingError

log = logging.getLogger(__name__)

#: ``1``: Hydra composes every job's config (no reuse of an earlier job's); ``0`` or unset: reuse
FULL_COMPOSE_ENV = "ECOPT_FULL_COMPOSE"
#: composed configs kept to build later jobs' from (one per set of keys and config-group choices)
TEMPLATES_KEPT = 32
_PLAIN_TYPES = (bool, int, float, str, type(None))


class ComposeOnce:
    """A Hydra ``ConfigLoader`` that hands out configs composed ahead (once each) and delegates everything else."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._ready: dict[tuple[str, ...], Any] = {}

    def compose(self, master_config: Any, overrides: Sequence[str]) -> None:
        """Compose one job's config now (raising Hydra's error for a bad override) and keep it for the launcher."""
        self._ready[tuple(overrides)] = self._loader.load_sweep_config(master_config, list(overrides))

    def load_sweep_config(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        ready = self._ready.pop(tuple(sweep_overrides), None)
        if ready is not None:
            return ready
        return self._loader.load_sweep_config(master_config, sweep_overrides)

    def peek(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        """The config composed ahead for these overrides, left in place; else one composed now, not kept."""
        ready = self._ready.get(tuple(sweep_overrides))
        if ready is not None:
            return ready
        return self._loader.load_sweep_config(master_config, sweep_overrides)

    def peeking(self) -> _Peek:
        """A loader for readers that need a job's config before the launcher (e.g. its job dir): it returns the
        composed config without handing it out, and composes (without keeping) what was not composed ahead."""
        return _Peek(self)

    def forget(self) -> None:
        """Drop configs no launcher asked for (a refused or interrupted batch)."""
        self._ready.clear()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_loader", "_ready"):  # copy/pickle probe before __init__ ran
            raise AttributeError(name)
        return getattr(self._loader, name)


class _Peek:
    """``load_sweep_config`` that reads :class:`ComposeOnce`'s ready configs without taking them."""

    def __init__(self, once: ComposeOnce) -> None:
        self._once = once

    def load_sweep_config(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        return self._once.peek(master_config, sweep_overrides)


@dataclass(frozen=True)
class _Job:
    """A job's overrides as Hydra's parser reads them; ``plain[i]``: override i sets (no ``+``/``++``/``~``) a
    config value (no ``/`` in its key) to an int, float, bool, str or null that is not an interpolation."""

    overrides: list[Override]
    keys: tuple[str, ...]
    lines: tuple[str, ...]
    plain: tuple[bool, ...]


@dataclass(frozen=True)
class _Template:
    """A config Hydra composed (never handed out), and which jobs may be built from it."""

    context: tuple[Any, ...]  # the primary config's name and the sweep's hydra overrides
    keys: tuple[str, ...]
    fixed: tuple[str | None, ...]  # the line a job must repeat; None: a plain value, which may differ
    lines: tuple[str, ...]
    config: DictConfig | bytes  # pickled where it can be: unpickling copies it about 6 times faster than deepcopy

    def new_config(self) -> DictConfig:
        """A copy of the composed config, flags, node types and resolver cache included."""
        if isinstance(self.config, bytes):
            copied = pickle.loads(self.config)
            assert isinstance(copied, DictConfig)
            return copied
        return copy.deepcopy(self.config)

    def fits(self, context: tuple[Any, ...], job: _Job) -> bool:
        return (
            context == self.context
            and job.keys == self.keys
            and all(p if f is None else f == line for f, line, p in zip(self.fixed, job.lines, job.plain, strict=True))
        )


@functools.cache
def _parser() -> OverridesParser:
    return OverridesParser.create()


def _parse(sweep_overrides: Sequence[str]) -> _Job | None:
    """The job's overrides; None when one of them is always left to Hydra: a ``hydra.`` key or ``hydra/``
    group, a ``@package``, a sweep."""
    parsed = _parser().parse_overrides(list(sweep_overrides))
    plain = []
    for o in parsed:
        if o.is_hydra_override() or o.package is not None or o.is_sweep_override():
            return None
        value = o.value()
        interpolation = isinstance(value, str) and "${" in value
        settable = o.type == OverrideType.CHANGE and "/" not in o.key_or_group
        plain.append(settable and isinstance(value, _PLAIN_TYPES) and not interpolation)
    lines = tuple(str(o.input_line) for o in parsed)
    return _Job(parsed, tuple(o.key_or_group for o in parsed), lines, tuple(plain))


def _template(context: tuple[Any, ...], job: _Job, config: DictConfig) -> _Template | None:
    """A template of this job's composed config: later jobs that repeat each of its overrides but the plain
    ones may be built from it. A repeated override (a config-group choice such as ``model=resnet`` or
    ``+search=paper``, a list, ``+key=...``) did the same to both configs, so its value may be anything. None
    when a plain override's key is, or lies inside or around, another override's config key: applied in
    Hydra's order, one could undo the other."""
    choices = set(config.hydra.runtime.choices.keys())
    fixed = tuple(
        None if plain and key not in choices else line
        for key, line, plain in zip(job.keys, job.lines, job.plain, strict=True)
    )
    plain = [i for i, f in enumerate(fixed) if f is None]
    others = [i for i, key in enumerate(job.keys) if key not in choices]
    for i in plain:
        a = job.keys[i]
        if any(i != j and _nested(a, job.keys[j]) for j in others):
            return None
    try:
        kept: DictConfig | bytes = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # e.g. a structured config's class defined inside a function
        kept = copy.deepcopy(config)
    return _Template(context, job.keys, fixed, job.lines, kept)


def _nested(a: str, b: str) -> bool:
    """Keys ``a`` and ``b`` name the same config node or one inside the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _context(master_config: DictConfig) -> tuple[Any, ...]:
    hydra_overrides = OmegaConf.to_container(master_config.hydra.overrides.hydra)  # what Hydra prepends
    assert isinstance(hydra_overrides, list)
    return (master_config.hydra.job.config_name, tuple(hydra_overrides))


def _build(template: _Template, job: _Job, master_config: DictConfig) -> DictConfig:
    """The job's config from the template: what ``ConfigLoaderImpl._load_configuration_impl`` and
    ``load_sweep_config`` (Hydra 1.3) set from the overrides, set again."""
    cfg = template.new_config()
    for override, fixed, old, new in zip(job.overrides, template.fixed, template.lines, job.lines, strict=True):
        if fixed is None and new != old:
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)  # as Hydra applies it
    task = cfg.hydra.overrides.task
    if len(task) != len(job.lines):
        raise ValueError(f"hydra.overrides.task has {len(task)} lines, the job {len(job.lines)}")
    for i, line in enumerate(job.lines):
        task[i] = line
    with open_dict(cfg.hydra):
        for key in cfg.hydra.job.env_copy:
            cfg.hydra.job.env_set[key] = os.environ[key]
    cfg.hydra.runtime.cwd = os.getcwd()
    dirname = cfg.hydra.job.config.override_dirname
    cfg.hydra.job.override_dirname = override_dirname(
        job.overrides, exclude_keys=dirname.exclude_keys, item_sep=dirname.item_sep, kv_sep=dirname.kv_sep
    )
    OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
    return cfg


class ReuseComposed:
    """A Hydra ``ConfigLoader`` whose ``load_sweep_config`` builds a job's config from an earlier job's composed
    one when the two differ only in the values of plain overrides; everything else delegates to Hydra's loader."""

    def __init__(self, loader: Any, enabled: bool | None = None) -> None:
        """``enabled``: None: unless ``ECOPT_FULL_COMPOSE`` is set, on the Hydra releases :mod:`._hydra_compat`
        checked."""
        self._loader = loader
        if enabled is None:
            full = os.environ.get(FULL_COMPOSE_ENV, "0")
            if full not in ("0", "1"):
                raise EnvSettingError(FULL_COMPOSE_ENV, full, "1 (Hydra composes every job's config) or 0")
            enabled = full == "0" and reuse_checked()
            if not reuse_checked():
                log.info("ecopt: Hydra %s composes each job's config (ours repeats 1.3's)", hydra.__version__)
        self._enabled = enabled
        self._templates: list[_Template] = []  # newest first

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """The job's config, built from a template when one fits it: an earlier job with the same keys, the
        same config-group overrides, and plain values (int, float, bool, str, null) where the two differ.
        Composed by Hydra (and kept as a template where it can be one) for anything else: a ``hydra.`` key, a
        sweep, ``+``/``++``/``~`` of a config value, a list, dict or interpolation value, another config-group
        choice, keys no earlier job had; and whenever building raises (a value a typed field refuses, say), so
        that a job Hydra refuses fails with Hydra's own error."""
        if not self._enabled:
            return self._loader.load_sweep_config(master_config, sweep_overrides)
        try:
            job, context = _parse(sweep_overrides), _context(master_config)
        except Exception:  # Hydra reports a bad override its own way
            return self._loader.load_sweep_config(master_config, sweep_overrides)
        if job is not None:
            template = next((t for t in self._templates if t.fits(context, job)), None)
            if template is not None:
                try:
                    return _build(template, job, master_config)
                except Exception as exc:
                    log.debug("ecopt: %s composed by Hydra (%s: %s)", sweep_overrides, type(exc).__name__, exc)
        config = self._loader.load_sweep_config(master_config, sweep_overrides)
        if job is not None:
            self._keep(context, job, config)
        return config

    def _keep(self, context: tuple[Any, ...], job: _Job, config: DictConfig) -> None:
        try:
            template = _template(context, job, config)
        except Exception as exc:  # the job has its config: a template only saves time
            log.debug("ecopt: no template from %s (%s: %s)", list(job.lines), type(exc).__name__, exc)
            return
        if template is not None:
            self._templates = [template, *self._templates][:TEMPLATES_KEPT]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_templates": []}  # a launcher's worker gets configs composed ahead, not these

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_loader", "_enabled", "_templates"):  # probe before __init__ ran
            raise AttributeError(name)
        return getattr(self._loader, name)
