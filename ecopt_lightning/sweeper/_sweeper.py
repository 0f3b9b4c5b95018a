"""The sweep loop: ask ``n_jobs`` trials, launch them with the configured Hydra launcher, tell the results.

``n_trials`` is the number of COMPLETE trials the study should hold: trials RUNNING in other workers count
as in progress, so workers sharing a storage share the budget, and a rerun after a crash runs only what is
missing (crashed trials stop their heartbeat and are failed after the grace period).

Example:
    ``python train.py -m hydra/sweeper=ecopt hydra.sweeper.n_trials=8 hydra.sweeper.n_jobs=2
    'model.width=choice(16,32,64)' 'optim.lr=tag(log, interval(1e-4, 1e-1))'``
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import optuna
from hydra.core.config_loader import ConfigLoader
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import ConfigCompositionException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState

from .. import metrics as metric_names
from . import _crashpoints, _samplers
from . import multi_fidelity as _multi_fidelity
from . import pruning as _pruning
from ._artifacts import attach_to_study, publish_to_study, remove_stale_temps, write_all, write_optimization_results
from ._atomic import write_failure
from ._budget import OVER_BUDGET_ERROR, beyond, counts, may_exceed
from ._compose import ComposeOnce, ReuseComposed
from ._energy_report import hardware_info
from ._heartbeat import DeadTrialWatch, Heartbeat, announce_asker, first_beat, worker
from ._hydra_compat import missing_override_key
from ._jobinfo import MAX_DEPTH, find_summary
from ._launch import TrackedTask, check_parallelism, interrupted, recycle_workers
from ._literals import hydra_literal
from ._loggers import log_everywhere
from ._lost_jobs import dead_job_energy, died, expected_job_dir, recover
from ._metrics import did_you_mean
from ._optuna_compat import TrialWrite, trial_id, write_trials
from ._progress import describe_space, front_table, progress_line
from ._proposals import ProposalError, ask_batch, tell_failed
from ._records import TrialRecord
from ._results import JOB_CONFIG, MEASURED_NOTHING, count_late_run, job_dir, salvage, tell_result
from ._rung_report import energy_saved, saved_line
from ._schema import (
    BASELINE_ATTR,
    CHECK_ENERGY_ATTR,
    CONFIRMED_ATTR,
    ENERGY_ATTR,
    ERROR_ATTR,
    HARDWARE_ATTR,
    JOB_DIR_ATTR,
    MULTI_FIDELITY_ATTR,
    OVERRIDES_ATTR,
    PREFIX,
    PRUNE_BEFORE_TRAINING_ATTR,
    RUNG_EPOCHS_ATTR,
    SETTINGS_ATTR,
    WORKER_ATTR,
)
from ._secrets import argv_hidden, hide, job_override, mask_config, scrub_tree, settings_secrets
from ._space import SearchSpace, holds, incompatible, parse_space, render
from ._storage import error_line, open_storage, retry_callback, storage_lost
from ._sweep_report import Report, build_report, confirm_energy, late_runs
from ._urls import as_url, redact
from .config import Settings, resolve_callable, validate
from .errors import COMMAND_LINE, LauncherError, SweepDirError, SweeperConfigError, SweepFailedError
from .successive_halving import RungSchedule

log = logging.getLogger(__name__)

#: what a sweep that found its study already full says: the same command only resumes it
NOTHING_NEW_HINT = (
    " (this sweep dir's study already has them: raise hydra.sweeper.n_trials to add trials, or give another "
    "hydra.sweep.dir for a new sweep, as a changed search space or multi_fidelity needs)"
)

#: ``summary.json``'s ``stopped`` (what ended the sweep) while it runs, when it ends with the budget met, and when
#: Ctrl-C ends it; the other endings say their reason
STILL_RUNNING = "not yet: the sweep is running"
N_TRIALS_REACHED = "n_trials reached"
INTERRUPTED = "interrupted (Ctrl-C)"

#: the warning of a result that came after another worker had failed its trial (for a heartbeat it missed)
LATE_RESULT = (
    "ecopt: trial %d: result not stored: another worker marked the trial FAIL while this one ran it (no heartbeat "
    "for over 2 x heartbeat_interval_s: this process was paused or could not reach the storage) and runs it again%s"
)

#: the warning of a result another worker stored first, from the job dir, taking this worker for dead
SALVAGED_ELSEWHERE = (
    "ecopt: trial %d: its result is already stored: another worker took this one for dead (no heartbeat for over "
    "2 x heartbeat_interval_s) and stored the result its job had saved"
)

#: ``ecopt.error`` of a batch's trials when another worker failed one of them before this worker claimed it
LATE_CLAIM = (
    "not run: another worker failed a trial of this batch before this worker claimed it (this process was paused "
    "for over 2 x heartbeat_interval_s right after it asked); that trial runs again, this batch is asked anew"
)

#: trials of a run that, all failing the same way (the job raised the same exception, with the same message) before
#: any trial of the study has completed, stop the sweep: every trial would fail so (a GPU the machine lacks, a
#: missing file); with ``n_jobs`` > 1, the first batch when it is smaller
SAME_FAILURES = 3

#: wall time (s) between two writes of the figures (PNG, HTML: about a second of CPU each) and energy_report.md
#: during a sweep; the JSON/CSV files are written every batch (when changed) and the figures once more at the end
FIGURES_EVERY_S = 300.0


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call Optuna without its ExperimentalWarning, nor the heartbeat warning of ``ask`` (we beat ourselves),
    nor its INFO lines ("A new study created", "Trial 3 finished"): the sweeper says these its own way."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            return func(*args, **kwargs)
    finally:
        optuna.logging.set_verbosity(verbosity)


class EcoptSweeperImpl:
    """The implementation behind ``hydra_plugins.ecopt_sweeper.ecopt_sweeper.EcoptSweeper``."""

    def __init__(self, raw_config: Mapping[str, Any]) -> None:
        self.raw_config = dict(raw_config)
        with contextlib.suppress(SweeperConfigError):  # validate() says what is wrong with it, in one line
            self.raw_config["storage"] = as_url(self.raw_config.get("storage"))  # hidden and opened as a URL
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None
        #: every trial of the study as the last report read them, right after a batch was told: the next turn
        #: of the sweep loop starts from it instead of reading again (one read of all trials per batch)
        self._snapshot: list[FrozenTrial] | None = None
        self._rungs_said = False  # multi-fidelity: whether a finished trial was checked for rungs it could stop at
        self._check_said = False  # prune_before_training: whether a finished trial was asked for its check
        self._summary_said = False  # whether a finished trial's job dir was looked in for its energy summary
        self._custom_return_said = False  # whether a custom space's return that is no dict was logged
        self._confirmed: Any = None  # the study's CONFIRMED_ATTR, read when the sweep starts and at its end
        self._texts: dict[Path, str] = {}  # the JSON/CSV texts this sweep last wrote (unchanged: not rewritten)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        # the launcher reuses the configs we compose; most are built from an earlier job's (see ._compose)
        self.composer = ComposeOnce(ReuseComposed(hydra_context.config_loader))
        loader = cast(ConfigLoader, self.composer)  # it stands in for the loader it wraps (the rest delegates)
        self.hydra_context = HydraContext(config_loader=loader, callbacks=hydra_context.callbacks)
        # before the launcher saves any config copy
        mask_config(config, self.raw_config.get("storage"), self.raw_config.get("logger_kwargs"))
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=self.hydra_context, task_function=TrackedTask(task_function), config=config
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()

    # ---- pieces -------------------------------------------------------------------------------------------
    def _url(self, settings: Settings) -> str:
        """The study's storage URL: ``hydra.sweeper.storage``, else the SQLite file in the sweep dir."""
        return settings.storage or f"sqlite:///{self.sweep_dir / 'ecopt.db'}"

    def _open_study(
        self, settings: Settings, sampler: optuna.samplers.BaseSampler, space: SearchSpace, arguments: Sequence[str]
    ) -> tuple[optuna.Study, Any]:
        assert self.config is not None
        url = self._url(settings)
        default = f"the study's SQLite file {self.sweep_dir / 'ecopt.db'} (hydra.sweeper.storage=null)"
        try:
            storage = open_storage(url, settings.heartbeat_interval_s)
        except SweeperConfigError as exc:
            if settings.storage is None:  # the default file: no hydra.sweeper.storage to blame
                raise SweepDirError(f"{default} cannot be used: {exc.allowed}") from None
            raise
        name = settings.study_name or str(self.config.hydra.job.name)
        directions = [StudyDirection[d.upper()] for d in settings.directions]  # validated: maximize or minimize
        try:
            study = _quiet(
                optuna.create_study,
                study_name=name,
                storage=storage,
                sampler=sampler,
                directions=directions,
                load_if_exists=True,
            )
        except Exception as exc:
            reason = error_line(_root_cause(exc), url)
            if settings.storage is None:  # the default file: no hydra.sweeper.storage to blame
                raise SweepDirError(f"{default} cannot be used: {reason}") from None
            raise SweeperConfigError("storage", redact(url), f"a usable Optuna storage ({reason})") from None
        old_dirs = [d.name.lower() for d in study.directions]
        old_names = study.metric_names
        if old_dirs != settings.directions or (old_names and list(old_names) != settings.objective_names):
            raise SweeperConfigError(
                *settings.objectives_as_given(),
                f"those of the existing study {name!r} ({old_names or '?'} {old_dirs}); pick another study_name",
            )
        schedule = settings.multi_fidelity
        _same_settings(study, settings)  # before anything is written: a refused run leaves the study as it was
        _same_space(study, space, arguments)
        _quiet(study.set_metric_names, settings.objective_names)
        study.set_user_attr(SETTINGS_ATTR, settings.for_report().to_attrs())
        study.set_user_attr(MULTI_FIDELITY_ATTR, None if schedule is None else schedule.to_attrs())
        study.set_user_attr(PRUNE_BEFORE_TRAINING_ATTR, settings.prune_before_training)
        if HARDWARE_ATTR not in study.user_attrs:
            study.set_user_attr(HARDWARE_ATTR, hardware_info())
        return study, storage

    def _enqueue_baseline(self, study: optuna.Study, space: SearchSpace, custom: bool) -> None:
        """Make the app's own config the first trial: the baseline the payback figures compare against."""
        assert self.config is not None
        if custom:
            log.info("ecopt: no baseline trial: a custom search space decides its own parameters")
            return
        params: dict[str, Any] = {}
        for key, dist in space.distributions.items():
            value = OmegaConf.select(self.config, key, default=None)
            if value is None or not holds(dist, value):
                log.info("ecopt: no baseline trial: the config's %s=%r is outside the search space", key, value)
                return
            params[key] = value
        number = len(study.get_trials(deepcopy=False))  # enqueued trials are numbered on creation
        _quiet(study.enqueue_trial, params, user_attrs={BASELINE_ATTR: True})
        log.info("ecopt: trial %d is the baseline, the app's own config: %s", number, params)

    def _overrides(self, trial: Trial, space: SearchSpace, custom: Any) -> list[str]:
        extra = custom(self.config, trial) if custom is not None else None
        if extra is not None and not isinstance(extra, Mapping):
            # hydra-optuna-sweeper ignores what its function returns: a function written for it keeps working
            if not self._custom_return_said:
                log.warning(
                    "ecopt: custom_search_space %s returned %s, not a dict of extra overrides: ignored, as "
                    "hydra-optuna-sweeper ignores it",
                    self.raw_config.get("custom_search_space"),
                    type(extra).__name__,
                )
                self._custom_return_said = True
            extra = None
        rendered: dict[str, str] = {}
        for line in space.fixed:
            rendered[line.split("=", 1)[0]] = line
        if custom is not None:  # a fixed value the custom space also sets was silently replaced
            fixed = {key.lstrip("+~"): line for key, line in rendered.items()}
            overlap = [fixed[k] for k in sorted(set(fixed) & {*trial.params, *(extra or {})})]
            if overlap:
                raise SweeperConfigError(
                    "custom_search_space",
                    self.raw_config.get("custom_search_space"),
                    f"a function that sets no parameter the overrides fix ({', '.join(overlap)}; drop them or "
                    "leave those parameters to the function), as hydra-optuna-sweeper refuses the overlap",
                )
        for key, value in {**trial.params, **(extra or {})}.items():
            rendered[key] = render(key, value)
        return list(rendered.values())

    def _maybe_write(
        self, study: optuna.Study, settings: Settings, notes: dict[str, Any], paths: list[Path]
    ) -> tuple[Report, list[Path]]:
        """A fresh report and its JSON/CSV files every batch (progress and the energy budget read them); the
        figures only when ``FIGURES_EVERY_S`` of wall time have passed since they were last written."""
        figures = time.monotonic() - self._figures_at >= FIGURES_EVERY_S
        return self._write(study, settings, notes, figures=figures)

    def _report(self, study: optuna.Study, settings: Settings, notes: dict[str, Any]) -> Report:
        trials = study.get_trials(deepcopy=False)
        self._snapshot = trials
        report = build_report(
            study.study_name,
            trials,
            settings.for_report(),
            cache=self._records,
            confirmed=self._confirmed,  # a sweep resumed after `ecopt confirm`
            late_runs=late_runs(study.user_attrs),
            confirm_runs=confirm_energy(study.user_attrs),
        )
        report.notes = dict(notes)
        return report

    def _trials_now(self, study: optuna.Study) -> list[FrozenTrial]:
        """Every trial of the study: the last report's read when nothing was read since (taken once), else read."""
        trials, self._snapshot = self._snapshot, None
        return study.get_trials(deepcopy=False) if trials is None else trials

    def _write(
        self, study: optuna.Study, settings: Settings, notes: dict[str, Any], figures: bool = True
    ) -> tuple[Report, list[Path]]:
        report = self._report(study, settings, notes)
        if figures:
            self._texts.clear()  # a full write: every file written again
        with _writing(self.sweep_dir):
            paths = write_all(report, self.sweep_dir, figures=figures, last=self._texts)
        if figures:
            self._figures_at = time.monotonic()
        return report, paths

    # ---- the loop -----------------------------------------------------------------------------------------
    def sweep(self, arguments: Sequence[str]) -> dict[str, Any]:
        assert self.config is not None and self.launcher is not None
        settings = validate(self.raw_config)
        for note in settings.warnings:
            log.warning("ecopt: %s", note)
        space = parse_space(settings.params, arguments, legacy=settings.legacy_space)
        custom = resolve_callable(settings.custom_search_space) if settings.custom_search_space else None
        given = {a.split("=", 1)[0].lstrip("+~") for a in arguments if "=" in a}
        replaced = [k for k in (settings.params or {}) if k in given and k not in space.distributions]
        if not space.distributions and custom is None:
            because = (
                f" (the command line gave plain values for {', '.join(replaced)}, which replace their search "
                "expressions)"
                if replaced
                else ""
            )
            raise SweeperConfigError(
                "params",
                settings.params,
                "at least one search expression (choice/range/interval, here or on the command line) "
                f"or a custom_search_space: every trial would be the same{because}",
            )
        if replaced:
            log.info(
                "ecopt: not searched: %s (a plain value on the command line replaces the search)", ", ".join(replaced)
            )
        sampler_name, reason = _samplers.choose(
            settings.sampler, len(settings.directions), space.distributions, settings.n_trials, custom is not None
        )
        sampler = self._sampler(sampler_name, settings, space)
        grid = _samplers.grid_size(space.distributions) if sampler_name == "grid" else None
        if grid is not None and settings.n_trials > grid:
            log.info("ecopt: the grid has %d points: n_trials=%d is capped at %d", grid, settings.n_trials, grid)
            settings.n_trials = grid
        # a search key the app's config lacks stops here (Hydra's "Could not override"), before the study exists
        try:
            self.validate_batch_is_legal([example_overrides(space)])
        except ConfigCompositionException as exc:
            error = unknown_key_error(exc, self.config, settings.params, arguments)
            if error is None:
                raise
            raise error from None
        # Everything above only reads: a bad config stops here with nothing written.
        warning = check_parallelism(OmegaConf.select(self.config, "hydra.launcher"), settings.n_jobs)
        if warning:
            log.warning("ecopt: %s", warning)
        created = not self.sweep_dir.exists()
        try:
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepDirError(
                f"hydra.sweep.dir={str(self.sweep_dir)!r} cannot be created: {_os_reason(exc)}"
            ) from None
        try:
            study, storage = self._open_study(settings, sampler, space, arguments)
        except (SweeperConfigError, SweepDirError):
            if created:  # nothing partial: not even an empty sweep dir or SQLite file
                shutil.rmtree(self.sweep_dir, ignore_errors=True)
            raise
        so_far = len(study.get_trials(deepcopy=False))
        earlier = earlier_results(self.sweep_dir, study.study_name)
        if not so_far and earlier:
            # an emptied or replaced storage: the sweep dir's artifacts and job dirs are the last copies of the
            # old results, which this sweep would overwrite
            raise SweeperConfigError(
                "storage",
                redact(settings.storage) if settings.storage else f"{self.sweep_dir / 'ecopt.db'} (default)",
                f"a storage holding study {study.study_name!r}: it has no trial, yet {earlier} in "
                f"{self.sweep_dir} came from one; point hydra.sweeper.storage at that study's storage, or move "
                "the sweep dir away to start afresh",
            )
        if settings.sampler == "auto" and custom is None:
            sampler_name, reason = self._rechoose(study, settings, space, sampler_name, reason)
        self._figures_at = time.monotonic()  # the first figures after FIGURES_EVERY_S, or at the end
        if settings.seed is not None and so_far:
            # a resumed sweep must not replay the proposals the same seed made before: the seed goes on from
            # the study's trial count (still reproducible: the same command on the same study draws the same)
            study.sampler = self._sampler(
                sampler_name, dataclasses.replace(settings, seed=sampler_seed(settings.seed, so_far)), space
            )
        self._records: dict[int, TrialRecord] = {}  # finished trials, flattened once
        remove_stale_temps(self.sweep_dir)  # a killed writer's temp files (the artifacts are whole)
        # a killed run's job dirs: Hydra copied a password written in the app's YAML into each, and nothing after
        # the kill scrubbed them
        scrub_tree(
            [self.sweep_dir, *(p for p in self.sweep_dir.iterdir() if p.is_dir())],
            self.raw_config.get("storage"),
            self.raw_config.get("logger_kwargs"),
        )
        log.info("ecopt: study %r in %s", study.study_name, redact(settings.storage) or self.sweep_dir / "ecopt.db")
        log.info("ecopt: sampler %s (%s: %s)", _samplers.describe(study.sampler), settings.sampler, reason)
        log.info(
            "ecopt: objectives %s; search space %s",
            list(zip(settings.objective_names, settings.directions, strict=False)),
            describe_space(space.distributions) or "(no parameters)",
        )
        if settings.unnamed_returns:
            log.info(
                "ecopt: hydra.sweeper.direction: the task's return value(s) are named %s in the study and artifacts",
                ", ".join(settings.objective_names),
            )
        notes: dict[str, Any] = {
            "sampler": {"name": sampler_name, "class": _samplers.describe(study.sampler), "why": reason},
            "n_trials_target": settings.n_trials,
            "stopped": STILL_RUNNING,  # what ended the sweep, once it ends
        }
        study_attrs = study.user_attrs
        notes["hardware"] = study_attrs.get(HARDWARE_ATTR)
        self._confirmed = study_attrs.get(CONFIRMED_ATTR)
        if settings.baseline and grid is not None:
            log.info("ecopt: no baseline trial: the grid visits every point (the app's config too, if on the grid)")
        elif settings.baseline and not has_baseline(study) and settings.n_trials:
            self._enqueue_baseline(study, space, custom is not None)
        failures: list[str] = []
        tried: list[int] = []  # this run's trials, in the order they were told
        raised: list[tuple[int, str]] = []  # this run's trials whose job raised: (number, error)
        report, paths = self._write(study, settings, notes, figures=False)
        watch = DeadTrialWatch(settings.heartbeat_interval_s, settings.max_retry)
        announce_asker(study)  # before the first ask: see DeadTrialWatch
        waiting_said = None
        launched = False
        per_sample_checked = False
        budget_checked = settings.energy_budget_J is None  # nothing to check without a budget
        try:
            while True:
                every = self._trials_now(study)
                if watch.fail_dead_trials(study, every, salvage=lambda t: salvage(study, t, settings)):
                    every = study.get_trials(deepcopy=False)  # failed, and maybe enqueued again
                trials = [t for t in every if counts(t)]
                running = sum(t.state == TrialState.RUNNING for t in trials)
                stopped = _stopped_count(trials)
                done = len(trials) - running  # complete, and stopped at a rung: trained (in part)
                missing = settings.n_trials - done - running
                watched = any(watch.judgeable(t) for t in trials if t.state == TrialState.RUNNING)
                if missing <= 0 and done < settings.n_trials and settings.wait_for_running and watched:
                    # other workers' trials may still fail (or their worker die): wait to take over what is missing
                    unclaimed = sum(WORKER_ATTR not in t.user_attrs for t in trials if t.state == TrialState.RUNNING)
                    if (done, running, unclaimed) != waiting_said:  # said once per change, not every poll
                        waiting_said = (done, running, unclaimed)
                        log.info(
                            "ecopt: %d complete, %d running (%d not claimed by any worker yet): waiting",
                            done,
                            running,
                            unclaimed,
                        )
                    time.sleep(0.5)  # one cheap query per poll; a finishing trial is seen at once
                    continue
                if missing <= 0:
                    notes["stopped"] = N_TRIALS_REACHED
                    if settings.n_trials == 0:  # as hydra-optuna-sweeper: no trial, the results written
                        log.info(
                            "ecopt: n_trials=0: no trial run; the reports are written from the study's %d trial(s)",
                            len(every),
                        )
                    else:
                        log.info(
                            "ecopt: %s + %d running of n_trials=%d: nothing to launch%s",
                            f"{done - stopped} complete + {stopped} stopped at a rung"
                            if stopped
                            else f"{done} complete",
                            running,
                            settings.n_trials,
                            "" if launched else NOTHING_NEW_HINT,
                        )
                    break
                if grid is not None and sum(t.state.is_finished() for t in every) >= grid:
                    notes["stopped"] = f"every point of the grid ({grid}) was tried"
                    log.info("ecopt: %s; no new trials", notes["stopped"])
                    break
                pruned = sum(t.state == TrialState.PRUNED for t in every) - stopped
                if pruned >= _pruning.MAX_PRUNED_PER_TRIAL * settings.n_trials:
                    limit = _pruning.MAX_PRUNED_PER_TRIAL * settings.n_trials
                    notes["stopped"] = f"{pruned} trials pruned before training (limit {limit})"
                    log.warning("ecopt: %s; no new trials", notes["stopped"])
                    break
                if not budget_checked:
                    budget_checked = self._stop_if_budget_uncountable(study, settings, notes, every)
                if not per_sample_checked:
                    per_sample_checked = _say_if_no_energy_per_sample(settings, every)
                if settings.energy_budget_J is not None and report.tuning_energy_J >= settings.energy_budget_J:
                    notes["stopped"] = (  # what tuning cost: the trials' energy and `ecopt confirm`'s, as the payback's
                        f"energy budget reached: {report.tuning_energy_J:.6g} J >= "
                        f"energy_budget_J={settings.energy_budget_J:.6g} J (what tuning cost: "
                        f"{report.tuning_text()})"
                    )
                    log.warning("ecopt: %s; no new trials", notes["stopped"])
                    break
                try:
                    batch_errors, numbers, mismatches, batch_raised = self._run_batch(
                        study, storage, space, custom, settings, min(settings.n_jobs, missing)
                    )
                except ProposalError as exc:  # a sampler's bug or numerical failure: every batch would repeat it
                    notes["stopped"] = str(exc)
                    self._write(study, settings, notes)
                    raise SweepFailedError(
                        f"{exc}; its batch is FAIL (not run); artifacts in {self.sweep_dir}; the same command resumes "
                        "the sweep"
                    ) from exc
                launched = True
                if not numbers:  # every trial asked lay beyond the budget (other workers' cover it): none ran
                    continue
                failures += batch_errors
                tried += numbers
                raised += batch_raised
                completed = len(batch_errors) < len(numbers)
                why = (
                    _samplers.too_slow(sampler_name, *self._batch_seconds, completed=completed)
                    if settings.sampler == "auto"
                    else None
                )
                if why:
                    cheaper = _samplers.CHEAPER[sampler_name]
                    log.warning("ecopt: auto moves from %s to %s: %s", sampler_name, cheaper, why)
                    notes["sampler"]["switched"] = {"after_trial": numbers[-1], "to": cheaper, "why": why}
                    sampler_name = cheaper
                    # the seed goes on from the trial count, as on resume: the original seed would replay the
                    # first proposals (trial 1 repeated trial 0's parameters)
                    seed = sampler_seed(settings.seed, len(study.trials))
                    study.sampler = self._sampler(cheaper, dataclasses.replace(settings, seed=seed), space)
                report, paths = self._maybe_write(study, settings, notes, paths)
                _log_progress(report, numbers, settings.n_trials)
                rate = settings.max_failure_rate
                if rate is not None and numbers and len(batch_errors) / len(numbers) > rate:
                    notes["stopped"] = f"max_failure_rate={rate} exceeded"
                    self._write(study, settings, notes)
                    raise SweepFailedError(
                        f"hydra.sweeper.max_failure_rate={rate} exceeded: {len(batch_errors)} of {len(numbers)} trials "
                        f"of the batch failed; last error: {batch_errors[-1]}; artifacts in {self.sweep_dir}"
                    )
                if settings.max_failures is None and len(failures) >= settings.n_trials:
                    # max_failure_rate alone tolerates failures; as in hydra-optuna-sweeper, n_trials bounds attempts
                    notes["stopped"] = f"{len(failures)} trials failed in this run (n_trials={settings.n_trials})"
                    log.warning("ecopt: %s; max_failure_rate=%s tolerates them; no new trials", notes["stopped"], rate)
                    break
                seen = self._snapshot if self._snapshot is not None else study.get_trials(deepcopy=False)
                job_config = [m for m in mismatches if m[1] == JOB_CONFIG]
                if job_config or (mismatches and not any(t.state == TrialState.COMPLETE for t in seen)):
                    self._stop_on_mismatch(study, settings, notes, (job_config or mismatches)[0])
                if settings.stop_on_same_failure:  # after the job's own line, which says what to set
                    self._stop_if_failing_alike(study, settings, notes, tried, raised, seen)
                if settings.multi_fidelity is not None and not self._rungs_said:
                    self._rungs_said = _say_if_nothing_can_stop(seen, numbers)
                if settings.prune_before_training and not self._check_said:
                    self._check_said = _say_if_never_checked(seen, numbers)
                if not self._summary_said:
                    self._summary_said = _say_if_no_summary(seen, numbers)
                if settings.max_failures is not None and len(failures) >= settings.max_failures:
                    notes["stopped"] = f"max_failures={settings.max_failures} reached"
                    self._write(study, settings, notes)
                    raise SweepFailedError(
                        f"hydra.sweeper.max_failures={settings.max_failures} reached: {len(failures)} trials failed in "
                        f"this run; last error: {failures[-1]}; artifacts in {self.sweep_dir}"
                    )
        except Exception as exc:
            if not storage_lost(exc):
                raise
            url = self._url(settings)
            raise SweepFailedError(
                f"the study's storage {redact(url)} stopped answering during the sweep ({error_line(exc, url)}); "
                f"artifacts in {self.sweep_dir} are those of the last batch; once it answers again, the same command "
                "resumes the sweep (a trial this run left RUNNING gets the result its job saved, else it is failed and "
                "run again)"
            ) from None
        except KeyboardInterrupt:
            notes["stopped"] = INTERRUPTED
            with contextlib.suppress(Exception):  # the interrupted batch's trials, told FAIL, in the artifacts
                self._write(study, settings, notes, figures=False)
            log.warning(
                "ecopt: interrupted (Ctrl-C): a trial that was running is FAIL, with the energy its job had measured; "
                "artifacts in %s; the same command resumes the sweep",
                self.sweep_dir,
            )
            raise
        self._confirmed = study.user_attrs.get(CONFIRMED_ATTR)  # `ecopt confirm` may have run meanwhile
        report, paths = self._write(study, settings, notes)
        self._finish(study, report, paths, settings)
        return {"study_name": study.study_name, "pareto_front": [r.number for r in report.front]}

    @staticmethod
    def _sampler(name: str, settings: Settings, space: SearchSpace) -> optuna.samplers.BaseSampler:
        """The sampler ``name``; under ``auto``, with the settings ``auto`` adds (``sampler_kwargs`` win)."""
        kwargs = dict(settings.sampler_kwargs)
        if settings.sampler == "auto":
            kwargs = {**_samplers.auto_kwargs(name, space.distributions), **kwargs}
        try:
            return _quiet(
                _samplers.build,
                name,
                kwargs,
                settings.seed,
                bool(settings.constraints),
                field=settings.sampler_kwargs_field,
                space=space.distributions,
                target=settings.sampler_target,
                concurrent=not runs_alone(settings),
            )
        except SweeperConfigError as exc:
            if settings.sampler != "auto" or not settings.sampler_kwargs:
                raise
            # fields written for hydra-optuna-sweeper's default sampler (TPE), given to the one auto picked
            raise SweeperConfigError(
                exc.field,
                exc.value,
                f"{exc.allowed}, which auto picked; to give them to another, pick it: hydra/sweeper/sampler=<name> "
                "(tpe: hydra-optuna-sweeper's default)",
            ) from None

    def _rechoose(
        self, study: optuna.Study, settings: Settings, space: SearchSpace, name: str, reason: str
    ) -> tuple[str, str]:
        """A resumed study knows how long its trials take: ``auto`` chooses again with that."""
        durations = sorted(
            t.duration.total_seconds()
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.duration is not None
        )
        if not durations:
            return name, reason
        median = durations[len(durations) // 2]
        new, why = _samplers.choose(
            "auto", len(settings.directions), space.distributions, settings.n_trials, False, trial_seconds=median
        )
        if new != name:
            study.sampler = self._sampler(new, settings, space)
        return new, why

    def _stop_if_budget_uncountable(
        self, study: optuna.Study, settings: Settings, notes: dict[str, Any], every: Sequence[FrozenTrial]
    ) -> bool:
        """``energy_budget_J`` counts the trials' energy: once a trial has completed and no trial holds any (a
        misspelt ``energy_metric``, an app without ``EnergyCallback``), the budget could never stop the sweep, so
        stop now (artifacts written) with one line. Returns whether the check was made (a trial has completed), so
        the caller checks once a sweep: a trial's energy stays."""
        complete = _first_complete(every, settings.energy_metric)
        if complete is None:
            return False
        if any(ENERGY_ATTR in t.user_attrs for t in every):
            return True
        first, metrics, hint = complete
        notes["stopped"] = f"energy_budget_J cannot be counted: trial {first.number} reported no energy"
        self._write(study, settings, notes)
        raise SweeperConfigError(
            "energy_metric",
            settings.energy_metric,
            f"a metric the task returns, so that energy_budget_J={settings.energy_budget_J:.6g} J can be counted "
            f"(trial {first.number} reported no energy{hint}; available: "
            f"{', '.join(metrics) or '(none)'}); the sweep stopped; artifacts in {self.sweep_dir}",
        )

    def _stop_if_failing_alike(
        self,
        study: optuna.Study,
        settings: Settings,
        notes: dict[str, Any],
        tried: Sequence[int],
        raised: Sequence[tuple[int, str]],
        every: Sequence[FrozenTrial],
    ) -> None:
        """No trial has completed, and every trial this run told so far (at least :data:`SAME_FAILURES`, or the
        first batch when ``n_jobs`` > 1) raised the same error: stop now (artifacts written) with one line, where
        the default ``max_failures`` (``n_trials``) would run every trial into it."""
        enough = SAME_FAILURES if settings.n_jobs == 1 else min(SAME_FAILURES, settings.n_jobs)
        errors = {error for _, error in raised}
        if len(tried) < enough or len(raised) != len(tried) or len(errors) != 1:
            return
        if any(t.state == TrialState.COMPLETE for t in every):
            return
        (error,) = errors
        notes["stopped"] = f"the first {len(tried)} trials failed the same way: {error}"
        self._write(study, settings, notes)
        raise SweepFailedError(
            f"trials {', '.join(map(str, tried))} failed the same way, and no trial has completed: {error}; every "
            "trial would fail so: fix its cause and run the same command to go on, or set hydra.sweeper.max_failures "
            f"(or max_failure_rate) to run on through failures; artifacts in {self.sweep_dir}"
        )

    def _stop_on_mismatch(
        self, study: optuna.Study, settings: Settings, notes: dict[str, Any], mismatch: tuple[int, str, str]
    ) -> None:
        """No trial has completed and a finished job's metrics do not fit the configured names: a config
        mistake that every further trial would repeat, so stop now (the trial stays FAIL, artifacts written)."""
        number, field, text = mismatch
        if field == MEASURED_NOTHING:  # every further job would read the same meters: not a name to fix
            notes["stopped"] = f"trial {number}: {text}"
            self._write(study, settings, notes)
            raise SweepFailedError(
                f"trial {number}: {text} (the sweep stopped after its first such job; artifacts in {self.sweep_dir})"
            )
        if field == JOB_CONFIG:  # the job said what is wrong, in one line
            notes["stopped"] = f"trial {number}'s job refused the sweep's settings: {text}"
            self._write(study, settings, notes)
            raise SweepFailedError(
                f"{text} (trial {number}; the sweep stopped after its first such job; artifacts in {self.sweep_dir})"
            )
        field, value = (
            settings.objectives_as_given() if field == "objectives" else (field, [c.text for c in settings.constraints])
        )
        notes["stopped"] = f"trial {number}'s metrics do not fit hydra.sweeper.{field}: {text}"
        self._write(study, settings, notes)
        allowed = (
            f"one direction per number of a task that returns a float or a tuple (trial {number}: {text}); for a "
            "dict of metrics, name them in hydra.sweeper.objectives instead"
            if field == "direction"
            else f"names of numeric metrics the task returns (trial {number}: {text})"
        )
        raise SweeperConfigError(
            field,
            value,
            f"{allowed}; the sweep stopped after its first finished job; artifacts in {self.sweep_dir}",
        )

    def _run_batch(
        self, study: optuna.Study, storage: Any, space: SearchSpace, custom: Any, settings: Settings, size: int
    ) -> tuple[list[str], list[int], list[tuple[int, str, str]], list[tuple[int, str]]]:
        """Ask, launch and tell one batch; return the errors of failed trials, the batch's trial numbers,
        ``(trial number, field, text)`` of each result that did not fit the configured metric names and
        ``(trial number, error)`` of each trial whose job raised."""
        _crashpoints.reached("before_ask")
        # another worker that opened the study at the same moment (no trial yet) may have stored its schedule, or
        # its prune_before_training, over this run's: this run's jobs would run under it; one storage read a batch
        _same_settings(study, settings, joined=True)
        start = time.perf_counter()
        trials = _quiet(ask_batch, study, space.distributions, size)
        propose_s = time.perf_counter() - start
        _crashpoints.reached("before_claim")
        trials = self._drop_over_budget(study, trials, settings.n_trials)
        if not trials:
            return [], [], [], []
        told: set[int] = set()
        dirs: list[str | None] = []
        returns: Sequence[JobReturn] = []
        launched = False
        why = "not run: the batch was refused"
        ids = [trial_id(trial) for trial in trials]
        me = {**worker(), "beat_s": settings.heartbeat_interval_s}  # watchers judge this worker's beats by it
        try:
            claims, batch = [], []
            for trial in trials:
                overrides = self._overrides(trial, space, custom)
                claim: dict[str, Any] = {WORKER_ATTR: me, OVERRIDES_ATTR: overrides}
                if ERROR_ATTR in trial.user_attrs:  # a trial retried by an older version inherited the dead run's
                    claim[ERROR_ATTR] = None
                # nor the dead run's rung values and stop (_multi_fidelity.dead_run_attrs): it reaches its rungs again
                claim.update(dict.fromkeys(_multi_fidelity.dead_run_attrs(trial.user_attrs)))
                claims.append(claim)
                if settings.jobs_reach_their_trials:
                    url = self._url(settings)
                    overrides = [*overrides, *_pruning.job_overrides(url, study.study_name, trial.number)]
                batch.append([*overrides, *job_override(self.raw_config.get("storage"))])
            try:
                self.validate_batch_is_legal(batch)
                assert self.config is not None
                loader = self.composer.peeking()  # the configs composed above, left for the launcher
                dirs = [expected_job_dir(loader, self.config, o, trials[0].number + i) for i, o in enumerate(batch)]
                # the claim, the job dir (where a watcher finds the energy of a job whose worker dies) and the first
                # heartbeat: one storage transaction for the batch. The claim waits for the configs above (well
                # below the 2 heartbeat intervals another worker gives an unclaimed trial)
                beat, native_beat = first_beat(storage, settings.heartbeat_interval_s)
                for claim, directory in zip(claims, dirs, strict=True):
                    if directory:
                        claim[JOB_DIR_ATTR] = directory
                # the beat first: a journal file stores the attributes one by one, and a claimed trial without a
                # beat is only timed on a watcher's clock (DeadTrialWatch)
                claimed = [
                    TrialWrite(t, {**beat, **c}, heartbeat=native_beat) for t, c in zip(trials, claims, strict=True)
                ]
                try:
                    write_trials(study, claimed)
                except optuna.exceptions.UpdateFinishedTrialError:
                    # asked, then paused for 2 heartbeat intervals before the claim: another worker took the trials
                    # for a dead worker's, failed them and retries them; the rest of the batch is failed below, unrun
                    why = LATE_CLAIM
                    log.warning("ecopt: %s", why)
                    return [], [], [], []
                _crashpoints.reached("after_ask")
                with Heartbeat(storage, ids, settings.heartbeat_interval_s, beat_now=False):
                    start = time.perf_counter()
                    launched = True
                    returns = self._launch(batch, trials[0].number, dirs)
                    self._batch_seconds = (propose_s, time.perf_counter() - start)  # auto weighs them (too_slow)
            finally:
                self.composer.forget()
            errors, mismatches, raised = [], [], []
            retry = retry_callback(settings.max_retry)
            ctrl_c = False
            for trial, ret in zip(trials, returns, strict=False):
                if interrupted(job_dir(ret)):  # the user's Ctrl-C reached the job: the sweep stops below
                    ctrl_c = True
                    continue
                _crashpoints.reached("before_tell")
                try:
                    error, mismatch = tell_result(study, trial, ret, settings)
                except optuna.exceptions.UpdateFinishedTrialError:
                    # this worker looked dead to another one (no heartbeat for 2 intervals: a paused or suspended
                    # process, a storage it could not reach), which failed the trial and retries it; not an error
                    told.add(trial.number)
                    stored = storage.get_trial(trial_id(trial))
                    if stored.state == TrialState.COMPLETE:
                        log.warning(SALVAGED_ELSEWHERE, trial.number)  # the result this job saved, stored by a watcher
                        continue
                    log.warning(LATE_RESULT, trial.number, count_late_run(study, stored, ret, settings))
                    continue
                told.add(trial.number)
                _crashpoints.reached("after_tell")
                if error is not None:
                    errors.append(error)
                    # the job raised: not a NaN or missing metric, nor a job the cluster killed (it is retried)
                    if ret.status == JobStatus.FAILED and not died(ret):
                        raised.append((trial.number, error))
                if mismatch is not None:
                    mismatches.append((trial.number, *mismatch))
                if died(ret) and retry is not None:  # killed by the cluster: run its parameters again
                    retry(study, storage.get_trial(trial_id(trial)))
            if ctrl_c:  # the others are told; the interrupted ones are failed below, as for a Ctrl-C of the sweeper
                raise KeyboardInterrupt
            return errors, [t.number for t in trials], mismatches, raised
        except KeyboardInterrupt:
            why = "interrupted (Ctrl-C) while it ran: no result" if launched else "not run: interrupted (Ctrl-C)"
            raise
        except LauncherError as exc:
            why = f"not run: the launcher failed: {exc.cause}"
            raise
        except BaseException as exc:
            why = f"{'stopped while it ran' if launched else why}: {type(exc).__name__}"
            raise
        finally:
            # also after Ctrl-C or a refusal; the returns name the dirs a subdir like ${hydra.job.id} hides
            scrub_tree(
                [self.sweep_dir, *dirs, *map(job_dir, returns)],
                self.raw_config.get("storage"),
                self.raw_config.get("logger_kwargs"),
            )
            untold = any(t.number not in told for t in trials)  # else nothing to read: every trial was told
            running = (TrialState.RUNNING,)
            unfinished = {t.number for t in study.get_trials(deepcopy=False, states=running)} if untold else set()
            for i, trial in enumerate(trials):  # interrupted or refused batch: never leave trials RUNNING
                if trial.number not in told and trial.number in unfinished:
                    # the energy its job measured until it stopped (a summary written at its end or last epoch)
                    tell_failed(study, trial, why, dead_job_energy(dirs[i]) if i < len(dirs) else {})

    @staticmethod
    def _drop_over_budget(study: optuna.Study, trials: list[Trial], n_trials: int) -> list[Trial]:
        """Tell FAIL (never run) the asked trials beyond the shared budget (:mod:`._budget`); keep the others.
        Counted as the sweep loop counts: COMPLETE, RUNNING, and PRUNED when multi-fidelity stopped it at a rung."""
        if not may_exceed([t.number for t in trials], n_trials):
            return trials  # none can be beyond: no need to read the count
        states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED)
        counted = [t.number for t in study.get_trials(deepcopy=False, states=states) if counts(t)]
        excess = set(beyond([t.number for t in trials], counted, n_trials))
        for trial in trials:
            if trial.number in excess:
                tell_failed(study, trial, OVER_BUDGET_ERROR)
                log.info(
                    "ecopt: trial %d not run: other workers' trials already cover n_trials=%d", trial.number, n_trials
                )
        return [t for t in trials if t.number not in excess]

    def _launch(self, batch: list[list[str]], first: int, dirs: list[str | None]) -> Sequence[JobReturn]:
        """Run the batch on the launcher; when it raised because a job died, each job's return is rebuilt from
        its job dir (:mod:`._lost_jobs`) so the finished jobs still count and only the dead one fails."""
        try:
            with argv_hidden():  # a launcher that runs the jobs in this process hands them its command line
                return self.launcher.launch(batch, initial_job_idx=first)
        except Exception as exc:
            returns = recover(dirs, batch, exc)
            if returns is None:  # no job started: the launcher itself failed, and would fail every batch so
                hidden = settings_secrets(self.raw_config.get("storage"), self.raw_config.get("logger_kwargs"))
                said = hide(error_line(exc), hidden)
                numbers = ", ".join(str(first + i) for i in range(len(batch)))
                raise LauncherError(
                    f"the launcher {type(self.launcher).__name__} failed before any job of trial"
                    f"{'s' if len(batch) > 1 else ''} {numbers} ran: {said}; failed (not run): fix the launcher or its "
                    "settings (hydra/launcher, hydra.launcher.*) and run the same command to go on; artifacts in "
                    f"{self.sweep_dir}",
                    said,
                ) from exc
            log.warning("ecopt: the launcher lost the batch (%s); results read from the job dirs", type(exc).__name__)
            return returns
        finally:
            recycle_workers(self.launcher)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose each job's config before launching (as Hydra's own Sweeper does) to fail early; the launcher
        is handed these configs rather than composing them again."""
        assert self.config is not None
        try:
            for overrides in batch:
                self.composer.compose(self.config, overrides)
        except BaseException:
            self.composer.forget()
            raise

    def _finish(self, study: optuna.Study, report: Report, paths: list[Path], settings: Settings) -> None:
        try:
            publish_to_study(study, report)
            attach_to_study(study, paths, self.sweep_dir / "optuna_artifacts")
        except Exception as exc:  # the files are on disk already; the dashboard link is a convenience
            log.warning("ecopt: could not attach artifacts to the study: %s", exc)
        log_everywhere(settings.loggers, report, self.sweep_dir, paths, settings.logger_kwargs)
        with _writing(self.sweep_dir):
            write_optimization_results(report, self.sweep_dir)
        hv = "n/a" if report.hypervolume is None else f"{report.hypervolume:.6g}"
        knee = "n/a" if report.knee is None else f"trial {report.knee.number} {report.knee.values}"
        log.info(
            "ecopt: %d trial(s) on the Pareto front; hypervolume %s (reference %s); knee %s",
            len(report.front),
            hv,
            report.reference_point,
            knee,
        )
        for line in front_table(report):
            log.info("ecopt: %s", line)
        stopped = saved_line(energy_saved(report.records))
        if stopped is not None:
            log.info("ecopt: %s", stopped)
        quality = measurement_quality(report)
        if quality:
            log.warning("ecopt: %s", quality)
        if not report.energy_reported:
            log.info("ecopt: the sweep's own energy: %s; artifacts in %s", report.sweep_energy_text(), self.sweep_dir)
            return
        log.info(
            "ecopt: the sweep's own energy: %s (%s; from %s)%s; artifacts in %s",
            report.sweep_energy_text(),
            report.estimated_text(),
            report.sources_text(),
            report.confirm_text(),  # a sweep resumed after `ecopt confirm`: tuning cost that too
            self.sweep_dir,
        )


def _same_settings(study: optuna.Study, settings: Settings, joined: bool = False) -> None:
    """Refuse to join a study that has trials under another multi-fidelity schedule (:func:`_same_schedule`) or
    ``prune_before_training`` (:func:`_same_pruning`), with one read of the study's attributes. ``joined``: this run
    has stored its settings already, so any other stored since is another worker's, trials or not."""
    if not joined and not study.get_trials(deepcopy=False):
        return  # a new study: this run's settings are its own
    attrs = study.user_attrs
    _same_schedule(study.study_name, attrs, settings.multi_fidelity)
    _same_pruning(study.study_name, attrs, settings.prune_before_training)


