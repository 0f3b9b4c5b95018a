"""Payback and proxy-check figures of the report, against numbers worked out by hand."""

from __future__ import annotations

from math import ceil

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from ecopt_lightning.cli import impact_lines
from ecopt_lightning.sweeper._energy_report import render
from ecopt_lightning.sweeper._impact import payback_inferences, spearman
from ecopt_lightning.sweeper._schema import ENERGY_ATTR, ENERGY_SOURCE_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report
from tests.sweeper.trials import complete_trial

SETTINGS = ReportSettings(["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"])


def trial(
    number: int,
    acc: float,
    j_per_sample: float,
    params: int,
    flops: float,
    power_W: float,
    total_J: float,
    baseline: bool = False,
):
    return complete_trial(
        number,
        acc,
        j_per_sample,
        **{
            "model/params": params,
            "model/flops_per_sample": flops,
            "power/inference_W": power_W,
            "energy/total_J": total_J,
            **({"ecopt.baseline": True} if baseline else {}),
        },
    )


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.820782, abs=1e-6)
    # ranks x: 1..5; y with a tie: 1, 2, 3.5, 5, 3.5 -> cov 8, vx 10, vy 9.5 -> rho = 8 / sqrt(95)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / 95**0.5)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_payback_by_hand():
    assert payback_inferences(100.0, 0.3) == 334  # ceil(333.33)
    assert payback_inferences(100.0, 0.0) is None
    assert payback_inferences(100.0, -1.0) is None


def test_report_payback_and_proxies():
    trials = [
        # baseline: accurate but costly per inference
        trial(0, 0.95, 0.010, params=9000, flops=18000, power_W=5.0, total_J=40.0, baseline=True),
        trial(1, 0.94, 0.004, params=20000, flops=40000, power_W=8.0, total_J=30.0),
        trial(2, 0.80, 0.002, params=500, flops=1000, power_W=2.0, total_J=20.0),
        trial(3, 0.70, 0.008, params=100, flops=200, power_W=4.0, total_J=10.0),
    ]
    report = build_report("s", trials, SETTINGS, chosen=1)
    imp = report.impact
    assert imp["baseline_trial"] == 0 and imp["chosen_trial"] == 1
    assert imp["tuning_energy_J"] == pytest.approx(100.0)
    assert imp["saved_J_per_inference"] == pytest.approx(0.006)
    assert imp["saved_fraction"] == pytest.approx(0.6)
    assert imp["payback"] == 16667  # ceil(100 / 0.006)
    # J per sample 0.010, 0.004, 0.002, 0.008 -> ranks 4, 2, 1, 3; params ranks 3, 4, 2, 1
    rho = imp["proxy_spearman"]
    assert rho["params"]["spearman"] == pytest.approx(spearman([4, 2, 1, 3], [3, 4, 2, 1]))
    assert rho["params"]["spearman"] == pytest.approx(0.0)
    assert rho["flops_per_sample"]["n_trials"] == 4
    # runtime per sample = J / W: 0.002, 0.0005, 0.001, 0.002
    assert rho["runtime_per_sample_s"]["spearman"] == pytest.approx(
        spearman([0.002, 0.0005, 0.001, 0.002], [0.010, 0.004, 0.002, 0.008])
    )
    text = render(report)
    assert "after 16667 inferences" in text
    assert "Training energy" in text and "Spearman correlation of J per sample with params: 0" in text


def test_a_proxy_correlation_over_too_few_trials_is_not_read_as_a_finding():
    """Regression (reports audit, 2026-11-29): over 3 trials the only possible correlations are -1, -0.5, 0.5 and
    1, and the report gave '-1 over 3 trials' as if the proxy tracked energy perfectly. Below MIN_PROXY_TRIALS (5)
    it says that no value can be told from chance; from 5 trials on the value stands alone."""
    from ecopt_lightning.cli import impact_lines
    from ecopt_lightning.sweeper._impact import MIN_PROXY_TRIALS

    def trials(n: int) -> list:  # J per sample rises as params fall: a perfect -1
        return [trial(i, 0.9, 0.001 * (i + 1), 10 * (n - i), 10 * (n - i), 1.0, 1.0, baseline=i == 0) for i in range(n)]

    few = build_report("s", trials(3), SETTINGS)
    assert few.impact["proxy_spearman"]["params"]["too_few_trials"] is True
    note = ": too few trials to tell (n=3; at least 5 needed, as 2/n! of random orders correlate perfectly)"
    assert f"Spearman correlation of J per sample with params: -1 over 3 trials{note}." in render(few)
    assert f"Spearman(J per sample, params) = -1.00 over 3 trials{note}" in impact_lines(few.impact)
    enough = build_report("s", trials(MIN_PROXY_TRIALS), SETTINGS)
    assert enough.impact["proxy_spearman"]["params"]["too_few_trials"] is False
    assert "Spearman correlation of J per sample with params: -1 over 5 trials." in render(enough)
    assert "too few trials" not in render(enough)


