"""The storage schema: every ``ecopt.*`` attribute the sweeper stores on an Optuna study and its trials, and
the stored report settings (:class:`ReportSettings`). ``ecopt report`` rebuilds a sweep's artifacts from these
alone.

Every other user attribute of a trial is a metric the task returned (numbers only are kept). A key is
defined here once; ``tests/sweeper/test_schema.py`` checks that no other module spells an ``ecopt.`` key.

Example:
    >>> stored = ReportSettings(["val_acc", "energy/total_J"], ["maximize", "minimize"], ["x <= 1"])
    >>> ReportSettings.from_attrs({SETTINGS_ATTR: stored.to_attrs()}, None, ["maximize", "minimize"]) == stored
    True
    >>> pre_training_attr("energy/inference_per_sample_J")
    'ecopt.pre_training.energy/inference_per_sample_J'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..metrics import INFERENCE_PER_SAMPLE_J, TOTAL_J

#: Every key below starts with it; a trial's user attributes without it are the task's metrics.
PREFIX = "ecopt."


def stored_metrics(user_attrs: Mapping[str, Any]) -> dict[str, float]:
    """A trial's metrics: its numeric user attributes without :data:`PREFIX`.

    Example:
        >>> stored_metrics({"val_acc": 0.5, "ecopt.energy_J": 2.0, "flag": True, "note": "x"})
        {'val_acc': 0.5}
    """
    return {
        k: float(v)
        for k, v in user_attrs.items()
        if not k.startswith(PREFIX) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


# -- study attributes --
#: the report settings (:class:`ReportSettings`), written when the study is created or reopened
SETTINGS_ATTR = "ecopt.settings"
#: the machine the sweep ran on (CPU, GPUs, OS, library versions), for the energy report
HARDWARE_ATTR = "ecopt.hardware"
#: the multi-fidelity rung schedule (``RungSchedule.to_attrs()``), or None when the sweep has it off
MULTI_FIDELITY_ATTR = "ecopt.multi_fidelity"
#: whether the sweep has ``prune_before_training`` on: jobs of a multi-fidelity sweep reach their trial too, and
#: their pre-training check must not measure or prune then
PRUNE_BEFORE_TRAINING_ATTR = "ecopt.prune_before_training"
#: ``ecopt confirm``'s re-measured energy per sample, per trial number (str): ``{"metric", "value", "ci_lo",
#: "ci_hi", "repeats", "per_repeat_J", "rounds", "contended", "source", "sweep_value", "hardware"}`` (``hardware``:
#: the confirming machine's); reports use it in place of the sweep's value and keep both (finished trials cannot
#: be updated, so it lives on the study)
CONFIRMED_ATTR = "ecopt.confirmed"
#: the energy each ``ecopt confirm`` run spent measuring the front again, a list of ``{"energy_J", "estimated_J",
#: "seconds", "sources", "invalid"}`` (one per run, kept after ``--clear``: it was spent; ``"stopped": true`` on a run
#: interrupted before its end, which confirmed nothing): part of what tuning cost
CONFIRM_ENERGY_ATTR = "ecopt.confirm_energy"
#: what optuna-dashboard shows on the study page without opening a file (short texts, each under its 1024
#: characters): the front (knee first), the knee, the hypervolume, the sweep's own energy, the measurement sources
FRONT_ATTR = "ecopt.pareto_front"
KNEE_ATTR = "ecopt.knee"
HYPERVOLUME_ATTR = "ecopt.hypervolume"
SWEEP_ENERGY_ATTR = "ecopt.sweep_energy"
SOURCES_SUMMARY_ATTR = "ecopt.sources"
DASHBOARD_ATTRS = (FRONT_ATTR, KNEE_ATTR, HYPERVOLUME_ATTR, SWEEP_ENERGY_ATTR, SOURCES_SUMMARY_ATTR)

#: prefix of one study attribute per sweeper process that asks trials of the study (``{"host", "boot",
#: "pid"}``), written before its first ask: an unclaimed trial whose every asker is dead was left by one
ASKER_PREFIX = "ecopt.asker."

#: prefix of one study attribute per job whose result came too late to be stored (another worker had failed its
#: trial, taking its worker for dead): ``{"energy_J", "sources"}``, so the sweep's energy still counts that run
LATE_RUN_PREFIX = "ecopt.late_run."

# -- trial attributes --
#: the Hydra overrides the trial's job ran with
OVERRIDES_ATTR = "ecopt.overrides"
#: the job's output directory
JOB_DIR_ATTR = "ecopt.job_dir"
#: why the trial failed (or was pruned); cleared when a retried trial runs again
ERROR_ATTR = "ecopt.error"
#: True on a FAIL trial whose job ran and failed (exception, NaN, missing metric), not a dead worker's or a refused
#: batch's: the samplers are shown such trials as infeasible (``_failures.py``)
JOB_FAILED_ATTR = "ecopt.job_failed"
#: never stored: the constraint the samplers' view of the study adds (1 on job failures, 0 on the others)
FAILED_CONSTRAINT = "ecopt.failed"
#: each constraint's value (<= 0 feasible, in the metric's unit), keyed by the constraint's text, in order
CONSTRAINTS_ATTR = "ecopt.constraints"
#: reasons the trial's energy is not a full measurement (a list of strings)
DEGRADED_ATTR = "ecopt.degraded"
#: the energy per sample of each repeat of the trial's inference benchmark (J, a list), from EnergyCallback's
#: summary: a config run in several trials is one point whose interval pools them (``_repeats.py``)
PER_REPEAT_ATTR = "ecopt.inference_per_repeat_J"
#: the measurement source per domain of the trial's energy, from EnergyCallback's summary
#: (``{"gpu:0": "nvml_counter", "cpu:0": "estimate"}``): the plots' axis titles say how energy was measured
SOURCES_ATTR = "ecopt.measurement_sources"
#: the measurement domains the trial's energy covers in full (a sorted list: its sources' domains without those
#: with a measurement fault), and those with a fault (not measured, or not in every window), from EnergyCallback's
#: summary: a complete trial that did not measure one of the sweep's domains is left out of the front
#: (``_domains.py``)
DOMAINS_ATTR = "ecopt.measured_domains"
UNMEASURED_ATTR = "ecopt.unmeasured_domains"
#: the grid intensity the trial's EnergyCallback computed its gCO2e at, from its summary
#: (``{"intensity_g_per_kWh", "basis", "region"}``): a report rebuilt without the job dirs uses it too
GRID_ATTR = "ecopt.grid_intensity"
#: a trial's energy (J) when its metrics lack it (failed or pruned trials), and that energy's source
ENERGY_ATTR = "ecopt.energy_J"
ENERGY_SOURCE_ATTR = "ecopt.energy_source"
#: energy (J) and source of the pre-training inference check of a trial that passed it and trained
#: (``prune_before_training``); it counts in the trial's energy. A pruned trial's check is its ``ENERGY_ATTR``.
CHECK_ENERGY_ATTR = "ecopt.pre_training.energy_J"
CHECK_SOURCE_ATTR = "ecopt.pre_training.energy_source"
#: True on the enqueued baseline trial (the app's own config), the payback figures' reference
BASELINE_ATTR = "ecopt.baseline"
#: why the job pruned its trial before training
PRUNED_ATTR = "ecopt.pruned"
#: the worker that runs the trial: ``{"host", "boot", "pid"}``
WORKER_ATTR = "ecopt.worker"
#: the worker's last heartbeat (Unix time, s) on storages without Optuna's own heartbeats
BEAT_ATTR = "ecopt.heartbeat_at"

#: the epoch of the rung where multi-fidelity stopped the trial (an int; absent on trials that went on)
STOPPED_AT_ATTR = "ecopt.stopped_at_epoch"
#: every rung attribute (:func:`rung_attr`) starts with it
RUNG_PREFIX = "ecopt.rung."
#: the rung epochs a trial's job found at the start of fit (``{"epochs": [...], "trainer_max_epochs": int}``): none
#: recorded means its Trainer has no EnergyCallback; an empty list, no rung below its full budget
RUNG_EPOCHS_ATTR = "ecopt.rung_epochs"

#: trial markers copied onto a trial's record as flags
FLAG_ATTRS = (BASELINE_ATTR,)

DEFAULT_ENERGY_METRIC = TOTAL_J
DEFAULT_ENERGY_PER_SAMPLE_METRIC = INFERENCE_PER_SAMPLE_J


def pre_training_attr(metric: str) -> str:
    """The trial attribute holding the untrained model's ``metric`` measured by the pre-training check."""
    return f"{PREFIX}pre_training.{metric}"


