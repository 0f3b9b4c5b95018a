"""The search-space grammar of hydra-optuna-sweeper, with its meaning, turned into Optuna distributions.

Each expression means what it means in hydra-optuna-sweeper (read from the types Hydra parsed, never the text):

- ``choice(a,b,c)`` or ``a,b,c`` -> categorical of the parsed values (quoted ``'true'`` stays a string);
- ``range(start,stop[,step])`` -> int (float if any of the three is a float) with that step, **both ends
  included** (``range(1,3)`` is 1, 2, 3; Hydra's basic sweeper stops before ``stop``);
- ``shuffle(range(...))`` -> categorical of Hydra's range values (``stop`` excluded);
- ``interval(low,high)`` -> float uniform (Hydra parses interval ends as floats); ``int(interval(low,high))``
  -> int uniform over the cast ends (``int(interval(1.5, 5.5))`` is 1..5);
- ``tag(log, interval(...))`` -> log-uniform (int inside ``int(...)``); any other tag is an error;
- anything else -> a fixed override for every trial.

Example:
    >>> space = parse_space({"width": "choice(16,32)", "lr": "tag(log, interval(1e-4, 1e-1))", "epochs": "3"})
    >>> sorted(space.distributions), space.fixed
    (['lr', 'width'], ['epochs=3'])
    >>> space.distributions["lr"].log
    True
    >>> render("opt", "c,d"), render("flag", "true"), render("lr", 0.1)
    ("opt='c,d'", "flag='true'", 'lr=0.1')
    >>> render("optim", {"name": "sgd", "betas": [0.5, None]})
    "optim={name: 'sgd', betas: [0.5, null]}"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Sweep
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from ._literals import hydra_literal
from ._optuna_compat import contains
from .errors import SweeperConfigError

GRAMMAR = (
    "choice(a,b,...), a,b,..., range(start,stop[,step]), interval(low,high), int(interval(low,high)), "
    "tag(log, interval(low,high))"
)
#: The only tag with a meaning here, and the only sweep it applies to.
TAGS = ("log",)


@dataclass
class SearchSpace:
    """Distributions to suggest (key -> distribution) and fixed overrides passed to every trial as they are."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line per parameter, for the log."""
        return "; ".join(f"{k}: {d!r}" for k, d in self.distributions.items()) or "(no parameters)"


def _distinct(choices: list[Any]) -> list[Any]:
    """``choices`` when Optuna can tell them apart: it stores a choice as the index of the first one equal to it,
    so ``true`` beside ``1`` (``1.0``; ``false`` beside ``0``) would be recorded, and reported, as ``1``."""
    for i, value in enumerate(choices):
        for earlier in choices[:i]:
            if value == earlier and type(value) is not type(earlier):
                raise ValueError(
                    f"choices {hydra_literal(earlier)} and {hydra_literal(value)} are equal in Python, so Optuna "
                    f"would record {hydra_literal(value)} as {hydra_literal(earlier)}: keep one, or quote one"
                )
    return choices