def test_a_proxy_correlation_over_enough_trials_gives_its_95_interval():
    """Over 6 trials whose params ranks are 2, 1, 4, 3, 6, 5 against J per sample ranks 1 to 6, Spearman is
    1 - 6 x 6 / (6 x 35) = 0.829; Fisher's z 1.183 -+ 1.96 x sqrt(1.06 / 3) gives 0.02 to 0.98 (by hand): a
    positive correlation, but not one to call strong."""
    from ecopt_lightning.cli import impact_lines

    params = [2, 1, 4, 3, 6, 5]
    trials = [trial(i, 0.9, 0.001 * (i + 1), params[i], 1.0, 1.0, 1.0, baseline=i == 0) for i in range(6)]
    report = build_report("s", trials, SETTINGS)
    row = report.impact["proxy_spearman"]["params"]
    assert row["spearman"] == pytest.approx(29 / 35)
    assert row["interval_95"] == pytest.approx((0.0184, 0.9819), abs=1e-4)
    said = " (95% interval 0.02 to 0.98, Fisher z)"
    assert f"Spearman correlation of J per sample with params: 0.8286 over 6 trials{said}." in render(report)
    assert f"Spearman(J per sample, params) = +0.83 over 6 trials{said}" in impact_lines(report.impact)


def test_knee_is_the_default_choice_without_a_baseline_and_the_missing_baseline_is_said():
    trials = [trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0), trial(1, 0.8, 0.005, 5, 5, 1.0, 5.0)]
    report = build_report("s", trials, SETTINGS)
    assert report.impact["chosen_trial"] == report.knee.number
    assert report.impact["payback"] is None
    assert report.impact["payback_note"] == "no baseline trial (none flagged, none named)"
    named = build_report("s", trials, SETTINGS, baseline=99)
    assert named.impact["payback_note"] == "no trial 99 in the study to be the baseline"


def test_no_reported_energy_is_unknown_not_zero_and_the_report_says_how_the_trial_was_chosen():
    """Regression (first-hour audit, 2026-11-28): with no trial reporting energy the report said the tuning
    'used 0 J' and 'pays back its 0 J after 0 inferences'; a trial the default rule chose was called 'named'."""
    trials = [trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0, baseline=True), trial(1, 0.95, 0.005, 5, 5, 1.0, 5.0)]
    for t in trials:
        del t.user_attrs["energy/total_J"]
    report = build_report("s", trials, SETTINGS)
    assert not report.energy_reported and report.sweep_energy_text() == "unknown (no trial reported its energy)"
    assert report.impact["tuning_energy_J"] is None and report.impact["payback"] is None
    assert report.impact["payback_note"] == "unknown: no trial reported the energy the tuning spent"
    assert impact_lines(report.impact)[0] == "tuning energy unknown (no trial reported it)"
    text = render(report)
    assert "used an energy no trial reported (unknown, not zero)" in text and "0 J" not in text
    assert "- Trial 1 (the front member with the least energy per sample" in text and "named" not in text
    named = render(build_report("s", trials, SETTINGS, chosen=1))
    assert "- Trial 1 (named by the user" in named


@pytest.mark.parametrize("net_J", [0.0])  # below 0: no energy spent, not counted (the next test)
def test_a_sweep_energy_that_is_not_positive_gives_no_payback(net_J):
    """Regression (reports audit, 2026-11-29): with ``energy_metric`` a net energy (``energy/train_total_net_J``,
    below zero when a trial drew less than the idle power), the report said 'tuning pays back its -40 J after
    -10000 inferences'; at 0 J, 'after 0 inferences'."""
    trials = [trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0, baseline=True), trial(1, 0.95, 0.006, 5, 5, 1.0, 5.0)]
    for t in trials:
        t.user_attrs["energy/train_total_net_J"] = net_J
    settings = ReportSettings(SETTINGS.objective_names, SETTINGS.directions, energy_metric="energy/train_total_net_J")
    report = build_report("s", trials, settings)
    imp = report.impact
    assert imp["saved_J_per_inference"] == pytest.approx(0.004)  # the saving itself is still reported
    assert imp["payback"] is None and imp["payback_interval"] is None
    assert imp["payback_note"] == (
        f"no payback: the sweep's energy, {2 * net_J:.4g} J of energy/train_total_net_J, is not a positive energy"
    )
    assert f"- Payback: {imp['payback_note']}." in render(report)
    assert f"payback: {imp['payback_note']}" in impact_lines(imp)


