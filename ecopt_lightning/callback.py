"""`EnergyCallback`: energy per training step and per inference batch, in any Lightning ``Trainer``.

Hooks and publishing only: a meter reading -> a window (:class:`~ecopt_lightning.energy.EnergyMonitor`) ->
accounting per phase and over DDP ranks (:class:`~ecopt_lightning.energy_tracker.EnergyTracker`,
:class:`~ecopt_lightning.ranks.RankReducer`) -> named metrics (``energy_tracker``'s ``*_metrics``, names from
:mod:`ecopt_lightning.metrics`) -> here: ``trainer.callback_metrics`` and every logger
(:mod:`ecopt_lightning.logger_buffer`), the JSON summary (:mod:`ecopt_lightning.energy_summary`).
Metric names are in docs/callback.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from typing_extensions import override

from . import _lightning_compat as compat
from . import metrics
from .benchmark_runner import BenchmarkRunner, FitContext
from .energy import EnergyMonitor, Snapshot, checks
from .energy._notices import say_once
from .energy.carbon import check_factors, grid_intensity
from .energy.measurement import FROZEN_RAPL, sources_text
from .energy.monitor import CpuChoice, check_cpu
from .energy_summary import (
    SUMMARY_FILE,
    build_summary,
    device_sources,
    mark_failed,
    measurement_faults,
    phase_sources,
    rank_named,
    run_sources,
    sources_of,
    spawn_note,
    summary_file,
    write_json,
)
from .energy_tracker import (
    COUNTED,
    IDLE,
    OTHER,
    SANITY,
    EnergyTracker,
    Totals,
    carbon_and_cost,
    epoch_metrics,
    nothing_read,
    step_metrics,
)
from .inference import InferenceBenchmark, batch_items, batch_samples
from .logger_buffer import LoggerBuffer
from .proxies import ModelProxies
from .ranks import RankReducer, device_keys, first_failure, open_rank_monitor
from .rung_check import Broadcast, RungCheck

CudaSync = Literal["log", "step", "never"]
#: what ddp_spawn's launching process gets when a rank raises or dies
_RANK_FAILED = (torch.multiprocessing.ProcessRaisedException, torch.multiprocessing.ProcessExitedException)
#: the phases before (and around) a fit's first batch: alone, no run's energy unless the run failed there
_SET_UP = (OTHER, SANITY, IDLE)


class EnergyCallback(Callback):
    """Logs energy (J), power (W) and energy per sample next to loss and accuracy.

    Training steps are optimizer steps (a whole accumulation cycle; one batch under manual optimisation);
    inference steps are batches. The meters are read at log points and epoch ends (every step with
    ``cuda_sync="step"``): one window covers the steps since the last read, consecutive windows share a
    counter read, so steps add up to the epoch. Validation pauses the training clock; the sanity check is
    measured apart from validation, and counted in the total. Values are means over the steps since the last log
    point (``log_every_n_steps``), reduced over DDP ranks (energy summed, time maximised) before logging.

    Args:
        cpu: CPU measurement, as :class:`EnergyMonitor` takes it (``"auto"``: RAPL, else an estimate).
        batch_size_fn: ``batch -> samples``; default as Lightning infers it.
        length_fn: ``batch -> items`` (e.g. tokens); adds ``energy/{phase}_per_item_J``.
        inference_benchmark: ``True``, an :class:`InferenceBenchmark` or its fields as a dict: after fit,
            measure J per sample under ``torch.inference_mode`` (median and IQR).
        idle_baseline_s: measure idle power for this long (s) before fit (its energy counts in the total) and log
            net energy beside gross.
        cuda_sync: when to synchronise CUDA at a window end: ``"log"`` (log points and epoch ends,
            default), ``"step"`` (read and synchronise every step) or ``"never"``.
        proxies: log ``model/params`` and ``model/flops_per_sample`` (one extra forward pass: its energy is
            OTHER's, not the training phase's, and in the total).
        carbon_region: ISO 3166-1 code (``"DE"``) of a country whose yearly average grid intensity is used for
            ``carbon/..._gCO2e`` (table in :mod:`ecopt_lightning.energy.carbon`).
        carbon_intensity_g_per_kWh: your grid's intensity (gCO2e/kWh). Without it and without a region, the
            world average 2023 (Ember) is used; the summary names which.
        price_per_kWh: electricity price; when set, ``cost/..._{currency}`` are logged.
        pue: data-centre PUE applied to carbon and cost (>= 1).
        summary_path: where the JSON summary goes (default ``<trainer log dir>/energy_summary.json``).
        cpu_watts_per_core: power of a busy core for the CPU estimate (W).
        monitor: an :class:`EnergyMonitor` to read instead of one opened per rank at set-up (kept open;
            no DDP de-duplication).

    Inside an ``ecopt`` sweep with ``hydra.sweeper.multi_fidelity`` (docs/sweeper.md#multi-fidelity), the
    callback also ranks the trial against the study at each rung's epoch end and stops the Trainer
    (``trainer.should_stop``) when it is out; the inference benchmark then runs once, at the first rung.
    Elsewhere nothing of this runs.

    Example (two steps on the CPU; what measured each device depends on the machine):
        >>> import tempfile
        >>> from lightning.pytorch import Trainer
        >>> from lightning.pytorch.demos.boring_classes import BoringModel
        >>> energy = EnergyCallback()
        >>> trainer = Trainer(callbacks=[energy], max_steps=2, accelerator="cpu", logger=False,
        ...                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        ...                   default_root_dir=tempfile.mkdtemp())
        >>> trainer.fit(BoringModel())
        >>> float(trainer.callback_metrics["energy/total_J"]) > 0
        True
        >>> energy.summary()["sources"]  # on a GPU server with readable RAPL  # doctest: +SKIP
        {'cpu:0': 'rapl', 'dram:0': 'rapl', 'gpu:0': 'nvml_counter'}
    """

    def __init__(
        self,
        *,
        cpu: CpuChoice = "auto",
        batch_size_fn: Callable[[Any], int] | None = None,
        length_fn: Callable[[Any], int] | None = None,
        inference_benchmark: bool | InferenceBenchmark | Mapping[str, Any] | None = None,
        idle_baseline_s: float = 0.0,
        cuda_sync: CudaSync = "log",
        proxies: bool = True,
        carbon_intensity_g_per_kWh: float | None = None,
        carbon_region: str | None = None,
        price_per_kWh: float | None = None,
        currency: str = "USD",
        pue: float = 1.0,
        summary_path: str | os.PathLike[str] | None = None,
        cpu_watts_per_core: float | None = None,
        monitor: EnergyMonitor | None = None,
    ) -> None:
        if cuda_sync not in ("log", "step", "never"):
            raise ValueError(f"cuda_sync={cuda_sync!r} is not allowed: use 'log', 'step' or 'never'")
        self.cpu = check_cpu(cpu)  # at construction, not at fit set-up
        self.batch_size_fn = checks.function("batch_size_fn", batch_size_fn, "(batch) -> int")
        self.length_fn = checks.function("length_fn", length_fn, "(batch) -> int")
        self.idle_baseline_s = checks.finite("idle_baseline_s", idle_baseline_s, 0.0)
        self.cuda_sync = cuda_sync
        self.grid = grid_intensity(carbon_region, carbon_intensity_g_per_kWh)  # one-line error on bad input
        self.price_per_kWh = price_per_kWh
        if not (isinstance(currency, str) and currency.isidentifier()):  # it names a metric: cost/total_{currency}
            raise ValueError(f"currency={currency!r} is not allowed: give a code such as 'USD' or 'EUR'")
        self.currency = currency
        self.pue = pue
        check_factors(pue, price_per_kWh)  # one-line errors now, not after the first epoch
        if summary_path is not None and (
            not isinstance(summary_path, str | os.PathLike)
            or Path(summary_path).is_dir()
            or os.fspath(summary_path).endswith(("/", os.sep))  # a folder, made or not
        ):
            raise ValueError(
                f"summary_path={summary_path!r} is not allowed: give the path of a JSON file (not a folder) or None"
            )
        self.summary_path = summary_path
        if cpu_watts_per_core is not None:
            checks.finite("cpu_watts_per_core", cpu_watts_per_core, 0.0, strict=True)
        self.cpu_watts_per_core = cpu_watts_per_core
        if monitor is not None and not isinstance(monitor, EnergyMonitor):
            raise ValueError(f"monitor={monitor!r} is not allowed: give an EnergyMonitor, or None (one per rank)")

        self.tracker = EnergyTracker(None)
        self._proxies = ModelProxies(checks.flag("proxies", proxies))  # model/params, model/flops_per_sample
        self._benchmark = BenchmarkRunner(
            InferenceBenchmark.of(inference_benchmark), self.tracker, self._proxies, batch_size_fn
        )
        self.monitor: EnergyMonitor | None = monitor
        #: the meters' description, kept when the monitor this callback opened is closed (the summary holds it)
        self._described: str | None = None
        self._own_monitor = monitor is None
        self._reducer = RankReducer()
        self._rank = 0  # this process's global rank (set-up)
        # every rank's measurement faults, gathered at the end of an entry point (a collective); None: not yet
        self._faults_by_rank: list[dict[str, str]] | None = None
        self._sources_by_rank: list[dict[str, dict[str, str]]] | None = None  # per rank, phase_sources, as faults
        self._devices: list[dict[str, dict[str, str]]] = []  # per rank: domain -> {key, source}
        self._batches: dict[str, int] = {}  # inference batches seen per phase (their log step)
        self._out = LoggerBuffer()  # trainer.callback_metrics and the loggers
        self._resume_other = False  # a validation loop inside fit paused the clock of OTHER or train
        self._deferred_step = False
        self._status = "not started"
        self._loop_ran = False  # the entry point's own loop started (Lightning skips it when it has no batch)
        self._no_batch = ""  # why the last entry point ran no batch ("" when it ran some)
        self._progress: dict[str, int] = {}  # training epochs and optimizer steps completed (fit)
        self._epoch: int | None = None  # the training epoch running (trainer.current_epoch; a checkpoint saves it)
        self._carried: int | None = None  # the epoch whose open part a checkpoint carried, until training resumes
        self._carried_rung: dict[str, Any] = {}  # that epoch's values for its rung check, as the checkpoint held them
        self._id = uuid.uuid4().hex  # names this callback's checkpoints (rank 0's on every rank: fit set-up)
        self._labelled: str | None = None  # the energy/sources label given to the loggers in this entry point
        self._summary_file: str | None = None  # where this entry point's summary goes (found at its first write)
        self._rungs: RungCheck | None = None  # the stop-at-rung check of a multi-fidelity sweep (fit set-up)
        self._fit: FitContext | None = None  # what the inference benchmark reads (fit set-up)
        self._stage: str | None = None  # the running entry point's (setup's stage: Lightning restores after it)
        self._entry = 0  # entry points set up so far (the same count on every rank): names this one's failure

    @property
    def inference_benchmark(self) -> InferenceBenchmark | None:
        """The inference benchmark's settings (``None``: no benchmark)."""
        return self._benchmark.settings

    @inference_benchmark.setter
    def inference_benchmark(self, value: bool | InferenceBenchmark | Mapping[str, Any] | None) -> None:
        self._benchmark.settings = InferenceBenchmark.of(value)

    @property
    def stopped_at_rung(self) -> int | None:
        """The epoch of the multi-fidelity rung at which the sweep stopped this fit (it set
        ``trainer.should_stop``: the study ranked the trial out there), else ``None`` (it trained to its budget,
        or ran outside a multi-fidelity sweep). The study discards a trial stopped at a rung: skip
        ``trainer.test`` for it, which would spend energy on it and report test metrics as if it had finished.

        In the app, after fit::

            trainer.fit(model, datamodule=data)
            if energy.stopped_at_rung is None:  # not discarded at a rung
                trainer.test(model, datamodule=data)

        Example (outside a sweep no rung stops a fit):
            >>> EnergyCallback(cpu=False).stopped_at_rung is None
            True
        """
        return None if self._rungs is None else self._rungs.stopped_epoch

    @property
    def proxies(self) -> bool:
        """Whether ``model/params`` and ``model/flops_per_sample`` are measured."""
        return self._proxies.enabled

    @proxies.setter
    def proxies(self, value: bool) -> None:
        self._proxies.enabled = checks.flag("proxies", value)

    # set-up -----------------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._stage = stage
        self._entry += 1
        self._reducer = RankReducer.from_strategy(trainer.strategy)
        self._rank = trainer.global_rank
        self._faults_by_rank = self._sources_by_rank = None
        if self.monitor is not None and not self._own_monitor:
            self._devices = [
                {d: {"key": k, "source": self.monitor.sources[d]} for d, k in device_keys(self.monitor).items()}
            ]
            self.tracker.use(self.monitor)
        elif self.monitor is None:
            root = trainer.strategy.root_device
            self.monitor, self._devices = open_rank_monitor(
                gpus=[root.index or 0] if root.type == "cuda" else [],
                cpu=self.cpu,
                reducer=self._reducer,
                rank=trainer.global_rank,
                cpu_watts_per_core=self.cpu_watts_per_core,
            )
            self.tracker.use(self.monitor)
        self._labelled = None
        if stage != "fit":  # a fit's checkpoint loads after set-up, with its own sources: labelled at fit start
            self._label(trainer)
        self._out.withheld = () if self._measuring else metrics.MEASURED_PREFIXES
        if not self._measuring:
            say_once(
                "nothing-measured",
                f"ecopt energy: {self._nothing_measured()}: no energy, power, carbon or cost metric is "
                "logged, and the summary's total_J is null",
            )
        if stage == "fit":
            self._fit = self._fit_context(trainer, pl_module)
            self._id = self._reducer.gather_objects(self._id)[0]  # ranks started apart (ddp) made their own
        if stage == "fit" and self._rungs is None:
            self._rungs = RungCheck.open(
                rank_zero=trainer.is_global_zero,
                max_epochs=trainer.max_epochs,
                min_epochs=trainer.min_epochs,
                broadcast=self._broadcast(trainer),
            )
        self._status = f"running {getattr(stage, 'value', stage)}"  # Lightning passes a TrainerFn: "fit", not its name
        self._loop_ran = False
        self._summary_file = None
        # from here to the first batch (the LightningModule's setup, configure_model and on_fit_start, a
        # checkpoint's restore; in validate, test and predict up to the loop's start) is OTHER's: else the meters
        # read energy no phase holds
        self.tracker.start(OTHER, sync=self._sync_reads)

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._status.startswith("running"):  # Lightning skipped the loop (no batch): none of its hooks ran
            self._finish(trainer, getattr(stage, "value", stage))
        self._out.flush(trainer)
        if stage == "fit":
            self._fit = None  # holds the trainer and the monitor
        self._close_monitor()

    # fit --------------------------------------------------------------------------------------------------
    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._label(trainer)
        # with nothing measured on any rank (the same on every rank: the reduction is a collective) there is no
        # idle power, not one of 0 W
        if self.idle_baseline_s > 0 and self.tracker.idle_W is None and self._measuring:
            with self.tracker.paused(OTHER, sync=self._sync_reads):  # measured apart: its own phase, IDLE
                self.tracker.measure_idle(self.idle_baseline_s, self._reducer.reduce)

    @override
    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        at = self._pause_other(self._sync_reads) if self.tracker.running(OTHER) else None
        self.tracker.start(SANITY, at=at)

    @override
    def on_sanity_check_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        at = self.tracker.pause(SANITY, sync=self._sync_reads)
        self.tracker.end_epoch(SANITY)
        self.tracker.start(OTHER, at=at)  # the sanity check is measured apart; what follows is the fit's again

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # published here, not in on_fit_start: the sanity check clears callback_metrics when it ends
        self._loop_ran = True
        self._label(trainer)  # again if a checkpoint loaded after on_fit_start (a strategy that restores after setup)
        self._publish_params(trainer, pl_module)
        if self.tracker.idle_W is not None:
            self._out.publish(trainer, {metrics.IDLE_W: self.tracker.idle_W}, compat.batches_that_stepped(trainer))
        if not self.tracker.running(OTHER):  # it runs from set-up
            self.tracker.start(OTHER, sync=self._sync_reads)
        carried = self._carried
        if carried is not None and carried != trainer.current_epoch and self._rungs and self._rungs.due(carried + 1):
            # resumed past a rung's epoch end (a checkpoint at its last step): Lightning runs no end of that epoch, so
            # its rung is checked here, before the next epoch trains
            self._end_carried_epoch(trainer, carried)
            self._carried = None
            self._rung_check(trainer, pl_module, carried + 1, resumed=True)
        if self._reducer.world_size == 1:  # several ranks' totals are first gathered at the first epoch end
            # the set-up's, idle baseline's and sanity check's energy so far, kept should the job be killed before
            # its first epoch ends (no hook runs on SIGKILL): OTHER's window added to its total, the summary written
            self._progress = {"epochs": trainer.current_epoch, "steps": trainer.global_step}
            self.tracker.start(OTHER, at=self._pause_other(self._sync_reads))
            self._write_summary(trainer)

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._resume_training()

    @override
    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        # a resumed fit calls no on_train_epoch_start for the epoch it resumes in
        self._epoch = trainer.current_epoch
        if self._carried is not None:  # the first batch after a resume from a checkpoint saved in mid-epoch
            if self._carried != trainer.current_epoch:
                self._end_carried_epoch(trainer, self._carried)
            self._carried = None
        if not self.tracker.running("train"):  # the first batch after a validation loop
            self._resume_training()
        self._measure_flops(trainer, pl_module, batch, "train")

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        samples = batch_samples(batch, self.batch_size_fn)
        items = batch_items(batch, self.length_fn)
        if pl_module.automatic_optimization and compat.should_accumulate(trainer):
            self.tracker.count("train", samples, items)
            return
        if self._last_train_batch(trainer, batch_idx):
            # the epoch's last step ends at the epoch's end, so that steps add up exactly to the epoch
            self.tracker.count("train", samples, items)
            self._deferred_step = True
            return
        log_now = self._log_point(trainer)
        self.tracker.step("train", samples, items, sync=self._sync(log_now), read=self._read(log_now))
        if log_now:
            self._log_steps(trainer, "train", compat.batches_that_stepped(trainer))

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step = max(0, compat.batches_that_stepped(trainer) - 1)  # the step Lightning logs epoch metrics at
        sync = self._sync_reads
        # the epoch ends here: what runs after this hook (a checkpoint save) is OTHER's, not the next step's
        at = self.tracker.pause("train", sync=sync) if self.tracker.running("train") else None
        if self._deferred_step:
            self.tracker.step("train", sync=sync)
            self._deferred_step = False
        else:  # the fit stopped in mid-epoch (max_steps, should_stop): the work after its last read step is OTHER's
            self.tracker.hand_over("train", OTHER)
        self.tracker.close("train", sync=sync)  # steps counted since the last read
        if compat.log_every_n_steps(trainer) > 0:
            self._log_steps(trainer, "train", step)  # steps since the last log point, so they sum to the epoch
        epoch = self.tracker.end_epoch("train", sync=sync, read=False)
        self._carried = None  # resumed at its validation end, the carried epoch ends here
        if not self.tracker.running(OTHER):  # else a validation loop at the epoch's end started it already
            self.tracker.start(OTHER, at=at)
        self._publish_epoch(trainer, "train", {None: epoch}, step)
        # the energy so far, kept should the job be killed before fit ends (no hook runs on SIGKILL)
        self._progress = {"epochs": trainer.current_epoch + 1, "steps": trainer.global_step}
        if self._rungs is not None and self._rungs.due(trainer.current_epoch + 1):  # epochs completed
            self._rung_check(trainer, pl_module)  # writes the summary before the study decides, too
        self._write_summary(trainer)

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.tracker.pause("train")
        self.tracker.flush("train")

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        assert self._fit is not None  # built by setup("fit")
        # OTHER ran on through the module's own on_train_end and the trainer's tear-down; not into the benchmark
        if self.tracker.running(OTHER):
            self._pause_other(self._sync_reads)
        stopped = self._rungs is not None and bool(self._rungs.stopped)
        values = self._benchmark.after_fit(self._fit, stopped=stopped)
        self._out.publish(trainer, values, compat.batches_that_stepped(trainer))
        self.tracker.reduce(self._reducer)
        # a fit that ran no batch counts its set-up's energy (as its summary will, once finished); with none read,
        # no total of 0 J is a measurement
        if self._counted_any() or self._set_up_read():
            self._out.publish(trainer, self._totals(), compat.batches_that_stepped(trainer))
        self._finish(trainer, "fit")

    # validation, test, predict ----------------------------------------------------------------------------
    @override
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._loop_ran = True
        if self._rungs is not None and trainer.state.fn == TrainerFn.FITTING:
            self._rungs.validation_started(trainer.callback_metrics)
        if trainer.state.fn == TrainerFn.VALIDATING:  # trainer.validate() alone: fit publishes them at its start
            self._publish_params(trainer, pl_module)
        at = None
        sync = self._sync_reads
        if self.tracker.running("train"):  # inside fit: validation takes over from the running clock
            at = self.tracker.pause("train", sync=sync)
        elif self.tracker.running(OTHER):
            at = self._pause_other(sync)
        if self._deferred_step:
            # the epoch's last step ends here; it is in the totals before ModelCheckpoint saves in on_validation_end
            self.tracker.step("train", sync=sync)
            self._deferred_step = False
        self._resume_other = at is not None
        self.tracker.start("val", at=at)

    @override
    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not trainer.sanity_checking:
            self._eval_batch_start("val", dataloader_idx)

    @override
    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if trainer.sanity_checking:
            self.tracker.step(SANITY, batch_samples(batch, self.batch_size_fn))
        else:
            self._eval_batch_end(trainer, pl_module, "val", batch, dataloader_idx)

    @override
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if trainer.state.fn == TrainerFn.VALIDATING:  # alone: the loop ends at on_validation_end
            self._end_batches("val")
            return
        at = self._eval_end(trainer, "val", batches_end=True)
        if self._resume_other:
            # other callbacks' on_validation_end (ModelCheckpoint saves there) and the logging of the loop's
            # metrics run after this hook: OTHER's, until the next training batch
            self.tracker.start(OTHER, at=at)
            self._resume_other = False

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking and self._rungs is not None and trainer.state.fn == TrainerFn.FITTING:
            self._rungs.validation_ended(trainer.current_epoch + 1, trainer.callback_metrics)
        if not trainer.sanity_checking and trainer.state.fn == TrainerFn.VALIDATING:  # trainer.validate() alone
            self._eval_end(trainer, "val")
            self._finish(trainer, "validate")

    @override
    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._loop_ran = True
        self._publish_params(trainer, pl_module)
        self.tracker.start("test", at=self._take_over_from_other())

    @override
    def on_test_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_start("test", dataloader_idx)

    @override
    def on_test_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._eval_batch_end(trainer, pl_module, "test", batch, dataloader_idx)

    @override
    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._end_batches("test")

    @override
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._eval_end(trainer, "test")
        self._finish(trainer, "test")

    @override
    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._loop_ran = True
        self._publish_params(trainer, pl_module)
        self.tracker.start("predict", at=self._take_over_from_other())

    @override
    def on_predict_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_batch_start("predict", dataloader_idx)

    @override
    def on_predict_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._eval_batch_end(trainer, pl_module, "predict", batch, dataloader_idx)

    @override
    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._end_batches("predict")

    @override
    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._eval_end(trainer, "predict")
        self._finish(trainer, "predict")

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self.tracker.abort()  # the failed epoch is not the next fit's
        self._deferred_step = self._resume_other = False
        self._epoch = self._carried = None
        message = " ".join(str(exception).split())  # one line; none for a bare KeyboardInterrupt
        error = type(exception).__name__ + (f": {message}" if message else "")
        failed = f"failed: {error}"
        if isinstance(exception, _RANK_FAILED) and self._status == "not started" and trainer.is_global_zero:
            # ddp_spawn's launching process: its callback counted nothing, and no hook ran on the ranks after the
            # failure; rank 0's summary (its last epoch end) holds the energy: it says the failure, not this one
            lines = str(exception).strip().splitlines()
            if isinstance(exception, torch.multiprocessing.ProcessRaisedException) and lines:
                failed = f"failed: rank {exception.error_index}: {lines[-1]}"  # the rank's own error
            note = Path(spawn_note(os.getpid()))
            path = note.read_text() if note.is_file() else summary_file(trainer, self.summary_path)
            note.unlink(missing_ok=True)
            if mark_failed(path, failed):
                return
            # rank 0 wrote none (the failure came before the first epoch end): its energy is lost with the ranks
            self._status = failed
            lost = (
                f"rank {exception.error_index} failed before rank 0 wrote a summary (ddp_spawn: only the ranks measure)"
            )
            write_json(path, {**self.summary(), "no_energy": lost})
            return
        if self._reducer.world_size > 1 and self._status.startswith("running"):
            failed = f"failed: {self._first_failure(trainer, error)}"
        self._status = failed
        self._out.flush(trainer)
        self._write_summary(trainer)
        # Lightning calls no teardown after an exception: release here what it would
        self._fit = None
        self._close_monitor()

    def _first_failure(self, trainer: Trainer, error: str) -> str:
        """``rank N: error`` of the rank that failed first in this entry point (a rank whose peer raised fails
        in its next collective, with gloo's or NCCL's error, not the cause), said on the console when not this
        rank's own."""
        environment = getattr(trainer.strategy, "cluster_environment", None)
        address = getattr(environment, "main_address", None) or os.environ.get("MASTER_ADDR")
        port = getattr(environment, "main_port", None) or os.environ.get("MASTER_PORT")
        mine = f"rank {self._rank}: {error}"
        if not address or not port:
            return mine
        first = first_failure(address, int(port), f"ecopt/first_failure/{self._entry}", mine)
        if first != mine:
            say_once(
                f"first-failure-{self._entry}",
                f"ecopt energy: rank {first.split(':', 1)[0].removeprefix('rank ')} failed first ({first}); "
                f"this rank's {error} followed from it",
            )
        return first

    # checkpoints ------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        if self._reducer.world_size == 1:
            self._close_steps_for_checkpoint()
            self.tracker.reduce_local()
        # in DDP this is the cluster total at the last reduction (epoch and validation ends): state_dict is
        # not a collective, so it cannot reduce
        return {
            "version": 2,
            "saved_by": self._id,
            "cluster": {p: t.counts() for p, t in self.tracker.cluster.items()},
            # where each phase's energy came from: a run resumed on other meters still says so
            "sources": {p: sources_of(self.tracker, p, self._phase_sources()) for p in self.tracker.cluster},
            # the training epoch the save cut (every_n_train_steps): the resumed epoch's values continue it
            "open": {"epoch_index": self._epoch, **{k: t.counts() for k, t in self.tracker.cluster_open.items()}},
            "batches": dict(self._batches),
            "idle_W": self.tracker.idle_W,
            "rung": self._rung_values_now(),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._stage != "fit":  # test/validate/predict(ckpt_path=...) load weights: their energy is this run's
            return
        # the checkpoint's totals are where the resumed run starts. One this callback saved holds what it counted up to
        # the save, in place of what it counted since; beside another's, what it counted is its own (a validate of the
        # checkpoint before the resume). Version 1 names no callback: as before, in place.
        own = state_dict.get("saved_by", self._id) == self._id
        self.tracker.restore(state_dict.get("cluster", {}), state_dict.get("sources"), replace=own)
        opened = state_dict.get("open", {})  # none in a checkpoint of version 1: the resumed epoch starts afresh
        self.tracker.carry(opened if self._rank == 0 else {})  # cluster totals: the reduction counts rank 0's once
        self._carried = opened.get("epoch_index") if opened.get("epoch", {}).get("steps") else None
        batches = state_dict.get("batches", {})
        if not own:
            batches = {k: self._batches.get(k, 0) + batches.get(k, 0) for k in {*self._batches, *batches}}
        self._batches = dict(batches)
        self.tracker.idle_W = state_dict.get("idle_W")
        self._carried_rung = dict(state_dict.get("rung") or {})

    # results ----------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """All totals with their sources (J, s, W; samples): what the JSON summary holds.

        Under DDP the totals are the cluster's as of the last reduction (epoch and loop ends), on rank 0.
        With ``ddp_spawn`` this object in the launching process stays empty: read the JSON file instead.
        While an entry point runs, ``partial`` is true and ``progress`` gives the training epochs and optimizer
        steps completed (the file is also written at every training epoch end).
        """
        if self._reducer.world_size == 1:
            self.tracker.reduce_local()
        return build_summary(
            status=self._status,
            progress=self._progress,
            totals=self._totals() if self._no_energy() is None else {},
            no_energy=self._no_energy(),
            tracker=self.tracker,
            devices=self._devices,
            world_size=self._reducer.world_size,
            model=self._proxies.to_dict(),
            inference=self._benchmark.to_dict(),
            grid=self.grid,
            pue=self.pue,
            price_per_kWh=self.price_per_kWh,
            currency=self.currency,
            published=self._out.last,
            monitor=self._described if self.monitor is None else self.monitor.describe(),
            faults=self._faults(),
            sources_by_rank=self._phase_sources(),
        )

    # internals --------------------------------------------------------------------------------------------
    @property
    def _measuring(self) -> bool:
        """Whether any rank counts a device (else every energy value would read 0 J, measured by nothing)."""
        return bool(device_sources(self._devices))

    def _nothing_measured(self) -> str:
        return (
            "nothing is measured on any rank ("
            + ("cpu=False and no GPU" if self.cpu is False else "no meter found")
            + ")"
        )

    def _counted_any(self) -> bool:
        """Whether the totals hold any counted window (else they are 0 J of nothing: no batch ran). OTHER, SANITY
        and IDLE alone are one only where a sweep's cost must count them: a run that failed before its first batch
        (in its set-up, ``configure_optimizers``, the sanity check), a fit that ran no training batch
        (``limit_train_batches=0``, an empty train loader), or one whose loop has started (a job killed before its
        first epoch end leaves the summary of the training's start) spent theirs, so they are counted when they
        read any. A validate, test or predict that ran no batch is no trial's: its set-up alone is no total."""
        if any(
            t.steps or t.samples or t.seconds > 0 or t.energy_J > 0
            for phase, t in self.tracker.cluster.items()
            if phase in COUNTED and phase not in _SET_UP
        ):
            return True
        spent = self._status.startswith(("failed", "finished fit")) or (
            self._status.startswith("running") and self._loop_ran
        )
        return spent and self._set_up_read()

    def _set_up_read(self) -> bool:
        """Whether the set-up's phases (:data:`_SET_UP`) read any energy."""
        return any(t.energy_J > 0 for phase, t in self.tracker.cluster.items() if phase in _SET_UP)

    def _no_energy(self) -> str | None:
        """Why the summary's ``total_J`` is null (``None``: it is not)."""
        if not self._measuring:
            return self._nothing_measured()
        if not self._counted_any():
            if self._status.startswith("failed"):
                return "failed before its first batch, and its set-up read no energy"
            if self._status.startswith("finished fit") and self._no_batch:
                return f"{self._no_batch}, and its set-up read no energy"
            return self._no_batch or "no counted window measured yet"
        if nothing_read(self.tracker.cluster):
            reasons = {
                why for p in self.tracker.phases if p in COUNTED for why in self.tracker.total(p).invalid.values()
            }
            if reasons == {FROZEN_RAPL}:
                return "nothing measured: no RAPL counter moved (measurement_faults says why)"
            return "every reading failed (measurement_faults says why)"
        return None

    @staticmethod
    def _why_no_batch(trainer: Trainer, stage: str) -> str:
        loop = {"fit": "train", "validate": "val"}.get(stage, stage)
        if getattr(trainer, f"limit_{loop}_batches", None) == 0:
            return f"limit_{loop}_batches=0"
        if stage == "fit":
            return "no training batch (an empty train dataloader, or max_epochs or max_steps reached already)"
        return f"no {loop} batch (an empty dataloader)"

    def _end_carried_epoch(self, trainer: Trainer, epoch: int) -> None:
        """Resumed from a checkpoint saved after its epoch's last step but before the epoch's end (at that batch, in
        ``on_validation_end``), Lightning goes on with the next epoch: the carried epoch's values are logged here, at
        the step Lightning logs that epoch's metrics at, and the summary written, as its end would have."""
        step = max(0, compat.batches_that_stepped(trainer) - 1)
        if compat.log_every_n_steps(trainer) > 0:
            self._log_steps(trainer, "train", step)
        self._publish_epoch(trainer, "train", {None: self.tracker.end_epoch("train", read=False)}, step)
        self._progress = {"epochs": epoch + 1, "steps": trainer.global_step}
        self._write_summary(trainer)

    def _resume_training(self) -> None:
        """The training clock takes over from OTHER's at one reading (no gap, no overlap)."""
        sync = self._sync_reads
        at = self._pause_other(sync) if self.tracker.running(OTHER) else None
        self.tracker.start("train", at=at, sync=sync)

    def _take_over_from_other(self) -> Snapshot | None:
        """The snapshot at which a loop's clock takes over from OTHER's set-up clock (``None``: OTHER is not running,
        the loop reads its own start)."""
        return self._pause_other(self._sync_reads) if self.tracker.running(OTHER) else None

    def _pause_other(self, sync: bool) -> Snapshot | None:
        """Stop OTHER's clock and add its window to its total at once (it has no steps to carry it there, and a
        checkpoint saved before fit ends reads the total). Returns the snapshot read."""
        at = self.tracker.pause(OTHER, sync=sync)
        self.tracker.flush(OTHER, read=False)
        return at

    def _label(self, trainer: Trainer) -> None:
        """Name the run's sources (:func:`run_sources`: a loaded checkpoint's among them) in every logger as
        ``energy/sources``; again only when they changed since this entry point's last label."""
        text = sources_text(run_sources(self._devices, self.tracker))
        if text != self._labelled:
            self._out.label(trainer, {metrics.SOURCES: text})
            self._labelled = text

    def _close_monitor(self) -> None:
        """Close the monitor this callback opened (its meters' threads, NVML); one passed in stays open."""
        if self._own_monitor:
            if self.monitor is not None:
                self._described = self.monitor.describe()
                self.monitor.close()
            self.monitor = None
            self.tracker.use(None)

    def _close_steps_for_checkpoint(self) -> None:
        """A checkpoint saved between log points (``every_n_train_steps``) holds the training steps counted since
        the last read; writing it is OTHER's, as at an epoch end (training resumes at its next batch)."""
        sync = self._sync_reads
        at = self.tracker.pause("train", sync=sync) if self.tracker.running("train") else None
        if self._deferred_step:
            self.tracker.step("train", sync=sync)
            self._deferred_step = False
        else:
            self.tracker.close("train", sync=sync)
        if at is not None:
            self.tracker.start(OTHER, at=at)

    @property
    def _sync_reads(self) -> bool:
        """Whether a reading of the meters waits for the GPU's queued work (every ``cuda_sync`` but ``never``)."""
        return self.cuda_sync != "never"

    def _sync(self, log_now: bool) -> bool:
        return self.cuda_sync == "step" or (self.cuda_sync == "log" and log_now)

    def _read(self, log_now: bool) -> bool:
        # one window per log interval: the logged values are means over it anyway; "step" reads every step
        return log_now or self.cuda_sync == "step"

    @staticmethod
    def _log_point(trainer: Trainer) -> bool:
        if compat.log_every_n_steps(trainer) <= 0:
            return False
        return bool(compat.should_update_logs(trainer) or compat.fast_dev_run(trainer))

    @staticmethod
    def _multi_loader(trainer: Trainer, phase: str) -> bool:
        counts = getattr(trainer, f"num_{phase}_batches", None)  # num_val_batches, num_test_batches, ...
        return isinstance(counts, list) and len(counts) > 1

    @staticmethod
    def _last_train_batch(trainer: Trainer, batch_idx: int) -> bool:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return True
        n = trainer.num_training_batches
        return isinstance(n, int) and batch_idx + 1 >= n

    def _totals(self) -> dict[str, float]:
        """The cluster totals as metrics, with carbon and cost when their settings are given."""
        totals = self.tracker.compute()
        extra = carbon_and_cost(
            totals,
            carbon_intensity_g_per_kWh=self.grid.g_per_kWh,
            price_per_kWh=self.price_per_kWh,
            currency=self.currency,
            pue=self.pue,
        )
        return {**totals, **extra}

    def _log_steps(self, trainer: Trainer, phase: str, step: int, multi: bool = False) -> None:
        """Log the mean step energy (J) and power (W) per key since the last log point; ``multi`` names
        them per dataloader."""
        buffered = self.tracker.take_since_log(phase)
        if self._reducer.world_size > 1:  # every rank joins the collective, with or without steps
            spans: dict[Hashable, Totals] = buffered or {None: Totals()}
            reduced = self._reducer.reduce_totals(spans)
            buffered = {k: reduced[k] for k in buffered}
        self._out.publish(trainer, step_metrics(phase, buffered, multi and phase != "train"), step)

    def _publish_epoch(self, trainer: Trainer, phase: str, spans: Mapping[Any, Totals], step: int) -> None:
        """Reduce the epoch's (or loop's) ``spans`` (key ``None``: the whole; else per dataloader) with the
        running totals, and publish both."""
        reduced = self.tracker.reduce(self._reducer, spans)
        whole = reduced.pop(None)
        values = epoch_metrics(phase, whole, reduced, items=self.length_fn is not None, idle_W=self.tracker.idle_W)
        self._out.publish(trainer, {**values, **self._totals()}, step)

    def _eval_batch_start(self, phase: str, dataloader_idx: int) -> None:
        # the previous dataloader's unread batches end here, not at the end of this one's first batch
        self.tracker.begin(phase, dataloader_idx, sync=self._sync_reads)

    def _eval_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, phase: str, batch: Any, dataloader_idx: int
    ) -> None:
        samples = batch_samples(batch, self.batch_size_fn)
        items = batch_items(batch, self.length_fn)
        # a loop's batches are logged at its end: one window for them all, read there, unless read every step
        every = self.cuda_sync == "step"
        self.tracker.step(phase, samples, items, key=dataloader_idx, sync=every, read=every)
        self._batches[phase] = self._batches.get(phase, 0) + 1
        if phase != "val":
            self._measure_flops(trainer, pl_module, batch, phase)

    def _close_batches(self, phase: str, batches_end: bool = True) -> Any:
        """Pause the clock of ``phase`` and, where its batches end (``batches_end``), close them there, so they take
        the window up to now and add up to the loop (also each batch read with ``cuda_sync="step"``: the tail after
        the last one joins them); returns the pausing snapshot."""
        at = self.tracker.pause(phase, sync=self._sync_reads)
        self.tracker.close(phase, tail=batches_end)
        return at

    def _end_batches(self, phase: str) -> None:
        """The batches of a ``validate``, ``test`` or ``predict`` loop end here; the loop's clock runs on, from this
        reading, to the loop's end."""
        self.tracker.start(phase, at=self._close_batches(phase))

    def _eval_end(self, trainer: Trainer, phase: str, batches_end: bool = False) -> Any:
        """Close the loop of ``phase``: log its leftover steps and loop totals; returns the closing snapshot.

        A validation loop inside fit closes at its epoch end (what follows is OTHER's), where its batches end
        (``batches_end``); ``validate``, ``test`` and ``predict`` close at their end, after the LightningModule's own
        ``on_*_epoch_end``, which Lightning calls after every callback's: its work is the loop's, not lost with no
        clock running, and not its batches' (they ended at our ``on_*_epoch_end``)."""
        multi = self._multi_loader(trainer, phase)
        at = self._close_batches(phase, batches_end)
        # one value per loop (the mean batch), at the global step Lightning logs the loop's own metrics at: a
        # loop's batches all run at one global step
        step = compat.batches_that_stepped(trainer)
        if compat.log_every_n_steps(trainer) > 0:
            self._log_steps(trainer, phase, step, multi)
        by_loader = self.tracker.epoch_by_key(phase) if multi else {}
        self._publish_epoch(trainer, phase, {None: self.tracker.end_epoch(phase), **by_loader}, step)
        return at

    def _publish_params(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._out.publish(trainer, self._proxies.count(pl_module), compat.batches_that_stepped(trainer))

    def _measure_flops(self, trainer: Trainer, pl_module: LightningModule, batch: Any, phase: str) -> None:
        """FLOPs per sample on the first batch that gives them; the extra forward pass is OTHER's energy, not the
        phase's (its clock handed to OTHER's meanwhile), and in the total: the tuning spent it."""
        if self._proxies.wants_flops:
            samples = batch_samples(batch, self.batch_size_fn)
            settings = self._benchmark.settings
            forward_fn = settings.forward_fn if settings is not None else None
            values = self._proxies.measure_flops(
                pl_module,
                batch,
                samples,
                paused=self.tracker.lent(phase, OTHER, sync=self._sync_reads),
                forward_fn=forward_fn,
            )
            self._out.publish(trainer, values, compat.batches_that_stepped(trainer))

    def _fit_context(self, trainer: Trainer, pl_module: LightningModule) -> FitContext:
        """What the inference benchmark reads from this callback: the monitor, the ranks, the summary's folder
        (built at fit set-up, once the monitor is open)."""

        def folder() -> Path:  # asked only when the model is kept: finding it may ask a logger
            return Path(summary_file(trainer, self.summary_path)).parent

        return FitContext(trainer, pl_module, self.monitor, self._reducer, folder)

    # multi-fidelity -----------------------------------------------------------------------------------------
    def _broadcast(self, trainer: Trainer) -> Broadcast | None:
        return trainer.strategy.broadcast if self._reducer.world_size > 1 else None

    def _rung_values_now(self) -> dict[str, Any]:
        """For a checkpoint inside a multi-fidelity sweep: the running epoch (counted from 1) and the scalar metrics
        logged in it so far, which its rung ranks on if a fit resumed from the checkpoint reaches the rung without
        them (Lightning restores no logged metric); ``{}`` elsewhere."""
        if self._rungs is None or not self._rungs.reports or self._fit is None:
            return {}
        trainer = self._fit.trainer
        epoch = trainer.current_epoch + 1
        return {"epoch": epoch, "metrics": self._rung_scalars(epoch, trainer)}

    def _rung_scalars(self, epoch: int, trainer: Trainer) -> dict[str, float]:
        """The scalar metrics logged in ``epoch`` (counted from 1), not an earlier epoch's validation values."""
        assert self._rungs is not None
        logged = self._rungs.fresh(epoch, trainer.callback_metrics)
        return {k: float(v) for k, v in logged.items() if torch.is_tensor(v) and v.numel() == 1}

    def _rung_check(
        self, trainer: Trainer, pl_module: LightningModule, epoch: int | None = None, resumed: bool = False
    ) -> None:
        """At a rung's epoch end (``epoch``, counted from 1; default: the epoch ending now; ``resumed``: a resumed
        fit went past it, its values are the checkpoint's): every rank runs the
        inference benchmark once (the first rung, with the sweep's ``rung_repeats`` unless the trial cannot be
        stopped there; its reduction over ranks is a collective), rank 0 reports the metrics, and every rank stops
        the Trainer if the trial is out; a trial that goes on after a short measurement completes it there with the
        full settings, on every rank."""
        assert self._rungs is not None and self._fit is not None  # both built by setup("fit")
        sync = self._sync_reads
        if epoch is None:
            epoch = trainer.current_epoch + 1  # epochs completed: current_epoch moves on after this hook
        repeats = None
        if self._benchmark.pending:
            repeats = self._rungs.benchmark_repeats_at(epoch, self._broadcast(trainer))
        measured = self._benchmark.at_rung(self._fit, sync=sync, repeats=repeats)
        self._out.publish(trainer, measured, compat.batches_that_stepped(trainer))
        faults = None
        if self._reducer.world_size > 1:  # every rank is at the rung (a collective): rank 0 knows only its own faults
            faults = rank_named(self._reducer.gather_objects(measurement_faults(self.monitor, self.tracker)))
        values, summary = None, None
        if self._rungs.reports:
            # a checkpoint saved in the epoch (at its validation's end, its last step) held what it had logged
            values = dict(self._carried_rung.get("metrics", {})) if self._carried_rung.get("epoch") == epoch else {}
            values.update(self._rung_scalars(epoch, trainer))
            values.update(self._out.last)
            summary = self.summary()  # its domains: a trial that lost one is not ranked as if it measured it
            if faults is not None:
                summary["measurement_faults"] = faults
        # the epoch's and the benchmark's energy, kept should the job be killed while the study decides
        self._write_summary(trainer)
        steps, min_steps, val_every = trainer.global_step, trainer.min_steps, trainer.check_val_every_n_epoch
        broadcast = self._broadcast(trainer)
        if not self._rungs.decide(
            epoch,
            values,
            trainer.max_epochs,
            broadcast,
            steps=steps,
            min_steps=min_steps,
            val_every=val_every,
            summary=summary,
            resumed=resumed,
        ):
            trainer.should_stop = True
            return
        measured = self._benchmark.complete_at_rung(self._fit, sync=sync)  # it goes on: the objective's measurement
        self._out.publish(trainer, measured, compat.batches_that_stepped(trainer))

    def _faults(self) -> dict[str, str]:
        """The measurement faults the summary names: every rank's once gathered at an entry point's end, else
        (between, or after an exception, where no collective is safe) this rank's alone, named by its rank."""
        if self._faults_by_rank is not None:
            return rank_named(self._faults_by_rank)
        local = measurement_faults(self.monitor, self.tracker)
        return rank_named([local], ranks=[self._rank]) if self._reducer.world_size > 1 else local

    def _phase_sources(self) -> list[dict[str, dict[str, str]]]:
        """Per rank, phase -> domain -> source: every rank's once gathered at an entry point's end, else (several
        ranks) each rank's counted devices in every phase, else this rank's own."""
        if self._sources_by_rank is not None:
            return self._sources_by_rank
        if self._reducer.world_size == 1:
            return [phase_sources(self.tracker)]
        return [
            {phase: {d: info["source"] for d, info in devices.items()} for phase in self.tracker.cluster}
            for devices in self._devices
        ]

    def _finish(self, trainer: Trainer, stage: str) -> None:
        """The end of a Trainer entry point (fit, validate, test, predict): its last values to the loggers, every
        rank's measurement faults and phase sources gathered (every rank ends the entry point here: a collective is
        safe), and the summary written."""
        stopped = self._rungs.stopped if stage == "fit" and self._rungs is not None else ""
        self._no_batch = "" if self._loop_ran else f"no batch run: {self._why_no_batch(trainer, stage)}"
        note = stopped or self._no_batch
        self._status = f"finished {stage}" + (f" ({note})" if note else "")
        if self._reducer.world_size > 1:
            gathered = self._reducer.gather_objects(
                (measurement_faults(self.monitor, self.tracker), phase_sources(self.tracker))
            )
            self._faults_by_rank = [faults for faults, _ in gathered]
            self._sources_by_rank = [sources for _, sources in gathered]
        self._out.flush(trainer)
        self._write_summary(trainer)
        if self._spawned(trainer) and trainer.is_global_zero:  # it ended: no failure to mark
            Path(spawn_note(os.getppid())).unlink(missing_ok=True)

    def _write_summary(self, trainer: Trainer) -> None:
        if trainer.is_global_zero:
            if self._summary_file is None:
                self._summary_file = summary_file(trainer, self.summary_path)
                if self._spawned(trainer):  # should a rank fail, the launching process marks this file (on_exception)
                    Path(spawn_note(os.getppid())).write_text(self._summary_file)
            write_json(self._summary_file, self.summary())

    def _spawned(self, trainer: Trainer) -> bool:
        """Whether this is a rank that ``ddp_spawn`` started (its launching process waits for it)."""
        return self._reducer.world_size > 1 and compat.spawned_rank(trainer)


__all__ = ["SUMMARY_FILE", "EnergyCallback", "InferenceBenchmark"]
