"""Noise as a first-class quantity in the sweeper: contended and imprecise trials are marked degraded, the
front carries intervals, the knee is robust, the payback says when there is no measurable saving."""

from __future__ import annotations

import json

from ecopt_lightning.sweeper._jobinfo import read_job


def test_a_contended_or_imprecise_benchmark_marks_the_trial_degraded(tmp_path):
    inference = {
        "contended": True,
        "contention": {"foreign_cores": 1.6, "cores": 2, "compute_threads": 2, "free_cores": 0.4},
        "rel_precision": 0.05,
        "converged": False,
        "rel_halfwidth": 0.31,
        "repeats": 50,
        "stop_reason": "max_repeats",
    }
    summary = {"total_J": 3.0, "sources": {"gpu:0": "nvml_counter"}, "inference": inference}
    (tmp_path / "energy_summary.json").write_text(json.dumps(summary))
    reasons = read_job(str(tmp_path)).degraded
    assert reasons == [
        "contended: other processes kept 1.60 of 2 cores busy during the inference benchmark "
        "(2 compute threads on 0.40 free cores)",
        "imprecise: inference energy per sample known to +-31% after 50 repeats (target +-5%, stopped at max_repeats)",
    ]
    # repeats that shifted in level say so; a malformed runs test in a hand-edited file is left out, not a crash
    inference.update(contended=False, level_shifts=True, runs_test={"runs": 4, "expected": 26.0, "p": 1e-6})
    (tmp_path / "energy_summary.json").write_text(json.dumps(summary))
    assert read_job(str(tmp_path)).degraded == [
        "imprecise: inference energy per sample known to +-31% after 50 repeats (target +-5%, stopped at max_repeats)"
        "; the repeats shifted in level (4 runs about their median, 26.0 for independent repeats, p=1e-06), so the "
        "interval is their range"
    ]
    inference.update(runs_test={"runs": "many"})
    (tmp_path / "energy_summary.json").write_text(json.dumps(summary))
    assert read_job(str(tmp_path)).degraded == [reasons[-1]]
    inference.update(contended=False, converged=True)
    (tmp_path / "energy_summary.json").write_text(json.dumps(summary))
    assert read_job(str(tmp_path)).degraded == []


def _study(rows):
    """A study of (loss, energy, energy interval) trials, both minimised, as the sweeper stores them."""
    import optuna

    study = optuna.create_study(directions=["minimize", "minimize"])
    for loss, energy, (lo, hi) in rows:
        attrs = {"loss": loss, "energy": energy, "energy_ci_lo": lo, "energy_ci_hi": hi}
        study.add_trial(optuna.trial.create_trial(values=[loss, energy], user_attrs=attrs))
    return study


# trial: (loss, energy, energy's 95% interval); loss has no interval
HAND = [
    (0.5, 0.5, (0.4, 0.6)),  # 0: on the front, but 1's interval may beat it (loss 0.4 <= 0.5, 0.5 <= 0.6)
    (0.4, 3.0, (0.5, 5.5)),  # 1: on the front, robust
    (0.0, 10.0, (10.0, 10.0)),  # 2: robust (best loss)
    (2.0, 0.0, (0.0, 0.0)),  # 3: robust (best energy)
    (0.6, 2.0, (0.3, 3.7)),  # 4: dominated by 0's median, but 0's upper end 0.6 > 4's lower end 0.3: possibly
    (1.5, 8.0, (8.0, 8.0)),  # 5: beaten by 0 even at the ends of both intervals
]


def test_the_front_with_intervals_matches_the_hand_computed_statuses_and_robust_knee():
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    report = build_report(
        "hand", _study(HAND).get_trials(), ReportSettings.default(["loss", "energy"], ["minimize"] * 2)
    )
    status = {r.number: r.front_status for r in report.records}
    assert status == {
        0: "on the front",
        1: "on the front (robust)",
        2: "on the front (robust)",
        3: "on the front (robust)",
        4: "possibly on the front",
        5: "dominated",
    }
    assert [r.number for r in report.front] == [0, 1, 2, 3] and [r.number for r in report.possibly] == [4]
    # scaled to [0, 1] over loss 0..2 and energy 0..10: trial 0 is nearest the ideal (0.255) but not robust;
    # among robust members trial 1 is (0.2, 0.3) -> 0.36, trials 2 and 3 are 1.0 away
    assert report.knee is not None and report.knee.number == 1
    assert report.records[0].intervals == {"energy": (0.4, 0.6)}


