"""Repeated configs are repeat measurements, not new points: complete trials with the same parameters and
overrides (an enqueued config run again, a sampler proposing a config twice) become ONE point of the front.

- Energy per sample: when every member stored its benchmark's repeats (``ecopt.inference_per_repeat_J``), the
  point's value is the median of all of them pooled and its interval the median's 95% interval over them
  (:func:`~ecopt_lightning.intervals.median_interval`), or their range when, in trial order, they shift in level
  (:func:`~ecopt_lightning.intervals.repeats_interval`: trials measured minutes apart read different levels);
  else the median of the members' values, and the
  interval spans the members' intervals and values.
- Every other objective: the median of the members' values; its interval spans the members' values and
  intervals, and it has none when no member has one (two or three repeats are too few for a 95% interval of
  their median, and the range of their values is none).
- Constraints are recomputed from the pooled values where they read an objective, else the members' median.
  A point is baseline when any member is, contended when any member was, degraded for any member's reason.

The point keeps the lowest member's trial number; :attr:`TrialRecord.merged_trials` names all members, and
each member's record names its point in :attr:`TrialRecord.config_group`.

Example:
    >>> from ecopt_lightning.sweeper._schema import ReportSettings
    >>> def rec(n, acc, e, repeats):
    ...     return TrialRecord(n, "COMPLETE", [acc, e], {"w": 8}, [], {"e": e}, {}, True, None, None, None, None,
    ...                        e, 1 / e, per_repeat_J=repeats)
    >>> a, b = rec(0, 0.75, 2.0, [1.0, 2.0, 3.0]), rec(3, 0.25, 5.0, [4.0, 5.0, 6.0])
    >>> settings = ReportSettings(["acc", "e"], ["maximize", "minimize"], energy_per_sample_metric="e")
    >>> [p] = merge_repeats([a, b], settings)
    >>> p.number, p.merged_trials, p.values, p.intervals, a.config_group
    (0, [0, 3], [0.5, 3.5], {'e': (1.0, 6.0)}, 0)
"""

from __future__ import annotations

import copy
import json
import statistics
from collections.abc import Sequence
from typing import Any

from ..intervals import REL_PRECISION, precision_reached, repeats_interval
from ..metrics import ESTIMATED_FRACTION, INFERENCE_CONTENDED, INFERENCE_CONVERGED, INFERENCE_REPEATS, ci_hi, ci_lo
from ._feasibility import within
from ._metrics import Constraint
from ._records import TrialRecord
from ._schema import ReportSettings

#: how an objective's interval is formed for a merged point, in words (summary.json says it)
METHOD = (
    "complete trials with the same parameters and overrides are one point: energy per sample is the median of all "
    "their benchmark repeats pooled, with the median's 95% interval over them, or their range when in trial order they "
    "shift in level (runs test, p < 0.01) (when every member stored its repeats; else the median of the members' "
    "values); other objectives, and every metric all members reported (their "
    "training energy), are the median of the members' values; "
    "an interval not computed from pooled repeats spans the members' values and intervals, and there is none when no "
    "member has one (the range of a few trials' values is no 95% interval)"
)


def config_key(record: TrialRecord) -> str:
    """What makes two trials the same config: their parameters and their overrides, which hold the fixed ones
    too (a study resumed with ``trainer.max_epochs=8`` after ``=1`` ran other models for the same parameters);
    a trial with neither is a config of its own (nothing says what it ran)."""
    if record.params or record.overrides:
        return json.dumps([record.params, sorted(record.overrides)], sort_keys=True, default=repr)
    return f"trial {record.number}"


def merged_text(point: TrialRecord) -> str:
    """How a point of several trials was formed, in words: their benchmark repeats pooled, or (when some trial
    stored none) the median of their values.

    Example:
        >>> from types import SimpleNamespace as P
        >>> merged_text(P(merged_trials=[0, 2], per_repeat_J=[1.0, 1.1])), merged_text(P(merged_trials=[0, 2],
        ...     per_repeat_J=None))
        ('one config run in trials 0, 2, their repeats pooled', 'one config run in trials 0, 2, the median of their \
values (not every trial stored its benchmark repeats)')
    """
    trials = f"one config run in trials {', '.join(map(str, point.merged_trials or []))}"
    if point.per_repeat_J:
        return f"{trials}, their repeats pooled"
    return f"{trials}, the median of their values (not every trial stored its benchmark repeats)"


def _span(members: Sequence[TrialRecord], name: str, index: int) -> tuple[float, float] | None:
    """The members' values and intervals spanned, when some member has an interval (a span of values alone, the
    range of two or three trials, is no 95% interval, and every report would call it one: then ``None``)."""
    if not any(name in r.intervals for r in members):
        return None
    ends = [end for r in members for end in r.interval(name, r.objective_values[index])]
    return min(ends), max(ends)


