"""From stored Optuna trials to plain records: one :class:`TrialRecord` per trial, with its energy and source.

Everything here reads what the sweeper stored on the study and its trials (:mod:`._schema`), so
``ecopt report`` can rebuild the artifacts from the storage alone.

Example:
    >>> import optuna
    >>> study = optuna.create_study(directions=["maximize", "minimize"])
    >>> t = study.ask()
    >>> t.set_user_attr("energy/total_J", 2.0)
    >>> _ = study.tell(t, [0.8, 2.0])
    >>> record = to_record(study.trials[0], ReportSettings.default(["acc", "energy/total_J"], ["maximize", "minimize"]))
    >>> record.values, record.energy_J, record.feasible
    ([0.8, 2.0], 2.0, True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from ..energy.measurement import is_measured
from ..metrics import ESTIMATED_FRACTION, SAMPLES_PER_J
from ._feasibility import judged_constraints, within
from ._metrics import Constraint, objective_interval, trial_energy
from ._pareto import POSSIBLY, ROBUST
from ._schema import (
    CHECK_ENERGY_ATTR,
    CHECK_SOURCE_ATTR,
    DEGRADED_ATTR,
    DOMAINS_ATTR,
    ENERGY_ATTR,
    ENERGY_SOURCE_ATTR,
    ERROR_ATTR,
    FLAG_ATTRS,
    GRID_ATTR,
    JOB_DIR_ATTR,
    OVERRIDES_ATTR,
    PER_REPEAT_ATTR,
    SOURCES_ATTR,
    UNMEASURED_ATTR,
    ReportSettings,
    stored_metrics,
)
from .multi_fidelity import rung_epochs, rung_values, stopped_at_rung


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
    feasible: bool  # a COMPLETE trial within every constraint (a failed or pruned one never is)
    error: str | None
    energy_J: float | None
    energy_source: str | None
    job_dir: str | None
    energy_per_sample_J: float | None
    samples_per_J: float | None
    rank: int | None = None  # non-dominated rank among feasible complete trials (0 = on the front)
    flags: dict[str, Any] = field(default_factory=dict)  # ecopt markers, e.g. ecopt.baseline
    degraded: list[str] = field(default_factory=list)  # why its energy is not a full measurement
    rungs: dict[int, dict[str, Any]] = field(default_factory=dict)  # multi-fidelity rung records by epoch
    stopped_at_epoch: int | None = None  # the rung where multi-fidelity stopped it
    rung_epochs: list[int] = field(default_factory=list)  # the rung epochs its job found (ecopt.rung_epochs)
    sources: dict[str, str] = field(default_factory=dict)  # domain -> measurement source (nvml_counter, estimate)
    #: the grid intensity its gCO2e were computed at (``{"intensity_g_per_kWh", "basis", "region"}``, and ``"pue"``
    #: when its summary named one), when stored
    grid: dict[str, Any] | None = None
    #: the 95% interval of ``energy_per_sample_J`` (J), when the task reported one
    energy_per_sample_interval: tuple[float, float] | None = None
    #: per objective that the task reported an interval for (``<name>_ci_lo``/``_ci_hi``): (low, high)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: ``ecopt confirm``'s re-measurement of the trial (see :func:`apply_confirmed`), else ``None``
    confirmed: dict[str, Any] | None = None
    #: the objective values the sweep measured, when ``values`` hold confirmed ones
    sweep_values: list[float] | None = None
    #: among feasible complete trials: ``on the front (robust)``, ``on the front``, ``possibly on the front``
    #: or ``dominated`` (see :func:`._pareto.front_status`); ``None`` otherwise
    front_status: str | None = None
    #: the energy per sample of each repeat of its inference benchmark (J), when stored
    per_repeat_J: list[float] | None = None
    #: on a point that merges a repeated config (``_repeats.py``): the trial numbers it merges
    merged_trials: list[int] | None = None
    #: on a trial whose config ran in several trials: the number of the merged point it belongs to
    config_group: int | None = None
    #: the measurement domains its energy covers in full (``ecopt.measured_domains``), when stored, and those with a
    #: measurement fault (``ecopt.unmeasured_domains``)
    domains: list[str] | None = None
    unmeasured: list[str] = field(default_factory=list)
    #: the pre-training check's part of ``energy_J`` (J) and its source: its ESTIMATED share is its own, not the run's
    check_J: float = 0.0
    check_source: str | None = None
    #: on a complete trial measured on fewer domains than the sweep's (:mod:`._domains`): why it is left out of
    #: the front, the knee, the hypervolume and the payback
    not_comparable: str | None = None

    @property
    def on_front(self) -> bool:
        return self.rank == 0

    @property
    def objective_values(self) -> list[float]:
        """``values`` of a trial that has them (a complete one); raises ``ValueError`` for one without."""
        if self.values is None:
            raise ValueError(f"trial {self.number} ({self.state}) has no objective values")
        return self.values

    @property
    def possibly_on_front(self) -> bool:
        return self.front_status == POSSIBLY

    @property
    def robust(self) -> bool:
        return self.front_status == ROBUST

    def interval(self, name: str, value: float) -> tuple[float, float]:
        """The objective's interval, or ``(value, value)`` when it has none."""
        return self.intervals.get(name, (value, value))