def _same_schedule(name: str, attrs: Mapping[str, Any], schedule: RungSchedule | None) -> None:
    """Refuse another multi-fidelity schedule than the study's (or on or off where this run is not): its jobs would
    rank and stop under the schedule this run stores over the study's, so another worker's trials or a resumed
    sweep's would change rule mid-study."""
    if MULTI_FIDELITY_ATTR not in attrs:
        return  # stored before the schedule was: this run's schedule is its own
    raw = attrs[MULTI_FIDELITY_ATTR]
    stored = RungSchedule.from_attrs(raw) if raw else None
    if stored == schedule:
        return
    said = "off (null)" if stored is None else hydra_literal(stored.to_attrs())
    raise SweeperConfigError(
        "multi_fidelity",
        None if schedule is None else schedule.to_attrs(),
        f"the schedule of the existing study {name!r}, {said}, under which its trials ran: use the same "
        "settings in every worker and on resume, or another study_name or hydra.sweep.dir",
    )


def _same_pruning(name: str, attrs: Mapping[str, Any], prune: bool) -> None:
    """Refuse the other ``prune_before_training`` than the study's: the jobs read the study's (the one this run
    stores over it), so another worker's jobs would check, or skip the check, under this run's, and a trial pruned
    by its job would be told FAIL by a worker with the setting off."""
    if PRUNE_BEFORE_TRAINING_ATTR not in attrs:
        return  # stored before the setting was
    stored = bool(attrs[PRUNE_BEFORE_TRAINING_ATTR])
    if stored == prune:
        return
    raise SweeperConfigError(
        "prune_before_training",
        prune,
        f"the setting of the existing study {name!r}, {hydra_literal(stored)}, under which its trials "
        "ran: use the same settings in every worker and on resume, or another study_name or hydra.sweep.dir",
    )


