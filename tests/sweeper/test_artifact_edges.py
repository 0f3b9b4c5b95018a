"""The sweep's files at the edges a user meets: a study with no trial, every trial infeasible, a maximised
efficiency objective, a folder that cannot be written."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import optuna
import pytest

from ecopt_lightning.sweeper._artifacts import write_all
from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report

DIST = {"w": optuna.distributions.FloatDistribution(0, 2)}
NAMES, DIRECTIONS = ["val_acc", "energy/inference_per_sample_J"], ["maximize", "minimize"]
CONSTRAINT = "energy/total_J <= 1"


def _infeasible_study() -> optuna.Study:
    """Two complete trials, both breaking ``CONSTRAINT``."""
    study = optuna.create_study(directions=DIRECTIONS)
    for w in (0.5, 1.5):
        attrs = {"energy/total_J": 2.0 + w, CONSTRAINTS_ATTR: {CONSTRAINT: 1.0 + w}}
        study.add_trial(
            optuna.trial.create_trial(values=[w / 2, w], params={"w": w}, distributions=DIST, user_attrs=attrs)
        )
    return study


def _one_config_study(*attrs: dict[str, Any]) -> optuna.Study:
    """One config (``w=1.0``) run in one complete trial per ``attrs`` (its user attributes, which hold its
    energy per sample), trial 0 the baseline: the trials of a repeated config, pooled into one point."""
    from ecopt_lightning.sweeper._schema import BASELINE_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    for k, user_attrs in enumerate(attrs):
        study.add_trial(
            optuna.trial.create_trial(
                values=[0.9, user_attrs[NAMES[1]]],
                params={"w": 1.0},
                distributions=DIST,
                user_attrs={**user_attrs, **({BASELINE_ATTR: True} if k == 0 else {})},
            )
        )
    return study


@pytest.mark.parametrize("trials", ["none", "all infeasible"])
def test_a_csv_without_rows_still_has_its_header(tmp_path: Path, trials: str) -> None:
    study = optuna.create_study(directions=DIRECTIONS) if trials == "none" else _infeasible_study()
    settings = ReportSettings(NAMES, DIRECTIONS, [] if trials == "none" else [CONSTRAINT])
    write_all(build_report("edges", study.get_trials(), settings), tmp_path, figures=False)
    with open(tmp_path / "pareto_front.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert list(reader) == []
        assert reader.fieldnames is not None and {"trial", *NAMES, "energy_J", "job_dir"} <= set(reader.fieldnames)
    with open(tmp_path / "trials.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert reader.fieldnames is not None and {"trial", "state", "feasible", *NAMES} <= set(reader.fieldnames)
    assert len(rows) == (0 if trials == "none" else 2)


@pytest.mark.parametrize(
    ("sources", "said"),
    [
        ({"cpu:0": "estimate"}, "100% of it ESTIMATED, not measured"),
        ({"cpu:0": "rapl"}, "0% of it ESTIMATED, not measured"),
        ({}, "share ESTIMATED unknown: no trial said whether its energy was measured"),
    ],
)
def test_the_tuning_cost_says_how_much_of_it_is_estimated(capsys, tmp_path: Path, sources, said) -> None:
    """energy_report.md and ``ecopt report`` gave the sweep's energy in J and gCO2e with no word that it was an
    estimate (only the chosen trial's share was said); a study whose trials did not say read '0% ESTIMATED'."""
    from ecopt_lightning.cli import main
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._schema import SETTINGS_ATTR, SOURCES_ATTR

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(NAMES, DIRECTIONS).to_attrs())
    for w in (0.5, 1.5):
        attrs = {"energy/total_J": 2.0, SOURCES_ATTR: sources}
        study.add_trial(
            optuna.trial.create_trial(values=[w / 2, w], params={"w": w}, distributions=DIST, user_attrs=attrs)
        )
    report = build_report("s", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    tuning = render(report).split("## Tuning cost", 1)[1]
    assert f"- Tuning energy: {said}." in tuning
    assert main(["report", "--storage", storage, "--study", "s", "--out", str(tmp_path / "r")]) == 0
    assert f"sweep energy 4 J, {said}" in capsys.readouterr().out.splitlines()[0]


#: the toy sweep that two tests resume with a constraint (:func:`two_trials`)
SPACE = ("width=choice(8,16)", "hydra.sweeper.sampler=random")


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy sweep of 2 trials without constraints (trial 0 the baseline, width 16), run once for the module:
    tests resume copies of it."""
    from .conftest import isolated_env, run_multirun

    folder = tmp_path_factory.mktemp("two")
    first = run_multirun(folder / "sweep", *SPACE, "hydra.sweeper.n_trials=2", env=isolated_env(folder))
    assert first.returncode == 0, first.stderr
    assert (folder / "sweep" / "optimization_results.yaml").exists()
    return folder / "sweep"


def test_a_constraint_added_on_resume_judges_the_earlier_trials_too(tmp_path: Path, two_trials: Path) -> None:
    """A study resumed with a new constraint: its earlier trials, stored without a value for it, counted as
    feasible and stood on the front beside summary.json's constraint they break."""
    import shutil

    from .conftest import run_multirun

    sweep = tmp_path / "sweep"
    shutil.copytree(two_trials, sweep)  # the first run: 2 trials without the constraint
    again = run_multirun(
        sweep, *SPACE, "hydra.sweeper.n_trials=3", "hydra.sweeper.constraints=['energy/total_J <= 1.5']"
    )
    assert again.returncode == 0, again.stderr
    with open(sweep / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and any(r["param:width"] == "16" for r in rows)  # trial 0: the baseline, width 16
    for r in rows:  # the toy's energy/total_J: 2.1 J at width 16 (broken by 0.6 J), 1.3 J at width 8
        broke = r["param:width"] == "16"
        assert (r["feasible"], r["point_on_front"]) == (str(not broke), str(not broke)), r
        assert float(r["violation:energy/total_J <= 1.5"]) == pytest.approx(0.6 if broke else -0.2)


def test_a_later_constraint_a_trial_has_no_metric_for_is_named_as_broken() -> None:
    """Its value is NaN (nothing shows it met): the trial is infeasible, and the line says by which constraint
    (it read 'INFEASIBLE: ' with nothing after it)."""
    from ecopt_lightning.sweeper._progress import feasibility
    from ecopt_lightning.sweeper._records import to_record

    trial = optuna.trial.create_trial(values=[0.5, 1.0], params={"w": 1.0}, distributions=DIST)
    record = to_record(trial, ReportSettings(NAMES, DIRECTIONS, [CONSTRAINT]))
    assert not record.feasible
    assert feasibility(record) == "INFEASIBLE: energy/total_J=? breaks '<= 1'"


def test_a_sweep_without_energy_has_no_zero_grams_in_summary_json(tmp_path: Path) -> None:
    """total_J was null but its gCO2e read 0.0 (and the estimated part 0 J): unknown, not zero."""
    import json

    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.5, 1.0], params={"w": 1.0}, distributions=DIST))
    write_all(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS)), tmp_path, figures=False)
    energy = json.loads((tmp_path / "summary.json").read_text())["sweep_energy"]
    assert energy["total_J"] is None and energy["estimated_J"] is None
    assert energy["carbon"]["total_gCO2e"] is None
    assert energy["carbon"]["intensity_g_per_kWh"] > 0  # the basis it would use is still said


