"""The search-space grammar of hydra-optuna-sweeper, turned into Optuna distributions.

``choice(a,b,c)`` or ``a,b,c`` -> categorical; ``range(start,stop[,step])`` -> int (or float) with a step,
``stop`` excluded as in Hydra (``range(1,4)`` is 1, 2, 3); ``interval(low,high)`` -> uniform (int when both
ends are ints); ``tag(log, interval(low,high))`` -> log-uniform; any other value is a fixed override.

Example:
    >>> space = parse_space({"width": "choice(16,32)", "lr": "tag(log, interval(1e-4, 1e-1))", "epochs": "3"})
    >>> sorted(space.distributions), space.fixed
    (['lr', 'width'], ['epochs=3'])
    >>> space.distributions["lr"].log
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from .errors import SweeperConfigError

_INT_INTERVAL = re.compile(r"interval\(\s*[-+]?\d+\s*,\s*[-+]?\d+\s*\)")
GRAMMAR = "choice(a,b,...), a,b,..., range(start,stop[,step]), interval(low,high), tag(log, interval(low,high))"


@dataclass
class SearchSpace:
    """Distributions to suggest (key -> distribution) and fixed overrides passed to every trial as they are."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line per parameter, for the log."""
        return "; ".join(f"{k}: {d!r}" for k, d in self.distributions.items()) or "(no parameters)"


def _categorical(override: Override) -> CategoricalDistribution:
    choices = []
    for value in override.sweep_iterator(transformer=Transformer.encode):
        if not isinstance(value, (str, int, float, bool)):
            value = str(value)
        choices.append(value)
    return CategoricalDistribution(choices)


def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def to_distribution(override: Override) -> BaseDistribution | None:
    """The distribution of one parsed override; ``None`` when it is a fixed value."""
    if not override.is_sweep_override():
        return None
    sweep = override.value()
    if override.is_choice_sweep():
        return _categorical(override)
    if override.is_range_sweep():
        if sweep.shuffle:
            return _categorical(override)
        values = list(override.sweep_iterator())
        if not values:
            raise ValueError("empty range")
        if _is_int(sweep.start, sweep.stop, sweep.step):
            return IntDistribution(min(values), max(values), step=abs(int(sweep.step)))
        return FloatDistribution(float(min(values)), float(max(values)), step=abs(float(sweep.step)))
    if override.is_interval_sweep():
        log = "log" in sweep.tags
        if sweep.start >= sweep.end:
            raise ValueError("interval low must be below high")
        # Hydra parses interval ends as floats; the text tells whether the user wrote ints.
        if _INT_INTERVAL.search(override.input_line or ""):
            return IntDistribution(int(sweep.start), int(sweep.end), log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ValueError(f"unsupported sweep {sweep!r}")


def parse_space(params: Mapping[str, str], arguments: Iterable[str] = (), field_name: str = "params") -> SearchSpace:
    """Build the search space from config ``params`` then command-line ``arguments`` (later ones win).

    Raises :class:`SweeperConfigError` naming ``params.<key>`` (or the argument) for a malformed expression.
    """
    parser = OverridesParser.create()
    space = SearchSpace()
    fixed: dict[str, str] = {}
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
    """A Hydra override for a suggested value (bools and None in Hydra's spelling)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return f"{key}={text}"
