"""energy_report.md and summary.json say at which grid intensity their gCO2e were computed, and where that figure
comes from."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._artifacts import summary, write_all
from ecopt_lightning.sweeper._energy_report import render
from ecopt_lightning.sweeper._schema import JOB_DIR_ATTR, SWEEP_ENERGY_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

NAMES = ["val_acc", "energy/inference_per_sample_J"]


def _report(*job_dirs: Path):
    """One trial per job dir, each 3.6e6 J (1 kWh); the first is the only front member, so the chosen one."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, job_dir in enumerate(job_dirs):
        study.add_trial(
            optuna.trial.create_trial(
                values=[0.9 - i * 0.1, 1e-4 * (1 + i)],
                params={"w": 1.0},
                distributions={"w": optuna.distributions.FloatDistribution(0, 2)},
                user_attrs={
                    "energy/total_J": 3.6e6,
                    "energy/inference_per_sample_J": 1e-4 * (1 + i),
                    JOB_DIR_ATTR: str(job_dir),
                },
            )
        )
    return build_report("s", study.get_trials(), ReportSettings.default(NAMES, ["maximize", "minimize"]))


def test_without_a_callback_summary_the_world_average_is_named(tmp_path: Path) -> None:
    text = render(_report(tmp_path))
    label = "480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)"
    assert f"- Carbon: gCO2e at {label}; PUE 1 (device energy only): no trial recorded its PUE." in text
    assert f"used 3.6e+06 J (1 kWh; 480 gCO2e at {label})." in text
    carbon = summary(_report(tmp_path))["sweep_energy"]["carbon"]
    assert (carbon["total_gCO2e"], carbon["label"], carbon["region"], carbon["pue"]) == (480.0, label, None, 1.0)


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
    assert f"- Carbon: gCO2e at {label}; PUE 1 (device energy only): no trial recorded its PUE." in text
    assert f"{carbon['intensity_g_per_kWh']:g} gCO2e at {label})." in text


def test_summary_json_carries_the_sweeps_gco2e_at_the_trials_intensity(tmp_path: Path) -> None:
    chosen, other = tmp_path / "0", tmp_path / "1"
    chosen.mkdir()
    (other / "sub").mkdir(parents=True)  # the chosen trial wrote no summary: the next trial's intensity is used
    carbon = {"intensity_g_per_kWh": 381.0, "basis": "yearly average 2023 (Ember)", "region": "DE"}
    (other / "sub" / "energy_summary.json").write_text(json.dumps({"carbon": carbon}))
    report = _report(chosen, other)
    assert report.impact["chosen_trial"] == 0
    entry = summary(report)["sweep_energy"]["carbon"]
    label = "381 gCO2e/kWh, DE yearly average 2023 (Ember)"
    assert entry == {
        **carbon,
        "label": label,
        "pue": 1.0,
        "pue_basis": "PUE 1 (device energy only): no trial recorded its PUE",
        "total_gCO2e": pytest.approx(2 * 381.0),
    }
    assert f"used 7.2e+06 J (2 kWh; 762 gCO2e at {label})." in render(report)


def _summaries(tmp_path: Path, *pues: object) -> list[Path]:
    """One job dir per PUE, each with the energy_summary.json of an EnergyCallback at Germany's intensity and that
    PUE (``None``: a summary that names none)."""
    dirs = []
    for i, pue in enumerate(pues):
        job = tmp_path / str(i)
        job.mkdir()
        carbon = {"intensity_g_per_kWh": 381.0, "basis": "yearly average 2023 (Ember)", "region": "DE"}
        if pue is not None:
            carbon["pue"] = pue
        (job / "energy_summary.json").write_text(json.dumps({"total_J": 3.6e6, "carbon": carbon}))
        dirs.append(job)
    return dirs