def _merge(members: list[TrialRecord], settings: ReportSettings) -> TrialRecord:
    first = members[0]
    point = copy.copy(first)
    point.merged_trials = [r.number for r in members]
    # the median of a metric every member reported (its training energy), not the first member's; the objectives,
    # the energy per sample and the benchmark's figures are set below from the pooled values
    point.metrics = {
        k: statistics.median(r.metrics[k] for r in members) if all(k in r.metrics for r in members) else v
        for k, v in first.metrics.items()
    }
    if not all(ESTIMATED_FRACTION in r.metrics for r in members):  # the others' energy may be estimated or not
        point.metrics.pop(ESTIMATED_FRACTION, None)
    flags = [r.metrics[INFERENCE_CONVERGED] for r in members if INFERENCE_CONVERGED in r.metrics]
    if flags:  # a flag, not a measure: not converged when a member was not (pooled repeats judge it again below)
        point.metrics[INFERENCE_CONVERGED] = min(flags)
    point.intervals = {}
    values: list[float] = []
    pooled = [v for r in members for v in (r.per_repeat_J or [])]
    every_repeat = all(r.per_repeat_J for r in members)
    pooled_interval = repeats_interval(pooled)[0] if every_repeat else None
    for i, name in enumerate(settings.objective_names):
        column = [r.objective_values[i] for r in members]
        interval: tuple[float, float] | None
        if name == settings.energy_per_sample_metric and every_repeat:
            value, interval = statistics.median(pooled), pooled_interval
        else:
            value, interval = statistics.median(column), _span(members, name, i)
        values.append(value)
        point.metrics[name] = value
        if interval is not None:
            point.intervals[name] = interval
            point.metrics[ci_lo(name)], point.metrics[ci_hi(name)] = interval
        else:
            point.metrics.pop(ci_lo(name), None)
            point.metrics.pop(ci_hi(name), None)
    point.values = values
    per_sample = [r.energy_per_sample_J for r in members if r.energy_per_sample_J is not None]
    metric = settings.energy_per_sample_metric
    if metric in settings.objective_names:
        point.energy_per_sample_J = values[settings.objective_names.index(metric)]
        point.energy_per_sample_interval = point.intervals.get(metric)
    elif every_repeat:
        point.energy_per_sample_J, point.energy_per_sample_interval = statistics.median(pooled), pooled_interval
    elif per_sample:
        point.energy_per_sample_J = statistics.median(per_sample)
        own = [r.energy_per_sample_interval for r in members if r.energy_per_sample_interval is not None]
        ends = [end for interval in own for end in interval] + per_sample
        point.energy_per_sample_interval = (min(ends), max(ends)) if own else None  # as _span
    if point.energy_per_sample_J is not None:
        point.samples_per_J = 1.0 / point.energy_per_sample_J if point.energy_per_sample_J > 0 else None
        point.metrics[metric] = point.energy_per_sample_J
    point.per_repeat_J = pooled if every_repeat else None  # the first member's alone would read as the point's
    if every_repeat:
        point.metrics[INFERENCE_REPEATS] = float(len(pooled))
        median = statistics.median(pooled)
        point.metrics[INFERENCE_CONVERGED] = float(precision_reached(median, pooled_interval, REL_PRECISION))
    if any(r.metrics.get(INFERENCE_CONTENDED) == 1.0 for r in members):
        point.metrics[INFERENCE_CONTENDED] = 1.0
    energies = [(r.number, r.energy_J, r.energy_source) for r in members if r.energy_J is not None]
    point.energy_J = statistics.median(e for _, e, _ in energies) if energies else None
    if energies:  # the point's energy is none of its trials' own: say what it is
        ways = ", ".join(dict.fromkeys(source or "source unknown" for _, _, source in energies))
        point.energy_source = f"median of trials {', '.join(str(n) for n, _, _ in energies)} ({ways})"
    constraints = {}
    for text in dict.fromkeys(t for r in members for t in r.constraints):  # every member's: a study resumed with
        # another constraint stored it on some members only
        try:
            read = Constraint.parse(text).metric
        except ValueError:
            read = None
        if read is not None and read in point.metrics and (read in settings.objective_names or read == metric):
            constraints[text] = Constraint.parse(text).value(point.metrics)
        else:
            # of the members that were judged by it: a member without it is unknown there, not within it
            constraints[text] = statistics.median(r.constraints[text] for r in members if text in r.constraints)
    point.constraints = constraints
    point.feasible = within(constraints)
    point.flags = {k: v for r in reversed(members) for k, v in r.flags.items()}
    point.degraded = list(dict.fromkeys(reason for r in members for reason in r.degraded))
    if len({json.dumps(r.sources, sort_keys=True) for r in members}) > 1:  # measured otherwise (another machine)
        point.sources = {f"trial{r.number}/{domain}": source for r in members for domain, source in r.sources.items()}
    point.sweep_values = None
    if any(r.sweep_values is not None for r in members):
        point.sweep_values = [
            statistics.median((r.sweep_values or r.objective_values)[i] for r in members)
            for i in range(len(settings.objective_names))
        ]
    point.config_group = first.number
    return point


def merge_repeats(records: Sequence[TrialRecord], settings: ReportSettings) -> list[TrialRecord]:
    """One point per config among the records that have objective values, in the order of their first trial;
    a config run once is its own record, a repeated one a merged copy (the members are not changed, except
    that each gets ``config_group``, the point's trial number)."""
    groups: dict[str, list[TrialRecord]] = {}
    for r in records:
        if r.values is not None:
            groups.setdefault(config_key(r), []).append(r)
    points = []
    for members in groups.values():
        members.sort(key=lambda r: r.number)
        if len(members) == 1:
            members[0].config_group = None
            points.append(members[0])
            continue
        for r in members:
            r.config_group = members[0].number
        # once `ecopt confirm` measured a member again, its values stand for the config
        point = _merge([r for r in members if r.confirmed is not None] or members, settings)
        point.number, point.config_group = members[0].number, members[0].number
        point.merged_trials = [r.number for r in members]
        points.append(point)
    return sorted(points, key=lambda r: r.number)


def group_of(points: Sequence[TrialRecord]) -> dict[int, TrialRecord]:
    """Each trial number (members of merged points included) to its point."""
    out = {}
    for p in points:
        for number in p.merged_trials or [p.number]:
            out[number] = p
    return out


def merged_summary(points: Sequence[TrialRecord]) -> dict[str, Any]:
    """What ``summary.json`` says of the merged points: their members, and how they were pooled."""
    return {
        "points": {str(p.number): p.merged_trials for p in points if p.merged_trials},
        "method": METHOD,
    }