def _energy(trial: FrozenTrial, metrics: Mapping[str, float], energy_metric: str) -> tuple[float | None, str | None]:
    """A trial's energy (J) and where it came from: its metrics, else the stored value (a failed run's
    EnergyCallback summary, or a pruned trial's check), plus the pre-training check of a trial that went on (that
    check's alone, said so, when the run after it reported none: the check's energy was spent all the same)."""
    energy, source = trial_energy(metrics, energy_metric)
    stored = trial.user_attrs.get(ENERGY_ATTR)
    if energy is None and isinstance(stored, (int, float)):
        energy, source = float(stored), trial.user_attrs.get(ENERGY_SOURCE_ATTR)
    check = trial.user_attrs.get(CHECK_ENERGY_ATTR)
    if isinstance(check, (int, float)):
        check_source = trial.user_attrs.get(CHECK_SOURCE_ATTR) or "unknown"
        if energy is None:
            return float(check), f"pre-training check ({check_source}) alone: the run after it reported no energy"
        energy, source = energy + float(check), f"{source} + pre-training check ({check_source})"
    return energy, source


def to_record(trial: FrozenTrial, settings: ReportSettings) -> TrialRecord:
    """Flatten one stored trial."""
    metrics = stored_metrics(trial.user_attrs)
    constraints = judged_constraints(trial, settings.constraints)
    energy, source = _energy(trial, metrics, settings.energy_metric)
    check = trial.user_attrs.get(CHECK_ENERGY_ATTR)
    check_J = float(check) if energy is not None and isinstance(check, (int, float)) else 0.0
    degraded = [str(x) for x in trial.user_attrs.get(DEGRADED_ATTR) or []]
    reported = metrics.get(settings.energy_metric)
    if reported is not None and reported < 0:  # a net energy below idle, say: trial_energy passed it over
        degraded.append(
            f"energy: {settings.energy_metric} is {reported:.4g} J, negative: not an energy spent; the trial's "
            f"energy: {source or 'unknown'}"
        )
    share = metrics.get(ESTIMATED_FRACTION)
    if share is not None and not 0.0 <= share <= 1.0:  # NaN: a job that counted 0 J; every reader takes it as unsaid
        del metrics[ESTIMATED_FRACTION]
        degraded.append(f"energy: {ESTIMATED_FRACTION} is {share:.4g}, not a share: how much is estimated is unknown")
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
        feasible=trial.state == TrialState.COMPLETE and within(constraints),
        error=trial.user_attrs.get(ERROR_ATTR),
        energy_J=energy,
        energy_source=source,
        job_dir=trial.user_attrs.get(JOB_DIR_ATTR),
        energy_per_sample_J=per_sample,
        energy_per_sample_interval=None
        if per_sample is None
        else objective_interval(metrics, settings.energy_per_sample_metric),
        samples_per_J=None if per_sample is None else 1.0 / per_sample,
        flags={k: v for k, v in trial.user_attrs.items() if k in FLAG_ATTRS},
        degraded=degraded,
        rungs=rung_values(trial.user_attrs),
        stopped_at_epoch=stopped_at_rung(trial),
        rung_epochs=rung_epochs(trial.user_attrs),
        sources={str(k): str(v) for k, v in (trial.user_attrs.get(SOURCES_ATTR) or {}).items()},
        grid=trial.user_attrs.get(GRID_ATTR) if isinstance(trial.user_attrs.get(GRID_ATTR), dict) else None,
        intervals={
            name: iv for name in settings.objective_names if (iv := objective_interval(metrics, name)) is not None
        },
        per_repeat_J=_repeats(trial.user_attrs.get(PER_REPEAT_ATTR)),
        domains=_domain_list(trial.user_attrs.get(DOMAINS_ATTR)),
        unmeasured=_domain_list(trial.user_attrs.get(UNMEASURED_ATTR)) or [],
        check_J=check_J,
        check_source=trial.user_attrs.get(CHECK_SOURCE_ATTR) if check_J else None,
    )


