"""energy_report.md says at which grid intensity its gCO2e were computed, and where that figure comes from."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._energy_report import render
from ecopt_lightning.sweeper._schema import JOB_DIR_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

NAMES = ["val_acc", "energy/inference_per_sample_J"]


def _report(job_dir: Path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.9, 1e-4],
            params={"w": 1.0},
            distributions={"w": optuna.distributions.FloatDistribution(0, 2)},
            user_attrs={"energy/total_J": 3.6e6, "energy/inference_per_sample_J": 1e-4, JOB_DIR_ATTR: str(job_dir)},
        )
    )
    return build_report("s", study.get_trials(), ReportSettings.default(NAMES, ["maximize", "minimize"]))


def test_without_a_callback_summary_the_world_average_is_named(tmp_path: Path) -> None:
    text = render(_report(tmp_path))
    label = "480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)"
    assert f"- Carbon: gCO2e at {label}; PUE 1." in text
    assert f"used 3.6e+06 J (1 kWh; 480 gCO2e at {label})." in text


@pytest.mark.parametrize(
    ("carbon", "label"),
    [
        (
            {"intensity_g_per_kWh": 381.0, "basis": "yearly average 2023 (Ember)", "region": "DE"},
            "381 gCO2e/kWh, DE yearly average 2023 (Ember)",
        ),
        ({"intensity_g_per_kWh": 20.0, "basis": "user setting", "region": None}, "20 gCO2e/kWh, user setting"),
    ],
)
def test_the_trials_own_intensity_is_used_and_named(tmp_path: Path, carbon, label) -> None:
    (tmp_path / "energy_summary.json").write_text(json.dumps({"total_J": 3.6e6, "carbon": carbon}))
    text = render(_report(tmp_path))
    assert f"- Carbon: gCO2e at {label}; PUE 1." in text
    assert f"{carbon['intensity_g_per_kWh']:g} gCO2e at {label})." in text