def test_an_infinite_objective_is_not_on_the_front_nor_in_the_hypervolume() -> None:
    """A study made elsewhere may hold inf (Optuna refuses only NaN): -inf accuracy stood on the front, and the
    hypervolume read inf."""
    study = optuna.create_study(directions=DIRECTIONS)
    for w, values in [(0.0, [0.6, 0.02]), (1.0, [float("-inf"), 0.01]), (2.0, [0.5, float("inf")])]:
        study.add_trial(optuna.trial.create_trial(values=values, params={"w": w}, distributions=DIST))
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    assert [r.number for r in report.front] == [0]
    assert report.hypervolume == pytest.approx(0.06 * 0.002)  # one point: 10% of each value's magnitude
    assert {name: best["trial"] for name, best in report.best.items()} == {NAMES[0]: 0, NAMES[1]: 0}


def _killed_writer(out: Path) -> None:
    """Write optimization_results.yaml into ``out`` in a process SIGKILLed between the temp file and the move."""
    from .conftest import killed_at

    code = (
        "import pathlib, sys, optuna\n"
        "from ecopt_lightning.sweeper._artifacts import ReportSettings, build_report, write_optimization_results\n"
        "study = optuna.create_study()\n"
        "study.add_trial(optuna.trial.create_trial(value=1.0))\n"
        "report = build_report('s', study.get_trials(), ReportSettings.default(['v'], ['minimize']))\n"
        "write_optimization_results(report, pathlib.Path(sys.argv[1]))\n"
    )
    killed_at("artifact_write:1", code, str(out))  # before the move


def test_a_writer_killed_while_writing_optimization_results_leaves_no_temp_file(tmp_path: Path) -> None:
    """The rerun removed the killed writer's temp files of the seven artifacts only: one of
    optimization_results.yaml (or rungs.png) stayed in the sweep dir for good."""
    from ecopt_lightning.sweeper._artifacts import remove_stale_temps

    _killed_writer(tmp_path)
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".optimization_results.yaml.")
    assert remove_stale_temps(tmp_path) == 1 and list(tmp_path.iterdir()) == []