def test_a_proxy_the_trial_could_not_count_is_left_out_of_its_correlation():
    """Regression (reports audit, 2026-11-29): ``model/flops_per_sample`` is NaN when FLOPs cannot be counted (the
    callback warns), and such trials were ranked with the others: the proxy check said 'over 4 trials' and its
    Spearman came from sorting NaN, whatever the data; a NaN inference power did the same to the runtime proxy."""
    trials = [
        trial(0, 0.9, 0.004, params=40, flops=float("nan"), power_W=float("nan"), total_J=1.0, baseline=True),
        trial(1, 0.9, 0.001, params=10, flops=30.0, power_W=1.0, total_J=1.0),
        trial(2, 0.9, 0.002, params=20, flops=20.0, power_W=1.0, total_J=1.0),
        trial(3, 0.9, 0.003, params=30, flops=10.0, power_W=1.0, total_J=1.0),
    ]
    report = build_report("s", trials, SETTINGS)
    rho = report.impact["proxy_spearman"]
    assert rho["params"] == {
        "spearman": pytest.approx(1.0),
        "n_trials": 4,
        "n_estimated": 0,
        "too_few_trials": True,
        "interval_95": None,
    }
    assert rho["flops_per_sample"] == {
        "spearman": pytest.approx(-1.0),
        "n_trials": 3,
        "n_estimated": 0,
        "too_few_trials": True,
        "interval_95": None,
    }
    assert rho["runtime_per_sample_s"]["n_trials"] == 3
    assert "Spearman correlation of J per sample with flops_per_sample: -1 over 3 trials: too few" in render(report)


def test_the_chosen_models_flops_that_could_not_be_counted_read_not_counted_not_nan():
    """Regression (reports audit, 2026-11-29): energy_report.md read 'FLOPs per sample: nan' for a chosen model
    whose FLOPs the callback could not count."""
    trials = [
        trial(0, 0.9, 0.004, params=40, flops=40.0, power_W=1.0, total_J=1.0, baseline=True),
        trial(1, 0.9, 0.001, params=10, flops=float("nan"), power_W=1.0, total_J=1.0),
    ]
    report = build_report("s", trials, SETTINGS, chosen=1)
    assert "- Parameters: 10; FLOPs per sample: n/a (not counted).\n" in render(report)


def test_a_negative_energy_is_not_counted_as_energy_the_sweep_spent(tmp_path):
    """Regression (reports audit, 2026-11-29): with ``energy_metric`` a net energy, a trial below the idle power
    reported -20 J, and the sweep's energy (summary.json, energy_report.md, the budget) added it: '-17 J', carbon
    negative. A negative value is now no energy spent: the trial's energy is the job's summary where the sweeper
    stored it, else unknown, and its degraded reasons say why."""
    import csv
    import json

    from ecopt_lightning.sweeper._artifacts import write_all

    trials = [
        trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0, baseline=True),
        trial(1, 0.95, 0.006, 5, 5, 1.0, 5.0),
        trial(2, 0.97, 0.008, 5, 5, 1.0, 5.0),
    ]
    for t, net in zip(trials, [-20.0, 3.0, -1.0], strict=True):
        t.user_attrs["energy/train_total_net_J"] = net
    # what the sweeper stores from the job's energy_summary.json when the metrics give no energy
    trials[2].user_attrs.update({ENERGY_ATTR: 7.0, ENERGY_SOURCE_ATTR: "energy_summary.json (finished fit)"})
    settings = ReportSettings(SETTINGS.objective_names, SETTINGS.directions, energy_metric="energy/train_total_net_J")
    report = build_report("s", trials, settings)
    assert report.sweep_energy_J == 10.0 and report.sweep_energy_text() == "10 J (1 trial(s) did not report theirs)"
    why = "energy: energy/train_total_net_J is -20 J, negative: not an energy spent; the trial's energy: unknown"
    assert report.records[0].energy_J is None and why in report.records[0].degraded
    assert report.records[2].energy_J == 7.0 and report.records[2].degraded == [
        "energy: energy/train_total_net_J is -1 J, negative: not an energy spent; the trial's energy: "
        "energy_summary.json (finished fit)"
    ]
    write_all(report, tmp_path, figures=False)
    with open(tmp_path / "trials.csv", newline="") as f:
        assert next(csv.DictReader(f))["degraded"] == why
    assert json.loads((tmp_path / "summary.json").read_text())["sweep_energy"]["total_J"] == 10.0
    assert "used 10 J (1 trial(s) did not report theirs)" in render(report)


