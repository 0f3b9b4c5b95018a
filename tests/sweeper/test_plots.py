"""The Pareto plots: front points labelled with trial numbers, the baseline marked, axis titles with unit and
measurement source, the HTML hover with constraint values and sources."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._plots import axis_label, figure, measured_by, write_html
from ecopt_lightning.sweeper._schema import BASELINE_ATTR, CONSTRAINTS_ATTR, SOURCES_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

BOUND = "energy/inference_per_sample_J <= 0.0002"
NAMES = ["val_acc", "energy/inference_per_sample_J"]


def _add(study: optuna.Study, i: int, values: list[float], attrs: dict) -> None:
    """A finished trial with parameter ``w = i``, ``values`` and user attributes ``attrs``."""
    w = {"w": optuna.distributions.FloatDistribution(0, 4)}
    study.add_trial(optuna.trial.create_trial(values=values, params={"w": float(i)}, distributions=w, user_attrs=attrs))


def _report(sources: dict[str, str]):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (acc, per_sample) in enumerate([(0.4277, 0.001986), (0.90, 0.00015), (0.95, 0.00019), (0.85, 0.00018)]):
        attrs = {
            "val_acc": acc,
            "energy/inference_per_sample_J": per_sample,
            "energy/total_J": 10.0,
            CONSTRAINTS_ATTR: {BOUND: per_sample - 0.0002},
            SOURCES_ATTR: sources,
        }
        if i == 0:
            attrs[BASELINE_ATTR] = True
        _add(study, i, [acc, per_sample], attrs)
    settings = ReportSettings(NAMES, ["maximize", "minimize"], constraints=[BOUND])
    return build_report("s", study.get_trials(), settings)


@pytest.mark.parametrize(
    ("sources", "words"),
    [
        ({"cpu:0": "estimate"}, "ESTIMATED from CPU time"),
        ({"gpu:0": "nvml_counter", "cpu:0": "rapl"}, "NVML counter + RAPL"),
        ({"gpu:0": "nvml_counter:whole-GPU", "cpu:0": "estimate"}, "NVML counter + ESTIMATED from CPU time"),
    ],
)
def test_the_energy_axis_names_its_unit_and_how_it_was_measured(sources, words) -> None:
    report = _report(sources)
    assert measured_by(report.records) == words
    fig = figure(report)
    ax = fig.axes[0]
    title = ax.get_ylabel().replace("\n", " ")
    assert title == f"energy/inference_per_sample_J [J per sample, {words}] (minimize ↓)"
    assert ax.get_xlabel() == "val_acc [-] (maximize ↑)"
    # the long title fits the figure (wrapped), not cut at its edge
    fig.draw_without_rendering()  # runs the constrained layout, as savefig does
    for label in (ax.xaxis.label, ax.yaxis.label):
        box = label.get_window_extent()
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1


def test_the_png_labels_the_front_with_trial_numbers_and_marks_the_baseline() -> None:
    report = _report({"cpu:0": "estimate"})
    ax = figure(report).axes[0]
    labels = {t.get_text() for t in ax.texts}
    assert {str(r.number) for r in report.front} <= labels
    assert "0" in labels  # the baseline, off the front (it broke the constraint)
    assert "baseline (trial 0)" in ax.get_legend_handles_labels()[1]


def test_the_html_hover_has_constraint_values_and_sources(tmp_path: Path) -> None:
    report = _report({"cpu:0": "estimate"})
    write_html(report, tmp_path / "front.html")
    html = (tmp_path / "front.html").read_text()
    for escaped, char in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u002f", "/")):  # plotly's JSON escapes
        html = html.replace(escaped, char)
    assert (
        "trial 0 (baseline) (infeasible)<br>energy/inference_per_sample_J <= 0.0002: 0.001986 (broken by 0.00179)"
        in html
    )
    assert "0.00015 (met)" in html
    assert "sources: cpu:0 estimate" in html
    assert "trial 0 (baseline)" in html and "baseline (trial 0)" in html


def test_trials_stored_without_sources_say_it_through_the_estimated_fraction() -> None:
    report = _report({})
    for r in report.records:
        r.metrics["energy/estimated_fraction"] = 1.0
    assert measured_by(report.records) == "ESTIMATED from CPU time"
    report.records[0].metrics["energy/estimated_fraction"] = 0.25
    assert measured_by(report.records) == "measured (sensor not recorded) + ESTIMATED from CPU time"


def test_an_interval_that_misses_its_value_is_dropped_not_drawn_negative() -> None:
    """Regression (first-hour audit, 2026-11-28): a task whose _ci_lo/_ci_hi did not bracket its value made the
    sweep (and ``ecopt report``) end in matplotlib's "'yerr' must not contain negative values"."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (acc, per_sample, lo, hi) in enumerate([(0.9, 2e-4, 3e-4, 4e-4), (0.8, 1e-4, 0.9e-4, 1.1e-4)]):
        attrs = {NAMES[0]: acc, NAMES[1]: per_sample, NAMES[1] + "_ci_lo": lo, NAMES[1] + "_ci_hi": hi}
        _add(study, i, [acc, per_sample], attrs)
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, ["maximize", "minimize"]))
    assert NAMES[1] not in report.records[0].intervals  # 2e-4 outside [3e-4, 4e-4]: no interval
    assert report.records[1].intervals[NAMES[1]] == (0.9e-4, 1.1e-4)
    figure(report).draw_without_rendering()