def test_ecopt_report_removes_a_killed_writers_temp_files_from_its_out(tmp_path: Path) -> None:
    from ecopt_lightning.cli import main

    out = tmp_path / "report"
    out.mkdir()
    _killed_writer(out)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.5, 1.0], params={"w": 1.0}, distributions=DIST))
    assert main(["report", "--storage", storage, "--study", "s", "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_resume_that_leaves_no_feasible_trial_removes_the_old_optimization_results(
    tmp_path: Path, two_trials: Path
) -> None:
    """The first run's optimization_results.yaml stayed, naming as the answer trials that break the constraint
    the resumed study has."""
    import shutil

    from .conftest import run_multirun

    sweep = tmp_path / "sweep"
    shutil.copytree(two_trials, sweep)  # the first run: 2 trials, which wrote optimization_results.yaml
    assert (sweep / "optimization_results.yaml").exists()
    again = run_multirun(
        sweep, *SPACE, "hydra.sweeper.n_trials=3", "hydra.sweeper.constraints=['energy/total_J <= 0.1']"
    )
    assert again.returncode == 0, again.stderr
    assert not (sweep / "optimization_results.yaml").exists()
    with open(sweep / "pareto_front.csv", newline="") as f:
        assert list(csv.DictReader(f)) == []


def test_the_chosen_model_of_a_repeated_config_gives_the_pooled_figure_the_payback_uses() -> None:
    """energy_report.md's chosen model gave its first trial's J per sample (0.001), while the front, the
    payback line and pareto_front.json gave the config's pooled median (0.002)."""
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._schema import PER_REPEAT_ATTR

    study = _one_config_study(*({NAMES[1]: j, PER_REPEAT_ATTR: [j] * 6} for j in (0.001, 0.002, 0.003)))
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    assert report.impact["chosen_J_per_inference"] == pytest.approx(0.002)
    chosen = render(report).split("## The chosen model", 1)[1]
    assert "- Inference energy: 0.002 J per sample (one config run in trials 0, 1, 2, their repeats pooled; " in chosen
    assert "500 samples per J" in chosen


def test_the_chosen_model_of_a_repeated_config_gives_the_median_training_energy_of_its_trials() -> None:
    """Regression (reports audit, 2026-11-29): a config run in three trials (training 10, 30 and 20 J) was the
    chosen model with 'Training energy: 10 J', its first trial's alone, beside the pooled inference figure."""
    from ecopt_lightning.sweeper._energy_report import render

    study = _one_config_study(*({NAMES[1]: 0.002, "energy/train_total_J": train} for train in (10.0, 30.0, 20.0)))
    chosen = render(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS)))
    said = "- Training energy (optimizer steps only, energy/train_total_J): 20 J (the median of trials 0, 1, 2).\n"
    assert said in chosen.split("## The chosen model", 1)[1]


def test_the_chosen_repeated_config_names_the_trials_its_training_energy_is_the_median_of() -> None:
    """Regression (reports audit, 2026-11-29): in a resumed study whose earlier run logged no training energy, a
    config run in three trials (10 J, none, 30 J) read 'Training energy: 10 J (the median of trials 0, 1, 2)': the
    first trial's alone, said to be the median of all three."""
    from ecopt_lightning.sweeper._energy_report import render

    study = _one_config_study(
        {NAMES[1]: 0.002, "energy/train_total_J": 10.0},
        {NAMES[1]: 0.002},
        {NAMES[1]: 0.002, "energy/train_total_J": 30.0},
    )
    chosen = render(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS)))
    said = "- Training energy (optimizer steps only, energy/train_total_J): 20 J (the median of trials 0, 2; "
    said += "trial(s) 1 reported none).\n"
    assert said in chosen.split("## The chosen model", 1)[1]


def _two_sensor_study() -> optuna.Study:
    """One config run in two trials (a study resumed on another machine): measured by RAPL, then ESTIMATED."""
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    return _one_config_study(
        *(
            {NAMES[1]: 0.002, SOURCES_ATTR: {"cpu:0": source}, "energy/estimated_fraction": share}
            for source, share in (("rapl", 0.0), ("estimate", 1.0))
        )
    )


