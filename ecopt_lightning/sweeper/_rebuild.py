"""Rebuild every artifact of a sweep from its Optuna storage alone (``ecopt report``).

Example:
    ``ecopt report --storage sqlite:///multirun/ecopt.db --study train --out report/``
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._artifacts import remove_stale_temps, write_all
from ._schema import CONFIRMED_ATTR, HARDWARE_ATTR, ReportSettings
from ._sweep_report import Report, build_report, confirm_energy, late_runs

_CONFIRMED_NOTE = (
    "the energy per sample of the trials in 'confirmed' was measured again by `ecopt confirm` (all candidates "
    "in one process, in interleaved rounds); the front, knee and payback use those values, and the sweep's own "
    "values are kept (sweep_objectives in pareto_front.json, <objective>_sweep columns in the CSV files)"
)


def storage_notes(study: Any, confirmed: Any) -> dict[str, Any]:
    """The notes of a report rebuilt from ``study``'s storage: the hardware the sweeper recorded, and what
    ``confirmed`` values mean when there are some."""
    notes: dict[str, Any] = {"rebuilt_from_storage": True, "hardware": study.user_attrs.get(HARDWARE_ATTR)}
    if confirmed:
        notes["confirmed_note"] = _CONFIRMED_NOTE  # beside summary.json's "confirmed" entries, not over them
    return notes


class ReportError(ValueError):
    """``ecopt report`` cannot read the study; the message is one line (password redacted)."""


def load_study(url: str, study_name: str) -> Any:
    """The study ``study_name`` in storage ``url``; :class:`ReportError` saying why not (and which studies
    the storage holds, when the name is wrong)."""
    import optuna

    from ._metrics import did_you_mean
    from ._storage import open_storage
    from ._urls import ALLOWED, JOURNAL, URLS, check, journal_path, redact, scheme
    from .errors import SweeperConfigError

    shown = redact(url)
    try:
        check(url)
    except SweeperConfigError as exc:  # said before Optuna or SQLAlchemy fail on it in words of their own
        allowed = URLS if exc.allowed == ALLOWED else exc.allowed
        file = Path(url).expanduser()
        form = "journal" if file.suffix == ".log" else "sqlite"
        hint = f" (the file {url}? then --storage {form}:///{file.resolve()})" if url and file.is_file() else ""
        raise ReportError(f"--storage {shown or repr(shown)} is not allowed{hint}: {allowed}") from None
    if scheme(url) in ("sqlite", JOURNAL):  # opening a missing file would create an empty one
        path = url.split(":///", 1)[1] if scheme(url) == "sqlite" else journal_path(url)
        if path and path != ":memory:" and not Path(path).expanduser().exists():
            raise ReportError(f"--storage {shown}: no such file {path}")
        if path and path != ":memory:" and Path(path).expanduser().stat().st_size == 0:
            # opening it would write Optuna's empty schema into it: a report only reads
            raise ReportError(f"--storage {shown}: {path} is empty: it holds no study")
    try:
        # journal:/// URLs, the installed PostgreSQL driver, and errors with the password redacted
        storage = open_storage(url, heartbeat_interval_s=0)
    except SweeperConfigError as exc:
        raise ReportError(f"--storage {shown} cannot be opened: {exc.allowed}") from None
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = sorted(optuna.get_all_study_names(storage))
        raise ReportError(
            f"--study {study_name!r}: no study of that name in {shown}{did_you_mean(study_name, names)}; "
            f"{studies_there(names)}"
        ) from None


#: the most study names a wrong ``--study`` lists (a shared database may hold thousands)
MAX_LISTED = 20


def studies_there(names: Sequence[str]) -> str:
    """The studies of a storage, for a line saying a name is not among them: the first :data:`MAX_LISTED`.

    Example:
        >>> studies_there(["digits", "train"]), studies_there([])
        ('studies there: digits, train', 'it holds no study')
    """
    if not names:
        return "it holds no study"
    if len(names) <= MAX_LISTED:
        return f"studies there: {', '.join(names)}"
    return f"{len(names)} studies there: {', '.join(names[:MAX_LISTED])}, ... ({len(names) - MAX_LISTED} more)"


def check_named_trial(trials: Sequence[Any], flag: str, number: int | None) -> None:
    """Refuse, in one line and before anything is written, a trial number that names no finished trial with
    values: a payback against a failed or missing trial compares nothing.

    Example:
        >>> try:
        ...     check_named_trial([], "--chosen", 3)
        ... except ReportError as exc:
        ...     print(exc)
        --chosen 3 is not allowed: no trial 3 in the study; give a COMPLETE trial (the study has none)
    """
    if number is None:
        return
    complete = [t.number for t in trials if t.state.name == "COMPLETE"]
    if number in complete:
        return
    found = [t for t in trials if t.number == number]
    why = f"trial {number} is {found[0].state.name}" if found else f"no trial {number} in the study"
    shown = ", ".join(map(str, complete[:20])) + (", ..." if len(complete) > 20 else "")
    among = f": {shown}" if shown else " (the study has none)"
    raise ReportError(f"{flag} {number} is not allowed: {why}; give a COMPLETE trial{among}")


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
    trial, and the least J per sample among the front's trials at least as good as it, robust ones first).

    ``attach=True`` also uploads them to the study (``optuna.artifacts``, store in ``out_dir/optuna_artifacts``).
    """

    study = load_study(storage, study_name)
    directions = [d.name.lower() for d in study.directions]
    settings = ReportSettings.from_attrs(study.user_attrs, study.metric_names, directions)
    confirmed = study.user_attrs.get(CONFIRMED_ATTR)
    trials = study.get_trials(deepcopy=False)
    for flag, number in (("--baseline", baseline), ("--chosen", chosen)):
        check_named_trial(trials, flag, number)
    late = late_runs(study.user_attrs)  # runs whose result came too late to be stored: their energy counts
    spent = confirm_energy(study.user_attrs)  # `ecopt confirm`'s: tuning cost it too
    report = build_report(
        study.study_name, trials, settings, baseline, chosen, confirmed=confirmed, late_runs=late, confirm_runs=spent
    )
    report.notes = storage_notes(study, confirmed)
    remove_stale_temps(out_dir)  # of an earlier `ecopt report` into this folder that was killed while writing
    paths = write_all(report, out_dir)
    if attach:
        from ._artifacts import attach_to_study, publish_to_study

        publish_to_study(study, report)
        attach_to_study(study, paths, out_dir / "optuna_artifacts")
    return report, paths