def _same_space(study: optuna.Study, space: SearchSpace, arguments: Sequence[str]) -> None:
    """Refuse a search space that Optuna cannot store beside the study's trials (a choice list or a kind of
    parameter changed since they ran): Optuna refused it only at the first ``ask``, with a traceback and a trial
    left RUNNING. The parameter is named as the user gave it, on the command line or in ``hydra.sweeper.params``."""
    changed = incompatible((t.distributions for t in study.get_trials(deepcopy=False)), space.distributions)
    if not changed:
        return
    name, old = next(iter(changed.items()))
    typed = [a for a in arguments if a.split("=", 1)[0].lstrip("+~") == name]
    new, stored = (describe_space({name: d}) for d in (space.distributions[name], old))
    raise SweeperConfigError(
        COMMAND_LINE if typed else "params",
        typed[0] if typed else {name: new.split(": ", 1)[1]},
        f"the search space of the existing study {study.study_name!r}, whose trials have {stored}: give the same, "
        "or another hydra.sweeper.study_name or hydra.sweep.dir for a new sweep",
    )


def _say_if_nothing_can_stop(trials: Sequence[FrozenTrial], numbers: Sequence[int]) -> bool:
    """With multi-fidelity on, warn when the first trial of this batch that ran to its end had no rung where it
    could stop, and say why (its Trainer has no EnergyCallback, or no rung lies below its budget). Returns whether a
    finished trial was judged (said or fine), so the caller asks once a sweep."""
    t = next((t for t in trials if t.number in numbers and t.state == TrialState.COMPLETE), None)
    if t is None:
        return False
    recorded = t.user_attrs.get(RUNG_EPOCHS_ATTR)
    if not isinstance(recorded, Mapping):
        log.warning(
            "ecopt: multi_fidelity is on, but trial %d recorded no rung: its Trainer has no EnergyCallback "
            "(it reports at the rungs and stops the trial), so no trial can be stopped (docs/sweeper.md)",
            t.number,
        )
    elif not recorded.get("epochs"):
        log.warning(
            "ecopt: multi_fidelity is on, but trial %d has no rung below its budget (Trainer(max_epochs=%s)): "
            "no trial can be stopped; lower multi_fidelity.min_epochs or train longer",
            t.number,
            recorded.get("trainer_max_epochs"),
        )
    return True