def test_the_chosen_repeated_config_run_on_other_sensors_names_each_trials_sources() -> None:
    """Regression (reports audit, 2026-11-29): a study resumed on another machine ran the chosen config again, once
    measured by RAPL and once ESTIMATED from CPU time; energy_report.md named the first trial's sources alone
    ('cpu:0: rapl'), an estimate presented as a measurement beside a 50% estimated share."""
    from ecopt_lightning.sweeper._energy_report import render

    report = build_report("edges", _two_sensor_study().get_trials(), ReportSettings(NAMES, DIRECTIONS))
    method = render(report).split("## ")[2]
    said = "- Energy sources of the chosen config's trials differ, per domain: trial 0: cpu:0: rapl; trial 1: cpu:0: "
    assert f"{said}estimate.\n" in method and "of the chosen trial, per domain" not in method


def test_a_repeated_config_run_on_other_sensors_names_each_trials_sources_in_the_front_files(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): the same study's pareto_front.json and .csv gave the config's point
    the energy sources of its first trial alone (``{"cpu:0": "rapl"}``), its median energy half estimated."""
    import json

    report = build_report("edges", _two_sensor_study().get_trials(), ReportSettings(NAMES, DIRECTIONS))
    write_all(report, tmp_path, figures=False)
    (row,) = json.loads((tmp_path / "pareto_front.json").read_text())["trials"]
    assert row["energy_sources"] == {"trial0/cpu:0": "rapl", "trial1/cpu:0": "estimate"}
    with (tmp_path / "pareto_front.csv").open() as f:
        (line,) = csv.DictReader(f)
    assert line["energy_sources"] == "trial0/cpu:0=rapl, trial1/cpu:0=estimate"


def test_a_repeated_configs_estimated_share_is_unknown_when_some_trial_did_not_give_one(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): a study resumed after a run whose app logged no
    energy/estimated_fraction ran a config again; the point took its first trial's share alone: the front read
    energy_estimated_fraction 0.0 and energy_report.md '0%' ESTIMATED, though the other trial's energy (half the
    median) may be an estimate."""
    import json

    from ecopt_lightning.sweeper._energy_report import render

    shared = {NAMES[1]: 0.002, "energy/total_J": 1.0}
    study = _one_config_study({**shared, "energy/estimated_fraction": 0.0}, {**shared, "energy/total_J": 2.0})
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    write_all(report, tmp_path, figures=False)
    (row,) = json.loads((tmp_path / "pareto_front.json").read_text())["trials"]
    assert row["energy_estimated_fraction"] is None
    assert (
        "- Energy sources of the chosen trial: unknown (its job wrote no energy_summary.json and the study holds "
        "none): its figures may be measured or ESTIMATED.\n" in render(report)
    )


def test_a_sweep_dir_file_that_cannot_be_written_stops_the_sweep_in_one_line(tmp_path: Path) -> None:
    """A folder in summary.json's place (or a full disk): the sweep ended with a raw traceback of os.replace."""
    from .conftest import run_multirun

    sweep = tmp_path / "sweep"
    (sweep / "summary.json").mkdir(parents=True)
    proc = run_multirun(sweep, "width=choice(8,16)", "hydra.sweeper.n_trials=2")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "cannot be written" in line]
    assert lines == [
        f"hydra.sweep.dir={str(sweep)!r}: the sweep's files cannot be written there: Is a directory: "
        f"{sweep / 'summary.json'}; its trials are stored in the study: the same command goes on once that is fixed"
    ]


def test_a_constraints_column_says_it_holds_the_violation(tmp_path: Path) -> None:
    """'constraint:energy/total_J <= 1' = 1.5 read as a 1.5 J trial; it is a 2.5 J trial, broken by 1.5 J."""
    write_all(build_report("edges", _infeasible_study().get_trials(), ReportSettings(NAMES, DIRECTIONS, [CONSTRAINT])),
              tmp_path, figures=False)  # fmt: skip
    with open(tmp_path / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r[f"violation:{CONSTRAINT}"]) for r in rows] == [1.5, 2.5]
    assert not any(key.startswith("constraint:") for key in rows[0])


def test_the_hardware_of_a_machine_without_gpus_says_none() -> None:
    """'- gpus: ' was left blank."""
    from ecopt_lightning.sweeper._energy_report import render

    report = build_report("edges", [], ReportSettings(NAMES, DIRECTIONS))
    report.notes = {"hardware": {"cpu": "AMD EPYC", "gpus": [], "gpu_note": "no NVIDIA GPU visible through NVML"}}
    assert "- gpus: none\n- gpu_note: no NVIDIA GPU visible through NVML\n" in render(report)


def test_the_tuning_cost_of_a_study_without_trials_reads_as_a_sentence() -> None:
    """'- 0 trials () used an energy no trial reported (unknown, not zero).'"""
    from ecopt_lightning.sweeper._energy_report import render

    tuning = render(build_report("edges", [], ReportSettings(NAMES, DIRECTIONS))).split("## Tuning cost", 1)[1]
    assert tuning.startswith("\n\n- No trial has run yet.\n")


