"""Pareto front figures: a PNG (matplotlib, Agg) and an interactive HTML (plotly; plotly.min.js beside it).

Both show every finished trial over the first two objectives (one objective: value against trial number):
the feasible front joined by a line and labelled with trial numbers, dominated trials faint, infeasible trials
as crosses, trials measured on fewer energy domains than the sweep's as hollow squares (never ranked), the knee
starred, the baseline ringed. An energy axis names its unit and how the trials' energy was
measured; the HTML hover shows each trial's constraint values and sources.

Example:
    >>> axis_label("energy/inference_per_sample_J", "minimize")
    'energy/inference_per_sample_J [J] (minimize ↓)'
    >>> axis_title("energy/inference_per_sample_J", "minimize", "ESTIMATED from CPU time")
    'energy/inference_per_sample_J [J per sample, ESTIMATED from CPU time] (minimize ↓)'
"""

from __future__ import annotations

import functools
import math
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

from ..metrics import COST_TOTAL_PREFIX, ESTIMATED_FRACTION
from ._atomic import atomic_write
from ._metrics import Constraint
from ._records import TrialRecord
from ._repeats import merged_text
from ._schema import BASELINE_ATTR
from ._sweep_report import Report

_UNITS = {
    "_J": "J", "_kJ": "kJ", "_Wh": "Wh", "_kWh": "kWh", "_W": "W", "_s": "s", "_ms": "ms", "_g": "gCO2e",
    "_gCO2e": "gCO2e",
}  # fmt: skip
#: figures computed from the energy (at a grid intensity, a price): their axes say how the energy was measured
_FROM_ENERGY = ("carbon/", "cost/")


#: a count per unit of energy: ``efficiency/samples_per_J`` is samples per J, not J
_PER_ENERGY = re.compile(r"([A-Za-z]+)_per_(J|kJ|Wh|kWh)$")


def unit_of(metric: str) -> str:
    """The unit a metric's name ends with (``..._J`` -> J, ``..._samples_per_J`` -> samples per J, a cost's
    currency); ``-`` (dimensionless) otherwise.

    Example:
        >>> unit_of("energy/total_J"), unit_of("efficiency/samples_per_J"), unit_of("val_acc")
        ('J', 'samples per J', '-')
        >>> unit_of("carbon/total_gCO2e"), unit_of("cost/total_EUR")
        ('gCO2e', 'EUR')
    """
    if metric.startswith(COST_TOTAL_PREFIX):
        return metric[len(COST_TOTAL_PREFIX) :]
    per_energy = _PER_ENERGY.search(metric)
    if per_energy is not None:
        return f"{per_energy[1]} per {per_energy[2]}"
    for suffix, unit in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if metric.endswith(suffix):
            return unit
    return "-"


def axis_label(metric: str, direction: str) -> str:
    arrow = "↑" if direction == "maximize" else "↓"
    return f"{metric} [{unit_of(metric)}] ({direction} {arrow})"


#: how the CPU-time estimate reads wherever an energy value is shown (never as a measurement)
ESTIMATE_WORDS = "ESTIMATED from CPU time"
#: how each measurement source reads on an axis; estimates last, in capitals (never shown as a measurement)
_SOURCE_WORDS = {
    "nvml_counter": "NVML counter",
    "nvml_power": "NVML power, integrated",
    "rapl": "RAPL",
    "estimate": ESTIMATE_WORDS,
    "measured": "measured (sensor not recorded)",
}
_PER = {"_per_sample_J": "J per sample", "_per_item_J": "J per item", "_per_token_J": "J per token"}
_ENERGY_UNITS = {"J", "kJ", "Wh", "kWh", "W"}


def measured_by(records: list[TrialRecord]) -> str:
    """How the trials' energy was measured, in words (``NVML counter + RAPL``, ``ESTIMATED from CPU time``,
    ``RAPL + ESTIMATED from CPU time`` when mixed); empty when no trial said. Trials stored before the sources
    were recorded say it through ``energy/estimated_fraction``."""
    kinds = {source.split(":", 1)[0] for r in records for source in r.sources.values()}
    for r in records:
        fraction = r.metrics.get(ESTIMATED_FRACTION)
        if not r.sources and fraction is not None:
            kinds |= ({"estimate"} if fraction > 0 else set()) | ({"measured"} if fraction < 1 else set())
    ordered = sorted(kinds, key=lambda k: (k == "estimate", k))
    return " + ".join(_SOURCE_WORDS.get(k, k) for k in ordered)