def _say_if_never_checked(trials: Sequence[FrozenTrial], numbers: Sequence[int]) -> bool:
    """With ``prune_before_training`` on, warn when the first trial of this batch that trained to its end was not
    checked before training (the app never calls ``check_before_training``, or no constraint is on the metric it
    measures): nothing can be pruned. Returns whether a finished trial was judged, so the caller asks once a sweep."""
    t = next((t for t in trials if t.number in numbers and t.state == TrialState.COMPLETE), None)
    if t is None:
        return False
    if CHECK_ENERGY_ATTR not in t.user_attrs:
        log.warning(
            "ecopt: prune_before_training is on, but trial %d trained without the pre-training check: the app does "
            "not call ecopt_lightning.check_before_training(model, val_loader) before fit, or no constraint is on "
            "the metric it measures, so no trial can be pruned (README.md, prune_before_training)",
            t.number,
        )
    return True


def _say_if_no_summary(trials: Sequence[FrozenTrial], numbers: Sequence[int]) -> bool:
    """Warn when the first trial of this batch that completed reported EnergyCallback's metrics but its job dir,
    readable here, holds no ``energy_summary.json`` (the app wrote it elsewhere): the reports then lack what only
    the summary says. Returns whether a finished trial was judged, so the caller asks once a sweep."""
    t = next((t for t in trials if t.number in numbers and t.state == TrialState.COMPLETE), None)
    if t is None:
        return False
    directory = t.user_attrs.get(JOB_DIR_ATTR)
    callback = metric_names.ESTIMATED_FRACTION in t.user_attrs  # EnergyCallback logs it with its total
    if callback and directory and Path(directory).is_dir() and not find_summary(directory):
        log.warning(
            "ecopt: trial %d reported EnergyCallback's %s but its job dir %s holds no %s (looked up to %d folders "
            "below): the reports lack its measurement sources, degraded sensors, grid intensity and inference "
            "repeats; have EnergyCallback write it there (Trainer(default_root_dir=HydraConfig.get().runtime."
            "output_dir) or EnergyCallback(summary_path=...))",
            t.number,
            metric_names.ESTIMATED_FRACTION,
            directory,
            metric_names.SUMMARY_FILE,
            MAX_DEPTH,
        )
    return True