def test_a_chosen_trial_that_breaks_a_constraint_is_said_so() -> None:
    """`ecopt report --chosen 0` on a trial that breaks the study's constraint: the chosen model's section read
    like any feasible choice."""
    from ecopt_lightning.sweeper._energy_report import render

    settings = ReportSettings(NAMES, DIRECTIONS, [CONSTRAINT])
    report = build_report("edges", _infeasible_study().get_trials(), settings, baseline=1, chosen=0)
    chosen = render(report).split("## The chosen model", 1)[1].split("## Tuning cost", 1)[0]
    assert "- It breaks the study's constraints: energy/total_J=2.5 breaks '<= 1'." in chosen


def test_a_study_resumed_with_another_fixed_override_does_not_pool_different_models(tmp_path: Path) -> None:
    """Resumed with depth=4 after depth=1 (a fixed override, not a searched parameter): the two trials of
    width=16 were pooled into one point whose accuracy, the median of both, no model had."""
    from .conftest import run_multirun

    sweep = tmp_path / "sweep"
    assert run_multirun(sweep, "width=choice(16)", "depth=1", "hydra.sweeper.n_trials=1").returncode == 0
    assert run_multirun(sweep, "width=choice(16)", "depth=4", "hydra.sweeper.n_trials=2").returncode == 0
    with open(sweep / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["config_group"] for r in rows] == ["", ""]  # two configs, each run once
    with open(sweep / "pareto_front.csv", newline="") as f:
        front = list(csv.DictReader(f))
    assert {r["merged_trials"] for r in front} == {""}
    assert {float(r["val_acc"]) for r in front} <= {float(r["val_acc"]) for r in rows}  # values some model had


def test_an_estimated_share_with_trials_that_did_not_say_is_a_lower_bound() -> None:
    """'50% of it ESTIMATED' with a trial that did not say: its energy may be estimated too."""
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    for w, attrs in [(0.5, {SOURCES_ATTR: {"cpu:0": "estimate"}}), (1.5, {})]:
        attrs = {**attrs, "energy/total_J": 2.0}
        study.add_trial(optuna.trial.create_trial(values=[w, w], params={"w": w}, distributions=DIST, user_attrs=attrs))
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    assert report.estimated_text() == "at least 50% of it ESTIMATED, not measured; 1 trial(s) did not say"


def test_the_chosen_trials_sources_come_from_the_study_when_its_job_dir_is_gone() -> None:
    """`ecopt report` where the job dirs are not (another machine, a moved sweep): the Method section lost the
    chosen trial's sources, which the sweeper stored on the trial."""
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._schema import JOB_DIR_ATTR, SOURCES_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    attrs = {SOURCES_ATTR: {"gpu:0": "nvml_counter", "cpu:0": "rapl"}, JOB_DIR_ATTR: "/nonexistent/job/0"}
    study.add_trial(
        optuna.trial.create_trial(values=[0.9, 0.01], params={"w": 1.0}, distributions=DIST, user_attrs=attrs)
    )
    method = render(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))).split("## Method")[1]
    assert "- Energy sources of the chosen trial, per domain: gpu:0: nvml_counter, cpu:0: rapl." in method


def test_a_chosen_trial_that_recorded_no_sources_is_said_to_have_none() -> None:
    """Regression (reports audit, 2026-11-29): the chosen model's energies (training, per sample) were given with no
    word of their source when its job recorded none (an app without EnergyCallback, a study made elsewhere): the
    Method section just left the line out, and nothing said the figures' origin was unknown."""
    from ecopt_lightning.sweeper._energy_report import render

    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.9, 0.01], params={"w": 1.0}, distributions=DIST, user_attrs={NAMES[1]: 0.01}
        )
    )
    method = render(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))).split("## Method")[1]
    assert (
        "- Energy sources of the chosen trial: unknown (its job wrote no energy_summary.json and the study "
        "holds none): its figures may be measured or ESTIMATED.\n"
    ) in method


