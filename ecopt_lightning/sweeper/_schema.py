"""The storage schema: every ``ecopt.*`` attribute the sweeper stores on an Optuna study and its trials.
``ecopt report`` rebuilds a sweep's artifacts from these alone.

Every other user attribute of a trial is a metric the task returned (numbers only are kept). A key is
defined here once; ``tests/sweeper/test_schema.py`` checks that no other module spells an ``ecopt.`` key.

Example:
    >>> pre_training_attr("energy/inference_per_sample_J")
    'ecopt.pre_training.energy/inference_per_sample_J'
"""

from __future__ import annotations

#: Every key below starts with it; a trial's user attributes without it are the task's metrics.
PREFIX = "ecopt."

# -- study attributes --
#: the report settings, written when the study is created or reopened
SETTINGS_ATTR = "ecopt.settings"
#: the machine the sweep ran on (CPU, GPUs, OS, library versions), for the energy report
HARDWARE_ATTR = "ecopt.hardware"
#: ``ecopt confirm``'s re-measured energy per sample, per trial number (str): ``{"metric", "value", "ci_lo",
#: "ci_hi", "repeats", "rounds", "contended", "source", "sweep_value"}``; reports use it in place of the sweep's
#: value and keep both (finished trials cannot be updated, so it lives on the study)
CONFIRMED_ATTR = "ecopt.confirmed"

# -- trial attributes --
#: the Hydra overrides the trial's job ran with
OVERRIDES_ATTR = "ecopt.overrides"
#: the job's output directory
JOB_DIR_ATTR = "ecopt.job_dir"
#: why the trial failed (or was pruned); cleared when a retried trial runs again
ERROR_ATTR = "ecopt.error"
#: each constraint's value (<= 0 feasible, in the metric's unit), keyed by the constraint's text, in order
CONSTRAINTS_ATTR = "ecopt.constraints"
#: reasons the trial's energy is not a full measurement (a list of strings)
DEGRADED_ATTR = "ecopt.degraded"
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

#: trial markers copied onto a trial's record as flags
FLAG_ATTRS = (BASELINE_ATTR,)


def pre_training_attr(metric: str) -> str:
    """The trial attribute holding the untrained model's ``metric`` measured by the pre-training check."""
    return f"{PREFIX}pre_training.{metric}"
