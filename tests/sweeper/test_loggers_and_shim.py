"""Artifacts logged to TensorBoard, W&B (offline) and MLflow; the Hydra shim stays light to import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from ecopt_lightning.sweeper._artifacts import write_all
from ecopt_lightning.sweeper._loggers import log_everywhere
from ecopt_lightning.sweeper._schema import ReportSettings
from ecopt_lightning.sweeper._sweep_report import build_report
from tests.callback.helpers import wandb_records
from tests.guards import SUBPROCESS_S


@pytest.fixture
def report_and_paths(tmp_path: Path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, joules in [(0.8, 2.0), (0.9, 3.0), (0.7, 3.5)]:
        study.add_trial(
            optuna.trial.create_trial(
                values=[acc, joules],
                params={"w": 1.0},
                distributions={"w": optuna.distributions.FloatDistribution(0, 2)},
                user_attrs={"energy/total_J": joules},
            )
        )
    report = build_report(
        "logtest", study.get_trials(), ReportSettings.default(["acc", "energy/total_J"], ["maximize", "minimize"])
    )
    return report, write_all(report, tmp_path)


def test_tensorboard_gets_figure_and_text(report_and_paths, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    report, paths = report_and_paths
    where = log_everywhere(["tensorboard"], report, tmp_path, paths, {})
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(where["tensorboard"], size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert "ecopt/pareto_front" in events.Tags()["images"]
    assert any(tag.startswith("ecopt/summary") for tag in events.Tags()["tensors"])


def test_wandb_offline_artifact(report_and_paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    report, paths = report_and_paths
    where = log_everywhere(["wandb"], report, tmp_path, paths, {"wandb": {"mode": "offline"}})
    assert "wandb" in where
    run_dirs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert run_dirs and list(run_dirs[0].glob("*.wandb"))
    # the folder the message names holds the artifacts (it held only requirements.txt), and says how to upload
    files = run_dirs[0] / "files"
    assert f"run files in {files};" in where["wandb"]
    assert {p.name for p in paths} - {"pareto_front.html"} <= {p.name for p in files.iterdir()}
    assert not (files / "pareto_front.html").exists()  # blank without plotly.min.js beside it
    assert f"`wandb sync {run_dirs[0]}`" in where["wandb"]


def test_mlflow_artifacts(report_and_paths, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    report, paths = report_and_paths
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kwargs = {"mlflow": {"tracking_uri": uri, "experiment_name": "ecopt-test"}}
    where = log_everywhere(["mlflow"], report, tmp_path, paths, kwargs)
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    names = {Path(a.path).name for a in client.list_artifacts(where["mlflow"], "ecopt")}
    # all but the HTML, which loads plotly.min.js from beside it and would show blank in MLflow's viewer
    # (regression, loggers audit 2026-11-29)
    assert "pareto_front.html" in {p.name for p in paths}
    assert names == {p.name for p in paths} - {"pareto_front.html"}


def test_missing_logger_package_is_a_warning_not_an_error(report_and_paths, tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    report, paths = report_and_paths
    assert log_everywhere(["wandb"], report, tmp_path, paths, {}) == {}
    assert "skipped" in caplog.text


def test_shim_imports_neither_optuna_nor_torch() -> None:
    code = (
        "import sys, hydra_plugins.ecopt_sweeper.ecopt_sweeper as m;"
        "heavy = [x for x in ('optuna', 'torch', 'lightning', 'matplotlib', 'plotly') if x in sys.modules];"
        "assert not heavy, heavy; print(m.EcoptSweeper.__name__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_S)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "EcoptSweeper"


def test_hydra_discovers_the_plugin() -> None:
    code = (
        "from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper;"
        "print([p.__name__ for p in Plugins.instance().discover(Sweeper)])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_S)
    assert "EcoptSweeper" in proc.stdout, proc.stderr


def test_a_sweep_without_energy_logs_no_zero_joules(tmp_path: Path) -> None:
    """No trial reported its energy: TensorBoard got ecopt/sweep_energy_J = 0 and the summary text read
    'sweep energy: None J'; an energy that was reported says how much of it is estimated."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ecopt_lightning.sweeper._loggers import _markdown
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    study = optuna.create_study(directions=["maximize", "minimize"])
    w = {"w": optuna.distributions.FloatDistribution(0, 2)}
    study.add_trial(optuna.trial.create_trial(values=[0.8, 0.1], params={"w": 1.0}, distributions=w))
    settings = ReportSettings.default(["acc", "energy/inference_per_sample_J"], ["maximize", "minimize"])
    report = build_report("nothing", study.get_trials(), settings)
    assert "- sweep energy: unknown (no trial reported its energy)\n" in _markdown(report)
    where = log_everywhere(["tensorboard"], report, tmp_path, write_all(report, tmp_path / "files"), {})
    events = EventAccumulator(where["tensorboard"])
    events.Reload()
    assert "ecopt/sweep_energy_J" not in events.Tags()["scalars"]
    attrs = {"energy/total_J": 2.0, SOURCES_ATTR: {"cpu:0": "estimate"}}
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.2], params={"w": 1.5}, distributions=w, user_attrs=attrs))
    text = _markdown(build_report("some", study.get_trials(), settings))
    said = "2 J (1 trial(s) did not report theirs), 100% of it ESTIMATED, not measured; from energy/total_J: 1 trial(s)"
    assert f"- sweep energy: {said}\n" in text