def test_every_trial_of_a_repeated_config_that_is_the_knee_says_so_in_trials_csv(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): the knee, a config run in trials 0 and 1, had knee=True on trial 0's
    row of trials.csv only, while both rows said on_front=True: the file disagreed with itself."""
    study = optuna.create_study(directions=DIRECTIONS)
    for w, acc in [(1.0, 0.9), (1.0, 0.91)]:  # one config, twice: the only point, so the knee
        study.add_trial(optuna.trial.create_trial(values=[acc, 1.0], params={"w": w}, distributions=DIST))
    write_all(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS)), tmp_path, figures=False)
    with open(tmp_path / "trials.csv", newline="") as f:
        rows = [(r["trial"], r["point_on_front"], r["knee"], r["config_group"]) for r in csv.DictReader(f)]
    assert rows == [("0", "True", "True", "0"), ("1", "True", "True", "0")]


def test_a_sweep_whose_only_energy_came_from_a_late_run_says_that_energy(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): a run whose result came after another worker had failed its trial is
    counted in the sweep's energy ('late result, not stored'); when no stored trial reported energy, the report
    still said 'unknown (no trial reported its energy)' and summary.json's total_J was null, with the late run's
    2 J in sweep_energy_J and in the sources."""
    import json

    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._sweep_report import LATE_RUN_SOURCE

    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.5, 1.0], params={"w": 1.0}, distributions=DIST))
    late = {"0": {"energy_J": 2.0, "sources": {"cpu:0": "estimate"}}}
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS), late_runs=late)
    assert report.energy_reported and report.sweep_energy_text() == "2 J (1 trial(s) did not report theirs)"
    write_all(report, tmp_path, figures=False)
    energy = json.loads((tmp_path / "summary.json").read_text())["sweep_energy"]
    assert energy["total_J"] == 2.0 and energy["sources"] == {LATE_RUN_SOURCE: 1}
    assert "- Tuning energy: 100% of it ESTIMATED, not measured.\n" in render(report)


def test_every_energy_in_the_files_says_which_metric_it_is(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): ``energy_J`` in trials.csv, pareto_front.csv and pareto_front.json
    did not say what it was: the task's ``energy/total_J``, the sum of its phase totals where that was missing, with
    a pre-training check added, or a repeated config's median; summary.json only counted the ways."""
    import json

    from ecopt_lightning.sweeper._schema import CHECK_ENERGY_ATTR, CHECK_SOURCE_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    trials = [  # (w, metrics): a plain trial, one without energy/total_J, one checked before training, twice one config
        (0.5, {"energy/total_J": 4.0}),
        (1.0, {"energy/train_total_J": 3.0, "energy/val_total_J": 1.0}),
        (1.5, {"energy/total_J": 5.0, CHECK_ENERGY_ATTR: 0.5, CHECK_SOURCE_ATTR: "rapl"}),
        (2.0, {"energy/total_J": 6.0}),
        (2.0, {"energy/total_J": 8.0}),
    ]
    for w, attrs in trials:
        study.add_trial(  # each its own point on the front: more accurate as it costs more per sample
            optuna.trial.create_trial(values=[w, w], params={"w": w}, distributions=DIST, user_attrs=attrs)
        )
    write_all(build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS)), tmp_path, figures=False)
    want = {
        0: "energy/total_J",
        1: "sum of energy/train_total_J, energy/val_total_J",
        2: "energy/total_J + pre-training check (rapl)",
        3: "energy/total_J",
        4: "energy/total_J",
    }
    with open(tmp_path / "trials.csv", newline="") as f:
        assert {int(row["trial"]): row["energy_from"] for row in csv.DictReader(f)} == want
    merged = "median of trials 3, 4 (energy/total_J)"
    on_front = {0: want[0], 1: want[1], 2: want[2], 3: merged}
    with open(tmp_path / "pareto_front.csv", newline="") as f:
        assert {int(row["trial"]): row["energy_from"] for row in csv.DictReader(f)} == on_front
    front = json.loads((tmp_path / "pareto_front.json").read_text())["trials"]
    assert {t["trial"]: (t["energy_J"], t["energy_from"]) for t in front} == {
        0: (4.0, want[0]),
        1: (4.0, want[1]),
        2: (5.5, want[2]),
        3: (7.0, merged),
    }


def test_a_report_killed_while_it_replaces_an_attached_artifact_leaves_the_old_one_whole(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): attaching again replaced each artifact of the study's store in place
    (opened for writing, emptied, then copied), so a report or sweep killed meanwhile left optuna-dashboard a cut
    file, for good. A kill while the second file is replaced now leaves every stored artifact whole, the old one or
    the new, and the next ``ecopt report --attach`` removes the killed writer's temp file."""
    from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta

    from ecopt_lightning.cli import main

    from .conftest import killed_at

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    study.add_trial(optuna.trial.create_trial(values=[0.5, 1.0], params={"w": 1.0}, distributions=DIST))
    out = tmp_path / "report"
    assert main(["report", "--storage", storage, "--study", "s", "--out", str(out), "--attach"]) == 0
    store_dir = out / "optuna_artifacts"
    before = {p.name: p.read_bytes() for p in store_dir.iterdir()}
    study.add_trial(optuna.trial.create_trial(values=[0.9, 2.0], params={"w": 1.5}, distributions=DIST))
    code = "import sys\nfrom ecopt_lightning.cli import main\nmain(sys.argv[1:])\n"
    killed_at("artifact_attach:2", code, "report", "--storage", storage, "--study", "s", "--out", str(out), "--attach")
    store = FileSystemArtifactStore(str(store_dir))  # as optuna-dashboard reads it
    metas = get_all_artifact_meta(optuna.load_study(study_name="s", storage=storage))
    kept = {m.artifact_id: store.open_reader(m.artifact_id).read() for m in metas}
    assert set(kept) == set(before)
    files = {m.artifact_id: (out / m.filename).read_bytes() for m in metas}  # the new files, all written by then
    assert all(kept[i] in (before[i], files[i]) for i in kept)  # whole: old or new
    assert sum(kept[i] == files[i] != before[i] for i in kept) == 1  # the first one replaced, the second not yet
    assert [p.name for p in store_dir.iterdir() if p.name.startswith(".")] != []  # the killed writer's temp file
    assert main(["report", "--storage", storage, "--study", "s", "--out", str(out), "--attach"]) == 0
    assert [p.name for p in store_dir.iterdir() if p.name.startswith(".")] == []
    assert {i: store.open_reader(i).read() for i in kept} == files