def _domain_list(stored: Any) -> list[str] | None:
    """A stored list of domain names, or ``None`` when absent or not a list."""
    return [str(d) for d in stored] if isinstance(stored, list) else None


def _repeats(stored: Any) -> list[float] | None:
    """A stored list of per-repeat energies (J), or ``None`` when absent or not all positive finite numbers."""
    if not isinstance(stored, list) or not stored:
        return None
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in stored)
    return [float(v) for v in stored] if ok else None


def apply_confirmed(record: TrialRecord, entry: Mapping[str, Any], settings: ReportSettings) -> TrialRecord:
    """A copy of ``record`` whose energy per sample (value, interval; the objective and constraints that use
    it) is ``ecopt confirm``'s re-measurement ``entry``; the sweep's objective values stay in ``sweep_values``.

    Example:
        >>> r = TrialRecord(0, "COMPLETE", [0.9, 2.0], {}, [], {"e": 2.0}, {"e <= 1.5": 0.5}, False, None, None,
        ...                 None, None, 2.0, 0.5)
        >>> c = apply_confirmed(r, {"metric": "e", "value": 1.0, "ci_lo": 0.9, "ci_hi": 1.1},
        ...                     ReportSettings(["acc", "e"], ["maximize", "minimize"], ["e <= 1.5"],
        ...                                    energy_per_sample_metric="e"))
        >>> c.values, c.sweep_values, c.intervals, c.feasible, c.constraints
        ([0.9, 1.0], [0.9, 2.0], {'e': (0.9, 1.1)}, True, {'e <= 1.5': -0.5})
    """
    metric, value = str(entry["metric"]), float(entry["value"])
    interval = (float(entry["ci_lo"]), float(entry["ci_hi"])) if entry.get("ci_lo") is not None else None
    out = copy.copy(record)
    out.confirmed = dict(entry)
    out.intervals = dict(record.intervals)
    # the re-measured metric, and samples per J beside J per sample (its inverse) where that is an objective
    replaced = {metric: (value, interval)}
    if metric == settings.energy_per_sample_metric and value > 0:
        inverse = None if interval is None or interval[0] <= 0 else (1.0 / interval[1], 1.0 / interval[0])
        replaced[SAMPLES_PER_J] = (1.0 / value, inverse)
    if record.values is not None and any(name in settings.objective_names for name in replaced):
        out.sweep_values = list(record.values)
        out.values = list(record.values)
        for name, (new_value, new_interval) in replaced.items():
            if name not in settings.objective_names:
                continue
            out.values[settings.objective_names.index(name)] = new_value
            if new_interval is not None:
                out.intervals[name] = new_interval
            else:
                out.intervals.pop(name, None)
    if metric == settings.energy_per_sample_metric:
        out.energy_per_sample_J, out.energy_per_sample_interval = value, interval
        out.per_repeat_J = _repeats(entry.get("per_repeat_J"))  # the sweep's repeats no longer describe it
        out.samples_per_J = 1.0 / value if value > 0 else None
    constraints = dict(record.constraints)
    for text in constraints:
        try:
            parsed = Constraint.parse(text)
        except ValueError:
            continue
        if parsed.metric in replaced:
            constraints[text] = parsed.value({parsed.metric: replaced[parsed.metric][0]})
    out.constraints = constraints
    out.feasible = within(constraints)
    return out


