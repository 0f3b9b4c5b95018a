"""Storing a job's result in the study: its metrics, energy and sources on its trial, then the state Optuna is told
(COMPLETE, FAIL, or PRUNED when it was pruned before training or stopped at a rung); the result of a job whose worker
died (salvaged from its job dir), and the energy of a job that finished after another worker failed its trial."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, Trial, TrialState

from ..metrics import ESTIMATED_FRACTION, INFERENCE_ENERGY_METRICS
from . import _crashpoints, _samplers
from . import multi_fidelity as _multi_fidelity
from . import pruning as _pruning
from ._jobinfo import read_job
from ._launch import job_process
from ._lost_jobs import died, rebuilt
from ._metrics import TrialError, lookup, name_mismatch, non_numeric, to_metrics, trial_energy
from ._optuna_compat import TrialWrite, live_trial, set_user_attrs, trial_id, write_trials
from ._optuna_compat import storage as storage_of
from ._optuna_compat import tell as tell_quietly
from ._rung_report import stopped_phrase
from ._schema import (
    CONSTRAINTS_ATTR,
    DEGRADED_ATTR,
    DOMAINS_ATTR,
    ENERGY_ATTR,
    ENERGY_SOURCE_ATTR,
    ERROR_ATTR,
    GRID_ATTR,
    JOB_DIR_ATTR,
    JOB_FAILED_ATTR,
    LATE_RUN_PREFIX,
    OVERRIDES_ATTR,
    PER_REPEAT_ATTR,
    SOURCES_ATTR,
    UNMEASURED_ATTR,
)
from .config import Settings
from .errors import JobConfigError

log = logging.getLogger(__name__)

#: the ``field`` of a mismatch a job raised itself (:class:`~.errors.JobConfigError`), not a metric name's
JOB_CONFIG = "job config"
#: the ``field`` of a result whose energy-per-sample metric is missing because its benchmark measured nothing: a
#: meter that reads 0 J (a counter that never moves) would do the same in every job
MEASURED_NOTHING = "measured nothing"


def job_dir(ret: JobReturn) -> str | None:
    """The job's output dir (``hydra.runtime.output_dir``), else the working dir its return names."""
    output_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg else None
    return str(output_dir) if output_dir else ret.working_dir


def count_late_run(study: optuna.Study, stored: FrozenTrial, ret: JobReturn, settings: Settings) -> str:
    """Keep the energy of a job whose result came after another worker failed its trial, beyond what that trial
    holds (the watcher stored the job's energy summary as far as it had got), as a study attribute: a finished
    trial takes no attribute, and the sweep's energy would miss it. Returns what to add to the warning."""
    info = read_job(job_dir(ret))  # its EnergyCallback summary: the energy when not returned, the sources
    try:
        spent, _ = trial_energy(to_metrics(ret.return_value, settings.objective_names), settings.energy_metric)
    except Exception:  # the job raised, or returned no metrics
        spent = None
    spent = spent if spent is not None else info.energy_J
    if spent is None:
        return ""
    held = stored.user_attrs.get(ENERGY_ATTR)
    extra = max(spent - (held if isinstance(held, (int, float)) else 0.0), 0.0)
    late = {"energy_J": extra, "sources": dict(info.sources or {})}
    if info.estimated_fraction is not None:  # the summary's share: with mixed sources, the sources cannot say
        late["estimated_fraction"] = info.estimated_fraction
    study.set_user_attr(f"{LATE_RUN_PREFIX}{stored.number}", late)
    return f"; its job spent {spent:.4g} J, {extra:.4g} J more than its failed trial holds: counted in the sweep"


def salvage(study: optuna.Study, trial: FrozenTrial, settings: Settings) -> bool:
    """Store the result a dead worker's job saved in its job dir (:class:`._launch.TrackedTask`) before the worker
    could tell it (a sweeper killed between a job's end and its tell, or with the finished jobs of a batch
    still untold); ``False`` when there is none to read here, and the watch fails the trial as before."""
    overrides = trial.user_attrs.get(OVERRIDES_ATTR) or []
    ret = rebuilt(trial.user_attrs.get(JOB_DIR_ATTR), overrides, "its worker died")
    if ret.status != JobStatus.COMPLETED:
        return False
    try:
        tell_result(study, live_trial(study, trial.number), ret, settings)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # another worker stored it, or failed it, first
    return True


