"""What the sweep prints: one line per finished trial, and the front as a table at the end.

Both say whether a trial met the constraints and, when not, which one it broke and by how much, in the
metric's own unit. Pure formatting over a :class:`~._records.Report` (no optuna, no logging).

Example:
    >>> breaks({"energy/inference_per_sample_J <= 0.0002": 0.0017}, {"energy/inference_per_sample_J": 0.0019})
    ["energy/inference_per_sample_J=0.0019 breaks '<= 0.0002'"]
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..metrics import SUMMARY_FILE
from ._domains import left_out_text
from ._metrics import Constraint
from ._plots import is_energy_like, measured_by
from ._records import TrialRecord, estimated_energy, estimated_phrase
from ._rung_report import stopped_phrase
from ._schema import BASELINE_ATTR
from ._sweep_report import LATE_RUN_SOURCE, Report

#: infeasible trials named one by one at the end; more are counted
MAX_NAMED_INFEASIBLE = 10


def breaks(constraints: Mapping[str, float], metrics: Mapping[str, float]) -> list[str]:
    """The constraints a trial broke (value > 0, or NaN: not shown met), each as ``metric=observed breaks '<op>
    bound'``.

    Example:
        >>> breaks({"energy/total_J <= 1": float("nan")}, {})  # a constraint added later; the trial lacks the metric
        ["energy/total_J=? breaks '<= 1'"]
    """
    out = []
    for text, value in constraints.items():
        if not (value > 0 or math.isnan(value)):
            continue
        try:
            c = Constraint.parse(text)
        except ValueError:  # a study written by other code: show the stored text and value
            out.append(f"{text!r} (violation {value:.4g})")
            continue
        observed = metrics.get(c.metric)
        shown = f"{observed:.4g}" if observed is not None else "?"
        out.append(f"{c.metric}={shown} breaks '{c.op} {c.bound:g}'")
    return out


def feasibility(record: TrialRecord) -> str:
    """``feasible``, or ``INFEASIBLE: <what it broke>``; empty when the study has no constraints."""
    if not record.constraints:
        return ""
    if record.feasible:
        return "feasible"
    return "INFEASIBLE: " + "; ".join(breaks(record.constraints, record.metrics))


def progress_line(report: Report, number: int, n_trials: int, later: Collection[int] = ()) -> str | None:
    """One trial's line: objectives, feasibility, the study's progress, front size, energy so far. ``later``: the
    trials of the same batch said after this one, left out of its count (the report is read once per batch)."""
    record = next((r for r in report.records if r.number == number), None)
    if record is None:
        return None
    counted = [r for r in report.records if r.number not in later]
    complete = sum(r.state == "COMPLETE" for r in counted)
    stopped = sum(r.stopped_at_epoch is not None for r in counted)
    count = f"{complete} of {n_trials} complete"
    if stopped:  # a trial stopped at a rung counts towards n_trials
        count = f"{complete + stopped} of {n_trials}: {complete} complete, {stopped} stopped at a rung"
    if record.stopped_at_epoch is not None:
        outcome = stopped_phrase(record.stopped_at_epoch, record.rungs, record.rung_epochs)
    elif record.values is None:
        outcome = f"{record.state}: {record.error}"
    else:
        outcome = ", ".join(
            f"{name}={value:.4g}" for name, value in zip(report.settings.objective_names, record.values, strict=False)
        )
        status = feasibility(record)
        outcome += f" | {status}" if status else ""
    baseline = " (baseline)" if record.flags.get(BASELINE_ATTR) else ""
    return (
        f"trial {number}{baseline} ({count}): {outcome} | front {len(report.front)} "
        f"trial(s) | sweep energy so far {_so_far(report, counted)} | {_params(record) or 'no parameters'}"
    )


def _params(r: TrialRecord) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())


def _row(report: Report, r: TrialRecord, label: str, with_status: bool) -> list[str]:
    params = _params(r)
    status = [feasibility(r) or "-"] if with_status else []
    names = report.settings.objective_names
    return [
        label,
        *(
            f"{v:.4g}" + (f" [{r.intervals[n][0]:.3g}, {r.intervals[n][1]:.3g}]" if n in r.intervals else "")
            for n, v in zip(names, r.values or [], strict=False)
        ),
        "-" if r.samples_per_J is None else f"{r.samples_per_J:.4g}",
        *status,
        params,
    ]


def front_table(report: Report) -> list[str]:
    """The Pareto front as aligned text lines (knee starred, ``~`` not robust, 95% intervals where known), the
    baseline's row when it is not on the front, the trials possibly on the front, and the infeasible trials with
    what they broke."""
    with_status = bool(report.settings.constraints)
    names = report.settings.objective_names
    header = ["trial", *names, "samples/J", *(["constraints"] if with_status else []), "params"]
    knee = report.knee.number if report.knee is not None else None
    baseline = next((r for r in report.records if r.flags.get(BASELINE_ATTR) and r.values is not None), None)
    rows = [
        _row(report, r, f"{r.number}{'*' if r.number == knee else ''}{'' if r.robust else '~'}"
             f"{' (baseline)' if r.flags.get(BASELINE_ATTR) else ''}", with_status)
        for r in sorted(report.front, key=lambda r: r.values or [])
    ]  # fmt: skip
    extra = []
    if baseline is not None and not baseline.on_front:
        extra.append(_row(report, baseline, f"{baseline.number} (baseline, not on the front)", with_status))
    lines: list[str] = []
    if rows or extra:
        table = [header, *rows, *extra]
        widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        title = "Pareto front (* = knee):" if rows else f"Pareto front: empty ({report.no_front_text()})"
        lines += [title, *(fmt.format(*row) for row in table)]
    else:
        lines.append(f"Pareto front: empty ({report.no_front_text()})")
    if any("[" in cell for row in rows for cell in row[1 : 1 + len(names)]):
        lines.append("[low, high]: 95% interval; ~: not robust, another trial's interval may beat it")
    how = measured_by([r for r in report.records if r.values is not None])
    if rows and how and any(is_energy_like(n) for n in names):  # an estimate never reads as a measurement
        lines.append(f"energy values: {how}")
    if report.possibly:
        numbers = ", ".join(str(r.number) for r in report.possibly)
        lines.append(
            f"possibly on the front (their intervals overlap those of the trials that dominate them): {numbers}"
        )
    lines += _infeasible_lines(report)
    lines += not_comparable_lines(report)
    return lines


def _named(records: Sequence[TrialRecord]) -> str:
    more = f" and {len(records) - MAX_NAMED_INFEASIBLE} more" if len(records) > MAX_NAMED_INFEASIBLE else ""
    return ", ".join(str(r.number) for r in records[:MAX_NAMED_INFEASIBLE]) + more


def not_comparable_lines(report: Report) -> list[str]:
    """How many complete trials the front left out for being measured on fewer domains than the sweep's, named;
    and those it could not judge, as they recorded no domains where the others did."""
    left, unjudged = report.not_comparable, report.not_judged
    complete = sum(r.values is not None for r in report.records)
    lines = []
    if left:
        lines.append(
            f"{len(left)} of {complete} complete trial(s) left out of the front, not comparable: "
            f"{left_out_text([r.not_comparable or '' for r in left], report.kinds_text())}: {_named(left)} "
            "(trials.csv's not_comparable column says why)"
        )
    if unjudged:
        lines.append(
            f"{len(unjudged)} of {complete} complete trial(s) recorded no measurement domains (no "
            f"{SUMMARY_FILE} in the job dir, or stored before they were recorded): ranked without knowing whether "
            f"they measured the sweep's {report.kinds_text()}: {_named(unjudged)}"
        )
    return lines


def _infeasible_lines(report: Report) -> list[str]:
    bad = [r for r in report.records if r.values is not None and r.constraints and not r.feasible]
    if not bad:
        return []
    complete = sum(r.values is not None for r in report.records)
    named = [f"{r.number} ({'; '.join(breaks(r.constraints, r.metrics))})" for r in bad[:MAX_NAMED_INFEASIBLE]]
    more = f" and {len(bad) - MAX_NAMED_INFEASIBLE} more" if len(bad) > MAX_NAMED_INFEASIBLE else ""
    return [f"{len(bad)} of {complete} complete trial(s) broke a constraint: {', '.join(named)}{more}"]


def describe_space(distributions: Mapping[str, Any]) -> str:
    """A search space for the log, e.g. ``model.lr: log-float in [0.0003, 0.03]; model.width: one of 8, 16``."""
    parts = []
    for key, d in distributions.items():
        choices = getattr(d, "choices", None)
        if choices is not None:
            parts.append(f"{key}: one of {', '.join(map(str, choices))}")
            continue
        kind = "int" if type(d).__name__.startswith("Int") else "float"
        scale = "log-" if getattr(d, "log", False) else ""
        step = getattr(d, "step", None)
        by = f" step {step:g}" if step not in (None, 1) else ""
        parts.append(f"{key}: {scale}{kind} in [{d.low:g}, {d.high:g}]{by}")
    return "; ".join(parts)


def _so_far(report: Report, records: Sequence[TrialRecord]) -> str:
    """The energy of ``records`` (the trials said so far) and of the study's late runs, as ``sweep_energy_J``
    counts them, with how much of it is ESTIMATED when any is (a measured sweep's line stays short), or unknown
    when none of them reported it."""
    energies = [r.energy_J for r in records if r.energy_J is not None]
    late = report.energy_sources.get(LATE_RUN_SOURCE, 0)
    if not energies and not late:
        return "unknown (no trial reported it)"
    total = sum(energies) + report.late_J
    estimated, unknown = estimated_energy(records)
    estimated, unknown = estimated + report.late_estimated_J, unknown + report.late_without_source
    said = f" ({estimated_phrase(total, estimated, unknown, len(energies) + late)})" if estimated > 0 else ""
    return f"{total:.4g} J{said}"