def _first_complete(every: Sequence[FrozenTrial], name: str) -> tuple[FrozenTrial, list[str], str] | None:
    """The first complete trial of ``every``, the metrics it reported and the did-you-mean of ``name`` among them
    (for a metric no trial reports); ``None`` while no trial has completed."""
    first = next((t for t in every if t.state == TrialState.COMPLETE), None)
    if first is None:
        return None
    metrics = sorted(k for k in first.user_attrs if not k.startswith(PREFIX))
    return first, metrics, did_you_mean(name, metrics)


def _say_if_no_energy_per_sample(settings: Settings, every: Sequence[FrozenTrial]) -> bool:
    """Once a trial has completed: warn when none reports ``energy_per_sample_metric`` (a misspelt name, an app
    without the inference benchmark), which no objective needs, so that nothing else would say why samples per J,
    the payback and the proxy check stay empty; not for the default name in a task that reports no energy at all
    (a hydra-optuna-sweeper task returning a float). Returns whether the check was made."""
    name = settings.energy_per_sample_metric
    complete = _first_complete(every, name)
    if complete is None:
        return False
    if name in settings.objective_names or any(name in t.user_attrs for t in every if t.state == TrialState.COMPLETE):
        return True
    first, metrics, hint = complete
    if name == metric_names.INFERENCE_PER_SAMPLE_J and not any(k.startswith("energy/") for k in metrics):
        return True
    log.warning(
        "ecopt: energy_per_sample_metric=%r is not among the metrics of trial %d%s (available: %s): samples per J, "
        "the payback and the proxy check are not computed",
        name,
        first.number,
        hint,
        ", ".join(metrics) or "(none)",
    )
    return True