def test_optuna_study_round_trip(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"], study_name="s")
    for t in [trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0, baseline=True), trial(1, 0.9, 0.002, 5, 5, 1.0, 5.0)]:
        study.add_trial(t)
    report = build_report("s", study.get_trials(), SETTINGS)
    assert report.impact["baseline_trial"] == 0 and report.impact["chosen_trial"] == 1
    assert report.impact["payback"] == 1250  # ceil(10 / 0.008)


def with_interval(t, lo: float, hi: float):
    t.user_attrs["energy/inference_per_sample_J_ci_lo"] = lo
    t.user_attrs["energy/inference_per_sample_J_ci_hi"] = hi
    return t


def test_overlapping_intervals_give_no_measurable_saving():
    trials = [
        with_interval(trial(0, 0.92, 0.010, 9, 9, 5.0, 40.0, baseline=True), 0.007, 0.013),
        with_interval(trial(1, 0.93, 0.009, 9, 9, 5.0, 40.0), 0.006, 0.012),
    ]
    imp = build_report("s", trials, SETTINGS).impact
    assert imp["chosen_trial"] == 1  # on the front, at least as accurate, less energy
    # saving 0.001, interval [0.007 - 0.012, 0.013 - 0.006] = [-0.005, 0.007]: includes 0
    assert imp["saved_interval_J"] == pytest.approx((-0.005, 0.007))
    assert imp["measurable"] is False
    assert imp["payback_note"].startswith("no measurable saving: the saving's 95% interval [-0.005, 0.007] J")
    assert imp["payback_interval"] == [ceil(80 / 0.007), None]


def test_a_named_trial_with_worse_quality_is_called_a_loss_and_the_default_keeps_quality():
    trials = [
        with_interval(trial(0, 0.92, 0.010, 9, 9, 5.0, 40.0, baseline=True), 0.009, 0.011),
        with_interval(trial(1, 0.43, 0.001, 9, 9, 5.0, 40.0), 0.0009, 0.0011),
        with_interval(trial(2, 0.915, 0.004, 9, 9, 5.0, 40.0), 0.0035, 0.0045),  # within 1% of 0.92
        with_interval(trial(3, 0.93, 0.008, 9, 9, 5.0, 40.0), 0.0075, 0.0085),
    ]
    named = build_report("s", trials, SETTINGS, chosen=1).impact
    assert named["quality_loss"] is True
    assert named["quality_change"]["val_acc"] == {"baseline": 0.92, "chosen": 0.43, "change": 0.43 - 0.92, "loss": True}
    assert "a QUALITY LOSS: val_acc 0.92 -> 0.43" in named["payback_note"]
    lines = impact_lines(named)
    assert any("quality: val_acc 0.92 -> 0.43 (-0.49, a LOSS)" in line for line in lines)

    default = build_report("s", trials, SETTINGS).impact
    # eligible (accuracy >= 0.92 x 0.99 = 0.9108): trials 0, 2, 3 -> least energy per sample: trial 2
    assert default["chosen_trial"] == 2 and default["quality_loss"] is False
    assert "at least as good as the baseline on val_acc (within 1% of its value)" in default["chosen_rule"]
    # saving 0.006 J, interval [0.009 - 0.0045, 0.011 - 0.0035] = [0.0045, 0.0075]; tuning 160 J
    assert default["saved_interval_J"] == pytest.approx((0.0045, 0.0075)) and default["measurable"] is True
    assert default["payback"] == ceil(160 / 0.006)
    assert default["payback_interval"] == [ceil(160 / 0.0075), ceil(160 / 0.0045)]
    assert f"(95%: {ceil(160 / 0.0075)} to {ceil(160 / 0.0045)})" in default["payback_note"]


def test_the_energy_report_states_the_chosen_trials_precision_and_contention():
    chosen = with_interval(trial(1, 0.93, 0.004, 9, 9, 5.0, 40.0), 0.003, 0.005)
    chosen.user_attrs.update({"energy/inference_converged": 0.0, "energy/inference_contended": 1.0})
    trials = [with_interval(trial(0, 0.92, 0.010, 9, 9, 5.0, 40.0, baseline=True), 0.009, 0.011), chosen]
    text = render(build_report("s", trials, SETTINGS))
    assert "95% interval 0.003 to 0.005 J; NOT converged to its precision target; taken beside" in text
    assert "quality: val_acc 0.92 -> 0.93 (+0.01)" in text