def test_the_sweeps_gco2e_are_at_the_pue_its_trials_used(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): each trial's energy_summary.json gave its gCO2e at the callback's
    PUE 1.5, and summary.json and energy_report.md gave the sweep's at PUE 1 ('PUE 1'), a third less."""
    label = "381 gCO2e/kWh, DE yearly average 2023 (Ember)"
    report = _report(*_summaries(tmp_path, 1.5, 1.5))
    carbon = summary(report)["sweep_energy"]["carbon"]
    assert (carbon["pue"], carbon["total_gCO2e"]) == (1.5, pytest.approx(2 * 381.0 * 1.5))
    assert carbon["pue_basis"] == "PUE 1.5, as each trial's EnergyCallback used"
    text = render(report)
    assert f"- Carbon: gCO2e at {label}; PUE 1.5, as each trial's EnergyCallback used." in text
    assert f"used 7.2e+06 J (2 kWh; 1143 gCO2e at {label})." in text


@pytest.mark.parametrize(
    ("pues", "pue", "basis"),
    [
        ((1.5, 1.2), 1.0, "PUE 1 (device energy only): the trials used different PUEs (1.2, 1.5)"),
        ((1.5, None), 1.5, "PUE 1.5, as the trials that recorded one used; 1 trial(s) did not say"),
    ],
)
def test_trials_that_disagree_on_their_pue_or_do_not_say_are_named(tmp_path: Path, pues, pue, basis) -> None:
    report = _report(*_summaries(tmp_path, *pues))
    carbon = summary(report)["sweep_energy"]["carbon"]
    assert (carbon["pue"], carbon["pue_basis"], carbon["total_gCO2e"]) == (pue, basis, pytest.approx(2 * 381 * pue))
    assert f"; {basis}." in render(report)


def test_one_write_of_the_reports_reads_each_trials_summary_once_for_the_sweeps_carbon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (review of stop 33): summary.json, energy_report.md and the dashboard's attributes each looked
    for the sweep's grid intensity and PUE, and a trial that stored no PUE had its job dir searched for
    energy_summary.json each time: three directory walks per such trial on every write of the reports."""
    from ecopt_lightning.sweeper import _energy_report
    from ecopt_lightning.sweeper._artifacts import dashboard_attrs, write_all

    walks: list[int] = []
    read = _energy_report._trial_summary

    def counted(record):
        walks.append(record.number)
        return read(record)

    monkeypatch.setattr(_energy_report, "_trial_summary", counted)
    report = _report(*_summaries(tmp_path, None, None, None))
    write_all(report, tmp_path / "out")
    attrs = dashboard_attrs(report)
    # the chosen trial's once more: the report's Method names its energy sources
    assert sorted(walks) == [0, 0, 1, 2]
    carbon = json.loads((tmp_path / "out" / "summary.json").read_text())["sweep_energy"]["carbon"]
    assert carbon["pue_basis"] == "PUE 1 (device energy only): no trial recorded its PUE"
    assert f"{carbon['total_gCO2e']:.4g} gCO2e at {carbon['label']}, PUE 1" in attrs[SWEEP_ENERGY_ATTR]
    assert (
        f"- Carbon: gCO2e at {carbon['label']}; {carbon['pue_basis']}."
        in (tmp_path / "out" / "energy_report.md").read_text()
    )


@pytest.mark.parametrize("intensity", [float("nan"), -5.0])
def test_a_summary_naming_an_intensity_that_is_no_number_of_grams_is_passed_over(
    tmp_path: Path, intensity: float
) -> None:
    """Regression (reports audit, 2026-11-29): a job's energy_summary.json edited by hand to an intensity of NaN (or
    below 0) stopped every write of the reports (``ValueError: intensity_g_per_kWh=nan is not allowed``): the
    sweep failed after its next batch. The next trial's intensity is used, and named."""
    chosen, other = _summaries(tmp_path, None, None)
    edited = json.loads((chosen / "energy_summary.json").read_text())
    edited["carbon"]["intensity_g_per_kWh"] = intensity
    (chosen / "energy_summary.json").write_text(json.dumps(edited))
    write_all(_report(chosen, other), tmp_path / "out")
    carbon = json.loads((tmp_path / "out" / "summary.json").read_text())["sweep_energy"]["carbon"]
    assert carbon["label"] == "381 gCO2e/kWh, DE yearly average 2023 (Ember)"
    assert carbon["total_gCO2e"] == pytest.approx(2 * 381.0)
