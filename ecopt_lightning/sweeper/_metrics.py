"""Turn what a task returned into metrics, objective values, constraint values and an energy figure.

Pure Python (no optuna): the task's return value is a mapping of metric name to number-like values (floats,
0-d tensors: ``trainer.callback_metrics`` works as is).

Example:
    >>> metrics = to_metrics({"val_acc": 0.9, "energy/total_J": 12.5, "note": "x"})
    >>> metrics
    {'val_acc': 0.9, 'energy/total_J': 12.5}
    >>> Constraint.parse("energy/total_J <= 20").value(metrics)
    -7.5
    >>> trial_energy(metrics, "energy/total_J")
    (12.5, 'energy/total_J')
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import metrics as names
from ..metrics import PHASE_TOTAL_J_PATTERN

#: Metrics summed when the configured ``energy_metric`` is absent from a trial's metrics.
ENERGY_FALLBACK_PATTERN = PHASE_TOTAL_J_PATTERN

_CONSTRAINT_RE = re.compile(r"^\s*(?P<name>\S+)\s*(?P<op><=|>=|<|>)\s*(?P<bound>[-+0-9.eE_]+|[-+]?inf)\s*$")


class TrialError(Exception):
    """A trial's result cannot be used (missing objective, NaN, not a mapping); the trial is marked FAIL."""


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``names`` to a misspelt ``name``, else empty.

    Example:
        >>> did_you_mean("val_accc", ["val_acc", "val_loss"]), did_you_mean("throughput", ["val_acc"])
        (" (did you mean 'val_acc'?)", '')
    """
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


def name_mismatch(
    returned: Any,
    metrics: Mapping[str, float],
    objective_names: Sequence[str],
    constraint_metrics: Sequence[str],
    unnamed: bool = False,
) -> tuple[str, str] | None:
    """``(field, text)`` when a job's result does not fit the configured names, a config mistake rather than a bad
    trial: a name missing, a metric that is not a number, or a return value that is not metrics at all.

    ``field`` is ``objectives`` or ``constraints`` (which setting to fix); NaN values are not mismatches.
    ``unnamed``: the objectives come from ``direction`` (else a bare number's text says to set it).

    Example:
        >>> name_mismatch({"acc": 1.0, "J": 2.0}, {"acc": 1.0, "J": 2.0}, ["accuracy"], ["mem_GB"])
        ('objectives', "missing objective 'accuracy', constraint metric 'mem_GB'; available: J, acc")
    """
    available = "available: " + (", ".join(sorted(metrics)) or "(none)")
    if not isinstance(returned, Mapping) and not metrics:
        count = _count_numbers(returned)
        if count is not None:  # a float or tuple of numbers: too many or too few for the objectives
            text = (
                f"the task returned {count} number(s) ({type(returned).__name__}) for {len(objective_names)} "
                f"objective(s) ({', '.join(objective_names)})"
            )
            if not unnamed:  # hydra-optuna-sweeper's task, whose config relied on its default direction
                text += (
                    "; for a task that returns a float or a tuple, set hydra.sweeper.direction, one per number "
                    "(hydra-optuna-sweeper's default: minimize)"
                )
            return "objectives", text
        return "objectives", f"the task returned {type(returned).__name__}, not a dict of metrics; {available}"
    for field, wanted in (("objectives", objective_names), ("constraints", constraint_metrics)):
        wrong = non_numeric(returned, wanted)
        if wrong:
            return field, f"{wrong}; {available}"
    missing = [f"objective {n!r}{did_you_mean(n, metrics)}" for n in objective_names if n not in metrics]
    missing += [f"constraint metric {n!r}{did_you_mean(n, metrics)}" for n in constraint_metrics if n not in metrics]
    if not missing:
        return None
    field = "objectives" if missing[0].startswith("objective ") else "constraints"
    return field, f"missing {', '.join(dict.fromkeys(missing))}; {available}"


def _count_numbers(returned: Any) -> int | None:
    """How many numbers a bare number (1) or an iterable of numbers holds; None for anything else."""
    if _as_float(returned) is not None:
        return 1
    if isinstance(returned, Iterable) and not isinstance(returned, (str, bytes)):
        values = list(returned)
        if values and all(_as_float(v) is not None for v in values):
            return len(values)
    return None


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor with more than one element
        return None


def to_metrics(returned: Any, objective_names: Sequence[str] = ()) -> dict[str, float]:
    """Metrics as ``{name: float}`` from a task's return value; entries that are not numbers are skipped.

    A bare number (one objective) or an iterable of numbers (one per objective: a tuple, list, numpy array or
    tensor, as hydra-optuna-sweeper takes any) is accepted too, named after the objectives, so hydra-optuna-sweeper
    tasks keep working.

    Example:
        >>> import numpy as np
        >>> to_metrics(np.array([0.5, 2.0]), ["loss", "energy"])
        {'loss': 0.5, 'energy': 2.0}
    """
    if isinstance(returned, Mapping):
        out = {}
        for key, value in returned.items():
            number = _as_float(value)
            if number is not None:
                out[str(key)] = number
        return out
    number = _as_float(returned)
    if number is not None and len(objective_names) == 1:
        return {objective_names[0]: number}
    if isinstance(returned, Iterable) and not isinstance(returned, (str, bytes)):  # a tuple, list, array, tensor
        values = list(returned)
        numbers = [n for n in map(_as_float, values) if n is not None]
        if len(numbers) == len(values) == len(objective_names):
            return dict(zip(objective_names, numbers, strict=True))
    raise TrialError(
        f"the task returned {type(returned).__name__}; return a dict of metrics (e.g. trainer.callback_metrics), "
        f"or set hydra.sweeper.direction (one per returned number) for a float or tuple"
    )


def lookup(metrics: Mapping[str, float], name: str, role: str) -> float:
    """The finite value of metric ``name``; :class:`TrialError` listing the available names otherwise."""
    if name not in metrics:
        available = ", ".join(sorted(metrics)) or "(none)"
        raise TrialError(
            f"{role} {name!r} is not among the task's metrics{did_you_mean(name, metrics)}; available: {available}"
        )
    value = metrics[name]
    if not math.isfinite(value):
        raise TrialError(f"{role} {name!r} is {value}")
    return value


def non_numeric(returned: Any, names: Sequence[str]) -> str | None:
    """The error for a metric in ``names`` that the task returned as a non-number (e.g. a string), if any.

    Example:
        >>> non_numeric({"val_acc": "high"}, ["val_acc"])
        "metric 'val_acc' is 'high' (str): return a number (float, int or 0-d tensor)"
    """
    if not isinstance(returned, Mapping):
        return None
    for name in names:
        if name in returned and _as_float(returned[name]) is None:
            value = returned[name]
            return (
                f"metric {name!r} is {value!r:.60} ({type(value).__name__}): return a number (float, int or 0-d tensor)"
            )
    return None


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` (or ``<``, ``>=``, ``>``); :meth:`value` is <= 0 when the trial is feasible.

    Strict and non-strict comparisons are treated alike (Optuna's convention: feasible when value <= 0).
    """

    text: str
    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        match = _CONSTRAINT_RE.match(str(text))
        if match is None:
            raise ValueError(text)
        return cls(str(text).strip(), match["name"], match["op"], float(match["bound"]))

    def value(self, metrics: Mapping[str, float]) -> float:
        """Amount of violation in the metric's unit (e.g. J): ``metric - bound`` for ``<=``, ``bound - metric``
        for ``>=``."""
        observed = lookup(metrics, self.metric, "constraint metric")
        return observed - self.bound if self.op in ("<=", "<") else self.bound - observed


def later_constraint(text: str, metrics: Mapping[str, float]) -> float:
    """The value of a constraint the study got after the trial ran, from the trial's stored metrics; NaN (not
    feasible: nothing shows it met) when the trial lacks its metric.

    Example:
        >>> later_constraint("energy/total_J <= 1.5", {"energy/total_J": 2.0}), later_constraint("x <= 1", {})
        (0.5, nan)
    """
    try:
        return Constraint.parse(text).value(metrics)
    except (ValueError, TrialError):
        return math.nan


def trial_energy(metrics: Mapping[str, float], energy_metric: str) -> tuple[float | None, str | None]:
    """A trial's measured energy in J and where it came from.

    ``energy_metric`` when present; else the sum of the metrics matching ``energy/*_total_J``; else ``None``. A
    negative value (a net energy below the idle power) is no energy spent: as if absent.
    """
    value = metrics.get(energy_metric)
    if value is not None and math.isfinite(value) and value >= 0:
        return value, energy_metric
    parts = sorted(k for k in metrics if fnmatch.fnmatchcase(k, ENERGY_FALLBACK_PATTERN) and k != energy_metric)
    parts = [k for k in parts if math.isfinite(metrics[k]) and metrics[k] >= 0]
    if parts:
        return sum(metrics[k] for k in parts), "sum of " + ", ".join(parts)
    return None, None


def objective_interval(metrics: Mapping[str, float], name: str) -> tuple[float, float] | None:
    """``(low, high)`` of metric ``name`` from ``<name>_ci_lo`` and ``<name>_ci_hi``, when both are finite,
    ordered and hold the metric's own value; ``None`` otherwise (an interval that misses its value is not one).

    Example:
        >>> objective_interval({"e": 2.0, "e_ci_lo": 1.5, "e_ci_hi": 2.5}, "e"), objective_interval({"e": 2.0}, "e")
        ((1.5, 2.5), None)
        >>> objective_interval({"e": 3.0, "e_ci_lo": 1.5, "e_ci_hi": 2.5}, "e") is None
        True
    """
    lo, hi = metrics.get(names.ci_lo(name)), metrics.get(names.ci_hi(name))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    value = metrics.get(name)
    if value is not None and math.isfinite(value) and not lo <= value <= hi:
        return None
    return float(lo), float(hi)