def axis_title(metric: str, direction: str, how: str = "") -> str:
    """An axis title with the unit (``J per sample``) and, for energy and power, how it was measured."""
    arrow = "↑" if direction == "maximize" else "↓"
    unit = next((words for suffix, words in _PER.items() if metric.endswith(suffix)), unit_of(metric))
    return f"{metric} [{unit}{', ' + how if how and is_energy_like(metric) else ''}] ({direction} {arrow})"


def is_energy_like(metric: str) -> bool:
    """Whether ``metric`` is an energy or power, or derived from one (J per sample, samples per J, carbon, cost).

    Example:
        >>> is_energy_like("energy/inference_per_sample_J"), is_energy_like("val_acc")
        (True, False)
    """
    return unit_of(metric) in _ENERGY_UNITS or _PER_ENERGY.search(metric) is not None or metric.startswith(_FROM_ENERGY)


def hover_text(report: Report, r: TrialRecord) -> str:
    """A trial's hover: number (and baseline), front status, 95% intervals, overrides, each constraint's value,
    energy and its sources."""
    baseline = " (baseline)" if r.flags.get(BASELINE_ATTR) else ""
    status = r.front_status or ("infeasible" if r.values is not None and not r.feasible else r.state)
    if r.not_comparable:
        status = f"not comparable: {r.not_comparable}"
    lines = [f"trial {r.number}{baseline} ({status})"]
    names = report.settings.objective_names
    off_axes = names[2:] if len(names) > 2 else []  # the figure shows the first two
    lines += [f"{name}: {value:.4g}" for name, value in zip(names, r.values or [], strict=False) if name in off_axes]
    if r.merged_trials:
        lines.append(merged_text(r))
    lines += [f"{name}: 95% interval [{lo:.4g}, {hi:.4g}]" for name, (lo, hi) in r.intervals.items()]
    lines += r.overrides
    for text, value in r.constraints.items():
        metric = None
        try:
            metric = Constraint.parse(text).metric
            observed = f"{r.metrics[metric]:.4g}" if metric in r.metrics else "?"
        except ValueError:
            observed = "?"
        if math.isnan(value):  # a constraint added later, on a metric this trial lacks: infeasible, not measured
            state = f"not shown met: the trial has no {metric}" if metric else "not shown met"
        else:
            state = "met" if value <= 0 else f"broken by {value:.3g}"
        lines.append(f"{text}: {observed} ({state})")
    if r.energy_J is not None:
        lines.append(f"energy {r.energy_J:.4g} J{' per trial (their median)' if r.merged_trials else ''}")
    if r.sources:
        lines.append("sources: " + ", ".join(f"{d} {s}" for d, s in sorted(r.sources.items())))
    return "<br>".join(lines)


def _baseline(report: Report) -> TrialRecord | None:
    return next((r for r in report.points if r.flags.get(BASELINE_ATTR) and r.values is not None), None)


def _label(r: TrialRecord) -> str:
    """A point's label: its trial number, or ``3+7`` for a config run in trials 3 and 7."""
    return "+".join(map(str, r.merged_trials)) if r.merged_trials else str(r.number)


def _mark_trials(ax: Any, report: Report) -> None:
    """Trial numbers beside the front's points; the baseline ringed and named in the legend."""
    front = list(report.front)
    xs, ys = _xy(report, front)
    for i, k in enumerate(sorted(range(len(front)), key=lambda k: (xs[k], ys[k]))):
        # above and below in turn along the front, so that neighbours' numbers do not run together ("811")
        offset = (5, 5) if i % 2 == 0 else (5, -11)
        ax.annotate(_label(front[k]), (xs[k], ys[k]), textcoords="offset points", xytext=offset, fontsize=8,
                    color="tab:blue")  # fmt: skip
    base = _baseline(report)
    if base is not None:
        xs, ys = _xy(report, [base])
        ax.plot(
            xs,
            ys,
            marker="o",
            markersize=14,
            markerfacecolor="none",
            markeredgecolor="black",
            linestyle="none",
            label=f"baseline (trial {base.number})",
        )
        if not base.on_front:
            ax.annotate(str(base.number), (xs[0], ys[0]), textcoords="offset points", xytext=(5, 5), fontsize=8)