def _not_json(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")


def test_a_value_that_is_not_a_finite_number_is_null_in_the_json_files(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): a front trial whose job returned energy/estimated_fraction NaN (0 J
    counted: a share of nothing), or met a constraint by -inf (its metric was -inf), had the strings "nan" and "-inf"
    in pareto_front.json and the study's dashboard attributes: text where readers expect a number or null."""
    import json

    from ecopt_lightning.sweeper._artifacts import publish_to_study
    from ecopt_lightning.sweeper._schema import FRONT_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    attrs = {
        "energy/total_J": 0.0,
        "energy/estimated_fraction": float("nan"),
        "log_ratio": float("-inf"),
        CONSTRAINTS_ATTR: {"log_ratio <= 0": float("-inf")},
    }
    study.add_trial(
        optuna.trial.create_trial(values=[0.5, 1e-4], params={"w": 1.0}, distributions=DIST, user_attrs=attrs)
    )
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS, ["log_ratio <= 0"]))
    write_all(report, tmp_path, figures=False)
    publish_to_study(study, report)
    files = {p.name: json.loads(p.read_text(), parse_constant=_not_json) for p in tmp_path.glob("*.json")}
    assert set(files) == {"pareto_front.json", "summary.json"}
    (row,) = files["pareto_front.json"]["trials"]
    assert row["energy_estimated_fraction"] is None and row["energy_J"] == 0.0
    assert row["constraints"] == {"log_ratio <= 0": None}
    written = json.dumps([files, study.user_attrs[FRONT_ATTR]])
    assert '"nan"' not in written and '"-inf"' not in written


def test_an_estimated_share_that_is_no_share_is_unknown_not_nan_percent(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): a job that counted 0 J returns energy/estimated_fraction NaN (a share
    of nothing); energy_report.md then read 'Tuning energy: nan% of it ESTIMATED' and the chosen trial's share
    'nan%', and so did the dashboard's sweep energy: the sweep's estimated part is NaN once one trial's is."""
    import json

    from ecopt_lightning.sweeper._artifacts import dashboard_attrs
    from ecopt_lightning.sweeper._schema import SWEEP_ENERGY_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    for w, values, attrs in [
        (0.0, [0.9, 1e-4], {"energy/total_J": 0.0, "energy/estimated_fraction": float("nan")}),
        (1.0, [0.8, 2e-4], {"energy/total_J": 10.0, "energy/estimated_fraction": 1.0}),
    ]:
        study.add_trial(optuna.trial.create_trial(values=values, params={"w": w}, distributions=DIST, user_attrs=attrs))
    report = build_report("edges", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    write_all(report, tmp_path)
    said = "at least 100% of it ESTIMATED, not measured; 1 trial(s) did not say"
    text = (tmp_path / "energy_report.md").read_text()
    assert f"- Tuning energy: {said}.\n" in text and "nan" not in text
    assert f"10 J, 2 trial(s), {said};" in dashboard_attrs(report)[SWEEP_ENERGY_ATTR]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sweep_energy"]["estimated_J"] == 10.0
    assert summary["degraded_measurements"]["trials"] == {
        "0": ["energy: energy/estimated_fraction is nan, not a share: how much is estimated is unknown"]
    }
    with (tmp_path / "trials.csv").open() as f:
        assert [row["energy_estimated_fraction"] for row in csv.DictReader(f)] == ["", "1.0"]


def test_a_late_runs_energy_keeps_its_estimated_share(tmp_path: Path) -> None:
    """Regression (artifacts audit, 2026-11-29): a job whose result came after another worker had failed its trial
    kept its energy and sources but not its summary's estimated share, so with mixed sources (GPU measured, CPU
    estimated) the sweep's line said '1 trial(s) did not say' though the summary said."""
    import json

    from hydra.core.utils import JobReturn, JobStatus

    from ecopt_lightning.sweeper._results import count_late_run
    from ecopt_lightning.sweeper._sweep_report import late_runs
    from ecopt_lightning.sweeper.config import validate

    job = tmp_path / "job"
    job.mkdir()
    summary = {"total_J": 8.0, "estimated_fraction": 0.25, "sources": {"gpu:0": "nvml_counter", "cpu:0": "estimate"}}
    (job / "energy_summary.json").write_text(json.dumps(summary))
    study = optuna.create_study(directions=DIRECTIONS)
    trial = study.ask()
    study.tell(trial, state=optuna.trial.TrialState.FAIL)  # failed by another worker while its job ran on
    ret = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("late"), working_dir=str(job))
    settings = validate({"objectives": [{"name": n, "direction": d} for n, d in zip(NAMES, DIRECTIONS, strict=True)]})
    count_late_run(study, study.trials[0], ret, settings)
    late = late_runs(study.user_attrs)
    assert late["0"]["estimated_fraction"] == 0.25
    report = build_report("edges", [], ReportSettings(NAMES, DIRECTIONS), late_runs=late)
    assert (report.sweep_estimated_J, report.trials_without_source) == (2.0, 0)


