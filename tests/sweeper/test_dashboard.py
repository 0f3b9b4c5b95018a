"""optuna-dashboard shows the front, the sources and the tuning energy on the study page (user attributes)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from ecopt_lightning.sweeper._artifacts import dashboard_attrs, publish_to_study
from ecopt_lightning.sweeper._schema import DASHBOARD_ATTRS, DEGRADED_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

NAMES = ["val_acc", "energy/inference_per_sample_J"]


def test_the_study_page_shows_front_knee_energy_and_sources(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["maximize", "minimize"])
    for i, (acc, per_sample) in enumerate([(0.8, 2e-4), (0.9, 3e-4), (0.7, 3.5e-4)]):
        study.add_trial(
            optuna.trial.create_trial(
                values=[acc, per_sample],
                params={"w": float(i)},
                distributions={"w": optuna.distributions.FloatDistribution(0, 4)},
                user_attrs={
                    "energy/total_J": 10.0,
                    "energy/estimated_fraction": 1.0,
                    "energy/inference_per_sample_J": per_sample,
                    DEGRADED_ATTR: ["cpu:0: estimated from CPU time (100% of the energy is estimated)"],
                },
            )
        )
    report = build_report("s", study.get_trials(), ReportSettings.default(NAMES, ["maximize", "minimize"]))
    publish_to_study(study, report)

    attrs = optuna.load_study(study_name="s", storage=url).user_attrs
    assert set(DASHBOARD_ATTRS) <= set(attrs)
    knee = report.knee.number
    assert attrs["ecopt.pareto_front"][0].startswith(f"trial {knee} (knee, robust): val_acc=")
    assert len(attrs["ecopt.pareto_front"]) == 2
    assert attrs["ecopt.sweep_energy"] == (
        "30 J, 3 trial(s), 100% of it ESTIMATED, not measured; "  # 30 J at 480 g/kWh: 0.004 g
        "0.004 gCO2e at 480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024), PUE 1"
    )
    assert attrs["ecopt.sources"] == {
        "trial energy from": {"energy/total_J": 3},
        "not a full measurement (trials)": {"cpu:0: estimated from CPU time": 3},
    }
    for key in DASHBOARD_ATTRS:  # the dashboard cuts each value at 1024 characters
        assert len(json.dumps(attrs[key])) < 1024


def test_the_study_pages_front_gives_intervals_and_statuses_and_fits_the_dashboard(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): the study page's front gave bare medians, with no interval and no
    word of which members are robust or which trials are possibly on the front; and eight members of a study with
    three long objective names came to more than the 1024 characters the dashboard shows."""
    names = ["val_accuracy_top1", "energy/inference_per_sample_J", "model/flops_per_sample"]
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for i in range(12):  # a front of 12, the energy of each known to +-1%
        e = 1e-4 * (1 + i)
        attrs = {names[1]: e, f"{names[1]}_ci_lo": 0.99 * e, f"{names[1]}_ci_hi": 1.01 * e, "energy/total_J": 1.0}
        study.add_trial(optuna.trial.create_trial(values=[0.5 + 0.04 * i, e, 1e6 * (12 - i)], user_attrs=attrs))
    # dominated by trial 11's medians (0.94, 1.2e-3 J, 1e6 FLOPs), not beyond its energy interval
    attrs = {names[1]: 1.21e-3, f"{names[1]}_ci_lo": 1.1e-3, f"{names[1]}_ci_hi": 1.3e-3, "energy/total_J": 1.0}
    study.add_trial(optuna.trial.create_trial(values=[0.94, 1.21e-3, 1e6], user_attrs=attrs))
    report = build_report("s", study.get_trials(), ReportSettings.default(names, ["maximize", "minimize", "minimize"]))
    front = dashboard_attrs(report)["ecopt.pareto_front"]
    knee = report.knee
    lo, hi = knee.intervals[names[1]]
    assert front[0] == (
        f"trial {knee.number} (knee, robust): {names[0]}={knee.values[0]:.4g}, "
        f"{names[1]}={knee.values[1]:.4g} (95%: {lo:.4g} to {hi:.4g}), {names[2]}={knee.values[2]:.4g}"
    )
    assert front[-1] == "possibly on the front: trial 12"
    assert front[-2].startswith("... ") and front[-2].endswith(" more in pareto_front.csv")
    assert len(json.dumps(front)) < 1024


def test_a_sweep_resumed_after_confirm_counts_its_energy_in_the_closing_line_and_the_dashboard(tmp_path, multirun):
    """A sweep resumed after `ecopt confirm` (a rerun of its command) closed with the trials' energy alone as its
    own, and the dashboard's ecopt.sweep_energy with its gCO2e likewise: the energy confirm spent, stored on the
    study, was left out of what tuning cost."""
    from ecopt_lightning.sweeper._schema import CONFIRM_ENERGY_ATTR, SWEEP_ENERGY_ATTR

    from .conftest import load_study

    multirun("width=choice(8,16)", "hydra.sweeper.n_trials=2")
    study = load_study(tmp_path / "sweep")
    trials_J = sum(t.user_attrs["energy/total_J"] for t in study.trials)
    study.set_user_attr(CONFIRM_ENERGY_ATTR, [{"energy_J": 5.0, "estimated_J": 5.0, "sources": {"cpu:0": "estimate"}}])
    closing = multirun("width=choice(8,16)", "hydra.sweeper.n_trials=2")  # the same command: resumed, nothing to run
    said = f"with ecopt confirm's 5 J (1 run(s), 100% of it ESTIMATED, not measured), tuning cost {trials_J + 5:.6g} J"
    assert f"; {said}; artifacts in " in closing.stdout + closing.stderr
    attr = load_study(tmp_path / "sweep").user_attrs[SWEEP_ENERGY_ATTR]
    assert said in attr and f"{(trials_J + 5) / 3.6e6 * 480:.4g} gCO2e at 480 gCO2e/kWh" in attr, attr
