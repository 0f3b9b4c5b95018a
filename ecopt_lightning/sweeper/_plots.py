"""Pareto front figures: a PNG (matplotlib, Agg) and an interactive HTML (plotly; plotly.min.js beside it).

Both show every finished trial over the first two objectives (one objective: value against trial number):
the feasible front joined by a line, dominated trials faint, infeasible trials as crosses, the knee starred.

Example:
    >>> axis_label("energy/inference_per_sample_J", "minimize")
    'energy/inference_per_sample_J [J] (minimize ↓)'
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ._records import TrialRecord
from ._sweep_report import Report

_UNITS = {"_J": "J", "_kJ": "kJ", "_Wh": "Wh", "_kWh": "kWh", "_W": "W", "_s": "s", "_ms": "ms", "_g": "gCO2e"}


def unit_of(metric: str) -> str:
    """The unit a metric's name ends with (``..._J`` -> J); ``-`` (dimensionless) otherwise."""
    for suffix, unit in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if metric.endswith(suffix):
            return unit
    return "-"


def axis_label(metric: str, direction: str) -> str:
    arrow = "↑" if direction == "maximize" else "↓"
    return f"{metric} [{unit_of(metric)}] ({direction} {arrow})"


def _groups(report: Report) -> dict[str, list[TrialRecord]]:
    done = [r for r in report.records if r.values is not None]
    return {
        "Pareto front": sorted(report.front, key=lambda r: r.values[0]),  # type: ignore[index]
        "possibly on the front": list(report.possibly),
        "dominated": [r for r in done if r.feasible and not r.on_front and not r.possibly_on_front],
        "infeasible": [r for r in done if not r.feasible],
    }


def _xy(report: Report, records: list[TrialRecord]) -> tuple[list[float], list[float]]:
    if len(report.settings.objective_names) == 1:
        return [r.number for r in records], [r.values[0] for r in records]  # type: ignore[index]
    return [r.values[0] for r in records], [r.values[1] for r in records]  # type: ignore[index]


def _errors(report: Report, records: list[TrialRecord]) -> tuple[Any, Any]:
    """Error bars of the plotted axes, as ``(minus, plus)`` lists per axis, from each trial's 95% interval
    (zero where a trial has none); ``None`` for an axis with no interval at all."""
    names = report.settings.objective_names
    axes = [None, names[0]] if len(names) == 1 else [names[0], names[1]]
    out = []
    for name in axes:
        if name is None or not any(name in r.intervals for r in records):
            out.append(None)
            continue
        k = names.index(name)
        minus = [r.values[k] - r.interval(name, r.values[k])[0] for r in records]  # type: ignore[index]
        plus = [r.interval(name, r.values[k])[1] - r.values[k] for r in records]  # type: ignore[index]
        out.append((minus, plus))
    return out[0], out[1]


def _hover(report: Report, r: TrialRecord) -> str:
    parts = [f"trial {r.number} ({r.front_status or r.state})"]
    for name, (lo, hi) in r.intervals.items():
        parts.append(f"{name}: 95% interval [{lo:.4g}, {hi:.4g}]")
    return "<br>".join([*parts, *r.overrides])


def _labels(report: Report) -> tuple[str, str]:
    s = report.settings
    if len(s.objective_names) == 1:
        return "trial number [-]", axis_label(s.objective_names[0], s.directions[0])
    return axis_label(s.objective_names[0], s.directions[0]), axis_label(s.objective_names[1], s.directions[1])


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


def figure(report: Report) -> Any:
    """The matplotlib figure of :func:`write_png` (also logged to TensorBoard)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.subplots()
    styles = {
        "dominated": {"marker": "o", "color": "0.6", "alpha": 0.6, "linestyle": "none"},
        "possibly on the front": {"marker": "o", "color": "tab:cyan", "linestyle": "none", "fillstyle": "none"},
        "infeasible": {"marker": "x", "color": "tab:red", "linestyle": "none"},
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
    xlabel, ylabel = _labels(report)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_title(report), fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig


#: the plotly.js file the HTML loads, beside it (one per sweep dir, shared by every HTML written there)
PLOTLY_JS = "plotly.min.js"


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
        shutil.copyfile(bundle, target)
    return target


def write_html(report: Report, path: Path) -> None:
    """The front as interactive HTML; plotly.js is loaded from ``plotly.min.js`` beside it (offline, no CDN)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    styles = {
        "dominated": {"mode": "markers", "marker": {"color": "lightgray", "size": 8}},
        "possibly on the front": {"mode": "markers", "marker": {"color": "darkturquoise", "size": 9}},
        "infeasible": {"mode": "markers", "marker": {"color": "crimson", "symbol": "x", "size": 9}},
        "Pareto front": {"mode": "lines+markers", "marker": {"color": "royalblue", "size": 10}},
    }
    for name, records in _groups(report).items():
        if records:
            x, y = _xy(report, records)
            hover = [_hover(report, r) for r in records]
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
    xlabel, ylabel = _labels(report)
    fig.update_layout(title=_title(report), xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white")
    shared_plotly_js(path.parent)
    fig.write_html(str(path), include_plotlyjs=PLOTLY_JS, full_html=True)