def test_a_checked_trial_whose_run_reported_no_energy_keeps_the_checks(tmp_path: Path) -> None:
    """Regression (tuning-cost audit, 2026-11-30): a trial that passed the pre-training check and then failed
    before its run reported any energy (killed in its first epoch, before EnergyCallback's first summary) lost the
    check's measured energy too: it was added to the run's only when the run had one, so the sweep's total and the
    payback left it out. It counts now, its source saying it is the check's alone."""
    import json

    from optuna.trial import TrialState

    from ecopt_lightning.sweeper._schema import CHECK_ENERGY_ATTR, CHECK_SOURCE_ATTR

    study = optuna.create_study(directions=DIRECTIONS)
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.5, 0.5], params={"w": 0.5}, distributions=DIST, user_attrs={"energy/total_J": 4.0}
        )
    )
    checked = {CHECK_ENERGY_ATTR: 0.5, CHECK_SOURCE_ATTR: "rapl"}
    study.add_trial(
        optuna.trial.create_trial(state=TrialState.FAIL, params={"w": 1.0}, distributions=DIST, user_attrs=checked)
    )
    report = build_report("checked", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))
    assert report.sweep_energy_J == 4.5 and report.tuning_energy_J == 4.5
    write_all(report, tmp_path, figures=False)
    energy = json.loads((tmp_path / "summary.json").read_text())["sweep_energy"]
    assert energy["total_J"] == 4.5 and energy["trials_without_energy"] == 0
    with open(tmp_path / "trials.csv", newline="") as f:
        rows = {int(row["trial"]): row for row in csv.DictReader(f)}
    assert rows[1]["energy_from"] == "pre-training check (rapl) alone: the run after it reported no energy"


def test_a_pre_training_checks_estimated_energy_is_not_read_as_measured() -> None:
    """Regression (tuning-cost audit, 2026-11-30): a trained trial's pre-training check was given the run's
    ESTIMATED share (``energy/estimated_fraction``): a measured run with an estimated check of 10 J read '0% of it
    ESTIMATED, not measured' for 20 J, an estimate presented as a measurement. The check's share is now its own
    source's; a check that names no source leaves the share unknown, not 0."""
    from ecopt_lightning.sweeper._schema import CHECK_ENERGY_ATTR, CHECK_SOURCE_ATTR

    def report(check_source: str | None):
        study = optuna.create_study(directions=DIRECTIONS)
        attrs: dict[str, Any] = {"energy/total_J": 10.0, "energy/estimated_fraction": 0.0, CHECK_ENERGY_ATTR: 10.0}
        if check_source is not None:
            attrs[CHECK_SOURCE_ATTR] = check_source
        study.add_trial(
            optuna.trial.create_trial(values=[0.5, 0.5], params={"w": 0.5}, distributions=DIST, user_attrs=attrs)
        )
        return build_report("checked", study.get_trials(), ReportSettings(NAMES, DIRECTIONS))

    estimated = report("estimate")
    assert (estimated.sweep_energy_J, estimated.sweep_estimated_J) == (20.0, 10.0)
    assert estimated.estimated_text() == "50% of it ESTIMATED, not measured"
    assert report("rapl").sweep_estimated_J == 0.0
    assert report(None).trials_without_source == 1
