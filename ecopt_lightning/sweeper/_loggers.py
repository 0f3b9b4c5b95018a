"""Log the sweep's artifacts where the user logs: TensorBoard, Weights & Biases, MLflow (each optional).

Selected with ``hydra.sweeper.loggers=[tensorboard,wandb,mlflow]``; keyword arguments per logger come from
``hydra.sweeper.logger_kwargs.<logger>``. A logger whose package is missing is skipped with a warning.

Example:
    >>> import pathlib
    >>> from ecopt_lightning.sweeper._schema import ReportSettings
    >>> from ecopt_lightning.sweeper._sweep_report import build_report
    >>> report = build_report("s", [], ReportSettings.default(["acc"], ["maximize"]))
    >>> log_everywhere([], report, pathlib.Path("."), paths=[], kwargs={})  # nothing selected: nothing to do
    {}
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..energy.measurement import sources_text
from ._artifacts import NOT_ATTACHED, summary
from ._impact import interval_text
from ._progress import not_comparable_lines
from ._records import TrialRecord
from ._secrets import argv_hidden, hide, settings_secrets
from ._sweep_report import Report

log = logging.getLogger(__name__)

#: the trials' energy (J), late runs included: summary.json's ``sweep_energy.total_J``
SWEEP_ENERGY_METRIC = "ecopt/sweep_energy_J"
#: what tuning cost (J), the trials' energy and ``ecopt confirm``'s: summary.json's ``sweep_energy.tuning_total_J``
TUNING_ENERGY_METRIC = "ecopt/tuning_energy_J"
#: beside the sweep's energy (J) where a logger keeps a number alone: how it was obtained, in words
SWEEP_ENERGY_HOW = "ecopt/sweep_energy_how"


def mlflow_name(metric: str) -> str:
    """A metric's name as MLflow gets it: ``ecopt_...`` for ``ecopt/...``.

    Example:
        >>> mlflow_name(TUNING_ENERGY_METRIC)
        'ecopt_tuning_energy_J'
    """
    return metric.replace("/", "_")


def _energies(report: Report) -> dict[str, float]:
    """The trials' energy and what tuning cost, by metric name; none when no trial reported (unknown, not 0 J)."""
    if not report.energy_reported:
        return {}
    return {SWEEP_ENERGY_METRIC: report.sweep_energy_J, TUNING_ENERGY_METRIC: report.tuning_energy_J}


def _energy_text(report: Report) -> str:
    """The sweep's energy with how much of it is estimated and which metric it came from (as the sweep's last log
    line says), or why it is unknown."""
    if not report.energy_reported:
        return report.sweep_energy_text()
    return (
        f"{report.sweep_energy_text()}, {report.estimated_text()}; from {report.sources_text()}{report.confirm_text()}"
    )


def _markdown(report: Report) -> str:
    s = summary(report)
    lines = [
        f"# ecopt study `{report.study_name}`",
        "",
        f"- hypervolume: {s['hypervolume']['value']}",
        f"- reference point: {s['hypervolume']['reference_point']}",
        f"- knee: {s['knee']}",
        f"- sweep energy: {_energy_text(report)}",
        "",
        "| trial | front status | " + " | ".join(report.settings.objective_names) + " | energy sources | overrides |",
        "|---" * (len(report.settings.objective_names) + 4) + "|",
    ]
    names = report.settings.objective_names
    for r in report.front:
        values = " | ".join(_with_interval(r, n, v) for n, v in zip(names, r.values or [], strict=False))
        sources = sources_text(r.sources) or "unknown"  # an estimate is not to read as a measurement
        lines.append(f"| {r.number} | {r.front_status} | {values} | {sources} | {' '.join(r.overrides)} |")
    if report.possibly:
        numbers = ", ".join(str(r.number) for r in report.possibly)
        why = "dominated by central values, not beyond the intervals"
        lines += ["", f"- possibly on the front ({why}): trial {numbers}"]
    lines += [f"- {line}" for line in not_comparable_lines(report)]
    return "\n".join(lines)


def _with_interval(r: TrialRecord, name: str, value: float) -> str:
    """A front member's value with its 95% interval, when it has one."""
    return f"{value:.6g}{interval_text(r.intervals.get(name))}"