def _stopped_count(trials: Sequence[FrozenTrial]) -> int:
    """PRUNED trials that multi-fidelity stopped at a rung (not those pruned before training)."""
    return sum(_multi_fidelity.stopped_at_rung(t) is not None for t in trials)


@contextlib.contextmanager
def _writing(sweep_dir: Path) -> Iterator[None]:
    """A file of the sweep dir that cannot be written (a full disk, a folder in an artifact's place) stops the
    sweep with one line, not a traceback: the trials are safe in the study."""
    try:
        yield
    except OSError as exc:
        raise SweepDirError(
            f"hydra.sweep.dir={str(sweep_dir)!r}: the sweep's files cannot be written there: {write_failure(exc)}; "
            "its trials are stored in the study: the same command goes on once that is fixed"
        ) from None


def _os_reason(exc: OSError) -> str:
    return f"{exc.strerror or type(exc).__name__} (errno {exc.errno})" if exc.errno else str(exc)


def _root_cause(exc: BaseException) -> BaseException:
    """The first exception of a chain (Optuna wraps the database's own error in a generic one)."""
    seen = {id(exc)}
    while True:
        earlier = exc.__cause__ or exc.__context__
        if earlier is None or id(earlier) in seen:
            return exc
        exc = earlier
        seen.add(id(exc))