def _mark_trials_html(fig: Any, report: Report) -> None:
    import plotly.graph_objects as go

    if report.front:
        x, y = _xy(report, report.front)
        numbers = [_label(r) for r in report.front]
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="text", text=numbers, textposition="top right", showlegend=False, hoverinfo="skip"
            )
        )
    base = _baseline(report)
    if base is not None:
        x, y = _xy(report, [base])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=f"baseline (trial {base.number})",
                mode="markers",
                marker={"symbol": "circle-open", "size": 20, "color": "black"},
                hovertext=[hover_text(report, base)],
                hoverinfo="text+x+y",
            )
        )


#: the legend's name of the trials measured on fewer domains than the sweep's, or on another basis (:mod:`._domains`)
NOT_COMPARABLE = "not comparable (fewer energy domains, or another basis)"


def _groups(report: Report) -> dict[str, list[TrialRecord]]:
    done = report.points  # a repeated config is one point
    return {
        "Pareto front": sorted(report.front, key=lambda r: r.objective_values[0]),
        "possibly on the front": list(report.possibly),
        "dominated": [r for r in done if r.feasible and not r.on_front and not r.possibly_on_front],
        "infeasible": [r for r in done if not r.feasible],
        # drawn, never ranked: measured on fewer domains than the sweep's (_domains.py)
        NOT_COMPARABLE: report.not_comparable,
    }


def _xy(report: Report, records: list[TrialRecord]) -> tuple[list[float], list[float]]:
    if len(report.settings.objective_names) == 1:
        return [r.number for r in records], [r.objective_values[0] for r in records]
    return [r.objective_values[0] for r in records], [r.objective_values[1] for r in records]


def _errors(report: Report, records: list[TrialRecord]) -> tuple[Any, Any]:
    """Error bars of the plotted axes, as ``(minus, plus)`` lists per axis, from each trial's 95% interval
    (zero where a trial has none); ``None`` for an axis with no interval at all."""
    names = report.settings.objective_names
    axes = [None, names[0]] if len(names) == 1 else [names[0], names[1]]
    out: list[tuple[list[float], list[float]] | None] = []
    for name in axes:
        if name is None or not any(name in r.intervals for r in records):
            out.append(None)
            continue
        k = names.index(name)
        # clipped at 0: a value outside its interval (e.g. confirmed apart from it) draws no bar, not a crash
        minus = [max(0.0, r.objective_values[k] - r.interval(name, r.objective_values[k])[0]) for r in records]
        plus = [max(0.0, r.interval(name, r.objective_values[k])[1] - r.objective_values[k]) for r in records]
        out.append((minus, plus))
    return out[0], out[1]


def _labels(report: Report) -> tuple[str, str]:
    s = report.settings
    how = measured_by([r for r in report.records if r.values is not None])
    if len(s.objective_names) == 1:
        return "trial number [-]", axis_title(s.objective_names[0], s.directions[0], how)
    return (
        axis_title(s.objective_names[0], s.directions[0], how),
        axis_title(s.objective_names[1], s.directions[1], how),
    )


def empty_note(report: Report) -> str | None:
    """What the figure says when it has no point: else an empty frame (axes 0 to 1) reads as a broken plot.

    Example:
        >>> from ecopt_lightning.sweeper._schema import ReportSettings
        >>> from ecopt_lightning.sweeper._sweep_report import build_report
        >>> empty_note(build_report("s", [], ReportSettings.default(["acc"], ["maximize"])))
        'no complete trial to plot (the study has no trial)'
    """
    if report.points:
        return None
    if report.not_comparable:  # drawn, never ranked
        return report.no_front_text()
    states = ", ".join(f"{n} {state}" for state, n in report.states.items()) or "the study has no trial"
    return f"no complete trial to plot ({states})"


def _title(report: Report) -> str:
    extra = "" if len(report.settings.objective_names) <= 2 else " (first two of the objectives shown)"
    return f"ecopt study {report.study_name}: {len(report.front)} Pareto-optimal trial(s){extra}"