def _tensorboard(report: Report, out_dir: Path, paths: list[Path], kwargs: Mapping[str, Any]) -> str:
    from torch.utils.tensorboard import SummaryWriter

    from ._plots import figure

    log_dir = str(kwargs.get("log_dir", out_dir / "tensorboard"))
    with SummaryWriter(log_dir=log_dir) as writer:
        writer.add_figure("ecopt/pareto_front", figure(report), global_step=len(report.records))
        writer.add_text("ecopt/summary", _markdown(report), global_step=len(report.records))
        if report.hypervolume is not None:
            writer.add_scalar("ecopt/hypervolume", report.hypervolume, global_step=len(report.records))
        for metric, joules in _energies(report).items():
            writer.add_scalar(metric, joules, global_step=len(report.records))
    return log_dir


def artifact_name(study_name: str) -> str:
    """A W&B artifact name for the study's front: W&B takes only letters, digits, ``-``, ``_`` and ``.``.

    Example:
        >>> artifact_name("my study/é 2")
        'pareto-front-my-study---2'
    """
    return "pareto-front-" + re.sub(r"[^A-Za-z0-9_.-]", "-", study_name)


def _wandb(report: Report, out_dir: Path, paths: list[Path], kwargs: Mapping[str, Any]) -> str:
    import wandb

    init: dict[str, Any] = {
        "project": "ecopt",
        "job_type": "ecopt-sweep",
        "dir": str(out_dir),
        "name": report.study_name,
    }
    init.update(kwargs)
    with argv_hidden():
        run = wandb.init(**init)
    try:
        if getattr(run, "disabled", False):  # mode=disabled: W&B keeps nothing, and its run folder does not exist
            return "nothing logged: W&B is disabled (mode=disabled)"
        artifact = wandb.Artifact(name=artifact_name(report.study_name), type="pareto_front")
        for path in paths:
            artifact.add_file(str(path))
        run.log_artifact(artifact)
        for path in paths:  # also the run's own files: its folder then holds what the message names
            # a copy: W&B's own save links to the sweep dir, whose files a continued sweep replaces (or a fresh
            # one deletes) before an offline run is synced
            kept = Path(shutil.copy2(path, Path(run.dir) / path.name))
            run.save(str(kept), base_path=run.dir, policy="now")
        run.summary["ecopt/hypervolume"] = report.hypervolume
        energies = _energies(report)
        for metric in (SWEEP_ENERGY_METRIC, TUNING_ENERGY_METRIC):
            run.summary[metric] = energies.get(metric)  # None: unknown, not 0 J
        run.summary[SWEEP_ENERGY_HOW] = _energy_text(report)
        where = f"artifact {artifact.name} and run files in {run.dir}"
        if getattr(run, "offline", False):
            where += f"; offline run: upload with `wandb sync {Path(run.dir).parent}`"
        return where
    finally:
        run.finish()


def _mlflow(report: Report, out_dir: Path, paths: list[Path], kwargs: Mapping[str, Any]) -> str:
    import mlflow

    if "tracking_uri" in kwargs:
        mlflow.set_tracking_uri(kwargs["tracking_uri"])
    if "experiment_name" in kwargs:
        mlflow.set_experiment(kwargs["experiment_name"])
    with mlflow.start_run(run_name=kwargs.get("run_name", f"ecopt-{report.study_name}")) as run:
        for path in paths:
            mlflow.log_artifact(str(path), artifact_path="ecopt")
        if report.hypervolume is not None:
            mlflow.log_metric("ecopt_hypervolume", report.hypervolume)
        for metric, joules in _energies(report).items():
            mlflow.log_metric(mlflow_name(metric), joules)
        mlflow.set_tag(SWEEP_ENERGY_HOW, _energy_text(report))
        return str(run.info.run_id)


_LOGGERS = {"tensorboard": _tensorboard, "wandb": _wandb, "mlflow": _mlflow}


def log_everywhere(
    loggers: list[str],
    report: Report,
    out_dir: Path,
    paths: list[Path],
    kwargs: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """Log ``paths`` (the artifact files, but for those :data:`NOT_ATTACHED`) to each selected logger; return
    ``{logger: where}``.

    Failures are warnings, never fatal: the files are already in ``out_dir``.
    """
    paths = [p for p in paths if p.name not in NOT_ATTACHED]
    where = {}
    for name in loggers:
        try:
            where[name] = _LOGGERS[name](report, out_dir, paths, kwargs.get(name, {}))
            log.info("ecopt: logged the Pareto front to %s: %s", name, where[name])
        except ImportError as exc:
            log.warning("ecopt: logger %s skipped: %s is not installed", name, exc.name)
        except Exception as exc:  # a logging backend must not lose the sweep's results
            # its error may quote a URL of the kwargs (an MLflow tracking_uri) with its password
            why = hide(str(exc), settings_secrets(None, kwargs.get(name)))
            log.warning("ecopt: logger %s failed: %s: %s", name, type(exc).__name__, why)
    return where
