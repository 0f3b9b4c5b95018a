"""End to end: a tiny Lightning module with EnergyCallback, swept by ecopt in a real Hydra multirun."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from optuna.trial import TrialState

from .conftest import isolated_env, load_study, run_multirun

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("ecopt_lightning.callback") is None, reason="EnergyCallback (issue 3) not there yet"
    ),
]


@pytest.fixture(scope="module")
def lit_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real 2-trial sweep of apps/lit.py, at France's grid intensity and PUE 1.5, run once for the module's
    tests, which only read it: ``(sweep, db)``, where ``sweep`` is a copy of the sweep folder as the run left it,
    and ``db`` a copy of its study's database whose trials' job dirs are gone (the run's folder is deleted)."""
    import shutil

    folder = tmp_path_factory.mktemp("lit")
    ran = folder / "ran" / "sweep"
    ran.parent.mkdir()
    overrides = ("width=choice(4,16)", "hydra.sweeper.n_trials=2", "carbon_region=FR", "pue=1.5")
    proc = run_multirun(ran, *overrides, app="lit.py", env=isolated_env(folder))
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    shutil.copytree(ran, folder / "sweep")
    shutil.copy(ran / "ecopt.db", folder / "ecopt.db")
    shutil.rmtree(ran)
    return folder / "sweep", folder / "ecopt.db"