def test_an_efficiency_axis_reads_samples_per_joule_not_joules() -> None:
    """A maximised ``efficiency/samples_per_J`` beside a minimised objective: its axis named J was the
    inverse of its unit."""
    study = optuna.create_study(directions=["maximize", "maximize", "minimize"])
    for i, (acc, per_joule) in enumerate([(0.8, 100.0), (0.9, 50.0)]):
        attrs = {"energy/total_J": 10.0, SOURCES_ATTR: {"cpu:0": "estimate"}}
        _add(study, i, [acc, per_joule, 1.0 / per_joule], attrs)
    names = ["val_acc", "efficiency/samples_per_J", "energy/inference_per_sample_J"]
    report = build_report("s", study.get_trials(), ReportSettings(names, ["maximize", "maximize", "minimize"]))
    title = figure(report).axes[0].get_ylabel().replace("\n", " ")
    assert title == "efficiency/samples_per_J [samples per J, ESTIMATED from CPU time] (maximize ↑)"


@pytest.mark.parametrize(
    ("objective", "unit"), [("carbon/total_gCO2e", "gCO2e"), ("cost/total_EUR", "EUR"), ("cost/total_USD", "USD")]
)
def test_a_carbon_or_cost_axis_names_its_unit_and_the_energy_behind_it(tmp_path: Path, objective, unit) -> None:
    """Regression (reports audit, 2026-11-29): a ``carbon/total_gCO2e`` or ``cost/total_EUR`` objective's axis read
    ``[-]``, dimensionless, in the PNG, the HTML and the rungs' PNG, and did not say its energy was ESTIMATED."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (acc, value) in enumerate([(0.8, 0.5), (0.9, 0.7)]):
        _add(study, i, [acc, value], {"energy/total_J": 10.0, SOURCES_ATTR: {"cpu:0": "estimate"}})
    report = build_report("s", study.get_trials(), ReportSettings(["val_acc", objective], ["maximize", "minimize"]))
    want = f"{objective} [{unit}, ESTIMATED from CPU time] (minimize ↓)"
    assert figure(report).axes[0].get_ylabel().replace("\n", " ") == want
    write_html(report, tmp_path / "front.html")
    assert f"[{unit}, ESTIMATED from CPU time]" in (tmp_path / "front.html").read_text()  # the title, JSON-escaped
    assert axis_label(objective, "minimize") == f"{objective} [{unit}] (minimize ↓)"


def test_the_hover_of_a_trial_without_a_later_constraints_metric_says_it_is_not_shown_met() -> None:
    """Regression (reports audit, 2026-11-29): a constraint added when the study was resumed, on a metric an earlier
    trial lacks, is NaN for it (not shown met); the HTML hover read 'energy/total_J <= 1: ? (broken by nan)'."""
    from ecopt_lightning.sweeper._plots import hover_text

    study = optuna.create_study(directions=["maximize", "minimize"])
    _add(study, 0, [0.5, 1.0], {})
    report = build_report(
        "s", study.get_trials(), ReportSettings(NAMES, ["maximize", "minimize"], ["energy/total_J <= 1"])
    )
    lines = hover_text(report, report.records[0]).split("<br>")
    assert "energy/total_J <= 1: ? (not shown met: the trial has no energy/total_J)" in lines


def test_a_copy_of_plotly_js_cut_short_does_not_stand_as_the_file(tmp_path: Path) -> None:
    """Where links fail plotly.min.js is copied, and a copy killed midway stayed as the file for good (it is
    made only when missing): the HTML then loaded a truncated plotly.js."""
    import plotly

    from ecopt_lightning.sweeper._plots import shared_plotly_js

    from .conftest import killed_at

    code = (
        "import pathlib, sys\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('links not allowed here')\n"
        "pathlib.Path.symlink_to = refuse\n"
        "from ecopt_lightning.sweeper._plots import shared_plotly_js\n"
        "shared_plotly_js(pathlib.Path(sys.argv[1]))\n"
    )
    killed_at("artifact_write:1", code, str(tmp_path))  # before the move
    assert not (tmp_path / "plotly.min.js").exists()
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert shared_plotly_js(tmp_path).read_bytes() == bundle.read_bytes()


def test_a_figure_without_a_point_says_why(tmp_path: Path) -> None:
    """Every trial failed: the PNG was an empty frame with axes from 0 to 1, and the HTML an empty page."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, ["maximize", "minimize"]))
    said = "no complete trial to plot (2 FAIL)"
    assert [t.get_text() for t in figure(report).axes[0].texts] == [said]
    write_html(report, tmp_path / "front.html")
    assert said in (tmp_path / "front.html").read_text()


def test_the_hover_of_a_three_objective_study_shows_the_third() -> None:
    """The figure shows the first two objectives; the third was nowhere in the HTML."""
    from ecopt_lightning.sweeper._plots import hover_text

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    _add(study, 0, [0.9, 0.001, 12345.0], {})
    settings = ReportSettings([*NAMES, "model/params"], ["maximize", "minimize", "minimize"])
    report = build_report("s", study.get_trials(), settings)
    assert "model/params: 1.234e+04" in hover_text(report, report.records[0]).split("<br>")


def test_the_hover_of_a_repeated_config_says_its_energy_is_per_trial() -> None:
    """A config run in three trials of 1, 2 and 3 J read 'energy 2 J': their median, not what the config cost."""
    from ecopt_lightning.sweeper._plots import hover_text

    study = optuna.create_study(directions=["maximize", "minimize"])
    for joules in (1.0, 2.0, 3.0):
        _add(study, 1, [0.9, 0.001], {"energy/total_J": joules})  # one config: w = 1
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, ["maximize", "minimize"]))
    (point,) = report.points
    assert "energy 2 J per trial (their median)" in hover_text(report, point).split("<br>")
