"""``ecopt confirm``: measure the front again, all candidates in one process, in interleaved rounds.

During a sweep each trial measured its own model, at its own time: drift, heat and other processes hit
trials unevenly. Here the trials on the front and those possibly on it are loaded together (the pattern of
:mod:`ecopt_lightning.confirm`) and measured round after round, each round visiting every candidate once in
a rotated order, so that whatever changes over time hits them alike. Each candidate's repeats from all rounds
give its confirmed median and 95% interval (:func:`~ecopt_lightning.inference.median_interval`), widened where
needed to hold every round's median (:func:`confirmed_interval`): repeats within a round share the machine's
state, so their interval alone understates how much rounds differ. They are stored on the study
(``ecopt.confirmed``), and the report is rebuilt from them, keeping the sweep's values. Each model is measured
on the torch threads its trial's benchmark ran on (``InferenceBenchmark.threads``, kept in its candidate files):
on the process's own threads a CPU figure can differ from the sweep's many times over (threads that wait spin,
and the CPU estimate counts the spin as work).

Example:
    ``ecopt confirm --storage sqlite:///multirun/digits/ecopt.db --study train --rounds 4``
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..energy.measurement import is_measured
from ..intervals import median_interval
from ._records import TrialRecord, estimated_phrase
from ._schema import CONFIRM_ENERGY_ATTR, CONFIRMED_ATTR, ReportSettings
from ._sweep_report import Report, build_report, confirm_energy, late_runs

log = logging.getLogger(__name__)

#: repeats per candidate in each round
REPEATS_PER_ROUND = 3


class ConfirmError(Exception):
    """Nothing can be confirmed; the message is one line saying why."""


class Confirmation(NamedTuple):
    """What :func:`confirm` did: the report before and after, the trials it could not measure (with the
    one-line reason) and the trials it measured in this run."""

    before: Report
    after: Report
    skipped: dict[int, str]
    measured: set[int]


@dataclass
class _Run:
    record: TrialRecord
    candidate: Any
    per_repeat_J: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    contention: Any = None
    source: str = ""


def candidates_of(report: Report) -> list[TrialRecord]:
    """The trials worth measuring again: the front, those possibly on it, and the baseline the payback compares
    the chosen trial with (measured in the same rounds, so that the saving compares like with like), by number."""
    out = {r.number: r for r in [*report.front, *report.possibly]}
    base = report.impact.get("baseline_trial")
    record = next((r for r in report.records if r.number == base), None)
    if record is not None and record.values is not None and record.energy_per_sample_J is not None:
        out.setdefault(record.number, record)
    return sorted(out.values(), key=lambda r: r.number)


def _load(records: list[TrialRecord], device: str) -> tuple[list[_Run], dict[int, str]]:
    from ecopt_lightning.confirm import CANDIDATE_DIR, CandidateError, find_candidate, load_candidate

    runs, skipped = [], {}
    for r in records:
        folder = find_candidate(r.job_dir)
        if folder is None:
            skipped[r.number] = (
                f"no {CANDIDATE_DIR}/candidate.json under {r.job_dir or '(no job dir recorded)'}: the app must save "
                "it with EnergyCallback(inference_benchmark={'keep_for_confirm': True}) (docs/measurement.md)"
            )
            continue
        try:
            runs.append(_Run(r, load_candidate(folder, device)))
        except CandidateError as exc:
            skipped[r.number] = str(exc)
    return runs, skipped


def measure_rounds(
    runs: list[Any],
    rounds: int,
    measure: Callable[[Any], Any],
) -> None:
    """Measure every run once per round, the order rotated by one each round; ``measure(run)`` returns an
    :class:`~ecopt_lightning.inference.InferenceResult` whose repeats are added to the run's.

    Example:
        >>> seen = []
        >>> class R:
        ...     def __init__(self, n): self.n, self.per_repeat_J, self.round_medians, self.contention = n, [], [], None
        >>> class Result:
        ...     per_repeat_J, contention, source = [1.0], None, "estimate"
        >>> measure_rounds([R(0), R(1), R(2)], 2, lambda r: seen.append(r.n) or Result())
        >>> seen
        [0, 1, 2, 1, 2, 0]
    """
    for k in range(rounds):
        shift = k % len(runs) if runs else 0
        for run in runs[shift:] + runs[:shift]:
            result = measure(run)
            run.per_repeat_J.extend(result.per_repeat_J)
            if result.per_repeat_J:
                run.round_medians.append(statistics.median(result.per_repeat_J))
            if result.contention is not None:
                run.contention = result.contention if run.contention is None else run.contention + result.contention
            run.source = result.source


def confirm(
    storage: str,
    study_name: str,
    rounds: int = 4,
    repeats_per_round: int = REPEATS_PER_ROUND,
    min_window_s: float | None = None,
) -> Confirmation:
    """Re-measure the candidates of study ``study_name`` (:class:`Confirmation`)."""
    import torch

    from ecopt_lightning.energy import EnergyMonitor
    from ecopt_lightning.inference import BENCHMARK_THREADS, NOTHING_MEASURED, benchmark_threads, measure_inference
    from ecopt_lightning.intervals import MIN_VALUES_FOR_INTERVAL

    from ._rebuild import ReportError, load_study, storage_notes

    if rounds < 1 or repeats_per_round < 1 or rounds * repeats_per_round < MIN_VALUES_FOR_INTERVAL:
        raise ConfirmError(
            f"rounds={rounds}, repeats_per_round={repeats_per_round} are not allowed: give 1 or more of each and "
            f"{MIN_VALUES_FOR_INTERVAL} or more repeats in all (rounds x repeats), the fewest with a 95% interval; "
            "a confirmed value replaces the sweep's, so it must carry one"
        )
    try:
        study = load_study(storage, study_name)  # ``ecopt report``'s one-line errors, the password redacted
    except ReportError as exc:
        raise ConfirmError(str(exc)) from None
    directions = [d.name.lower() for d in study.directions]
    settings = ReportSettings.from_attrs(study.user_attrs, study.metric_names, directions)
    late = late_runs(study.user_attrs)  # the sweep's energy as `ecopt report` counts it
    spent = confirm_energy(study.user_attrs)  # earlier confirm runs': tuning cost them too
    before = build_report(
        study.study_name, study.get_trials(deepcopy=False), settings, late_runs=late, confirm_runs=spent
    )
    records = candidates_of(before)
    if not records:
        raise ConfirmError(f"study {study_name!r} has nothing to confirm: {before.no_front_text()}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    runs, skipped = _load(records, device)
    if not runs:
        first = min(skipped)
        raise ConfirmError(f"no trial of the front can be measured again: trial {first}: {skipped[first]}")
    monitor = EnergyMonitor(gpus=[0] if device == "cuda" else [])
    start = monitor.snapshot()  # the whole measuring, warm-ups and newcomers' loading included, is tuning's cost

    def measure(run: _Run) -> Any:
        c = run.candidate
        # candidates saved before the threads were kept ran on the benchmark's default
        with benchmark_threads(c.settings.get("threads", BENCHMARK_THREADS)):
            result = measure_inference(
                c.module,
                c.batches,
                warmup_batches=int(c.settings.get("warmup_batches") or 0),
                repeats=repeats_per_round,
                rel_precision=None,
                min_window_s=min_window_s,
                forward_fn=c.settings.get("forward_fn"),
                monitor=monitor,
            )
        if result.stop_reason == NOTHING_MEASURED:  # 0 J per sample would replace the sweep's value
            raise ConfirmError(
                f"trial {run.record.number}'s measurement read 0 J in every repeat on {result.source or 'no meter'}: "
                "nothing measured, nothing confirmed; check the meters (docs/measurement.md)"
            )
        return result

    from ._energy_report import hardware_info

    machine = hardware_info()  # the confirmed values' machine, which need not be the sweep's
    confirmed = dict(study.user_attrs.get(CONFIRMED_ATTR) or {})
    swept = {r.number: r for r in before.records}  # the sweep's records (a rebuilt report carries confirmed values)
    measured: set[int] = set()
    this_run: dict[str, Any] | None = None

    def rebuilt() -> Report:  # the report with the values confirmed so far, and the energy spent so far
        return build_report(
            study.study_name,
            study.get_trials(deepcopy=False),
            settings,
            confirmed=confirmed,
            late_runs=late,
            confirm_runs=spent,
        )

    try:
        while runs:
            measure_rounds(runs, rounds, measure)
            for run in runs:
                measured.add(run.record.number)
                confirmed[str(run.record.number)] = {**_confirmed_entry(run, rounds, settings), "hardware": machine}
            after = rebuilt()
            # a front member measured worse can let a trial the sweep had dominated onto the rebuilt front:
            # measure those too, so that every member of the confirmed front was measured again
            newcomers = [
                swept[r.number] for r in candidates_of(after) if r.number not in measured and r.number not in skipped
            ]
            runs, more_skipped = _load(newcomers, device) if newcomers else ([], {})
            skipped.update(more_skipped)
        this_run = _spent_entry(monitor.measure(start, monitor.snapshot(), "ecopt confirm"))
    finally:
        if this_run is None:  # stopped (Ctrl-C, a model that raised): what it measured so far was spent all the same
            _keep_spent(study, spent, monitor, start)
        monitor.close()
    spent = [*spent, this_run]
    study.set_user_attr(CONFIRM_ENERGY_ATTR, spent)  # first: spent, whether or not the values below get stored
    study.set_user_attr(CONFIRMED_ATTR, confirmed)
    after = rebuilt()
    after.notes = storage_notes(study, confirmed)
    return Confirmation(before, after, skipped, measured)


def clear(storage: str, study_name: str) -> int:
    """Drop the confirmed values of study ``study_name`` (``ecopt confirm --clear``): reports use the sweep's own
    measurements again. Returns how many trials had one."""
    from ._rebuild import ReportError, load_study

    try:
        study = load_study(storage, study_name)
    except ReportError as exc:
        raise ConfirmError(str(exc)) from None
    had = len(study.user_attrs.get(CONFIRMED_ATTR) or {})
    if had:
        study.set_user_attr(CONFIRMED_ATTR, None)  # Optuna cannot delete a study attribute; None reads as none
    return had


def _keep_spent(study: Any, spent: list[Mapping[str, Any]], monitor: Any, start: Any) -> None:
    """Store the energy of a run that stopped before its end (``"stopped": true``), without hiding why it stopped:
    a failure to store it is logged, not raised."""
    try:
        entry = {**_spent_entry(monitor.measure(start, monitor.snapshot(), "ecopt confirm")), "stopped": True}
        study.set_user_attr(CONFIRM_ENERGY_ATTR, [*spent, entry])
    except Exception as exc:
        log.warning(
            "ecopt confirm: the energy it spent before it stopped is not stored: %s: %s", type(exc).__name__, exc
        )


def _spent_entry(m: Any) -> dict[str, Any]:
    """What :data:`._schema.CONFIRM_ENERGY_ATTR` keeps of one run's :class:`~ecopt_lightning.energy.Measurement`:
    its energy (J), the ESTIMATED part of it, seconds, sources and the domains whose reading failed (not counted).

    Example:
        >>> from ecopt_lightning.energy.measurement import Measurement
        >>> entry = _spent_entry(Measurement("c", 2.0, {"gpu:0": 5.0, "cpu:0": 1.0},
        ...                                  {"gpu:0": "nvml_counter", "cpu:0": "estimate"}))
        >>> entry["energy_J"], entry["estimated_J"], entry["seconds"]
        (6.0, 1.0, 2.0)
    """
    estimated = sum(j for d, j in m.by_device.items() if d not in m.sources or not is_measured(str(m.sources[d])))
    return {
        "energy_J": m.energy_J,
        "estimated_J": estimated,
        "seconds": m.seconds,
        "sources": dict(m.sources),
        "invalid": dict(m.invalid),
    }


def confirmed_interval(per_repeat: list[float], round_medians: list[float]) -> tuple[float, float] | None:
    """The 95% interval of the median of all repeats, widened to hold every round's median (J per sample).

    Rounds are minutes apart and the machine drifts between them; the repeats of one round share its state, so
    an interval over the pooled repeats as if independent can exclude rounds that read differently.

    Example:
        >>> confirmed_interval([1.0] * 18 + [1.3] * 6, [1.0, 1.0, 1.0, 1.3])  # pooled alone: (1.0, 1.0)
        (1.0, 1.3)
        >>> confirmed_interval([1.0, 1.1, 1.0], [1.0]) is None  # fewer than 6 repeats: no 95% interval
        True
    """
    interval = median_interval(sorted(per_repeat))
    if interval is None:
        return None
    return min(interval[0], *round_medians), max(interval[1], *round_medians)


def _confirmed_entry(run: _Run, rounds: int, settings: ReportSettings) -> dict[str, Any]:
    """What ``ecopt.confirmed`` keeps of one re-measured trial (J per sample)."""
    from ecopt_lightning.intervals import REL_PRECISION, precision_reached

    values = sorted(run.per_repeat_J)
    median = statistics.median(values)
    interval = confirmed_interval(values, run.round_medians)
    return {
        "metric": settings.energy_per_sample_metric,
        "value": median,
        "ci_lo": None if interval is None else interval[0],
        "ci_hi": None if interval is None else interval[1],
        "converged": precision_reached(median, interval, REL_PRECISION),
        "repeats": len(values),
        "per_repeat_J": values,
        "rounds": rounds,
        "round_medians": list(run.round_medians),
        "contended": bool(run.contention is not None and run.contention.contended),
        "source": run.source,
        "sweep_value": run.record.energy_per_sample_J,
        "sweep_interval": None
        if run.record.energy_per_sample_interval is None
        else list(run.record.energy_per_sample_interval),
    }


def _fmt(value: float | None, interval: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" + ("" if not interval or interval[0] is None else f" [{interval[0]:.4g}, {interval[1]:.4g}]")


def confirm_lines(result: Confirmation) -> list[str]:
    """What ``ecopt confirm`` prints: per trial measured in this run, the sweep's and the confirmed J per sample
    with their 95% intervals and the front status before and after; then the trials it could not measure, and
    why. (Trials an earlier confirm measured keep their values in the rebuilt front and are not listed.)"""
    before, after, skipped = result.before, result.after, result.skipped
    was = {r.number: r.front_status for r in before.records}
    lines = ["trial  sweep J/sample [95%]  ->  confirmed J/sample [95%]  |  front status: sweep -> confirmed"]
    for r in sorted(after.records, key=lambda r: r.number):
        if r.confirmed is None or r.number not in result.measured:
            continue
        c = r.confirmed
        estimated = bool(c.get("source")) and not is_measured(str(c["source"]))
        flags = " (ESTIMATED from CPU time)" * estimated + " (contended)" * bool(c.get("contended"))
        lines.append(
            f"{r.number:>5}  {_fmt(c.get('sweep_value'), c.get('sweep_interval'))}  ->  "
            f"{_fmt(c['value'], (c.get('ci_lo'), c.get('ci_hi')))}{flags}  |  {was.get(r.number)} -> {r.front_status}"
        )
    knee = "n/a" if after.knee is None else after.knee.number
    lines.append(f"front from confirmed values: {[r.number for r in after.front]}; knee {knee}")
    if after.confirm_runs > before.confirm_runs:  # this run's energy: measuring again is tuning's cost too
        spent = after.confirm_energy_J - before.confirm_energy_J
        share = estimated_phrase(spent, after.confirm_estimated_J - before.confirm_estimated_J, 0, 1)
        lines.append(
            f"this confirm used {spent:.4g} J ({share}); the trials' {after.sweep_energy_text(4)}"
            f"{after.confirm_text(4)}"
        )
    lines += [f"trial {n} not confirmed: {why}" for n, why in sorted(skipped.items())]
    return lines