def write_png(report: Report, path: Path) -> None:
    """The front as a PNG (matplotlib's Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = figure(report)
    assert isinstance(fig, Figure)
    fig.savefig(path, dpi=120, format="png")


#: characters per line of the PNG's axis titles (at matplotlib's default 10 pt, on the 7.5 x 5 inch figure)
_X_LABEL_CHARS, _Y_LABEL_CHARS = 90, 55


def figure(report: Report) -> Any:
    """The matplotlib figure of :func:`write_png` (also logged to TensorBoard)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.subplots()
    styles: dict[str, dict[str, Any]] = {
        "dominated": {"marker": "o", "color": "0.6", "alpha": 0.6, "linestyle": "none"},
        "possibly on the front": {"marker": "o", "color": "tab:cyan", "linestyle": "none", "fillstyle": "none"},
        "infeasible": {"marker": "x", "color": "tab:red", "linestyle": "none"},
        NOT_COMPARABLE: {"marker": "s", "color": "0.4", "linestyle": "none", "fillstyle": "none"},
        "Pareto front": {"marker": "o", "color": "tab:blue", "linestyle": "-" if report.knee else "none"},
    }
    for name, records in _groups(report).items():
        if records:
            x, y = _xy(report, records)
            ax.plot(x, y, label=f"{name} ({len(records)})", **styles[name])
            xerr, yerr = _errors(report, records)
            if xerr is not None or yerr is not None:
                color = styles[name]["color"]
                ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor=color, alpha=0.5, capsize=2)
    if report.knee is not None:
        x, y = _xy(report, [report.knee])
        ax.plot(x, y, marker="*", markersize=16, color="tab:orange", linestyle="none", label="knee")
    _mark_trials(ax, report)
    note = empty_note(report)
    if note is not None:
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", color="0.3")
    xlabel, ylabel = _labels(report)
    # a title that names the metric, unit and source outgrows the figure's 5 inch height: wrapped to fit
    ax.set_xlabel(textwrap.fill(xlabel, _X_LABEL_CHARS, break_long_words=False))
    ax.set_ylabel(textwrap.fill(ylabel, _Y_LABEL_CHARS, break_long_words=False))
    ax.set_title(_title(report), fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig


#: the plotly.js file the HTML loads, beside it (one per sweep dir, shared by every HTML written there)
PLOTLY_JS = "plotly.min.js"


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)


def shared_plotly_js(out_dir: Path) -> Path:
    """``out_dir/plotly.min.js``: a link to the plotly package's own copy (a copy where links are not allowed),
    so the HTML opens offline without 4.6 MB of plotly.js inside each file."""
    import plotly

    bundle = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    target = out_dir / PLOTLY_JS
    if target.exists():  # a dangling link (the environment moved) does not exist: made again below
        return target
    target.unlink(missing_ok=True)
    try:
        target.symlink_to(bundle)
    except OSError:
        # atomically: a copy cut short must not stand as the file, which is made only when missing
        atomic_write(target, functools.partial(_copy, bundle))
    return target


def write_html(report: Report, path: Path) -> None:
    """The front as interactive HTML; plotly.js is loaded from ``plotly.min.js`` beside it (offline, no CDN)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    styles = {
        "dominated": {"mode": "markers", "marker": {"color": "lightgray", "size": 8}},
        "possibly on the front": {"mode": "markers", "marker": {"color": "darkturquoise", "size": 9}},
        "infeasible": {"mode": "markers", "marker": {"color": "crimson", "symbol": "x", "size": 9}},
        NOT_COMPARABLE: {"mode": "markers", "marker": {"color": "dimgray", "symbol": "square-open", "size": 9}},
        "Pareto front": {"mode": "lines+markers", "marker": {"color": "royalblue", "size": 10}},
    }
    for name, records in _groups(report).items():
        if records:
            x, y = _xy(report, records)
            hover = [hover_text(report, r) for r in records]
            xerr, yerr = _errors(report, records)
            bars = {
                key: {"type": "data", "symmetric": False, "array": err[1], "arrayminus": err[0], "thickness": 1}
                for key, err in (("error_x", xerr), ("error_y", yerr))
                if err is not None
            }
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, name=f"{name} ({len(records)})", text=hover, hoverinfo="text+x+y", **bars, **styles[name]
                )
            )
    if report.knee is not None:
        x, y = _xy(report, [report.knee])
        fig.add_trace(
            go.Scatter(x=x, y=y, name="knee", mode="markers", marker={"symbol": "star", "size": 18, "color": "orange"})
        )
    _mark_trials_html(fig, report)
    note = empty_note(report)
    if note is not None:
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False)
    xlabel, ylabel = _labels(report)
    fig.update_layout(title=_title(report), xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white")
    shared_plotly_js(path.parent)
    fig.write_html(str(path), include_plotlyjs=PLOTLY_JS, full_html=True)