def test_lightning_sweep_uses_callback_metrics(lit_sweep: tuple[Path, Path]) -> None:
    sweep = lit_sweep[0]  # (at France's grid intensity and PUE 1.5, which nothing below reads)
    study = load_study(sweep, "lit")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for t in study.trials:
        assert 0.0 <= t.values[0] <= 1.0 and t.values[1] > 0  # val_acc, energy/inference_per_sample_J
        assert t.user_attrs["energy/total_J"] > 0
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["sweep_energy"]["sources"] == {"energy/total_J": 2}
    assert summary["sweep_energy"]["total_J"] == pytest.approx(
        sum(t.user_attrs["energy/total_J"] for t in study.trials)
    )
    front = json.loads((sweep / "pareto_front.json").read_text())["trials"]
    if study.trials[0].params == study.trials[1].params:  # one config run twice: one point, repeats pooled
        assert [r["merged_trials"] for r in front] == [[0, 1]]
    else:
        assert {r["trial"] for r in front} == {t.number for t in study.best_trials}
    assert all(r["samples_per_J"] == pytest.approx(1 / r["energy_per_sample_J"]) for r in front)
    # every row names where its energy comes from, and the front's CSV says which row is the knee, as the JSON does
    # (regression, first-hour audit 2026-11-28: neither file named a source; the CSV had no knee column)
    import csv

    assert all(r["energy_estimated_fraction"] == 1.0 for r in front)  # (its summary's sources: the main job's test)
    with open(sweep / "pareto_front.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["energy_estimated_fraction"] for r in rows} == {"1.0"}
    assert [r["trial"] for r in rows if r["knee"] == "True"] == [str(summary["knee"]["trial"])]


def test_a_report_rebuilt_without_the_job_dirs_keeps_the_trials_grid_intensity(
    lit_sweep: tuple[Path, Path], tmp_path: Path
) -> None:
    """Regression: ``ecopt report`` on a sweep whose job dirs were gone (another machine, a cleaned multirun
    folder) gave its gCO2e at the world average, though every trial had computed them at France's intensity."""
    from ecopt_lightning.cli import main as ecopt

    # and at the trials' PUE (regression, reports audit 2026-11-29: the sweep's gCO2e were at PUE 1 whatever the
    # EnergyCallback's pue), from the grid intensity the sweeper stored on each trial when the job dirs are gone
    sweep, kept = lit_sweep  # run with carbon_region=FR pue=1.5; kept: its database, its job dirs deleted
    label = "56 gCO2e/kWh, FR yearly average 2023 (Ember, Yearly Electricity Data, via Our World in Data)"
    swept = json.loads((sweep / "summary.json").read_text())["sweep_energy"]
    assert (swept["carbon"]["label"], swept["carbon"]["pue"]) == (label, 1.5)
    assert swept["carbon"]["total_gCO2e"] == pytest.approx(swept["total_J"] / 3.6e6 * 56.0 * 1.5)
    job_dirs = [Path(t.user_attrs["ecopt.job_dir"]) for t in load_study(sweep, "lit").trials]
    assert job_dirs and not any(d.exists() for d in job_dirs)
    out = tmp_path / "report"
    assert ecopt(["report", "--storage", f"sqlite:///{kept}", "--study", "lit", "--out", str(out)]) == 0
    carbon = json.loads((out / "summary.json").read_text())["sweep_energy"]["carbon"]
    assert (carbon["label"], carbon["region"], carbon["intensity_g_per_kWh"], carbon["pue"]) == (label, "FR", 56.0, 1.5)
    pue = "PUE 1.5, as each trial's EnergyCallback used"
    assert f"- Carbon: gCO2e at {label}; {pue}." in (out / "energy_report.md").read_text()


def test_the_baseline_chosen_saves_exactly_nothing(lit_sweep: tuple[Path, Path], tmp_path: Path) -> None:
    """Regression (artifacts audit, 2026-11-29): with the baseline itself chosen (by the rule, or named as here),
    summary.json gave the saving an interval spanning both trials' intervals (+-4.8e-08 J of a digits sweep) and a
    payback_interval of 2865303660 inferences, beside the note that tuning found nothing to save."""
    from ecopt_lightning.cli import main as ecopt

    out = tmp_path / "report"
    storage = f"sqlite:///{lit_sweep[1]}"
    assert (
        ecopt(["report", "--storage", storage, "--study", "lit", "--out", str(out), "--baseline", "0", "--chosen", "0"])
        == 0
    )
    impact = json.loads((out / "summary.json").read_text())["impact"]
    assert impact["baseline_trial"] == impact["chosen_trial"] == 0
    assert impact["baseline_interval_J"][0] < impact["baseline_interval_J"][1]  # the trial has an interval
    assert (impact["saved_J_per_inference"], impact["saved_interval_J"]) == (0.0, [0.0, 0.0])
    assert (impact["payback"], impact["payback_interval"]) == (None, None)
    assert impact["payback_note"] == "the chosen trial is the baseline itself: tuning found nothing to save"


def test_the_chosen_models_energy_in_the_report_says_it_is_an_estimate(lit_sweep: tuple[Path, Path]) -> None:
    """Regression (artifacts audit, 2026-11-29): on a machine without sensors, energy_report.md gave the chosen
    model's training and inference energy as bare numbers, the inference one 'measured beside other processes'
    CPU load', though both were CPU-time estimates."""
    chosen = (lit_sweep[0] / "energy_report.md").read_text().split("## The chosen model", 1)[1]
    training = next(line for line in chosen.splitlines() if line.startswith("- Training energy "))
    inference = next(line for line in chosen.splitlines() if line.startswith("- Inference energy: "))
    # a config the sampler drew twice is one point: ' J (the median of trials 0, 1), ESTIMATED ...'
    assert training.endswith((" J, ESTIMATED from CPU time.", "), ESTIMATED from CPU time.")), training
    assert " J per sample, ESTIMATED from CPU time (" in inference, inference
    assert "measured" not in training + inference


def test_a_sweep_whose_benchmark_measured_nothing_stops_and_says_so(tmp_path: Path) -> None:
    """Regression (stop 37's artifacts audit): on RAPL files whose counter never moves, every job's benchmark read 0 J
    per sample, the cheapest model a front could hold. The benchmark now logs no value; the sweep then stopped on
    "objective 'energy/inference_per_sample_J' is not among the task's metrics", which reads as a misspelt name. It
    now stops after the first such job saying what happened, and the trial's error says it too."""
    from ecopt_lightning.sweeper._schema import PER_REPEAT_ATTR
    from tests.doubles.fake_powercap import FakePowercap

    env = isolated_env(tmp_path)
    env["ECOPT_POWERCAP_ROOT"] = str(FakePowercap(tmp_path / "frozen", psys=False).root)  # never advanced
    proc = run_multirun(tmp_path / "sweep", "width=choice(4,16)", "hydra.sweeper.n_trials=3", app="lit.py", env=env)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    said = "the inference benchmark measured nothing: every one of its 6 repeats read 0 J (cpu:0=rapl, dram:0=rapl)"
    assert said in out and "the sweep stopped after its first such job" in out, out[-3000:]
    assert "not among the task's metrics" not in out and "hydra.sweeper.objectives" not in out, out[-3000:]
    study = load_study(tmp_path / "sweep", "lit")
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    assert study.trials[0].user_attrs["ecopt.error"].startswith(said)
    assert "ecopt.job_failed" not in study.trials[0].user_attrs  # a meter says nothing of the region
    assert PER_REPEAT_ATTR not in study.trials[0].user_attrs  # its repeats' 0 J are no values to pool with a rerun


def test_the_chosen_models_training_energy_says_it_is_the_steps_alone_beside_its_whole_run(
    lit_sweep: tuple[Path, Path],
) -> None:
    """Regression (tuning-cost audit, 2026-11-30): energy_report.md's 'Training energy' was energy/train_total_J,
    the optimizer steps alone (a third of a digits trial), with nothing saying so, and the trial's whole run (its
    validation, test, inference benchmark, set-up and sanity check) was nowhere in the section."""
    import statistics

    sweep = lit_sweep[0]
    summary = json.loads((sweep / "summary.json").read_text())
    trials = load_study(sweep, "lit").trials
    number = summary["impact"]["chosen_trial"]
    same = [t for t in trials if t.params == trials[number].params]  # the sampler may draw one config twice

    def said(metric: str) -> str:
        value = f"{statistics.median(t.user_attrs[metric] for t in same):.4g} J"
        pooled = f" (the median of trials {', '.join(str(t.number) for t in same)})" if len(same) > 1 else ""
        return f"{value}{pooled}, ESTIMATED from CPU time.\n"

    chosen = (sweep / "energy_report.md").read_text().split("## The chosen model", 1)[1]
    assert all(t.user_attrs["energy/total_J"] > t.user_attrs["energy/train_total_J"] for t in same)
    assert f"- Training energy (optimizer steps only, energy/train_total_J): {said('energy/train_total_J')}" in chosen
    what = "energy/total_J: training, validation, test, the inference benchmark, set-up, sanity check and idle baseline"
    assert f"- Its whole run ({what}): {said('energy/total_J')}" in chosen


def test_the_sweeps_energy_holds_every_trials_sanity_check(lit_sweep: tuple[Path, Path]) -> None:
    """Regression (tuning-cost audit, 2026-11-30): each trial's energy/total_J, and so the sweep's energy and the
    payback, left out Lightning's sanity check, measured apart as phase ``sanity`` in the job's summary (about 1.6%
    of a digits trial). The sweep's energy is now every phase of every job, the sanity checks included."""
    sweep = lit_sweep[0]
    jobs = [json.loads(p.read_text()) for p in sorted(sweep.glob("[0-9]*/**/energy_summary.json"))]
    assert len(jobs) == 2
    assert all(job["phases"]["sanity"]["energy_J"] > 0 for job in jobs)  # each ran one (Lightning's default)
    spent = sum(phase["energy_J"] for job in jobs for phase in job["phases"].values())
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["sweep_energy"]["total_J"] == pytest.approx(spent, rel=1e-9)
    assert summary["impact"]["tuning_energy_J"] == pytest.approx(spent, rel=1e-9)
    assert all(job["total_J"] == pytest.approx(sum(p["energy_J"] for p in job["phases"].values())) for job in jobs)