def holds(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` lies in ``dist`` as itself: Optuna takes ``true`` for the choice ``1`` (and a number for a
    bool), and would record the trial that ran ``x=true`` as ``x: 1``.

    Example:
        >>> holds(CategoricalDistribution([1, 2]), True), holds(CategoricalDistribution([1, 2]), 1)
        (False, True)
        >>> holds(IntDistribution(0, 3), True), holds(FloatDistribution(0, 3), 2)
        (False, True)
    """
    if isinstance(dist, CategoricalDistribution):
        return any(type(choice) is type(value) and choice == value for choice in dist.choices)
    return not isinstance(value, bool) and contains(dist, value)


def _categorical(override: Override) -> CategoricalDistribution:
    choices = []
    for value in override.sweep_iterator():
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise ValueError(f"choice elements must be strings, numbers, booleans or null, not {value!r}")
        choices.append(value)
    return CategoricalDistribution(_distinct(choices))


def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _check_tags(tags: set[str], interval: bool) -> None:
    unknown = sorted(set(tags) - set(TAGS))
    if unknown:
        raise ValueError(f"unknown tag {unknown[0]!r}: the only tag is 'log', as in tag(log, interval(low, high))")
    if tags and not interval:
        raise ValueError("tag(log, ...) applies to interval(low, high) only")


def to_distribution(override: Override) -> BaseDistribution | None:
    """The distribution of one parsed override; ``None`` when it is a fixed value."""
    if not override.is_sweep_override():
        return None
    sweep = override.value()
    if not isinstance(sweep, Sweep):  # glob(...) selects config group options, it has no values
        raise ValueError(f"unsupported sweep {sweep!r}")
    _check_tags(set(sweep.tags), isinstance(sweep, IntervalSweep))
    if isinstance(sweep, ChoiceSweep):
        return _categorical(override)
    if isinstance(sweep, RangeSweep):
        if sweep.shuffle:
            return _categorical(override)
        start, stop, step = sweep.start, sweep.stop, sweep.step
        if start is None or stop is None:
            raise ValueError("range needs a start and a stop")
        if step is None or step <= 0:
            raise ValueError("range step must be positive")
        if stop < start:
            raise ValueError("empty range: stop is below start")
        if _is_int(start, stop, step):
            return IntDistribution(int(start), int(start + (stop - start) // step * step), step=int(step))
        # in decimals, as written and as Optuna checks the step: 0.1 + 3 * 0.3 in floats falls below 1.0, and
        # Optuna would then cut the range down to 0.7
        low, high, q = (Decimal(str(v)) for v in (start, stop, step))
        return FloatDistribution(float(low), float(low + (high - low) // q * q), step=float(q))
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if sweep.start is None or sweep.end is None:
            raise ValueError("interval needs a low and a high")
        if sweep.start >= sweep.end:
            raise ValueError("interval low must be below high")
        if _is_int(sweep.start, sweep.end):  # int(interval(...)): Hydra cast the ends
            return IntDistribution(int(sweep.start), int(sweep.end), log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ValueError(f"unsupported sweep {sweep!r}")


def legacy_distribution(item: Mapping[str, Any]) -> BaseDistribution:
    """A distribution from hydra-optuna-sweeper 1.1's deprecated ``search_space`` entry
    (``{type: int|float|categorical, low, high, step, log, choices}``), with that version's meaning."""
    kind = item["type"]
    if kind == "categorical":
        choices = item.get("choices")
        if not isinstance(choices, list) or not choices:  # a string was taken letter by letter
            raise ValueError("categorical needs choices: a non-empty list")
        return CategoricalDistribution(_distinct(list(choices)))
    low: Any = item.get("low")  # YAML values, checked by the conversions below
    high: Any = item.get("high")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (low, high)):
        raise ValueError(f"{kind} needs low and high: numbers")
    step: Any = item.get("step")
    log = bool(item.get("log", False))
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=1 if log or step is None else int(step))
    return FloatDistribution(float(low), float(high), log=log, step=None if log or step is None else float(step))


def parse_space(
    params: Mapping[str, str],
    arguments: Iterable[str] = (),
    field_name: str = "params",
    legacy: Mapping[str, Mapping[str, Any]] | None = None,
) -> SearchSpace:
    """Build the search space from the deprecated ``search_space`` (``legacy``), config ``params``, then
    command-line ``arguments`` (later ones win).

    Raises :class:`SweeperConfigError` naming ``params.<key>`` (or the argument) for a malformed expression.
    """
    parser = OverridesParser.create()
    space = SearchSpace()
    fixed: dict[str, str] = {}
    for key, item in (legacy or {}).items():
        try:
            space.distributions[key] = legacy_distribution(item)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:200]
            raise SweeperConfigError(f"search_space.{key}", dict(item), f"a valid distribution ({reason})") from None
    items = [(f"{field_name}.{k}", f"{k}={v}") for k, v in params.items()]
    items += [("command line", arg) for arg in arguments]
    for where, line in items:
        try:
            override = parser.parse_overrides([line])[0]
            distribution = to_distribution(override)
        except Exception as exc:
            value = line.split("=", 1)[1] if where != "command line" else line
            reason = " ".join(str(exc).split())[:200]
            raise SweeperConfigError(where, value, f"{GRAMMAR} or a fixed value ({reason})") from None
        key = override.get_key_element()
        space.distributions.pop(key, None)
        fixed.pop(key, None)
        if distribution is None:
            fixed[key] = override.input_line or line
        else:
            space.distributions[key] = distribution
    space.fixed = list(fixed.values())
    return space


def render(key: str, value: Any) -> str:
    """A Hydra override for a suggested value: bools and None in Hydra's spelling, strings quoted (so that
    ``'a b'``, ``'c,d'``, ``'e=f'``, ``it's``, ``'true'``, ``'null'`` and ``'1e3'`` reach the app as the strings),
    lists and dicts (a custom search space's fixed overrides) written the same way inside."""
    return f"{key}={hydra_literal(value)}"


def incompatible(
    stored: Iterable[Mapping[str, BaseDistribution]], distributions: Mapping[str, BaseDistribution]
) -> dict[str, BaseDistribution]:
    """The parameters of ``distributions`` that Optuna cannot store beside the trials whose distributions are
    ``stored`` (another kind of distribution, or a categorical with other choices), each with its stored
    distribution; Optuna refuses them only at the first ``ask``, which leaves that trial RUNNING.

    Example:
        >>> old = [{"width": CategoricalDistribution([8, 16, 32])}]
        >>> list(incompatible(old, {"width": CategoricalDistribution([8, 16])}))
        ['width']
        >>> incompatible(old, {"width": CategoricalDistribution([8, 16, 32]), "lr": FloatDistribution(0.1, 1)})
        {}
    """
    from optuna.distributions import check_distribution_compatibility

    found: dict[str, BaseDistribution] = {}
    for trial_distributions in stored:
        for name, old in trial_distributions.items():
            new = distributions.get(name)
            if new is None or name in found:
                continue
            try:
                check_distribution_compatibility(old, new)
            except ValueError:
                found[name] = old
    return found
