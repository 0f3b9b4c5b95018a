"""A config measured in several trials of one sweep is one point of the front: its repeats pooled into one
median and one 95% interval, in the front's files, the plots, the knee and the payback; every trial stays in
trials.csv, naming its group."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import optuna
import pytest

from ecopt_lightning.intervals import median_interval, repeats_interval
from ecopt_lightning.sweeper._artifacts import write_all
from ecopt_lightning.sweeper._plots import hover_text
from ecopt_lightning.sweeper._records import ReportSettings, TrialRecord
from ecopt_lightning.sweeper._schema import BASELINE_ATTR, PER_REPEAT_ATTR
from ecopt_lightning.sweeper._sweep_report import build_report

from .conftest import load_study

E = "energy/inference_per_sample_J"
SETTINGS = ReportSettings.default(["val_acc", E], ["maximize", "minimize"])


def _trial(width: int, acc: float, repeats: list[float], baseline: bool = False) -> optuna.trial.FrozenTrial:
    lo_hi = median_interval(repeats)
    attrs = {"val_acc": acc, E: statistics.median(repeats), PER_REPEAT_ATTR: repeats}
    if lo_hi is not None:
        attrs[E + "_ci_lo"], attrs[E + "_ci_hi"] = lo_hi
    if baseline:
        attrs[BASELINE_ATTR] = True
    return optuna.trial.create_trial(
        params={"width": width},
        distributions={"width": optuna.distributions.CategoricalDistribution([8, 16, 32])},
        values=[acc, statistics.median(repeats)],
        user_attrs=attrs,
    )


def _study(rows) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for row in rows:
        study.add_trial(_trial(*row))
    return study


# trial: (width, accuracy, per-repeat J/sample); width 16 runs in trials 0 (the baseline) and 2
HAND = [
    (16, 0.90, [2.0, 2.1, 2.2, 2.3, 2.4, 2.5], True),
    (8, 0.80, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    (16, 0.92, [3.0, 3.1, 3.2, 3.3, 3.4, 3.5]),
    (32, 0.85, [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]),
]


def test_a_repeated_config_is_one_point_with_its_repeats_pooled_hand_computed():
    report = build_report("hand", _study(HAND).get_trials(), SETTINGS)
    pooled = sorted([2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5])
    # 12 repeats: median (2.5 + 3.0) / 2; as if independent, the 95% interval of the median would be
    # (x_(3), x_(10)) = (2.2, 3.3). But in trial order the two trials read two levels (2 runs about the median where
    # independent repeats give 7, p = 0.002): the interval is their range, which holds both trials' readings
    assert median_interval(pooled) == (2.2, 3.3)
    assert repeats_interval([2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5])[0] == (2.0, 3.5)
    points = {p.number: p for p in report.points}
    assert sorted(points) == [0, 1, 3]  # trial 2 is no point of its own
    merged = points[0]
    assert merged.merged_trials == [0, 2]
    assert merged.values == [pytest.approx(0.91), pytest.approx(2.75)]
    # val_acc: two values and no interval of either: their range is no 95% interval, so none is claimed
    assert merged.intervals == {E: (2.0, 3.5)}
    assert merged.energy_per_sample_J == pytest.approx(2.75) and merged.energy_per_sample_interval == (2.0, 3.5)
    # the front over the points: 8 (cheapest) and 16 (most accurate); 32 is dominated by 16's pooled point
    assert [r.number for r in report.front] == [0, 1]
    assert points[3].front_status == "dominated"
    # each trial keeps its own values, and names its group
    by_number = {r.number: r for r in report.records}
    assert [by_number[n].config_group for n in range(4)] == [0, None, 0, None]
    assert by_number[2].values == [0.92, 3.25] and by_number[2].front_status == merged.front_status
    # the payback compares the baseline's pooled point, not trial 0 alone
    assert report.impact["baseline_trial"] == 0
    assert report.impact["baseline_J_per_inference"] == pytest.approx(2.75)
    assert report.impact["baseline_interval_J"] == (2.0, 3.5)


def test_naming_a_merged_trial_as_chosen_or_baseline_means_its_point():
    report = build_report("hand", _study(HAND).get_trials(), SETTINGS, baseline=2, chosen=1)
    assert report.impact["baseline_trial"] == 0 and report.impact["chosen_trial"] == 1
    assert report.impact["baseline_J_per_inference"] == pytest.approx(2.75)


def test_without_stored_repeats_the_point_takes_the_median_and_spans_the_members():
    study = optuna.create_study(directions=["maximize", "minimize"])
    dist = {"width": optuna.distributions.CategoricalDistribution([8, 16])}
    for acc, e, (lo, hi) in [(0.9, 2.0, (1.5, 2.5)), (0.9, 4.0, (3.0, 6.0)), (0.9, 3.0, (2.9, 3.1))]:
        attrs = {"val_acc": acc, E: e, E + "_ci_lo": lo, E + "_ci_hi": hi}
        study.add_trial(
            optuna.trial.create_trial(params={"width": 16}, distributions=dist, values=[acc, e], user_attrs=attrs)
        )
    [point] = build_report("s", study.get_trials(), SETTINGS).points
    assert point.merged_trials == [0, 1, 2]
    assert point.values == [0.9, 3.0] and point.intervals == {E: (1.5, 6.0)}  # val_acc: no member has one


def test_trials_without_parameters_are_never_merged():
    study = optuna.create_study(directions=["minimize"])
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(values=[1.0], user_attrs={"e": 1.0}))
    report = build_report("s", study.get_trials(), ReportSettings.default(["e"], ["minimize"]))
    assert [p.number for p in report.points] == [0, 1] and all(p.merged_trials is None for p in report.points)


def test_the_artifacts_show_one_point_per_config_and_every_trial_with_its_group(tmp_path: Path):
    report = build_report("hand", _study(HAND).get_trials(), SETTINGS)
    write_all(report, tmp_path, figures=False)
    front = json.loads((tmp_path / "pareto_front.json").read_text())["trials"]
    assert [(row["trial"], row["merged_trials"]) for row in front] == [(0, [0, 2]), (1, None)]
    assert front[0]["objectives"][E] == pytest.approx(2.75) and front[0]["intervals"][E] == [2.0, 3.5]
    with open(tmp_path / "pareto_front.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["trial"], r["merged_trials"]) for r in rows] == [("0", "0 2"), ("1", "")]
    assert float(rows[0][E]) == pytest.approx(2.75) and float(rows[0][E + "_ci_lo"]) == 2.0
    with open(tmp_path / "trials.csv") as f:
        trials = list(csv.DictReader(f))
    assert [(r["trial"], r["config_group"]) for r in trials] == [("0", "0"), ("1", ""), ("2", "0"), ("3", "")]
    assert float(trials[2][E]) == 3.25  # the trial's own measurement is kept
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["repeated_configs"]["points"] == {"0": [0, 2]}
    assert summary["pareto_front_size"] == 2
    assert "trials 0, 2" in hover_text(report, report.front[0])


def test_a_config_whose_trials_stored_no_repeats_is_not_said_to_pool_them(tmp_path: Path):
    """Regression (reports audit, 2026-11-29): a config run twice by an app that stores no benchmark repeats (the
    point is the median of its trials' values) read 'one config run in trials 0, 1, their repeats pooled' in
    energy_report.md and the HTML hover: there were no repeats to pool."""
    from ecopt_lightning.sweeper._energy_report import render

    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, energy in [(0.9, 2.0), (0.9, 2.2)]:
        study.add_trial(
            optuna.trial.create_trial(
                params={"width": 16},
                distributions={"width": optuna.distributions.CategoricalDistribution([8, 16])},
                values=[acc, energy],
                user_attrs={"val_acc": acc, E: energy},
            )
        )
    report = build_report("s", study.get_trials(), SETTINGS)
    said = "one config run in trials 0, 1, the median of their values (not every trial stored its benchmark repeats)"
    # Regression (stop 34): the range of the two values (2.0 to 2.2) followed as its '95% interval', and the
    # console, the payback and trials.csv's _ci_lo/_ci_hi columns called it one too: no member has an interval
    assert f"- Inference energy: 2.1 J per sample ({said}), " in render(report)
    assert report.front[0].intervals == {} and report.front[0].energy_per_sample_interval is None
    assert said in hover_text(report, report.front[0]).split("<br>")
    assert "pooled" not in render(report) + hover_text(report, report.front[0])


def test_a_real_sweep_that_runs_a_config_twice_shows_it_once_with_pooled_repeats(multirun, tmp_path: Path):
    sweep = tmp_path / "sweep"
    # the baseline (width 16) and two sampled trials over 2 widths: some width runs twice, by construction
    multirun("width=choice(8,16)", "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=3", "repeats=6")
    trials = load_study(sweep).trials
    assert len(trials) == 3 and len({t.params["width"] for t in trials}) < 3
    groups: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        groups.setdefault(t.params["width"], []).append(t)
    front = json.loads((sweep / "pareto_front.json").read_text())["trials"]
    assert len(front) == len(groups)  # one point per config (8 is cheaper, 16 more accurate)
    for members in groups.values():
        numbers = [t.number for t in members]
        [row] = [row for row in front if row["trial"] == numbers[0]]
        pooled = [v for t in members for v in t.user_attrs[PER_REPEAT_ATTR]]
        assert len(pooled) == 6 * len(members)  # each job's benchmark repeats were stored on its trial
        assert row["objectives"][E] == pytest.approx(statistics.median(pooled))
        assert row["merged_trials"] == (numbers if len(numbers) > 1 else None)
        if len(members) > 1:  # (the toy reports no interval of its own: a single trial has none)
            assert row["intervals"][E] == pytest.approx(list(repeats_interval(pooled)[0]))
    with open(sweep / "trials.csv") as f:
        rows = {int(r["trial"]): r for r in csv.DictReader(f)}
    for members in groups.values():
        for t in members:
            expect = str(members[0].number) if len(members) > 1 else ""
            assert rows[t.number]["config_group"] == expect
            assert float(rows[t.number][E]) == pytest.approx(t.values[1])
    summary = json.loads((sweep / "summary.json").read_text())
    merged = {str(m[0].number): [t.number for t in m] for m in groups.values() if len(m) > 1}
    assert summary["repeated_configs"]["points"] == merged and merged


def test_a_constraint_some_trials_of_a_config_lack_is_judged_on_those_that_have_it():
    """Regression (H3's audit, stop 34): merging a config's trials read a constraint a member lacked (a study resumed
    with another constraint) as 0.0, met, so two such members made a broken constraint's median 0 and the point
    feasible; and a constraint the first member lacked was not judged at all."""
    from ecopt_lightning.sweeper._repeats import merge_repeats
    from ecopt_lightning.sweeper._schema import ReportSettings

    def rec(n: int, constraints: dict[str, float]) -> TrialRecord:
        return TrialRecord(
            n, "COMPLETE", [0.9, 2.0], {"w": 8}, [], {"e": 2.0}, constraints, True, None, None, None, None, 2.0, 0.5
        )

    settings = ReportSettings(["acc", "e"], ["maximize", "minimize"], energy_per_sample_metric="e")
    for members in ([rec(0, {"params<=10": 0.5}), rec(1, {}), rec(2, {})], [rec(0, {}), rec(1, {"params<=10": 0.5})]):
        [point] = merge_repeats(members, settings)
        assert point.constraints == {"params<=10": 0.5} and not point.feasible


def test_a_trial_of_a_repeated_config_that_breaks_what_its_point_meets_says_both_apart_in_trials_csv(tmp_path: Path):
    """Regression (reports audit, defect 1): a config run twice, at 1.9 J and 2.1 J per sample against
    `<= 2`, is one point at the median 2.0 J, feasible and on the front; trials.csv's row of the 2.1 J trial said
    feasible=False beside on_front=True. The trial's own feasibility stays `feasible` (as its violation column);
    its point's is `point_feasible` and `point_on_front`."""
    constraint = f"{E} <= 2"
    settings = ReportSettings(["val_acc", E], ["maximize", "minimize"], [constraint])
    study = _study([(16, 0.9, [1.9] * 6), (16, 0.9, [2.1] * 6), (8, 0.5, [3.0] * 6)])
    write_all(build_report("hand", study.get_trials(), settings), tmp_path, figures=False)
    with open(tmp_path / "trials.csv", newline="") as f:
        rows = {int(r["trial"]): r for r in csv.DictReader(f)}
    assert "on_front" not in rows[0]
    columns = ("feasible", "point_feasible", "point_on_front", "config_group", f"violation:{constraint}")
    got = {n: tuple(rows[n][c] for c in columns) for n in rows}
    assert got[0][:4] == ("True", "True", "True", "0") and float(got[0][4]) == pytest.approx(-0.1)
    assert got[1][:4] == ("False", "True", "True", "0") and float(got[1][4]) == pytest.approx(0.1)
    assert got[2][:4] == ("False", "False", "False", "")  # a config of its own: its point is itself


def test_optimization_results_names_optunas_best_trial_and_keeps_the_merged_point_under_its_own_key(tmp_path: Path):
    """Regression (reports audit, defect 3): with one objective, optimization_results.yaml's best_value was a
    repeated config's median, or another config's value, never what Optuna's study.best_trial says: the config
    w=1 run at 0.1 and 0.5 (median 0.3) lost to w=2 at 0.2, so best_params said w=2 while study.best_trial is
    trial 0, w=1 at 0.1. The official keys now mean what they mean in hydra-optuna-sweeper; the merged points are
    ecopt_front."""
    from omegaconf import OmegaConf

    from ecopt_lightning.sweeper._artifacts import write_optimization_results

    dist = {"w": optuna.distributions.CategoricalDistribution([1, 2])}
    study = optuna.create_study(direction="minimize")
    for w, loss in [(1, 0.1), (1, 0.5), (2, 0.2)]:
        study.add_trial(optuna.trial.create_trial(params={"w": w}, distributions=dist, values=[loss]))
    report = build_report("one", study.get_trials(), ReportSettings(["loss"], ["minimize"]))
    results = OmegaConf.to_container(OmegaConf.load(write_optimization_results(report, tmp_path)))
    assert (results["best_params"], results["best_value"]) == (study.best_trial.params, study.best_trial.value)
    assert results["ecopt_front"] == [{"trial": 2, "merged_trials": [2], "params": {"w": 2}, "values": [0.2]}]

    two = _study(HAND)  # width 16 run in trials 0 and 2: Optuna's best_trials hold each trial as it is
    report = build_report("two", two.get_trials(), SETTINGS)
    results = OmegaConf.to_container(OmegaConf.load(write_optimization_results(report, tmp_path)))
    assert sorted(map(tuple, (s["values"] for s in results["solutions"]))) == sorted(
        tuple(t.values) for t in two.best_trials
    )
    assert [p["merged_trials"] for p in results["ecopt_front"]] == [[0, 2], [1]]