def test_a_maximised_objective_flips_its_interval_and_points_without_intervals_are_plain_dominance():
    import optuna

    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, (lo, hi), e in [(0.90, (0.85, 0.95), 1.0), (0.88, (0.80, 0.89), 0.9), (0.70, (0.69, 0.71), 2.0)]:
        attrs = {"acc": acc, "acc_ci_lo": lo, "acc_ci_hi": hi, "e": e}
        study.add_trial(optuna.trial.create_trial(values=[acc, e], user_attrs=attrs))
    study.add_trial(optuna.trial.create_trial(values=[0.6, 3.0], user_attrs={"acc": 0.6, "e": 3.0}))
    report = build_report("max", study.get_trials(), ReportSettings.default(["acc", "e"], ["maximize", "minimize"]))
    # 1 has less energy, 0 more accuracy: both on the front; 0's accuracy 0.85..0.95 overlaps 1's 0.80..0.89 but
    # 1 cannot beat 0 in both (its best energy 0.9 < 1.0 and best accuracy 0.89 < 0.95 worst-case of 0 is 0.85):
    # lows of 1 in minimisation form (-0.89, 0.9) vs highs of 0 (-0.85, 1.0): -0.89 <= -0.85, 0.9 <= 1.0 -> 0 is
    # beatable; 0's lows (-0.95, 1.0) vs 1's highs (-0.80, 0.9): 1.0 > 0.9 -> 1 is robust
    assert [r.front_status for r in report.records] == [
        "on the front",
        "on the front (robust)",
        "dominated",
        "dominated",
    ]


def test_artifacts_carry_the_intervals_statuses_and_error_bars(tmp_path):
    import csv

    from ecopt_lightning.sweeper._artifacts import write_all
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    report = build_report(
        "hand", _study(HAND).get_trials(), ReportSettings.default(["loss", "energy"], ["minimize"] * 2)
    )
    write_all(report, tmp_path)
    front = json.loads((tmp_path / "pareto_front.json").read_text())
    assert [row["trial"] for row in front["possibly_on_front"]] == [4]
    row0 = front["trials"][0]
    assert row0["intervals"] == {"energy": [0.4, 0.6]} and row0["front_status"] == "on the front"
    assert [row["knee"] for row in front["trials"]] == [False, True, False, False]
    with open(tmp_path / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["front_status"] for r in rows][4] == "possibly on the front"
    assert (rows[1]["energy_ci_lo"], rows[1]["energy_ci_hi"]) == ("0.5", "5.5")
    assert "loss_ci_lo" not in rows[0]  # no trial gave the loss an interval
    with open(tmp_path / "pareto_front.csv") as f:
        assert next(csv.DictReader(f))["energy_ci_hi"] == "0.6"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pareto_front_robust"] == [1, 2, 3] and summary["possibly_on_front"] == [4]
    html = (tmp_path / "pareto_front.html").read_text()
    assert "energy: 95% interval [0.4, 0.6]" in html and '"arrayminus"' in html
    assert (tmp_path / "pareto_front.png").stat().st_size > 0
    from ecopt_lightning.sweeper._plots import figure

    bars = [c for c in figure(report).axes[0].containers if type(c).__name__ == "ErrorbarContainer"]
    assert bars  # the PNG draws the energy intervals as error bars


def test_the_logged_front_table_shows_intervals_robustness_and_the_possible_members():
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report
    from ecopt_lightning.sweeper._sweeper import front_table

    report = build_report(
        "hand", _study(HAND).get_trials(), ReportSettings.default(["loss", "energy"], ["minimize"] * 2)
    )
    lines = front_table(report)
    assert lines[0] == "Pareto front (* = knee):"
    assert any(line.startswith("1*     0.4   3 [0.5, 5.5]") for line in lines)
    assert any(line.startswith("0~     0.5   0.5 [0.4, 0.6]") for line in lines)
    assert lines[-1].endswith("trials that dominate them): 4")


def test_summary_lists_contended_and_unconverged_trials(tmp_path):
    import optuna

    from ecopt_lightning.sweeper._artifacts import summary
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    study = optuna.create_study(directions=["minimize"])
    for contended, converged in [(1.0, 1.0), (0.0, 0.0), (0.0, 1.0)]:
        attrs = {"e": 1.0, "energy/inference_contended": contended, "energy/inference_converged": converged}
        study.add_trial(optuna.trial.create_trial(values=[1.0], user_attrs=attrs))
    s = summary(build_report("q", study.get_trials(), ReportSettings.default(["e"], ["minimize"])))
    assert s["measurement_quality"]["contended"] == [0] and s["measurement_quality"]["not_converged"] == [1]


def test_the_sweep_says_which_trials_were_contended_or_imprecise():
    import optuna

    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report
    from ecopt_lightning.sweeper._sweeper import measurement_quality

    study = optuna.create_study(directions=["minimize"])
    for contended, converged in [(1.0, 1.0), (0.0, 0.0), (0.0, 1.0)]:
        attrs = {"e": 1.0, "energy/inference_contended": contended, "energy/inference_converged": converged}
        study.add_trial(optuna.trial.create_trial(values=[1.0], user_attrs=attrs))
    line = measurement_quality(build_report("q", study.get_trials(), ReportSettings.default(["e"], ["minimize"])))
    assert line is not None and "(contended: [0])" in line and "(not converged: [1])" in line
    # only one kind: the other is not named with an empty list (first-hour audit: "(not converged: [])")
    loose = optuna.create_study(directions=["minimize"])
    loose.add_trial(optuna.trial.create_trial(values=[1.0], user_attrs={"e": 1.0, "energy/inference_contended": 1.0}))
    line = measurement_quality(build_report("q", loose.get_trials(), ReportSettings.default(["e"], ["minimize"])))
    assert line is not None and "(contended: [0])" in line and "converged" not in line and "[]" not in line
    quiet = optuna.create_study(directions=["minimize"])
    quiet.add_trial(optuna.trial.create_trial(values=[1.0], user_attrs={"e": 1.0}))
    assert (
        measurement_quality(build_report("q", quiet.get_trials(), ReportSettings.default(["e"], ["minimize"]))) is None
    )