def example_overrides(space: SearchSpace) -> list[str]:
    """One job's overrides with a value of every searched parameter (its first choice or lowest value)."""
    lines = list(space.fixed)
    for key, dist in space.distributions.items():
        if isinstance(dist, CategoricalDistribution):
            value = dist.choices[0]
        elif isinstance(dist, IntDistribution | FloatDistribution):
            value = dist.low
        else:  # parse_space makes no other kind
            raise TypeError(f"{key}: no example value for {dist!r}")
        lines.append(render(key, value))
    return lines


def unknown_key_error(
    exc: Exception, config: DictConfig, params: Mapping[str, str], arguments: Sequence[str]
) -> SweeperConfigError | None:
    """The one line for Hydra's "Could not override 'key'" (several lines) when ``key`` is a searched or fixed
    parameter the app's config lacks, naming where it was given (the command line wins over ``params``), the
    closest key of the config and the ``+`` that adds it; ``None`` for any other composition error."""
    key = missing_override_key(exc)
    if key is None:
        return None
    typed = [a for a in arguments if a.split("=", 1)[0] == key]
    if typed:
        field, value, add = COMMAND_LINE, typed[-1], repr(f"+{typed[-1]}")
    elif key in params:
        field, value, add = f"params.{key}", params[key], f"the key +{key} in params"
    else:
        return None
    app = OmegaConf.to_container(config, resolve=False)
    assert isinstance(app, dict)
    app.pop("hydra", None)
    hint = did_you_mean(key, _dotted_keys(app))
    return SweeperConfigError(field, value, f"a key of the app's config{hint}; to add one it lacks: {add}")


