"""From stored Optuna trials to plain records and the sweep's report: front, hypervolume, knee, energy.

Everything here reads what the sweeper stored on the study and its trials, so ``ecopt report`` can rebuild
the artifacts from the storage alone.

Example:
    >>> import optuna
    >>> study = optuna.create_study(directions=["maximize", "minimize"])
    >>> for acc, e in [(0.8, 2.0), (0.9, 3.0), (0.7, 3.5)]:
    ...     t = study.ask()
    ...     t.set_user_attr("energy/total_J", e)
    ...     _ = study.tell(t, [acc, e])
    >>> report = build_report("demo", study.get_trials(), ReportSettings.default(["acc", "energy/total_J"],
    ...                                                                     ["maximize", "minimize"]))
    >>> [r.number for r in report.front], report.sweep_energy_J
    ([0, 1], 8.5)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from ..metrics import ESTIMATED_FRACTION, INFERENCE_PER_SAMPLE_J, TOTAL_J
from ._impact import BASELINE_ATTR, impact
from ._metrics import trial_energy
from ._pareto import hypervolume, knee_index, non_dominated_ranks, reference_point

SETTINGS_ATTR = "ecopt.settings"
OVERRIDES_ATTR = "ecopt.overrides"
JOB_DIR_ATTR = "ecopt.job_dir"
ERROR_ATTR = "ecopt.error"
CONSTRAINTS_ATTR = "ecopt.constraints"  # each trial's constraint values (<= 0 feasible), in constraint order
DEGRADED_ATTR = "ecopt.degraded"  # list of reasons the trial's energy is not a full measurement
SOURCES_ATTR = "ecopt.measurement_sources"  # domain -> source of the trial's energy (EnergyCallback's summary)
PREFIX = "ecopt."
ENERGY_ATTR = "ecopt.energy_J"  # a trial's energy (J) when its metrics lack it (failed or pruned trials)
ENERGY_SOURCE_ATTR = "ecopt.energy_source"
#: Energy (J) and source of the pre-training inference check of a trial that passed it and trained
#: (``prune_before_training``); it counts in the trial's energy. A pruned trial's check is its ``ENERGY_ATTR``.
CHECK_ENERGY_ATTR = "ecopt.pre_training.energy_J"
CHECK_SOURCE_ATTR = "ecopt.pre_training.energy_source"
FLAG_ATTRS = (BASELINE_ATTR,)


@dataclass
class ReportSettings:
    """What the report needs: objectives, constraint texts and the energy metric names."""

    objective_names: list[str]
    directions: list[str]
    constraints: list[str] = field(default_factory=list)
    energy_metric: str = TOTAL_J
    energy_per_sample_metric: str = INFERENCE_PER_SAMPLE_J

    @classmethod
    def default(cls, names: Sequence[str], directions: Sequence[str]) -> ReportSettings:
        return cls(list(names), list(directions))

    @classmethod
    def from_study_attrs(
        cls, attrs: Mapping[str, Any], metric_names: Sequence[str] | None, directions: Sequence[str]
    ) -> ReportSettings:
        """From the ``ecopt.settings`` study attribute; a study made elsewhere falls back to its metric names."""
        stored = attrs.get(SETTINGS_ATTR)
        if stored:
            return cls(
                [o["name"] for o in stored["objectives"]],
                [o["direction"] for o in stored["objectives"]],
                list(stored.get("constraints", [])),
                stored.get("energy_metric", TOTAL_J),
                stored.get("energy_per_sample_metric", INFERENCE_PER_SAMPLE_J),
            )
        names = list(metric_names or [f"objective_{i}" for i in range(len(directions))])
        return cls(names, list(directions))


@dataclass
class TrialRecord:
    """One trial, flattened. ``values`` follow the objectives' order and directions (not negated)."""

    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    overrides: list[str]
    metrics: dict[str, float]
    constraints: dict[str, float]
    feasible: bool
    error: str | None
    energy_J: float | None
    energy_source: str | None
    job_dir: str | None
    energy_per_sample_J: float | None
    samples_per_J: float | None
    rank: int | None = None  # non-dominated rank among feasible complete trials (0 = on the front)
    flags: dict[str, Any] = field(default_factory=dict)  # ecopt markers, e.g. ecopt.baseline
    degraded: list[str] = field(default_factory=list)  # why its energy is not a full measurement
    sources: dict[str, str] = field(default_factory=dict)  # domain -> measurement source (nvml_counter, estimate)

    @property
    def on_front(self) -> bool:
        return self.rank == 0


