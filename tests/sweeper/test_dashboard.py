"""optuna-dashboard shows the front, the sources and the tuning energy on the study page (user attributes)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from ecopt_lightning.sweeper._artifacts import publish_to_study
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
    assert attrs["ecopt.pareto_front"][0].startswith(f"trial {knee} (knee): val_acc=")
    assert len(attrs["ecopt.pareto_front"]) == 2
    assert attrs["ecopt.sweep_energy"] == (
        "30 J, 3 trial(s), 100% of it ESTIMATED, not measured; "  # 30 J at 480 g/kWh: 0.004 g
        "0.004 gCO2e at 480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)"
    )
    assert attrs["ecopt.sources"] == {
        "trial energy from": {"energy/total_J": 3},
        "not a full measurement (trials)": {"cpu:0: estimated from CPU time": 3},
    }
    for key in DASHBOARD_ATTRS:  # the dashboard cuts each value at 1024 characters
        assert len(json.dumps(attrs[key])) < 1024