def test_a_contended_training_marks_the_trial_degraded(tmp_path):
    phases = {
        "train": {"energy_J": 5.0, "contended": True, "contended_fraction": 0.25, "foreign_cores": 0.8},
        "val": {"energy_J": 1.0, "contended": False, "contended_fraction": 0.0, "foreign_cores": 0.1},
    }
    (tmp_path / "energy_summary.json").write_text(json.dumps({"total_J": 6.0, "phases": phases}))
    assert read_job(str(tmp_path)).degraded == [
        "contended: other processes kept 0.80 cores busy on average during train (25% of the time in windows "
        "contended on their own)"
    ]


def test_a_phase_contended_by_its_average_alone_does_not_say_0_percent_in_contended_windows(tmp_path):
    """Regression (first-hour audit): 'kept 0.83 cores busy on average (0% of the time in contended windows)'."""
    phases = {"train": {"energy_J": 5.0, "contended": True, "contended_fraction": 0.0, "foreign_cores": 0.83}}
    (tmp_path / "energy_summary.json").write_text(json.dumps({"total_J": 5.0, "phases": phases}))
    assert read_job(str(tmp_path)).degraded == [
        "contended: other processes kept 0.83 cores busy on average during train (over the phase as a whole; no "
        "window was contended on its own)"
    ]


def test_summary_lists_trials_whose_training_was_contended():
    import optuna

    from ecopt_lightning.sweeper._artifacts import summary
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    study = optuna.create_study(directions=["minimize"])
    for flag in (0.0, 1.0):
        study.add_trial(optuna.trial.create_trial(values=[1.0], user_attrs={"e": 1.0, "energy/train_contended": flag}))
    s = summary(build_report("q", study.get_trials(), ReportSettings.default(["e"], ["minimize"])))
    assert s["measurement_quality"]["contended_training"] == [1]


def test_the_best_trial_per_objective_names_the_trials_its_interval_cannot_tell_apart(tmp_path):
    """Regression (reports audit, 2026-11-29): summary.json's ``best_per_objective`` named the trial with the least
    median energy as the best, with no interval and no word that another trial's interval overlapped its own: the
    ranking read as settled where the measurement could not separate them."""
    from ecopt_lightning.sweeper._artifacts import write_all
    from ecopt_lightning.sweeper._records import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    rows = [(0.5, 0.5, (0.4, 0.6)), (0.4, 0.7, (0.55, 0.9)), (0.3, 2.0, (1.5, 2.5)), (0.3, 2.2, (2.0, 2.4))]
    report = build_report("s", _study(rows).get_trials(), ReportSettings(["loss", "energy"], ["minimize", "minimize"]))
    write_all(report, tmp_path, figures=False)
    best = json.loads((tmp_path / "summary.json").read_text())["best_per_objective"]
    assert best["energy"] == {
        "trial": 0, "value": 0.5, "interval": [0.4, 0.6], "params": {}, "not_separable_from": [1]
    }  # fmt: skip
    # no interval on loss: only an equal value cannot be told apart
    assert best["loss"] == {"trial": 2, "value": 0.3, "interval": None, "params": {}, "not_separable_from": [3]}


def test_a_summarys_estimated_share_that_is_no_share_is_not_printed(tmp_path):
    """Regression (reports audit, 2026-11-29): an energy_summary.json whose estimated_fraction read NaN (edited by
    hand) gave the degraded reason 'cpu:0: estimated from CPU time (nan% of the energy is estimated)' in trials.csv
    and summary.json."""
    (tmp_path / "energy_summary.json").write_text(
        '{"total_J": 6.0, "estimated_fraction": NaN, "sources": {"cpu:0": "estimate"}}'
    )
    assert read_job(str(tmp_path)).degraded == ["cpu:0: estimated from CPU time"]


def test_a_summary_that_is_json_but_no_object_is_unreadable_not_a_crash(tmp_path):
    """Regression (H1's audit, stop 34): an energy_summary.json of ``[]`` or ``null`` (valid JSON, not an object)
    raised AttributeError out of read_job, and with it out of the sweep's storing of the job's result."""
    from ecopt_lightning.sweeper._energy_report import _trial_summary
    from ecopt_lightning.sweeper._records import TrialRecord

    for text in ("[]", "null", "3"):
        (tmp_path / "energy_summary.json").write_text(text)
        info = read_job(str(tmp_path))
        assert info.energy_J is None and info.degraded == ["energy_summary.json unreadable: JSON, but not an object"]
        record = TrialRecord(0, "COMPLETE", [1.0], {}, [], {}, {}, True, None, None, None, str(tmp_path), None, None)
        assert _trial_summary(record) is None
