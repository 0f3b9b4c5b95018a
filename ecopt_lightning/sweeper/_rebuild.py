"""Rebuild every artifact of a sweep from its Optuna storage alone (``ecopt report``).

Example:
    ``ecopt report --storage sqlite:///multirun/ecopt.db --study train --out report/``
"""

from __future__ import annotations

from pathlib import Path

from ._artifacts import write_all
from ._schema import CONFIRMED_ATTR, HARDWARE_ATTR, ReportSettings
from ._sweep_report import Report, build_report

_CONFIRMED_NOTE = (
    "the energy per sample of the trials in 'confirmed' was measured again by `ecopt confirm` (all candidates "
    "in one process, in interleaved rounds); the front, knee and payback use those values, and the sweep's own "
    "values are kept (sweep_objectives in pareto_front.json, <objective>_sweep columns in the CSV files)"
)


def rebuild(
    storage: str,
    study_name: str,
    out_dir: Path,
    attach: bool = False,
    baseline: int | None = None,
    chosen: int | None = None,
) -> tuple[Report, list[Path]]:
    """Load the study, recompute front, hypervolume, knee and energy, write the files into ``out_dir``.

    ``baseline`` and ``chosen`` name the trials the payback figures compare (default: the enqueued baseline
    trial and the knee).

    ``attach=True`` also uploads them to the study (``optuna.artifacts``, store in ``out_dir/optuna_artifacts``).
    """
    import optuna

    from ._storage import open_storage

    # journal:/// URLs, the installed PostgreSQL driver, and errors with the password redacted
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage, heartbeat_interval_s=0))
    directions = [d.name.lower() for d in study.directions]
    settings = ReportSettings.from_attrs(study.user_attrs, study.metric_names, directions)
    confirmed = study.user_attrs.get(CONFIRMED_ATTR)
    report = build_report(
        study.study_name, study.get_trials(deepcopy=False), settings, baseline, chosen, confirmed=confirmed
    )
    report.notes = {"rebuilt_from_storage": True, "hardware": study.user_attrs.get(HARDWARE_ATTR)}
    if confirmed:
        report.notes["confirmed"] = _CONFIRMED_NOTE
    paths = write_all(report, out_dir)
    if attach:
        from ._artifacts import attach_to_study

        attach_to_study(study, paths, out_dir / "optuna_artifacts")
    return report, paths