def tell_result(
    study: optuna.Study, trial: Trial, ret: JobReturn, settings: Settings
) -> tuple[str | None, tuple[str, str] | None]:
    """Record one job's result on its trial and tell Optuna; return the error when the trial failed, and
    ``(field, text)`` when its result does not fit the configured metric names (see :func:`name_mismatch`)."""
    metrics: dict[str, float] = {}
    values: list[float] | None = None
    error: str | None = None
    mismatch: tuple[str, str] | None = None
    unusable = False  # the job ran to its end but its returned values cannot be the trial's
    try:
        returned = ret.return_value
        metrics = to_metrics(returned, settings.objective_names)
        values = [lookup(metrics, name, "objective") for name in settings.objective_names]
        constraints = {c.text: c.value(metrics) for c in settings.constraints}
    except TrialError as exc:
        unusable = True
        names = [*settings.objective_names, *(c.metric for c in settings.constraints)]
        error = non_numeric(returned, names) or str(exc)
        mismatch = name_mismatch(
            returned,
            metrics,
            settings.objective_names,
            [c.metric for c in settings.constraints],
            unnamed=settings.unnamed_returns,
        )
    except Exception as exc:  # the job itself raised: JobReturn re-raises it here
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, JobConfigError):  # the sweep's settings against the job's config: every job would
            mismatch = (JOB_CONFIG, str(exc))
    attrs: dict[str, Any] = dict(metrics)  # written in one storage transaction below
    directory = job_dir(ret)
    if directory:
        attrs[JOB_DIR_ATTR] = directory
    info = read_job(directory)  # EnergyCallback's summary: energy of a failed run, degraded sensors
    if unusable and info.benchmark_nothing is not None:
        withheld = {*INFERENCE_ENERGY_METRICS, settings.energy_per_sample_metric}
        names = [*settings.objective_names, *(c.metric for c in settings.constraints)]
        missing = [n for n in dict.fromkeys(names) if n in withheld and n not in metrics]
        if missing:  # not a misspelt name: the value was never logged
            names_text = ", ".join(map(repr, missing))
            error = f"{info.benchmark_nothing}: no {names_text} to rank; check the meters (docs/measurement.md)"
            mismatch = (MEASURED_NOTHING, error)
    energy, source = trial_energy(metrics, settings.energy_metric)
    if energy is None and info.energy_J is not None:
        energy, source = info.energy_J, f"{Path(info.path or '').name} ({info.status})"
        if info.estimated_fraction is not None and ESTIMATED_FRACTION not in metrics:  # the same summary's share
            attrs[ESTIMATED_FRACTION] = info.estimated_fraction
    if energy is not None:
        attrs[ENERGY_ATTR] = energy
        attrs[ENERGY_SOURCE_ATTR] = source
    degraded = list(info.degraded)
    process = job_process(directory)
    reused = process.get("jobs_in_process", 1)
    if reused > 1 and process.get("pid") != os.getpid():  # a launcher's worker (the basic launcher runs here)
        degraded.append(f"process: ran in a worker process that had already run {reused - 1} job(s)")
    if degraded:
        attrs[DEGRADED_ATTR] = degraded
    if info.sources:
        attrs[SOURCES_ATTR] = info.sources
    if info.domains is not None:
        attrs[DOMAINS_ATTR], attrs[UNMEASURED_ATTR] = info.domains, info.unmeasured
    if info.grid:  # the gCO2e basis, for a report rebuilt where the job dirs are not
        attrs[GRID_ATTR] = info.grid
    if info.per_repeat_J:  # a config run again pools its repeats with these (_repeats.py)
        attrs[PER_REPEAT_ATTR] = info.per_repeat_J
    pruned = _pruning.was_pruned(study, trial) if error is not None and settings.prune_before_training else None
    if pruned:
        log.info("ecopt: trial %d %s", trial.number, pruned)
        set_user_attrs(study, trial, attrs)
        tell_quietly(study, trial, state=TrialState.PRUNED)  # our own decision: not a failure, not in n_trials
        return None, None
    # whenever the job could reach its trial (the stored schedule, not this run's, says whether it ranks)
    stopped, not_finite = stopped_at(study, trial) if settings.jobs_reach_their_trials else (None, False)
    if not_finite:  # stopped at a rung for a NaN objective: a failure, whatever the job returned after
        error, mismatch = stopped, None
    if stopped is not None and not not_finite and (error is None or unusable):
        # PRUNED keeps no values, so the trial never reaches the front; its metrics and energy stay. Its final
        # values are not needed: an app skips its test after a rung stop (EnergyCallback.stopped_at_rung), so an
        # objective such as test_acc (ranked at the rungs through rung_metrics) is missing, not a failure
        # the trial's progress line says the same for the user
        log.debug("ecopt: trial %d %s (multi-fidelity: told PRUNED)", trial.number, stopped)
        set_user_attrs(study, trial, attrs)
        tell_quietly(study, trial, state=TrialState.PRUNED)
        return None, None
    if error is not None:
        failed: dict[str, Any] = {ERROR_ATTR: error}
        if not died(ret) and (mismatch is None or mismatch[0] not in (JOB_CONFIG, MEASURED_NOTHING)):
            # neither a job killed by the cluster (it is retried), a config error nor a meter says anything of the
            # region
            failed[JOB_FAILED_ATTR] = True  # the samplers learn the region fails (_failures.py)
        set_user_attrs(study, trial, {**attrs, **failed})
        log.warning("ecopt: trial %d failed: %s", trial.number, error)
        tell_quietly(study, trial, state=TrialState.FAIL)
        return error, mismatch
    # by name; and as the one stored form that Optuna 4 and 5 (best_trials, the samplers) and optuna-dashboard
    # all read (the dashboard reads only this list, not Optuna 5's per-key `set_constraint` attributes)
    system = _samplers.constraints_optuna4(list(constraints.values())) if constraints else {}
    write_trials(study, [TrialWrite(trial, {**attrs, CONSTRAINTS_ATTR: constraints}, system)])
    tell_quietly(study, trial, values)
    _crashpoints.reached("in_tell")
    return None, None


def stopped_at(study: optuna.Study, trial: Trial) -> tuple[str | None, bool]:
    """Where the job's multi-fidelity check stopped ``trial`` (that one trial read from storage: the job wrote
    it), as ``stopped at rung k (epoch e): why`` (``None`` when it was not stopped), and whether it stopped for an
    objective that was not finite there."""
    attrs = storage_of(study).get_trial(trial_id(trial)).user_attrs
    epoch = _multi_fidelity.stopped_at(attrs)
    if epoch is None:
        return None, False
    phrase = stopped_phrase(epoch, _multi_fidelity.rung_values(attrs), _multi_fidelity.rung_epochs(attrs))
    return phrase, _multi_fidelity.stopped_not_finite(attrs)