@dataclass
class Report:
    """The sweep's results: all trials, the feasible front, hypervolume, knee, best trials and energy."""

    study_name: str
    settings: ReportSettings
    records: list[TrialRecord]
    front: list[TrialRecord]
    hypervolume: float | None
    reference_point: list[float] | None
    knee: TrialRecord | None
    best: dict[str, dict[str, Any]]
    sweep_energy_J: float
    energy_sources: dict[str, int]
    #: the ESTIMATED part of ``sweep_energy_J`` (J), and how many trials with energy did not say how much is
    sweep_estimated_J: float
    trials_without_source: int
    states: dict[str, int]
    notes: dict[str, Any] = field(default_factory=dict)
    impact: dict[str, Any] = field(default_factory=dict)  # payback and proxy check, see _impact


def _to_min(values: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    return tuple(-v if d == "maximize" else v for v, d in zip(values, directions, strict=False))


def _constraints(trial: FrozenTrial) -> dict[str, float]:
    stored = trial.user_attrs.get(CONSTRAINTS_ATTR)
    if stored:
        return {str(k): float(v) for k, v in stored.items()}
    native = getattr(trial, "constraints", None)  # Optuna 5
    if isinstance(native, Mapping):
        return {str(k): float(v) for k, v in native.items()}
    legacy = trial.system_attrs.get("constraints")  # Optuna 4 list
    return {str(i): float(v) for i, v in enumerate(legacy or [])}


def _energy(trial: FrozenTrial, metrics: Mapping[str, float], energy_metric: str) -> tuple[float | None, str | None]:
    """A trial's energy (J) and where it came from: its metrics, else the stored value (a failed run's
    EnergyCallback summary, or a pruned trial's check), plus the pre-training check of a trial that went on."""
    energy, source = trial_energy(metrics, energy_metric)
    stored = trial.user_attrs.get(ENERGY_ATTR)
    if energy is None and isinstance(stored, (int, float)):
        energy, source = float(stored), trial.user_attrs.get(ENERGY_SOURCE_ATTR)
    check = trial.user_attrs.get(CHECK_ENERGY_ATTR)
    if energy is not None and isinstance(check, (int, float)):
        check_source = trial.user_attrs.get(CHECK_SOURCE_ATTR) or "unknown"
        energy, source = energy + float(check), f"{source} + pre-training check ({check_source})"
    return energy, source


def to_record(trial: FrozenTrial, settings: ReportSettings) -> TrialRecord:
    """Flatten one stored trial."""
    metrics = {
        k: float(v)
        for k, v in trial.user_attrs.items()
        if not k.startswith(PREFIX) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    constraints = _constraints(trial)
    energy, source = _energy(trial, metrics, settings.energy_metric)
    per_sample = metrics.get(settings.energy_per_sample_metric)
    if per_sample is not None and not (math.isfinite(per_sample) and per_sample > 0):
        per_sample = None
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        values=list(trial.values) if trial.state == TrialState.COMPLETE and trial.values else None,
        params=dict(trial.params),
        overrides=list(trial.user_attrs.get(OVERRIDES_ATTR, [])),
        metrics=metrics,
        constraints=constraints,
        feasible=all(v <= 0 for v in constraints.values()),
        error=trial.user_attrs.get(ERROR_ATTR),
        energy_J=energy,
        energy_source=source,
        job_dir=trial.user_attrs.get(JOB_DIR_ATTR),
        energy_per_sample_J=per_sample,
        samples_per_J=None if per_sample is None else 1.0 / per_sample,
        flags={k: v for k, v in trial.user_attrs.items() if k in FLAG_ATTRS},
        degraded=[str(x) for x in trial.user_attrs.get(DEGRADED_ATTR) or []],
        sources={str(k): str(v) for k, v in (trial.user_attrs.get(SOURCES_ATTR) or {}).items()},
    )


ESTIMATED_FRACTION_METRIC = ESTIMATED_FRACTION


def estimated_energy(records: Sequence[TrialRecord]) -> tuple[float, int]:
    """The part of the records' energy that is an estimate, not a measurement (J), and how many trials with
    energy did not say (they lack ``energy/estimated_fraction``, which EnergyCallback logs)."""
    estimated, unknown = 0.0, 0
    for r in records:
        if r.energy_J is None:
            continue
        share = r.metrics.get(ESTIMATED_FRACTION_METRIC)
        if share is None:
            unknown += 1
        else:
            estimated += r.energy_J * share
    return estimated, unknown


def build_report(
    study_name: str,
    trials: Sequence[FrozenTrial],
    settings: ReportSettings,
    baseline: int | None = None,
    chosen: int | None = None,
    cache: dict[int, TrialRecord] | None = None,
) -> Report:
    """All the numbers behind the artifacts; ``baseline``/``chosen`` trial numbers steer the payback figures.

    ``cache`` keeps the records of finished trials between calls (a finished trial no longer changes), so a
    sweep that rebuilds its report after every batch flattens each trial once.
    """
    if cache is None:
        records = [to_record(t, settings) for t in trials]
    else:
        records = []
        for t in trials:
            record = cache.get(t.number)
            if record is None or record.state != t.state.name:
                record = to_record(t, settings)
                if t.state.is_finished():
                    cache[t.number] = record
            records.append(record)
        for record in records:
            record.rank = None
    candidates = [r for r in records if r.values is not None and r.feasible]
    points = [_to_min(r.values, settings.directions) for r in candidates]  # type: ignore[arg-type]
    for record, rank in zip(candidates, non_dominated_ranks(points), strict=False):
        record.rank = rank
    front = [r for r in candidates if r.rank == 0]
    front_points = [_to_min(r.values, settings.directions) for r in front]  # type: ignore[arg-type]
    hv = ref = None
    if points:
        ref_min = reference_point(points)
        hv = hypervolume(front_points, ref_min)
        ref = list(_to_min(ref_min, settings.directions))  # negating twice restores the direction
    knee_i = knee_index(front_points)
    best: dict[str, dict[str, Any]] = {}
    for i, (name, direction) in enumerate(zip(settings.objective_names, settings.directions, strict=False)):
        if candidates:
            pick = max if direction == "maximize" else min
            top = pick(candidates, key=lambda r, i=i: r.values[i])  # type: ignore[index]
            best[name] = {"trial": top.number, "value": top.values[i], "params": top.params}  # type: ignore[index]
    energies = [r for r in records if r.energy_J is not None]
    estimated, unknown = estimated_energy(records)
    report = Report(
        study_name=study_name,
        settings=settings,
        records=records,
        front=front,
        hypervolume=hv,
        reference_point=ref,
        knee=None if knee_i is None else front[knee_i],
        best=best,
        sweep_energy_J=sum(r.energy_J for r in energies),  # type: ignore[misc]
        energy_sources=dict(Counter(r.energy_source for r in energies)),  # type: ignore[arg-type]
        sweep_estimated_J=estimated,
        trials_without_source=unknown,
        states=dict(Counter(r.state for r in records)),
    )
    report.impact = impact(report, baseline, chosen)
    return report