def test_energy_stored_without_a_source_counts_as_unknown_not_as_a_none_key():
    failed = create_trial(state=TrialState.FAIL, user_attrs={ENERGY_ATTR: 3.0})  # a summary with no source
    failed.number = 1
    report = build_report("s", [trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0), failed], SETTINGS)
    assert report.sweep_energy_J == 8.0
    assert report.energy_sources == {SETTINGS.energy_metric: 1, "unknown": 1}


def test_a_failed_trials_energy_counts_as_estimated_by_its_sources():
    """Regression (first-hour audit, 2026-11-28): a failed job returns no metrics, so its energy (read from its
    energy summary) was counted as 'did not say' although every source it names is an estimate."""
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    trials = [trial(0, 0.9, 0.01, 10, 10, 1.0, 5.0)]
    for n, sources in [
        (1, {"cpu:0": "estimate"}),
        (2, {"gpu:0": "nvml_counter"}),
        (3, {"cpu:0": "estimate", "gpu:0": "nvml_counter"}),
    ]:
        failed = create_trial(state=TrialState.FAIL, user_attrs={ENERGY_ATTR: 2.0, SOURCES_ATTR: sources})
        failed.number = n
        trials.append(failed)
    trials[0].user_attrs["energy/estimated_fraction"] = 1.0
    report = build_report("s", trials, SETTINGS)
    assert report.sweep_energy_J == pytest.approx(5.0 + 3 * 2.0)
    assert report.sweep_estimated_J == pytest.approx(5.0 + 2.0)  # trial 0 by its metric, trial 1 by its sources
    assert report.trials_without_source == 1  # trial 3: estimated and measured domains, shares unknown


def test_a_proxy_check_over_estimated_energy_says_so():
    """On a machine without sensors J per sample is CPU time x watts: 'Spearman with runtime = 1' was printed as
    a finding about energy, with no word that the energy was an estimate made from time."""
    from ecopt_lightning.cli import impact_lines

    trials = [trial(i, 0.9 - i / 10, 0.01 * (i + 1), 10 * (i + 1), 10 * (i + 1), 2.0, 5.0) for i in range(3)]
    for t in trials[1:]:
        t.user_attrs["energy/estimated_fraction"] = 1.0
    report = build_report("s", trials, SETTINGS)
    row = report.impact["proxy_spearman"]["runtime_per_sample_s"]
    assert (row["n_trials"], row["n_estimated"]) == (3, 2)
    said = " (J per sample ESTIMATED from CPU time, not measured, in 2 of them: it follows the runtime by construction)"
    few = ": too few trials to tell (n=3; at least 5 needed, as 2/n! of random orders correlate perfectly)"
    assert f"Spearman correlation of J per sample with runtime_per_sample_s: 1 over 3 trials{said}{few}." in render(
        report
    )
    assert f"Spearman(J per sample, runtime_per_sample_s) = +1.00 over 3 trials{said}{few}" in impact_lines(
        report.impact
    )
    assert f"params: 1 over 3 trials (J per sample ESTIMATED from CPU time, not measured, in 2 of them){few}." in (
        render(report)
    )


def test_ecopt_reports_tuning_energy_line_names_its_parts_and_its_estimated_share(tmp_path, capsys):
    """Regression (tuning-cost audit, 2026-11-30): `ecopt report` printed 'tuning energy 100.874 J', a bare number:
    neither that 81.2 J of it were the trials' and 19.7 J `ecopt confirm`'s, nor that all of it was ESTIMATED from
    CPU time, not measured (the line above gave the trials' share alone). The payback pays back this figure."""
    from ecopt_lightning.cli import main
    from ecopt_lightning.sweeper._schema import CONFIRM_ENERGY_ATTR

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(SETTINGS.objective_names)
    for t in [trial(0, 0.9, 0.01, 10, 10, 1.0, 80.0, baseline=True), trial(1, 0.95, 0.005, 5, 5, 1.0, 20.0)]:
        t.user_attrs["energy/estimated_fraction"] = 1.0  # as EnergyCallback logs it on a machine without sensors
        study.add_trial(t)
    study.set_user_attr(
        CONFIRM_ENERGY_ATTR, [{"energy_J": 30.0, "estimated_J": 30.0, "sources": {"cpu:0": "estimate"}}]
    )
    assert main(["report", "--storage", storage, "--study", "s", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out.splitlines()
    said = "tuning energy 130 J (the trials' 100 J and ecopt confirm's 30 J; 100% of it ESTIMATED, not measured)"
    assert said in out, out
    assert "payback: tuning pays back its 130 J after 26000 inferences" in "\n".join(out)  # 130 J / 0.005 J