def rung_attr(epoch: int) -> str:
    """The trial attribute holding its values at the rung ``epoch``: ``{"values": [...objectives in the study's
    order, as returned...], "max_epochs": full budget}``, then with ``decision`` (``continue``/``stop``), ``cohort``
    (the trial numbers it was ranked among) and ``reason`` once decided."""
    return f"{RUNG_PREFIX}{int(epoch)}"


def rung_epoch(key: str) -> int | None:
    """The epoch of a :func:`rung_attr` key, or ``None`` for any other key."""
    tail = key[len(RUNG_PREFIX) :] if key.startswith(RUNG_PREFIX) else ""
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class ReportSettings:
    """What the report needs, stored on the study as ``ecopt.settings``: objectives, constraint texts and the
    energy metric names. :meth:`to_attrs` writes it; :meth:`from_attrs` reads it back."""

    objective_names: list[str]
    directions: list[str]
    constraints: list[str] = field(default_factory=list)
    energy_metric: str = DEFAULT_ENERGY_METRIC
    energy_per_sample_metric: str = DEFAULT_ENERGY_PER_SAMPLE_METRIC

    @classmethod
    def default(cls, names: Sequence[str], directions: Sequence[str]) -> ReportSettings:
        return cls(list(names), list(directions))

    def to_attrs(self) -> dict[str, Any]:
        """The JSON value stored under ``SETTINGS_ATTR``."""
        return {
            "objectives": [
                {"name": n, "direction": d} for n, d in zip(self.objective_names, self.directions, strict=False)
            ],
            "constraints": list(self.constraints),
            "energy_metric": self.energy_metric,
            "energy_per_sample_metric": self.energy_per_sample_metric,
        }

    @classmethod
    def from_attrs(
        cls, attrs: Mapping[str, Any], metric_names: Sequence[str] | None, directions: Sequence[str]
    ) -> ReportSettings:
        """From a study's user attributes; a study made elsewhere (no ``ecopt.settings``) falls back to its
        metric names (or ``objective_<i>``) and ``directions``."""
        stored = attrs.get(SETTINGS_ATTR)
        if stored:
            return cls(
                [o["name"] for o in stored["objectives"]],
                [o["direction"] for o in stored["objectives"]],
                list(stored.get("constraints", [])),
                stored.get("energy_metric", DEFAULT_ENERGY_METRIC),
                stored.get("energy_per_sample_metric", DEFAULT_ENERGY_PER_SAMPLE_METRIC),
            )
        names = list(metric_names or [f"objective_{i}" for i in range(len(directions))])
        return cls(names, list(directions))
