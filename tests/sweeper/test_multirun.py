"""Real Hydra multiruns of the toy task app (subprocess): samplers, constraints, failures, resume, launchers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from ecopt_lightning.cli import main as ecopt_main
from ecopt_lightning.sweeper._artifacts import FILES
from ecopt_lightning.sweeper._heartbeat import worker

from .conftest import load_study

pytestmark = pytest.mark.slow
SPACE = ("width=choice(8,16,32,64)", "lr=tag(log, interval(1e-4, 1e-1))")


def _front_numbers(sweep: Path) -> set[int]:
    return {t["trial"] for t in json.loads((sweep / "pareto_front.json").read_text())["trials"]}


def _one_per_config(study) -> set[int]:
    """Optuna's best trials, a config run in several trials counted once, as its first trial (our front merges
    repeats; the toy's metrics depend on the config only, so every repeat of a front config is a best trial)."""
    first: dict[str, int] = {}
    for t in sorted(study.trials, key=lambda t: t.number):
        first.setdefault(json.dumps(t.params, sort_keys=True), t.number)
    return {first[json.dumps(t.params, sort_keys=True)] for t in study.best_trials}


def test_two_objective_sweep_artifacts_match_optuna_then_resume_adds_only_missing(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(*SPACE, "hydra.sweeper.sampler=tpe", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2")
    study = load_study(sweep)
    assert study.metric_names == ["val_acc", "energy/inference_per_sample_J"]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert _front_numbers(sweep) == _one_per_config(study)
    for name in FILES:
        assert (sweep / name).stat().st_size > 0, name
    assert not list(sweep.glob(".*.tmp*")) and not list(sweep.glob(".pareto*"))  # no temp files left

    trial = study.trials[0]
    assert trial.user_attrs["ecopt.overrides"] == [f"width={trial.params['width']}", f"lr={trial.params['lr']!r}"]
    assert Path(trial.user_attrs["ecopt.job_dir"]) == sweep / "0"
    assert {"val_acc", "train_loss", "energy/total_J"} <= set(trial.user_attrs)

    front = json.loads((sweep / "pareto_front.json").read_text())["trials"]
    best = {t.number: t for t in study.best_trials}
    for row in front:
        assert row["objectives"]["val_acc"] == best[row["trial"]].values[0]
        assert row["samples_per_J"] == pytest.approx(1.0 / row["energy_per_sample_J"])
        assert row["overrides"] == best[row["trial"]].user_attrs["ecopt.overrides"]
    with open(sweep / "pareto_front.csv") as f:
        assert {int(r["trial"]) for r in csv.DictReader(f)} == set(best)
    with open(sweep / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["point_on_front"] == "True" for r in rows} >= {True}

    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["hypervolume"]["value"] > 0 and len(summary["hypervolume"]["reference_point"]) == 2
    assert summary["knee"]["trial"] in best
    assert summary["sweep_energy"]["total_J"] == pytest.approx(
        sum(t.user_attrs["energy/total_J"] for t in study.trials)
    )
    assert summary["sweep_energy"]["sources"] == {"energy/total_J": 4}
    carbon = summary["sweep_energy"]["carbon"]  # the toy has no EnergyCallback summary: the world average, named
    assert carbon["label"] == "480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)"
    assert carbon["total_gCO2e"] == pytest.approx(summary["sweep_energy"]["total_J"] / 3.6e6 * 480)
    assert set(summary["best_per_objective"]) == {"val_acc", "energy/inference_per_sample_J"}
    assert (sweep / "pareto_front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (sweep / "pareto_front.html").read_text()
    assert "Plotly.newPlot" in html and 'src="https://cdn.plot.ly' not in html  # no CDN: plotly.min.js beside it

    from optuna.artifacts import get_all_artifact_meta

    from ecopt_lightning.sweeper._artifacts import NOT_ATTACHED

    assert {m.filename for m in get_all_artifact_meta(study)} == set(FILES) - set(NOT_ATTACHED)

    # `ecopt report` rebuilds the same front from the storage alone
    out = tmp_path / "rebuilt"
    assert (
        ecopt_main(["report", "--storage", f"sqlite:///{sweep / 'ecopt.db'}", "--study", "toy", "--out", str(out)]) == 0
    )
    rebuilt = json.loads((out / "pareto_front.json").read_text())
    assert rebuilt == json.loads((sweep / "pareto_front.json").read_text())
    assert json.loads((out / "summary.json").read_text())["hypervolume"] == summary["hypervolume"]

    # same command with n_trials=6: only the 2 missing trials run; again: nothing runs
    first_params = [t.params for t in study.trials]
    multirun(*SPACE, "hydra.sweeper.sampler=tpe", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2")
    resumed = load_study(sweep).trials
    assert [t.state for t in resumed] == [TrialState.COMPLETE] * 6
    assert [t.params for t in resumed[:4]] == first_params  # the first 4 were not rerun
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3", "4", "5"]
    again = multirun(*SPACE, "hydra.sweeper.sampler=tpe", "hydra.sweeper.n_trials=6")
    assert len(load_study(sweep).trials) == 6
    # ... and says how to get more trials or a new sweep (first-hour audit: a rerun said only "nothing to launch")
    out = again.stdout + again.stderr
    assert "6 complete + 0 running of n_trials=6: nothing to launch (this sweep dir's study already has them: " in out
    assert "raise hydra.sweeper.n_trials to add trials, or give another hydra.sweep.dir" in out


@pytest.mark.parametrize("sampler", ["nsga2", "nsga3", "gp", "random", "qmc"])
def test_each_sampler_runs_a_sweep(multirun, tmp_path: Path, sampler: str) -> None:
    extra = ["+hydra.sweeper.sampler_kwargs.population_size=2"] if sampler.startswith("nsga") else []
    multirun(
        "width=choice(8,16,32)",
        "lr=interval(0.001, 0.1)",
        f"hydra.sweeper.sampler={sampler}",
        "hydra.sweeper.n_trials=3",
        *extra,
    )
    study = load_study(tmp_path / "sweep")
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert _front_numbers(tmp_path / "sweep") == _one_per_config(study)
    assert json.loads((tmp_path / "sweep" / "summary.json").read_text())["sampler"]["name"] == sampler


def test_constraints_keep_infeasible_trials_off_the_front(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(
        "width=choice(8,16,32,64)",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.constraints=['energy/inference_per_sample_J <= 0.002']",
    )
    study = load_study(sweep)
    infeasible = {t.number for t in study.trials if t.params["width"] >= 32}
    assert infeasible, "the seeded sampler should have tried a wide model"

    def expected(t):
        return {"energy/inference_per_sample_J <= 0.002": pytest.approx(t.params["width"] * 1e-4 - 0.002)}

    for t in study.trials:
        assert t.user_attrs["ecopt.constraints"] == expected(t)  # the sweeper's own record, Optuna 4 and 5
        # the list optuna-dashboard shows (it reads no other form); Optuna 5 reads it as trial.constraints
        assert t.system_attrs["constraints"] == list(expected(t).values())
        if hasattr(t, "constraints"):
            assert list(t.constraints.values()) == list(expected(t).values())
    # the dashboard's feasibility (all listed values <= 0) and Optuna's best_trials agree with our front
    dashboard_feasible = {t.number for t in study.trials if all(v <= 0 for v in t.system_attrs["constraints"])}
    assert {t.number for t in study.best_trials} <= dashboard_feasible
    assert dashboard_feasible == {t.number for t in study.trials} - infeasible
    front_lines = study.user_attrs["ecopt.pareto_front"]  # the study page shows the front without any file
    assert {int(line.split()[1].rstrip(":")) for line in front_lines} == _front_numbers(sweep)
    assert _front_numbers(sweep) == _one_per_config(study)
    assert not _front_numbers(sweep) & infeasible
    with open(sweep / "trials.csv") as f:
        rows = {int(r["trial"]): r for r in csv.DictReader(f)}
    assert {n for n, r in rows.items() if r["feasible"] == "False"} == infeasible


def test_failures_are_recorded_and_the_sweep_goes_on(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(
        "width=choice(16,64)",
        "mode=fail_if_wide",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failures=20",
    )
    study = load_study(sweep)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert failed and all(t.params["width"] == 64 for t in failed)
    assert all("RuntimeError: toy failure at width=64" in t.user_attrs["ecopt.error"] for t in failed)
    assert json.loads((sweep / "summary.json").read_text())["states"]["FAIL"] == len(failed)


def test_nan_objective_fails_trials_until_max_failures(multirun, tmp_path: Path) -> None:
    """NaN is a bad trial, not a config mistake (a missing name stops at once: test_first_job.py)."""
    sweep = tmp_path / "sweep"
    error = "objective 'val_acc' is nan"
    proc = multirun(
        "width=choice(8,16)",
        "mode=nan_acc",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failures=2",
        expect_fail=True,
    )
    assert "hydra.sweeper.max_failures=2 reached: 2 trials failed in this run; last error: " + error in proc.stderr
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    assert all(t.user_attrs["ecopt.error"] == error for t in study.trials)
    assert all("energy/total_J" in t.user_attrs for t in study.trials)  # metrics kept for failed trials
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["pareto_front_size"] == 0 and summary["sweep_energy"]["total_J"] > 0


def test_joblib_launcher_two_jobs_and_energy_fallback(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(
        *SPACE,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "energy_keys=split",
    )
    study = load_study(sweep)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4
    assert _front_numbers(sweep) == _one_per_config(study)
    energy = json.loads((sweep / "summary.json").read_text())["sweep_energy"]
    assert energy["sources"] == {"sum of energy/fit_total_J, energy/inference_total_J": 4}
    expected = sum(t.user_attrs["energy/fit_total_J"] + t.user_attrs["energy/inference_total_J"] for t in study.trials)
    assert energy["total_J"] == pytest.approx(expected)


def test_running_trials_of_other_workers_share_the_budget(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    other = optuna.create_study(
        study_name="toy", storage=f"sqlite:///{sweep / 'ecopt.db'}", directions=["maximize", "minimize"]
    )
    running = other.ask()  # another worker's trial, claimed by a live process (this one), still running
    running.set_user_attr("ecopt.worker", worker())
    multirun("width=choice(8,16)", "hydra.sweeper.n_trials=3", "hydra.sweeper.wait_for_running=false")
    states = [t.state for t in load_study(sweep).trials]
    assert states.count(TrialState.COMPLETE) == 2 and states.count(TrialState.RUNNING) == 1


def test_energy_budget_stops_new_trials_and_custom_space(multirun, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun(
        "hydra.sweeper.custom_search_space=spaces.conditional",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.energy_budget_J=2.5",
    )
    study = load_study(sweep)
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["stopped"].startswith("energy budget reached")
    assert summary["sampler"]["name"] == "tpe"  # auto: custom spaces may be conditional
    energies = [t.user_attrs["energy/total_J"] for t in study.trials]
    assert sum(energies[:-1]) < 2.5 <= sum(energies) and len(energies) < 5
    for t in study.trials:
        assert ("depth" in t.params) == (t.params["width"] >= 16)
        assert "energy_keys='total'" in t.user_attrs["ecopt.overrides"]  # strings are quoted


def _two_trials_and_10_J_of_confirm(multirun, sweep: Path) -> float:
    """A 2-trial sweep, then 10 J stored as ``ecopt confirm`` stores the energy it spent; returns the trials' J."""
    from ecopt_lightning.sweeper._schema import CONFIRM_ENERGY_ATTR

    multirun(*SPACE, "hydra.sweeper.n_trials=2")
    study = load_study(sweep)
    spent = {"energy_J": 10.0, "estimated_J": 0.0, "seconds": 1.0, "sources": {"cpu:0": "rapl"}, "invalid": {}}
    study.set_user_attr(CONFIRM_ENERGY_ATTR, [spent])
    return sum(t.user_attrs["energy/total_J"] for t in study.trials)


def test_the_energy_budget_counts_what_ecopt_confirm_spent(multirun, tmp_path: Path) -> None:
    """Regression (tuning-cost audit, 2026-11-30): ``energy_budget_J`` counted the trials' energy alone, so a sweep
    continued after ``ecopt confirm`` launched trials past a budget that what tuning cost (the payback's, with
    confirm's energy) had already reached."""
    sweep = tmp_path / "sweep"
    trials_J = _two_trials_and_10_J_of_confirm(multirun, sweep)

    multirun(*SPACE, "hydra.sweeper.n_trials=4", f"hydra.sweeper.energy_budget_J={trials_J + 5.0}")
    assert len(load_study(sweep).trials) == 2  # no new trial: tuning had cost trials_J + 10 J
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["stopped"].startswith(f"energy budget reached: {trials_J + 10.0:.6g} J >= "), summary["stopped"]
    assert summary["sweep_energy"]["tuning_total_J"] == pytest.approx(trials_J + 10.0)


def test_a_custom_space_may_return_dicts_and_lists(multirun, tmp_path: Path) -> None:
    """A returned {"optim": {"name": "sgd", ...}} was written as optim={'name': 'sgd', ...}, which Hydra's grammar
    refuses (the sweep stopped with its multi-line parse error), and a None in a list reached the app as 'None'."""
    sweep = tmp_path / "sweep"
    multirun(
        "hydra.sweeper.custom_search_space=spaces.with_containers",
        "hydra.sweeper.n_trials=1",
        app="composed.py",
    )
    (resolved,) = sweep.rglob("resolved.yaml")
    assert OmegaConf.to_container(OmegaConf.load(resolved).optim) == {"name": "sgd", "betas": [0.5, None]}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["hydra.sweeper.sampler=anneal"], "hydra.sweeper.sampler='anneal' is not allowed: one of auto, tpe"),
        (["+hydra.sweeper.params.width='range(1,'"], "hydra.sweeper.params.width='range(1,' is not allowed: choice("),
        (
            ["hydra.sweeper.objectives=[{name: val_acc, direction: up}]"],
            "hydra.sweeper.objectives[0].direction='up' is not allowed: maximize or minimize",
        ),
    ],
)
def test_bad_config_one_line_error_and_nothing_written(multirun, tmp_path: Path, overrides, expected: str) -> None:
    proc = multirun(*overrides, expect_fail=True)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line]
    assert len(lines) == 1 and lines[0].startswith(expected), proc.stderr
    assert not (tmp_path / "sweep").exists()


def test_n_trials_from_an_environment_variable(multirun, tmp_path: Path) -> None:
    """``hydra.sweeper.n_trials=${oc.env:N}`` (a cluster script's budget) resolves to a string, which
    hydra-optuna-sweeper's typed config converts; it was refused here as not an integer."""
    multirun(
        "width=choice(8,16,32)",
        "hydra.sweeper.n_trials=${oc.env:ECOPT_TEST_N_TRIALS}",
        env={"ECOPT_TEST_N_TRIALS": "2"},
    )
    assert len(load_study(tmp_path / "sweep").trials) == 2


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_job_that_fails_the_same_way_every_time_stops_the_sweep_after_its_first_trials(
    multirun, tmp_path: Path, n_jobs: int
) -> None:
    """Regression (stop 32's open list): a job that fails the same way in every trial (e.g. trainer.accelerator=gpu
    on a machine without one) ran all n_trials trials. Until a trial has completed, the first 3 trials (or the first
    batch, with n_jobs > 1) failing with the same exception stop the sweep in one line."""
    error = "RuntimeError: toy failure at width=8"
    proc = multirun(
        "width=8",
        "lr=interval(0.001,0.1)",
        "mode=raise",
        "hydra.sweeper.n_trials=10",
        f"hydra.sweeper.n_jobs={n_jobs}",
        expect_fail=True,
    )
    first = [0, 1, 2] if n_jobs == 1 else [0, 1]
    study = load_study(tmp_path / "sweep")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * len(first)
    (line,) = [x for x in proc.stderr.splitlines() if "failed the same way" in x]
    assert line.startswith(
        f"trials {', '.join(map(str, first))} failed the same way, and no trial has completed: {error}; "
    ), line
    assert "fix its cause and run the same command" in line and "hydra.sweeper.max_failures" in line
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["stopped"] == f"the first {len(first)} trials failed the same way: {error}"


@pytest.mark.parametrize("tolerate", ["hydra.sweeper.max_failure_rate=1.0", "hydra.sweeper.max_failures=4"])
def test_an_explicit_failure_setting_runs_on_through_the_same_failure(multirun, tmp_path: Path, tolerate: str) -> None:
    multirun(
        "width=8",
        "lr=interval(0.001,0.1)",
        "mode=raise",
        "hydra.sweeper.n_trials=4",
        tolerate,
        expect_fail=tolerate.endswith("max_failures=4"),  # reached: the sweep fails, after 4 trials
    )
    assert [t.state for t in load_study(tmp_path / "sweep").trials] == [TrialState.FAIL] * 4


def test_every_surface_states_the_same_trials_energy_and_tuning_total(multirun, tmp_path: Path, capsys) -> None:
    """One sweep resumed after `ecopt confirm` (its energy as confirm stores it): the closing line, summary.json,
    energy_report.md, the dashboard's attribute, `ecopt report` (its lines and files), TensorBoard's markdown
    summary and scalars and MLflow's metrics, read from their own files, state the same trials' energy and the same
    tuning total (tuning-cost follow-up, 2026-11-30; the loggers' scalars lacked the tuning total before 31eb5d7).
    pareto_front.html gives each trial's energy and no total."""
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    import mlflow
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ecopt_lightning.sweeper._loggers import SWEEP_ENERGY_METRIC, TUNING_ENERGY_METRIC, mlflow_name
    from ecopt_lightning.sweeper._schema import SWEEP_ENERGY_ATTR

    sweep = tmp_path / "sweep"
    trials = _two_trials_and_10_J_of_confirm(multirun, sweep)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    closing = multirun(
        *SPACE,
        "hydra.sweeper.n_trials=2",  # resumed: nothing to run, every surface written again
        "hydra.sweeper.loggers=[tensorboard,mlflow]",
        f"+hydra.sweeper.logger_kwargs.tensorboard.log_dir={tmp_path / 'tb'}",
        f"+hydra.sweeper.logger_kwargs.mlflow.tracking_uri='{uri}'",
    )
    total = trials + 10.0
    said = f"tuning cost {total:.6g} J"
    assert f"the sweep's own energy: {trials:.6g} J (" in closing.stderr + closing.stdout
    assert f"{said}; artifacts in " in closing.stderr + closing.stdout
    for where in (sweep, tmp_path / "report"):
        if where != sweep:
            capsys.readouterr()
            argv = ["report", "--storage", f"sqlite:///{sweep / 'ecopt.db'}", "--study", "toy", "--out", str(where)]
            assert ecopt_main(argv) == 0
            printed = capsys.readouterr().out
            assert f"sweep energy {trials:.6g} J" in printed, printed
            assert f"tuning energy {total:.6g} J (the trials' {trials:.6g} J and ecopt confirm's 10 J" in printed
        energy = json.loads((where / "summary.json").read_text())["sweep_energy"]
        assert energy["total_J"] == pytest.approx(trials) and energy["tuning_total_J"] == pytest.approx(total)
        report = (where / "energy_report.md").read_text()
        assert f"used {trials:.4g} J (" in report
        assert f"- What tuning cost (the payback's): {total:.6g} J (the trials' {trials:.6g} J and " in report
    assert said in load_study(sweep).user_attrs[SWEEP_ENERGY_ATTR]
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0})
    events.Reload()
    (tag,) = [t for t in events.Tags()["tensors"] if t.startswith("ecopt/summary")]  # the markdown summary
    text = events.Tensors(tag)[0].tensor_proto.string_val[0].decode()
    assert f"- sweep energy: {trials:.6g} J, " in text and f"{said}\n" in text, text
    assert [e.value for e in events.Scalars(SWEEP_ENERGY_METRIC)] == [pytest.approx(trials)]
    assert [e.value for e in events.Scalars(TUNING_ENERGY_METRIC)] == [pytest.approx(total)]
    (run,) = mlflow.MlflowClient(tracking_uri=uri).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(tracking_uri=uri).search_experiments()]
    )
    assert run.data.metrics[mlflow_name(SWEEP_ENERGY_METRIC)] == pytest.approx(trials)
    assert run.data.metrics[mlflow_name(TUNING_ENERGY_METRIC)] == pytest.approx(total)