def test_wandb_takes_a_study_whose_name_has_spaces_or_accents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B refuses artifact names outside [A-Za-z0-9_.-]: a study named 'my study' lost its W&B logging to
    'logger wandb failed: ValueError: Artifact name may only contain ...'."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.8, 2.0], user_attrs={"energy/total_J": 2.0}))
    settings = ReportSettings.default(["acc", "energy/total_J"], ["maximize", "minimize"])
    report = build_report("my study: é", study.get_trials(), settings)
    where = log_everywhere(["wandb"], report, tmp_path, write_all(report, tmp_path / "files"), {"wandb": {}})
    assert "artifact pareto-front-my-study---" in where.get("wandb", "")


def test_mlflow_and_wandb_say_how_the_sweep_energy_was_obtained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (reports audit, 2026-11-29): MLflow's ``ecopt_sweep_energy_J`` and W&B's
    ``ecopt/sweep_energy_J`` were bare numbers, with nothing beside them saying the energy was ESTIMATED from CPU
    time (TensorBoard's summary text said it); nor did any of the three say which metric it was summed from, as the
    sweep's last log line does."""
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    import mlflow
    import wandb

    from ecopt_lightning.sweeper._loggers import SWEEP_ENERGY_HOW
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, joules in [(0.8, 2.0), (0.9, 3.0)]:
        attrs = {"energy/total_J": joules, SOURCES_ATTR: {"cpu:0": "estimate"}}
        study.add_trial(optuna.trial.create_trial(values=[acc, joules], user_attrs=attrs))
    settings = ReportSettings.default(["acc", "energy/total_J"], ["maximize", "minimize"])
    report = build_report("how", study.get_trials(), settings)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kwargs = {"mlflow": {"tracking_uri": uri, "experiment_name": "ecopt-test"}, "wandb": {"mode": "offline"}}
    where = log_everywhere(["mlflow", "wandb"], report, tmp_path, write_all(report, tmp_path / "files"), kwargs)
    said = "5 J, 100% of it ESTIMATED, not measured; from energy/total_J: 2 trial(s)"
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(where["mlflow"])
    assert run.data.metrics["ecopt_sweep_energy_J"] == 5.0
    assert run.data.tags[SWEEP_ENERGY_HOW] == said
    wandb.teardown()  # the W&B service writes out the run's record log
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/*.wandb")
    logged = {k: v for row in wandb_records(str(run_file)) if row["_record"] == "summary" for k, v in row.items()}
    assert logged["ecopt/sweep_energy_J"] == 5.0 and logged[SWEEP_ENERGY_HOW] == said
    assert logged["ecopt/tuning_energy_J"] == 5.0  # no confirm run: what tuning cost is the trials'


def test_mlflow_says_what_tuning_cost_with_confirm_beside_the_sweeps_energy(tmp_path: Path) -> None:
    """Regression (tuning-cost audit, 2026-11-30): a sweep resumed after `ecopt confirm` closed with confirm's
    energy and what tuning cost in its last log line, but the loggers' text, said to be that line's, left it out.
    Regression (tuning-cost follow-up, 2026-11-30): the loggers' numbers were the trials' energy alone
    (``ecopt/sweep_energy_J``), so after `ecopt confirm` TensorBoard and MLflow showed less than summary.json's
    ``tuning_total_J``; ``ecopt/tuning_energy_J`` now carries it, read back from their own files."""
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    import mlflow
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ecopt_lightning.sweeper._loggers import SWEEP_ENERGY_HOW
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, joules in [(0.8, 2.0), (0.9, 3.0)]:
        attrs = {"energy/total_J": joules, SOURCES_ATTR: {"cpu:0": "estimate"}}
        study.add_trial(optuna.trial.create_trial(values=[acc, joules], user_attrs=attrs))
    settings = ReportSettings.default(["acc", "energy/total_J"], ["maximize", "minimize"])
    report = build_report("how", study.get_trials(), settings, confirm_runs=[{"energy_J": 1.0, "estimated_J": 1.0}])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kwargs = {"mlflow": {"tracking_uri": uri, "experiment_name": "ecopt-test"}}
    files = write_all(report, tmp_path / "files")
    where = log_everywhere(["mlflow", "tensorboard"], report, tmp_path, files, kwargs)
    tuning_total = json.loads((tmp_path / "files" / "summary.json").read_text())["sweep_energy"]["tuning_total_J"]
    assert tuning_total == 6.0
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(where["mlflow"])
    assert run.data.metrics["ecopt_sweep_energy_J"] == 5.0  # the trials', as named
    assert run.data.metrics["ecopt_tuning_energy_J"] == tuning_total
    assert run.data.tags[SWEEP_ENERGY_HOW] == (
        "5 J, 100% of it ESTIMATED, not measured; from energy/total_J: 2 trial(s); with ecopt confirm's 1 J "
        "(1 run(s), 100% of it ESTIMATED, not measured), tuning cost 6 J"
    )
    events = EventAccumulator(where["tensorboard"])
    events.Reload()
    assert [e.value for e in events.Scalars("ecopt/sweep_energy_J")] == [5.0]
    assert [e.value for e in events.Scalars("ecopt/tuning_energy_J")] == [tuning_total]


def _tensorboard_summary(study: optuna.Study, tmp_path: Path) -> str:
    """The sweep's summary text as TensorBoard shows it, for a study of ``(acc, e)`` trials."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    report = build_report("x", study.get_trials(), ReportSettings(["acc", "e"], ["maximize", "minimize"]))
    where = log_everywhere(["tensorboard"], report, tmp_path, write_all(report, tmp_path / "files"), {})
    events = EventAccumulator(where["tensorboard"], size_guidance={"tensors": 0})
    events.Reload()
    (tag,) = [t for t in events.Tags()["tensors"] if t.startswith("ecopt/summary")]
    text = events.Tensors(tag)[0].tensor_proto.string_val[0].decode()
    return text


def test_the_tensorboard_text_gives_the_fronts_intervals_and_statuses(tmp_path: Path) -> None:
    """Regression (reports audit, 2026-11-29): TensorBoard's summary text gave the front as bare medians, with no
    interval, no word of which members are robust, and not the trials possibly on it: a ranking the measurement
    may not settle read as settled there."""
    pytest.importorskip("tensorboard")
    study = optuna.create_study(directions=["maximize", "minimize"])
    rows = [(0.8, 2.0, (1.5, 2.5)), (0.9, 3.0, (1.8, 3.5)), (0.7, 3.5, (3.4, 3.6)), (0.85, 3.2, (2.9, 3.4))]
    for acc, e, (lo, hi) in rows:
        attrs = {"energy/total_J": e, "e": e, "e_ci_lo": lo, "e_ci_hi": hi}
        study.add_trial(optuna.trial.create_trial(values=[acc, e], user_attrs=attrs))
    text = _tensorboard_summary(study, tmp_path)
    assert "| trial | front status | acc | e | energy sources | overrides |" in text
    assert "| 0 | on the front | 0.8 | 2 (95%: 1.5 to 2.5) | unknown |  |" in text
    assert "| 1 | on the front (robust) | 0.9 | 3 (95%: 1.8 to 3.5) | unknown |  |" in text
    assert "- possibly on the front (dominated by central values, not beyond the intervals): trial 3" in text


def test_wandb_does_not_record_a_password_from_the_sweeps_command_line(multirun, tmp_path: Path) -> None:
    """Regression (loggers audit, 2026-11-29): W&B records the process's command line in the run's metadata, which
    ``wandb sync`` uploads; the sweep's W&B run kept a URL's password from its command line (the storage's, a
    tracking URI's) in its ``.wandb`` file, as written."""
    pytest.importorskip("wandb")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    multirun(
        "width=choice(8,16)",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.loggers=[wandb]",
        f"+hydra.sweeper.logger_kwargs.wandb.dir={tmp_path}",
        "+hydra.sweeper.logger_kwargs.mlflow.tracking_uri=http://user:s3cretPW@127.0.0.1:9/",
        env=env,
    )
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/*.wandb")
    recorded = run_file.read_bytes()
    assert b"tracking_uri=http://user:***@127.0.0.1:9/" in recorded  # the command line is there, masked
    leaked = [p for p in (tmp_path / "wandb").rglob("*") if p.is_file() and b"s3cretPW" in p.read_bytes()]
    assert leaked == []


JOBLIB = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2")


@pytest.mark.parametrize("launcher", [(), JOBLIB], ids=["basic", "joblib"])
def test_a_job_does_not_see_a_password_on_its_command_line(multirun, tmp_path, launcher) -> None:
    """Regression (loggers audit, 2026-11-29): under the basic launcher each job runs in the sweep's own process,
    and joblib's workers inherit its command line (multiprocessing's spawn passes ``sys.argv``), so a task that
    records its command line (W&B's ``wandb.init`` does, into the run ``wandb sync`` uploads) kept the storage's
    password from ``sys.argv``."""
    argv_file = tmp_path / "argv.txt"
    multirun(
        *launcher,
        "width=choice(8,16)",
        "hydra.sweeper.n_trials=2",
        f"argv_file={argv_file}",
        "+hydra.sweeper.logger_kwargs.mlflow.tracking_uri=http://user:s3cretPW@127.0.0.1:9/",
    )
    lines = argv_file.read_text().splitlines()
    assert len(lines) == 2 and all("tracking_uri=http://user:***@127.0.0.1:9/" in line for line in lines), lines


def test_a_mistyped_logger_setting_stops_the_sweep_before_it_starts(multirun, tmp_path: Path) -> None:
    """Regression (loggers audit, 2026-11-29): a key the sweeper's TensorBoard or MLflow logging does not read
    (``logdir`` for ``log_dir``, ``experiment`` for ``experiment_name``) was ignored: the whole sweep ran and its front
    went to the default folder or experiment, with nothing said."""
    proc = multirun(
        "width=choice(8,16)",
        "hydra.sweeper.loggers=[tensorboard]",
        f"+hydra.sweeper.logger_kwargs.tensorboard.logdir={tmp_path / 'tb'}",
        expect_fail=True,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line]
    expected = "is not allowed: keys among log_dir (logdir is not one)"
    assert len(lines) == 1 and lines[0].startswith("hydra.sweeper.logger_kwargs.tensorboard=") and expected in lines[0]
    assert not (tmp_path / "sweep").exists() and not (tmp_path / "tb").exists()


def test_the_wandb_runs_files_are_the_front_it_logged(
    report_and_paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (loggers audit, 2026-11-29): the W&B run's files were links to the sweep dir, so an offline run
    synced after the same command had continued the sweep (which replaces the files) uploaded a later front beside
    this run's hypervolume, and one synced after the sweep dir was deleted (a fresh sweep) uploaded nothing."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    report, paths = report_and_paths
    logged = {p.name: p.read_bytes() for p in paths if p.name != "pareto_front.html"}  # not logged: see above
    log_everywhere(["wandb"], report, tmp_path, paths, {"wandb": {"mode": "offline"}})
    for path in paths:  # the sweep goes on: its files are replaced
        path.unlink()
        path.write_text("a later front")
    (files,) = (tmp_path / "wandb").glob("offline-run-*/files")
    assert {p.name: p.read_bytes() for p in files.iterdir() if p.name in logged} == logged
    # W&B disabled: nothing is copied (its run folder does not exist), nothing fails, and it says so
    where = log_everywhere(["wandb"], report, tmp_path / "off", paths, {"wandb": {"mode": "disabled"}})
    assert where == {"wandb": "nothing logged: W&B is disabled (mode=disabled)"}


def test_the_tensorboard_text_names_the_source_of_each_front_members_energy(tmp_path: Path) -> None:
    """Regression (loggers audit, 2026-11-29): TensorBoard's summary text gave the front's energies (J per sample)
    as bare numbers: an estimate from CPU time read as a measurement there, where pareto_front.csv names each
    row's sources."""
    pytest.importorskip("tensorboard")
    from ecopt_lightning.sweeper._schema import SOURCES_ATTR

    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, e, sources in [(0.8, 2.0, {"cpu:0": "estimate"}), (0.9, 3.0, {"cpu:0": "rapl", "gpu:0": "nvml_counter"})]:
        attrs = {"energy/total_J": e, SOURCES_ATTR: sources}
        study.add_trial(optuna.trial.create_trial(values=[acc, e], user_attrs=attrs))
    text = _tensorboard_summary(study, tmp_path)
    assert "| 0 | on the front (robust) | 0.8 | 2 | cpu:0=estimate |  |" in text
    assert "| 1 | on the front (robust) | 0.9 | 3 | cpu:0=rapl, gpu:0=nvml_counter |  |" in text


def test_a_quoted_password_with_a_space_is_masked_on_the_command_line_too() -> None:
    """Regression (loggers audit, 2026-11-29): the command line W&B records was masked by the URLs found in each
    argument, which end at a space, so a quoted storage URL whose password holds one kept it whole."""
    from ecopt_lightning.sweeper._secrets import command_line_secrets, hide

    arg = "hydra.sweeper.storage='postgresql://u:s3 cret@h/db'"
    assert hide(arg, command_line_secrets(["train.py", "-m", arg])) == "hydra.sweeper.storage='postgresql://u:***@h/db'"
