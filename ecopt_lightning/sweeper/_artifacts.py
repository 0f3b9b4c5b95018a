"""Write the sweep's artifacts atomically (temp file + ``os.replace``) and attach them to the Optuna study.

Files, in the output directory: ``pareto_front.json``, ``pareto_front.csv``, ``trials.csv``,
``pareto_front.png``, ``pareto_front.html``, ``summary.json`` and ``energy_report.md``.

Example:
    >>> import optuna, tempfile, pathlib
    >>> study = optuna.create_study(directions=["maximize"])
    >>> study.add_trial(optuna.trial.create_trial(values=[0.5], user_attrs={"energy/total_J": 2.0}))
    >>> report = build_report("s", study.get_trials(), ReportSettings.default(["acc"], ["maximize"]))
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> sorted(p.name for p in write_all(report, out, figures=False))
    ['pareto_front.csv', 'pareto_front.json', 'summary.json', 'trials.csv']
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .. import metrics as names
from ..energy.measurement import sources_text
from ..strict_json import dumps, strict
from ._atomic import atomic_write
from ._domains import RULE, left_out_text
from ._energy_report import sweep_carbon
from ._impact import interval_text
from ._pareto import pareto_indices
from ._plots import PLOTLY_JS
from ._records import TrialRecord
from ._repeats import group_of, merged_summary
from ._rung_report import RUNGS_PNG, energy_saved, rung_columns, rung_row, write_rungs_png
from ._schema import FRONT_ATTR, HYPERVOLUME_ATTR, KNEE_ATTR, SOURCES_SUMMARY_ATTR, SWEEP_ENERGY_ATTR, ReportSettings
from ._sweep_report import Report, _to_min, build_report

log = logging.getLogger(__name__)

FILES = (
    "pareto_front.json",
    "pareto_front.csv",
    "trials.csv",
    "pareto_front.png",
    "pareto_front.html",
    "summary.json",
    "energy_report.md",
)

OPTIMIZATION_RESULTS = "optimization_results.yaml"
#: its key for the sweep's own front, of points (a repeated config one point); the others are the official sweeper's
FRONT = "ecopt_front"
#: every file written through :func:`atomic_write`: a killed writer's temp file of any of them is removed
WRITTEN_ATOMICALLY = (*FILES, OPTIMIZATION_RESULTS, RUNGS_PNG, PLOTLY_JS)  # plotly.min.js: where links fail

__all__ = ["FILES", "Report", "ReportSettings", "attach_to_study", "build_report", "summary", "write_all"]


def _write_text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def _with_intervals(report: Report) -> list[str]:
    """The objectives that some trial reported an interval for (they get ``_ci_lo``/``_ci_hi`` columns)."""
    return [n for n in report.settings.objective_names if any(n in r.intervals for r in report.records)]


def _front_row(report: Report, r: TrialRecord) -> dict[str, Any]:
    return {
        "trial": r.number,
        "objectives": dict(zip(report.settings.objective_names, r.values or [], strict=False)),
        "intervals": {name: list(iv) for name, iv in r.intervals.items()},
        "front_status": r.front_status,
        "merged_trials": r.merged_trials,
        "confirmed": r.confirmed is not None,
        "sweep_objectives": None
        if r.sweep_values is None
        else dict(zip(report.settings.objective_names, r.sweep_values, strict=False)),
        "params": r.params,
        "overrides": r.overrides,
        "energy_per_sample_J": r.energy_per_sample_J,
        "samples_per_J": r.samples_per_J,
        "energy_J": r.energy_J,
        "energy_from": r.energy_source,
        "energy_sources": r.sources,
        "energy_estimated_fraction": r.metrics.get(names.ESTIMATED_FRACTION),
        "constraints": r.constraints,
        "job_dir": r.job_dir,
        "knee": report.knee is not None and r.number == report.knee.number,
    }


def summary(report: Report) -> dict[str, Any]:
    """The ``summary.json`` content: hypervolume and its reference point, knee, best trials, sweep energy."""
    s = report.settings
    carbon = sweep_carbon(report)
    knee = None
    if report.knee is not None:
        knee = {
            "trial": report.knee.number,
            "objectives": dict(zip(s.objective_names, report.knee.values or [], strict=False)),
            "params": report.knee.params,
        }
    return strict(
        {
            "study_name": report.study_name,
            "objectives": [{"name": n, "direction": d} for n, d in zip(s.objective_names, s.directions, strict=False)],
            "constraints": s.constraints,
            "n_trials": len(report.records),
            "states": report.states,
            "n_feasible_complete": sum(r.values is not None and r.feasible for r in report.records),
            "pareto_front_size": len(report.front),
            "pareto_front_robust": [r.number for r in report.front if r.robust],
            "possibly_on_front": [r.number for r in report.possibly],
            "confirmed": {str(r.number): r.confirmed for r in report.records if r.confirmed is not None},
            "repeated_configs": merged_summary(report.points),
            "front_method": "non-dominated by the objectives' central values (the median for an energy per "
            "sample); 'robust' when no trial it does not dominate could beat it within the 95% intervals; "
            "'possibly on the front' when dominated, but its interval overlaps those of every trial that "
            "dominates it",
            "hypervolume": {
                "value": report.hypervolume,
                "reference_point": report.reference_point,
                "method": "exact, over feasible comparable complete trials (not_comparable: the others); reference "
                "= worst value per objective pushed out by 10% of its range",
            },
            "knee": knee,
            "knee_method": "robust front member (any front member when none is robust) closest to the ideal "
            "point, each objective scaled to [0, 1]",
            "best_per_objective": report.best,
            "best_method": "the best central value among feasible comparable complete trials; not_separable_from: "
            "the others whose 95% interval (their value, without one) overlaps the best's",
            "sweep_energy": {
                "total_J": report.sweep_energy_J if report.energy_reported else None,
                "estimated_J": report.sweep_estimated_J if report.energy_reported else None,
                "trials_without_source": report.trials_without_source,
                "energy_metric": s.energy_metric,
                "sources": report.energy_sources,
                "trials_without_energy": sum(r.energy_J is None for r in report.records),
                "confirm": {
                    "energy_J": report.confirm_energy_J,
                    "estimated_J": report.confirm_estimated_J,
                    "runs": report.confirm_runs,
                }
                if report.confirm_runs
                else None,
                "tuning_total_J": report.tuning_energy_J if report.energy_reported else None,
                "carbon": {  # no trial reported energy: unknown, not 0 g
                    **carbon.grid.entry(report.tuning_energy_J, carbon.pue),
                    "pue_basis": carbon.pue_text,
                    **({} if report.energy_reported else {"total_gCO2e": None}),
                },
                "note": f"total_J: sum over all trials (failed ones included when they reported it) of "
                f"{s.energy_metric!r}; when a trial lacked it, the sum of its energy/*_total_J metrics; confirm: the "
                "energy `ecopt confirm` spent measuring the front again (all its runs; null: none ran); "
                "tuning_total_J: what tuning cost, total_J + confirm's, the payback's; carbon: the gCO2e of "
                "tuning_total_J at the grid intensity the trials' EnergyCallback used (the chosen trial's), else at "
                "the world average, and at their PUE when they agree (pue_basis)",
            },
            "measurement_quality": {
                "contended": [r.number for r in report.records if r.metrics.get(names.INFERENCE_CONTENDED) == 1.0],
                "not_converged": [r.number for r in report.records if r.metrics.get(names.INFERENCE_CONVERGED) == 0.0],
                "contended_training": [
                    r.number for r in report.records if r.metrics.get(names.contended("train")) == 1.0
                ],
                "note": "trials whose inference benchmark ran beside other processes' CPU load (contended), or "
                "whose training did (contended_training: energy/train_contended), or "
                "stopped at its cap before its 95% interval was within the target (not_converged); see "
                "docs/measurement.md",
            },
            "degraded_measurements": {
                "trials": {str(r.number): r.degraded for r in report.records if r.degraded},
                "note": "trials whose energy is partly estimated, or whose sensors were missing or failed "
                "(EnergyCallback's energy_summary.json in the job dir), or that ran in a reused process",
            },
            "not_comparable": {
                "sweep_kinds": None if report.domains is None else report.domains.kinds,
                # each kind's basis (measured, estimated, partly estimated), as the trials' reasons compare them
                "sweep_bases": None if report.domains is None else report.domains.bases,
                "trials": {str(r.number): r.not_comparable for r in report.not_comparable},
                "not_judged": [r.number for r in report.not_judged],
                "rule": RULE,
            },
            "impact": report.impact,
            "multi_fidelity": energy_saved(report.records),
            **{k: v for k, v in report.notes.items() if k != "hardware"},
            "hardware": report.notes.get("hardware"),
        }
    )


def _csv(rows: list[dict[str, Any]], blank: dict[str, Any]) -> str:
    """``rows`` as CSV; with no row, the header alone, of ``blank``'s columns (a row of a trial without values): a
    file with no header at all is not a table to csv or pandas readers (pandas raises ``EmptyDataError``)."""
    columns: list[str] = [] if rows else list(blank)
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _blank() -> TrialRecord:
    """A record without values, parameters or energy: its row names the columns every CSV row has."""
    return TrialRecord(0, "", None, {}, [], {}, {}, False, None, None, None, None, None, None)


def _flat(
    report: Report,
    r: TrialRecord,
    all_trials: bool,
    rungs: Sequence[str] = (),
    points: Mapping[int, TrialRecord] | None = None,
) -> dict[str, Any]:
    """One CSV row; ``points`` (:func:`._repeats.group_of`): each trial's point, for trials.csv's ``point_*``."""
    row: dict[str, Any] = {"trial": r.number}
    if all_trials:
        # the trial's own feasibility (as its violation columns), and its config's point's: a repeated config is
        # one point, judged on its members' median, so a member may break a constraint its point meets
        own = (points or {}).get(r.number, r)
        row.update({"state": r.state, "feasible": r.feasible})
        row.update({"point_feasible": own.feasible, "point_on_front": own.on_front})
    intervals = _with_intervals(report)
    for i, name in enumerate(report.settings.objective_names):
        row[name] = None if r.values is None else r.values[i]
        if name in intervals:
            lo, hi = r.intervals.get(name, (None, None))
            row[names.ci_lo(name)], row[names.ci_hi(name)] = lo, hi
        if any(x.sweep_values is not None for x in report.records):
            values = r.sweep_values or r.values
            row[f"{name}_sweep"] = values[i] if values else None
    row["front_status"] = r.front_status
    if all_trials:
        row["config_group"] = r.config_group  # the trial number of the point its repeated config merged into
    else:
        row["merged_trials"] = " ".join(str(n) for n in r.merged_trials or [])
    if any(x.confirmed is not None for x in report.records):
        row["confirmed"] = r.confirmed is not None
    row.update({f"param:{k}": v for k, v in r.params.items()})
    row.update({"energy_per_sample_J": r.energy_per_sample_J, "samples_per_J": r.samples_per_J, "energy_J": r.energy_J})
    # where the energy values come from: which metric (a sum of phases, a median, ...), domain=source, and the
    # estimated share the job reported
    row["energy_from"] = r.energy_source
    row["energy_sources"] = sources_text(r.sources)
    row["energy_estimated_fraction"] = r.metrics.get(names.ESTIMATED_FRACTION)
    # a trial of a repeated config stands where its point stands (as point_on_front does)
    point = r.number if r.config_group is None else r.config_group
    row["knee"] = report.knee is not None and point == report.knee.number
    # the violation, not the metric: <= 0 met, > 0 broken by that much (the metric's unit); "constraint:<text>"
    # with 0.6 under "energy/total_J <= 1.5" read as 0.6 J, a met constraint
    row.update({f"violation:{k}": v for k, v in r.constraints.items()})
    if all_trials:
        row["error"] = r.error
        row["degraded"] = "; ".join(r.degraded)
        row["not_comparable"] = r.not_comparable
        row.update(rung_row(r, rungs, report.settings.objective_names))
    row["overrides"] = " ".join(r.overrides)
    row["job_dir"] = r.job_dir
    return row


def write_all(report: Report, out_dir: Path, figures: bool = True, last: dict[Path, str] | None = None) -> list[Path]:
    """Write the artifacts into ``out_dir`` (created if needed); return their paths.

    ``figures``: also the documents for people (PNG, HTML, ``energy_report.md``): the sweep loop writes those on
    a timer and at the end, the JSON/CSV every batch. ``last``: the texts earlier calls wrote (updated here); a
    file whose text has not changed is not written again (the front's files change only with the front)."""
    from ._energy_report import render as render_energy_report
    from ._plots import write_html, write_png

    out_dir.mkdir(parents=True, exist_ok=True)
    front = [_front_row(report, r) for r in report.front]
    rungs = rung_columns(report.records, report.settings.objective_names)
    points = group_of(report.points)
    possibly = [_front_row(report, r) for r in report.possibly]
    summary_json = summary(report)
    texts = {
        "pareto_front.json": dumps(
            {
                "study_name": report.study_name,
                "objectives": summary_json["objectives"],
                "trials": front,
                "possibly_on_front": possibly,
            },
            indent=2,
        ),
        "pareto_front.csv": _csv([_flat(report, r, False) for r in report.front], _flat(report, _blank(), False)),
        "trials.csv": _csv(
            [_flat(report, r, True, rungs, points) for r in report.records], _flat(report, _blank(), True, rungs)
        ),
        "summary.json": dumps(summary_json, indent=2),
    }
    if figures:
        texts["energy_report.md"] = render_energy_report(report)
    written = []
    for name, text in texts.items():
        path = out_dir / name
        if last is None or last.get(path) != text:
            atomic_write(path, _write_text(text))
            if last is not None:
                last[path] = text
        written.append(path)
    if figures:
        for name, writer in (("pareto_front.png", write_png), ("pareto_front.html", write_html)):
            atomic_write(out_dir / name, functools.partial(writer, report))
            written.append(out_dir / name)
        if rungs:
            s = report.settings
            atomic_write(
                out_dir / RUNGS_PNG, lambda p: write_rungs_png(report.records, s.objective_names, s.directions, p)
            )
            written.append(out_dir / RUNGS_PNG)
    return written


def optimization_results(report: Report) -> dict[str, Any] | None:
    """hydra-optuna-sweeper's ``optimization_results.yaml`` content, its keys meaning what they mean there (Optuna's
    ``best_trial``: ``best_params``/``best_value``, one objective, ties the earliest trial; ``best_trials``:
    ``solutions``): the feasible complete trials, each its own, with the values the sweep stored. The sweep's own
    view, where a config run in several trials is one point with their median values, is ``ecopt_front``.
    ``None`` when no trial is complete and feasible."""
    s = report.settings
    trials = [(r, r.sweep_values or r.values) for r in report.records if r.values is not None and r.feasible]
    if not trials:
        return None
    ours = [
        {
            "trial": r.number,
            "merged_trials": r.merged_trials or [r.number],
            "params": dict(r.params),
            "values": r.values,
        }
        for r in report.front
    ]
    minimized = [_to_min(values or [], s.directions) for _, values in trials]
    if len(s.objective_names) == 1:
        best, values = trials[minimized.index(min(minimized))]  # ties: the earliest, as Optuna's best_trial
        return {"name": "ecopt", "best_params": dict(best.params), "best_value": (values or [])[0], FRONT: ours}
    solutions = [
        {"params": dict(trials[i][0].params), "values": list(trials[i][1] or [])} for i in pareto_indices(minimized)
    ]
    return {"name": "ecopt", "solutions": solutions, FRONT: ours}


def write_optimization_results(report: Report, out_dir: Path) -> Path | None:
    """Write ``optimization_results.yaml`` as hydra-optuna-sweeper does, so scripts reading it keep working."""
    from omegaconf import OmegaConf

    content = optimization_results(report)
    path = out_dir / OPTIMIZATION_RESULTS
    if content is None:
        # an earlier run's file would name trials that are no longer the answer (a constraint added since)
        stale = path.exists()
        path.unlink(missing_ok=True)
        log.info("ecopt: no optimization_results.yaml%s: no complete feasible trial", " (the old one removed)" * stale)
        return None
    atomic_write(path, _write_text(OmegaConf.to_yaml(OmegaConf.create(strict(content)))))
    return path


#: neither attached to the study nor logged to W&B or MLflow: the HTML needs plotly.min.js beside it, which their
#: viewers do not serve (the dashboard and the loggers show the PNG; the HTML stays in the sweep dir)
NOT_ATTACHED = ("pareto_front.html",)


class AtomicArtifactStore:
    """Optuna's ``FileSystemArtifactStore`` (what ``optuna-dashboard --artifact-dir`` reads: one file per artifact
    id in ``base``) whose writes are atomic, so that an artifact replaced in place is whole, old or new, whenever
    the writer is killed; Optuna's own empties the file, then copies into it."""

    def __init__(self, base: Path) -> None:
        from optuna.artifacts import FileSystemArtifactStore

        self.base = base
        self._store = FileSystemArtifactStore(str(base))

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._store.open_reader(artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        def copy(tmp: Path) -> None:
            with tmp.open("wb") as f:
                shutil.copyfileobj(content_body, f)

        atomic_write(self.base / artifact_id, copy, point="artifact_attach")

    def remove(self, artifact_id: str) -> None:
        self._store.remove(artifact_id)


def attach_to_study(study: Any, paths: list[Path], store_dir: Path) -> list[str]:
    """Attach ``paths`` to the study with ``optuna.artifacts`` (an :class:`AtomicArtifactStore` in ``store_dir``).

    A file attached by an earlier run is replaced in place (same artifact id), so the study holds one copy of
    each artifact however often the sweep is rerun. Returns the artifact ids; optuna-dashboard lists them when
    started with the same artifact directory.
    """
    from optuna.artifacts import get_all_artifact_meta, upload_artifact

    store_dir.mkdir(parents=True, exist_ok=True)
    store = AtomicArtifactStore(store_dir)
    attached: dict[str, list[str]] = {}
    for meta in get_all_artifact_meta(study):
        attached.setdefault(meta.filename, []).append(meta.artifact_id)
    # a killed writer's temp files of the artifacts, beside them in the store
    remove_stale_temps(store_dir, [i for ids in attached.values() for i in ids])
    ids = []
    for path in paths:
        if path.name in NOT_ATTACHED:
            continue
        for artifact_id in attached.get(path.name, []):
            with path.open("rb") as f:
                store.write(artifact_id, f)
            ids.append(artifact_id)
        if path.name not in attached:
            ids.append(upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study))
    return ids


_DASHBOARD_MAX_FRONT = 8
#: optuna-dashboard shows a user attribute's first 1024 characters (as JSON): the front's lines stay below
_DASHBOARD_MAX_CHARS = 1000


def _objectives_text(report: Report, r: TrialRecord) -> str:
    """``name=value`` per objective, with the value's 95% interval when it has one."""
    return ", ".join(
        f"{n}={v:.4g}{interval_text(r.intervals.get(n))}"
        for n, v in zip(report.settings.objective_names, r.values or [], strict=False)
    )


def _front_lines(report: Report) -> list[str]:
    """The front for the study page, knee first, each member's values with their intervals and whether it is robust;
    then the trials possibly on the front, and those left out as not comparable; cut to fit the dashboard (the
    rest: in pareto_front.csv)."""
    knee = report.knee.number if report.knee is not None else None
    front = sorted(report.front, key=lambda r: (r.number != knee, r.values or []))
    members = []
    for r in front:
        tags = ", ".join(t for t, on in (("knee", r.number == knee), ("robust", r.robust)) if on)
        members.append(f"trial {r.number}{f' ({tags})' if tags else ''}: {_objectives_text(report, r)}")
    tail = [f"possibly on the front: trial {', '.join(str(r.number) for r in report.possibly)}"] * bool(report.possibly)
    left = report.not_comparable
    why = left_out_text([r.not_comparable or "" for r in left])
    tail += [f"left out, {why}: trial {', '.join(str(r.number) for r in left)}"] * bool(left)
    shown = min(len(members), _DASHBOARD_MAX_FRONT)
    while True:
        more = [f"... {len(members) - shown} more in pareto_front.csv"] * (shown < len(members))
        lines = [*members[:shown], *more, *tail]
        if shown <= 1 or len(json.dumps(lines)) < _DASHBOARD_MAX_CHARS:
            return lines
        shown -= 1


def dashboard_attrs(report: Report) -> dict[str, Any]:
    """What a dashboard user should see without opening files, as short texts: the front (knee first), the
    hypervolume, the sweep's own energy with its estimated share and gCO2e, and the measurement sources of the
    trials."""
    knee = report.knee.number if report.knee is not None else None
    lines = _front_lines(report)
    carbon = sweep_carbon(report)
    total, grid, pue = report.tuning_energy_J, carbon.grid, carbon.pue
    # "cpu:0: estimated from CPU time (100% of ...)" -> trials per domain and way
    degraded = Counter(reason.split(" (", 1)[0] for r in report.records for reason in r.degraded)
    return {
        FRONT_ATTR: lines if report.front else [f"empty: {report.no_front_text()}", *lines],
        KNEE_ATTR: None if report.knee is None else f"trial {knee}: {_objectives_text(report, report.knee)}",
        HYPERVOLUME_ATTR: report.hypervolume,
        SWEEP_ENERGY_ATTR: f"{report.sweep_energy_text()}, {len(report.records)} trial(s), {report.estimated_text()}"
        f"{report.confirm_text()}; "
        f"{grid.entry(total, pue)['total_gCO2e']:.4g} gCO2e at {grid.label}, PUE {pue:g}"
        if report.energy_reported
        else f"{report.sweep_energy_text()}, {len(report.records)} trial(s)",
        SOURCES_SUMMARY_ATTR: {
            "trial energy from": report.energy_sources,
            "not a full measurement (trials)": dict(sorted(degraded.items())) or "none",
        },
    }


def publish_to_study(study: Any, report: Report) -> None:
    """Set :func:`dashboard_attrs` as the study's user attributes (optuna-dashboard lists them)."""
    for key, value in dashboard_attrs(report).items():
        study.set_user_attr(key, strict(value))


def remove_stale_temps(out_dir: Path, names: Sequence[str] = WRITTEN_ATOMICALLY) -> int:
    """Delete temp files that a killed writer left next to the files ``names`` (its pid is gone); returns the
    count."""
    removed = 0
    for tmp in out_dir.glob(".*.*.*"):
        artifact = next((a for a in names if tmp.name[1:].startswith(a + ".")), None)
        if artifact is None:
            continue
        rest = tmp.name[len(artifact) + 2 :]
        pid = rest.split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
            removed += 1
        except PermissionError:
            pass
    return removed