def _dotted_keys(node: Mapping[Any, Any], prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        yield f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _dotted_keys(value, f"{prefix}{key}.")


def earlier_results(sweep_dir: Path, study_name: str) -> str | None:
    """What in ``sweep_dir`` shows a sweep of ``study_name`` with trials ran there before (``None``: nothing)."""
    try:
        old = json.loads((sweep_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(old, dict) and old.get("study_name") == study_name and old.get("n_trials"):
        return f"summary.json ({old['n_trials']} trial(s))"
    return None


def resumed_seed(seed: int, trials_so_far: int) -> int:
    """The sampler's seed for a sweep resumed on a study holding ``trials_so_far`` trials.

    Example:
        >>> resumed_seed(0, 5) != resumed_seed(0, 6) != 0
        True
    """
    return (seed * 1_000_003 + trials_so_far * 7_919) % 2**32


def sampler_seed(seed: int | None, trials_so_far: int) -> int | None:
    """The seed of a sampler that takes over a study holding ``trials_so_far`` trials (a resumed sweep, or
    ``auto`` moving to a cheaper sampler): :func:`resumed_seed`, so that it does not replay the first proposals.

    Example:
        >>> sampler_seed(None, 3), sampler_seed(0, 0), sampler_seed(0, 5) == resumed_seed(0, 5)
        (None, 0, True)
    """
    return seed if seed is None or trials_so_far == 0 else resumed_seed(seed, trials_so_far)


def runs_alone(settings: Settings) -> bool:
    """Whether no other trial of the study can run while this sweep proposes one: one trial per batch, on the
    default storage, which is the sweep dir's own (concurrent workers need distinct sweep dirs and a configured
    shared ``storage``)."""
    return settings.n_jobs == 1 and settings.storage is None


def has_baseline(study: optuna.Study) -> bool:
    """Whether the study holds a baseline trial that is complete, running or waiting (not only failed ones), or
    pruned before training (its model breaks a constraint, and would again); not one that multi-fidelity stopped at
    a rung, as it did before it left the baseline alone: the payback needs one trained to the end."""
    states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING, TrialState.PRUNED)
    return any(
        t.user_attrs.get(BASELINE_ATTR) and _multi_fidelity.stopped_at_rung(t) is None
        for t in study.get_trials(deepcopy=False, states=states)
    )


def _log_progress(report: Report, numbers: Sequence[int], n_trials: int) -> None:
    """One line per trial of the batch (see :func:`._progress.progress_line`)."""
    for i, number in enumerate(numbers):
        line = progress_line(report, number, n_trials, later=set(numbers[i + 1 :]))
        if line is not None:
            log.info("ecopt: %s", line)


def measurement_quality(report: Report) -> str | None:
    """One line when some complete trials' inference energy was measured contended or imprecisely."""
    done = [r for r in report.records if r.values is not None]
    contended = [r.number for r in done if r.metrics.get(metric_names.INFERENCE_CONTENDED) == 1.0]
    loose = [r.number for r in done if r.metrics.get(metric_names.INFERENCE_CONVERGED) == 0.0]
    if not contended and not loose:
        return None
    parts = []
    if contended:
        parts.append(
            f"{len(contended)} measured their inference energy beside other processes' CPU load (contended: "
            f"{contended})"
        )
    if loose:
        parts.append(f"{len(loose)} did not reach the precision target (not converged: {loose})")
    return (
        f"of {len(done)} complete trials, {' and '.join(parts)}; compare them with care, measure quietly "
        "(docs/measurement.md) or run `ecopt confirm`"
    )