ESTIMATED_FRACTION_METRIC = ESTIMATED_FRACTION


def estimated_phrase(energy_J: float, estimated_J: float, unknown: int, with_energy: int) -> str:
    """How much of ``energy_J``, the energy of ``with_energy`` trials, is ESTIMATED, not measured, in words, with the
    ``unknown`` trials that did not say (:func:`estimated_energy`); empty when no trial reported energy.

    Example:
        >>> estimated_phrase(8.0, 6.0, 1, 2), estimated_phrase(8.0, 8.0, 0, 2)
        ('at least 75% of it ESTIMATED, not measured; 1 trial(s) did not say', '100% of it ESTIMATED, not measured')
    """
    if not with_energy:
        return ""
    if unknown >= with_energy:
        return "share ESTIMATED unknown: no trial said whether its energy was measured"
    share = f"{estimated_J / energy_J:.0%}" if energy_J > 0 else "none"
    if unknown:  # their energy may be estimated too
        return f"at least {share} of it ESTIMATED, not measured; {unknown} trial(s) did not say"
    return f"{share} of it ESTIMATED, not measured"


def estimated_share(fraction: float | None, sources: Iterable[str] = ()) -> float | None:
    """The share of an energy that is an estimate, not a measurement (0 to 1): ``fraction`` (the energy summary's
    ``estimated_fraction``) when known, else 0 or 1 when its ``sources`` (``estimate``, ``rapl``, ...) are all
    measurements or all estimates; ``None`` when neither says (no source, or mixed ones).

    Example:
        >>> estimated_share(0.25), estimated_share(None, ["estimate"]), estimated_share(None, [])
        (0.25, 1.0, None)
        >>> estimated_share(None, ["nvml_counter", "estimate"]) is None  # mixed: how much?
        True
    """
    if fraction is not None:
        return fraction
    measured = {is_measured(str(s)) for s in sources}
    return 0.0 if measured == {True} else 1.0 if measured == {False} else None


def estimated_energy(records: Sequence[TrialRecord]) -> tuple[float, int]:
    """The part of the records' energy that is an estimate, not a measurement (J), and how many trials with
    energy did not say: they lack ``energy/estimated_fraction`` (which EnergyCallback logs; a failed job returns
    no metrics) and their sources (from the job's energy summary) are not all estimates or all measurements."""
    estimated, unknown = 0.0, 0
    for r in records:
        if r.energy_J is None:
            continue
        run_J = r.energy_J - r.check_J  # a pre-training check's part has its own source
        alone = r.check_J and not run_J  # the check's energy alone: the run reported none
        share = 0.0 if alone else estimated_share(r.metrics.get(ESTIMATED_FRACTION_METRIC), r.sources.values())
        check = estimated_share(None, [r.check_source] if r.check_source else []) if r.check_J else 0.0
        if share is None or check is None:
            unknown += 1
        else:
            estimated += run_J * share + r.check_J * check
    return estimated, unknown
