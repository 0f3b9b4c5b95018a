"""`EnergyCallback`: energy per training step and per inference batch, in any Lightning ``Trainer``.

A thin layer over :class:`~ecopt_lightning.energy_tracker.EnergyTracker`: each hook says where a window
ends, and values go to ``trainer.callback_metrics`` and to every logger. Metric names are in docs/callback.md.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .energy import EnergyMonitor, EnergyWarning, carbon_g, cost
from .energy.monitor import CpuChoice
from .energy_tracker import EnergyTracker, Totals
from .inference import InferenceResult, batch_samples, measure_inference
from .proxies import ForwardFn, count_parameters, flops_per_sample
from .ranks import RankReducer, device_keys, open_rank_monitor

CudaSync = Literal["log", "step", "never"]
SUMMARY_FILE = "energy_summary.json"
#: phases whose energy makes up ``energy/total_J``
COUNTED = ("train", "val", "test", "predict", "benchmark")
_STEP_NAME = {"train": "step", "val": "batch", "test": "batch", "predict": "batch"}
_FIELDS = ("energy_J", "estimated_J", "seconds", "samples", "items", "steps")


@dataclass
class InferenceBenchmark:
    """Settings of the inference benchmark run after fit.

    Attributes:
        dataloader: batches to measure; default the trainer's (first) validation dataloader.
        warmup_batches: unmeasured batches first.
        repeats: the fewest repeats; the median, IQR and 95% interval of J per sample are over the repeats.
        rel_precision: repeat until the median's 95% interval is within this fraction of it (``None``: run
            exactly ``repeats``).
        max_repeats: the most repeats.
        max_seconds: time cap on the repeats (s).
        min_window_s: the shortest repeat (s); default the meters' floor (1 s NVML, 0.2 s RAPL/estimate).
        max_batches: batches per pass; default ``limit_val_batches`` when it is a count, else all.
        forward_fn: ``(module, batch, batch_idx) -> output``; default ``predict_step`` or ``module(batch[0])``.
    """

    dataloader: Iterable[Any] | None = None
    warmup_batches: int = 2
    repeats: int = 6
    rel_precision: float | None = 0.05
    max_repeats: int = 50
    max_seconds: float | None = 30.0
    min_window_s: float | None = None
    max_batches: int | None = None
    forward_fn: ForwardFn | None = None


def _finite(values: Mapping[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


class EnergyCallback(Callback):
    """Logs energy (J), power (W) and energy per sample next to loss and accuracy.

    Training steps are optimizer steps (a whole accumulation cycle; one batch under manual optimisation);
    inference steps are batches. The meters are read at log points and epoch ends (every step with
    ``cuda_sync="step"``): one window covers the steps since the last read, consecutive windows share a
    counter read, so steps add up to the epoch. Validation pauses the training clock; the sanity check is
    measured apart and not counted. Values are means over the steps since the last log point
    (``log_every_n_steps``), reduced over DDP ranks (energy summed, time maximised) before logging.

    Args:
        cpu: CPU measurement, as :class:`EnergyMonitor` takes it (``"auto"``: RAPL, else an estimate).
        batch_size_fn: ``batch -> samples``; default as Lightning infers it.
        length_fn: ``batch -> items`` (e.g. tokens); adds ``energy/{phase}_per_item_J``.
        inference_benchmark: ``True``, an :class:`InferenceBenchmark` or its fields as a dict: after fit,
            measure J per sample under ``torch.inference_mode`` (median and IQR).
        idle_baseline_s: measure idle power for this long (s) before fit and log net energy beside gross.
        cuda_sync: when to synchronise CUDA at a window end: ``"log"`` (log points and epoch ends,
            default), ``"step"`` (read and synchronise every step) or ``"never"``.
        proxies: log ``model/params`` and ``model/flops_per_sample`` (one extra forward pass, not counted).
        carbon_intensity_g_per_kWh: grid intensity (gCO2e/kWh); when set, ``carbon/..._gCO2e`` are logged.
        price_per_kWh: electricity price; when set, ``cost/..._{currency}`` are logged.
        pue: data-centre PUE applied to carbon and cost (>= 1).
        summary_path: where the JSON summary goes (default ``<trainer log dir>/energy_summary.json``).
        cpu_watts_per_core: power of a busy core for the CPU estimate (W).
        monitor: an :class:`EnergyMonitor` to read instead of one opened per rank at set-up (kept open;
            no DDP de-duplication).

    Example:
        >>> from lightning.pytorch import Trainer
        >>> energy = EnergyCallback(inference_benchmark=True)
        >>> trainer = Trainer(callbacks=[energy], max_epochs=1)  # doctest: +SKIP
        >>> trainer.fit(model, datamodule)  # doctest: +SKIP
        >>> float(trainer.callback_metrics["energy/total_J"]), energy.summary()["sources"]  # doctest: +SKIP
        (812.4, {'cpu:0': 'rapl', 'dram:0': 'rapl', 'gpu:0': 'nvml_counter'})
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
        price_per_kWh: float | None = None,
        currency: str = "USD",
        pue: float = 1.0,
        summary_path: str | os.PathLike[str] | None = None,
        cpu_watts_per_core: float | None = None,
        monitor: EnergyMonitor | None = None,
    ) -> None:
        if cuda_sync not in ("log", "step", "never"):
            raise ValueError(f"cuda_sync={cuda_sync!r} is not allowed: use 'log', 'step' or 'never'")
        if not (isinstance(idle_baseline_s, int | float) and idle_baseline_s >= 0):
            raise ValueError(f"idle_baseline_s={idle_baseline_s!r} is not allowed: give seconds >= 0")
        if pue < 1:
            raise ValueError(f"pue={pue!r} is not allowed: a PUE is >= 1")
        self.cpu = cpu
        self.batch_size_fn = batch_size_fn
        self.length_fn = length_fn
        if inference_benchmark is True:
            inference_benchmark = InferenceBenchmark()
        elif isinstance(inference_benchmark, Mapping):
            inference_benchmark = InferenceBenchmark(**inference_benchmark)
        self.inference_benchmark: InferenceBenchmark | None = inference_benchmark or None
        self.idle_baseline_s = float(idle_baseline_s)
        self.cuda_sync = cuda_sync
        self.proxies = proxies
        self.carbon_intensity = carbon_intensity_g_per_kWh
        self.price_per_kWh = price_per_kWh
        self.currency = currency
        self.pue = pue
        self.summary_path = summary_path
        self.cpu_watts_per_core = cpu_watts_per_core

        self.tracker = EnergyTracker(None)
        self.monitor: EnergyMonitor | None = monitor
        self._own_monitor = monitor is None
        self._reducer = RankReducer()
        self._devices: list[dict[str, dict[str, str]]] = []  # per rank: domain -> {key, source}
        self._restored: dict[str, dict[str, float]] = {}  # cluster totals from a checkpoint, per phase
        self._cluster: dict[str, dict[str, float]] = {}  # restored + reduced local totals, per phase
        self._batches: dict[str, int] = {}  # inference batches seen per phase (their log step)
        self._idle_W: float | None = None
        self._params: int | None = None
        self._flops: float | None = None
        self._inference: InferenceResult | None = None
        self._metrics: dict[str, float] = {}  # last value of every published metric
        self._resume_train = False
        self._deferred_step = False
        self._status = "not started"

    # set-up -----------------------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._reducer = RankReducer.from_strategy(trainer.strategy)
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
        self._status = f"running {stage}"

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._own_monitor:
            if self.monitor is not None:
                self.monitor.close()
            self.monitor = None
            self.tracker.use(None)

    # fit --------------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.idle_baseline_s > 0 and self._idle_W is None and self.monitor is not None:
            start = self.monitor.snapshot(sync=True)
            time.sleep(self.idle_baseline_s)
            m = self.monitor.measure(start, self.monitor.snapshot(sync=True), "idle")
            idle = self._reducer.reduce({"energy_J": m.energy_J, "seconds": m.seconds})
            self._idle_W = _ratio(idle["energy_J"], idle["seconds"])

    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.tracker.start("sanity")

    def on_sanity_check_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.tracker.pause("sanity")
        self.tracker.end_epoch("sanity")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # published here, not in on_fit_start: the sanity check clears callback_metrics when it ends
        self._publish_params(trainer, pl_module)
        if self._idle_W is not None:
            self._publish(trainer, {"power/idle_W": self._idle_W}, self._train_step(trainer))
        self.tracker.start("train", sync=self.cuda_sync != "never")

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self.proxies and self._flops is None:
            self._measure_flops(trainer, pl_module, batch, "train")

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        samples = batch_samples(batch, self.batch_size_fn)
        items = int(self.length_fn(batch)) if self.length_fn else 0
        if pl_module.automatic_optimization and trainer.fit_loop._should_accumulate():
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
            self._log_steps(trainer, "train", self._train_step(trainer))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step = max(0, self._train_step(trainer) - 1)  # the step Lightning logs epoch metrics at
        sync = self.cuda_sync != "never"
        if self._deferred_step:
            self.tracker.step("train", sync=sync)
            self._deferred_step = False
        self.tracker.close("train", sync=sync)  # steps counted since the last read
        if trainer.log_every_n_steps > 0:
            self._log_steps(trainer, "train", step)  # steps since the last log point, so they sum to the epoch
        # the clock runs on: time after the last step goes to the next step, or to the total at on_train_end
        epoch = self.tracker.end_epoch("train", sync=sync, read=False)
        values = self._reduce_totals({"train_epoch": epoch})
        e = values["train_epoch"]
        metrics = {
            "energy/train_epoch_J": e["energy_J"],
            "energy/train_per_sample_J": _ratio(e["energy_J"], e["samples"]),
        }
        if self.length_fn:
            metrics["energy/train_per_item_J"] = _ratio(e["energy_J"], e["items"])
        if self._idle_W is not None:
            metrics["energy/train_epoch_net_J"] = e["energy_J"] - self._idle_W * e["seconds"]
        self._publish(trainer, {**metrics, **self._total_metrics()}, step, save=True)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.tracker.pause("train")
        self.tracker.flush("train")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.inference_benchmark is not None:
            self._run_benchmark(trainer, pl_module, self.inference_benchmark)
        self._reduce_totals({})
        self._publish(trainer, self._total_metrics(), self._train_step(trainer), save=True)
        self._status = "finished fit"
        self._write_summary(trainer)

    # validation, test, predict ----------------------------------------------------------------------------
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        at = None
        self._resume_train = self.tracker.running("train")
        if self._resume_train:
            at = self.tracker.pause("train", sync=self.cuda_sync != "never")
        self.tracker.start("val", at=at)

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if trainer.sanity_checking:
            self.tracker.step("sanity", batch_samples(batch, self.batch_size_fn))
        else:
            self._eval_batch_end(trainer, pl_module, "val", batch, dataloader_idx)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        at = self._eval_end(trainer, "val", trainer.num_val_batches)
        if self._resume_train:
            self.tracker.start("train", at=at)
            self._resume_train = False

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._publish_params(trainer, pl_module)
        self.tracker.start("test")

    def on_test_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._eval_batch_end(trainer, pl_module, "test", batch, dataloader_idx)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._eval_end(trainer, "test", trainer.num_test_batches)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._status = "finished test"
        self._write_summary(trainer)

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._publish_params(trainer, pl_module)
        self.tracker.start("predict")

    def on_predict_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._eval_batch_end(trainer, pl_module, "predict", batch, dataloader_idx)

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._eval_end(trainer, "predict", trainer.num_predict_batches)

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._status = "finished predict"
        self._write_summary(trainer)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        for phase in self.tracker.phases:
            if self.tracker.running(phase):
                self.tracker.pause(phase)
                self.tracker.flush(phase)
        self._status = f"failed: {type(exception).__name__}: {exception}"
        self._write_summary(trainer)

    # checkpoints ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self._reducer.world_size == 1:
            self._cluster = self._local_cluster()
        # in DDP this is the cluster total at the last reduction (epoch and validation ends): state_dict is
        # not a collective, so it cannot reduce
        return {
            "version": 1,
            "cluster": {p: dict(v) for p, v in self._cluster.items()},
            "batches": dict(self._batches),
            "idle_W": self._idle_W,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = {p: dict(v) for p, v in state_dict.get("cluster", {}).items()}
        self._cluster = {p: dict(v) for p, v in self._restored.items()}
        self._batches = dict(state_dict.get("batches", {}))
        self._idle_W = state_dict.get("idle_W")

    # results ----------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """All totals with their sources (J, s, W; samples): what the JSON summary holds.

        Under DDP the totals are the cluster's as of the last reduction (epoch and loop ends), on rank 0.
        With ``ddp_spawn`` this object in the launching process stays empty: read the JSON file instead.
        """
        if self._reducer.world_size == 1:
            self._cluster = self._local_cluster()
        phases: dict[str, Any] = {}
        for name, values in self._cluster.items():
            local = self.tracker.total(name)
            entry: dict[str, Any] = dict(values)
            entry["power_W"] = _none_if_nan(_ratio(values["energy_J"], values["seconds"]))
            entry["per_sample_J"] = _none_if_nan(_ratio(values["energy_J"], values["samples"]))
            if self._idle_W is not None:
                entry["net_J"] = values["energy_J"] - self._idle_W * values["seconds"]
            entry["source"] = local.source
            entry["sources"] = dict(local.sources)
            entry["by_device_J_this_rank"] = dict(local.by_device)
            phases[name] = entry
        total = self._total_metrics()
        sources: dict[str, str] = {}
        for rank, devices in enumerate(self._devices):
            for domain, info in devices.items():
                sources[domain if len(self._devices) == 1 else f"rank{rank}/{domain}"] = info["source"]
        out: dict[str, Any] = {
            "status": self._status,
            "total_J": total.get("energy/total_J", 0.0),
            "estimated_fraction": _none_if_nan(total.get("energy/estimated_fraction", math.nan)),
            "sources": sources,
            "source": _one_label(sources.values()),
            "devices": self._devices,
            "world_size": self._reducer.world_size,
            "phases": phases,
            "counted_in_total": list(COUNTED),
            "idle_power_W": self._idle_W,
            "model": {"params": self._params, "flops_per_sample": self._flops},
            "inference": None if self._inference is None else self._inference.to_dict(),
            "carbon": None
            if self.carbon_intensity is None
            else {
                "intensity_g_per_kWh": self.carbon_intensity,
                "pue": self.pue,
                "total_gCO2e": total.get("carbon/total_gCO2e"),
            },
            "cost": None
            if self.price_per_kWh is None
            else {
                "price_per_kWh": self.price_per_kWh,
                "currency": self.currency,
                "pue": self.pue,
                "total": total.get(f"cost/total_{self.currency}"),
            },
            "metrics": dict(self._metrics),
            "monitor": None if self.monitor is None else self.monitor.describe(),
            "measurement_faults": self._measurement_faults(),
        }
        return out

    def _measurement_faults(self) -> dict[str, str]:
        """Domains not measured at all, or whose sensor fails now (e.g. a GPU lost mid-run), with the reason."""
        if self.monitor is None:
            return {}
        faults = dict(self.monitor.missing)
        try:
            faults.update(self.monitor.snapshot(sync=False).errors)
        except Exception as exc:  # a summary must still be written
            faults["monitor"] = f"reading failed: {type(exc).__name__}: {exc}"
        return faults

    # internals --------------------------------------------------------------------------------------------
    def _sync(self, log_now: bool) -> bool:
        return self.cuda_sync == "step" or (self.cuda_sync == "log" and log_now)

    def _read(self, log_now: bool) -> bool:
        # one window per log interval: the logged values are means over it anyway; "step" reads every step
        return log_now or self.cuda_sync == "step"

    @staticmethod
    def _log_point(trainer: Trainer) -> bool:
        if trainer.log_every_n_steps <= 0:
            return False
        return bool(trainer._logger_connector.should_update_logs or trainer.fast_dev_run)

    @staticmethod
    def _multi_loader(trainer: Trainer, phase: str) -> bool:
        counts = {"val": trainer.num_val_batches, "test": trainer.num_test_batches}.get(phase)
        if phase == "predict":
            counts = trainer.num_predict_batches
        return isinstance(counts, list) and len(counts) > 1

    @staticmethod
    def _last_train_batch(trainer: Trainer, batch_idx: int) -> bool:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return True
        n = trainer.num_training_batches
        return isinstance(n, int) and batch_idx + 1 >= n

    @staticmethod
    def _train_step(trainer: Trainer) -> int:
        # the step Lightning logs training metrics at (one per optimizer step, whatever the optimizers)
        return int(getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step))

    def _publish(self, trainer: Trainer, values: Mapping[str, float | None], step: int, save: bool = False) -> None:
        """Put ``values`` in ``trainer.callback_metrics`` and send them to every logger (rank 0)."""
        metrics = _finite(values)
        if not metrics:
            return
        self._metrics.update(metrics)
        callback_metrics = trainer.callback_metrics  # the trainer's own dict: updates stay until its next run
        for key, value in metrics.items():
            callback_metrics[key] = torch.tensor(value, dtype=torch.float64)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)
                if save:
                    logger.save()

    def _log_steps(self, trainer: Trainer, phase: str, step: int, multi: bool = False) -> None:
        """Log the mean step energy (J) and power (W) per key since the last log point; ``multi`` names
        them per dataloader."""
        buffered = self.tracker.take_since_log(phase)
        flat: dict[str, float] = {}
        for key, t in buffered.items():
            flat.update({f"{key}|energy_J": t.energy_J, f"{key}|seconds": t.seconds, f"{key}|steps": t.steps})
        if self._reducer.world_size > 1 and not flat:
            flat = {"None|energy_J": 0.0, "None|seconds": 0.0, "None|steps": 0.0}  # keep the collective paired
        flat = self._reducer.reduce(flat, {k: "max" for k in flat if k.endswith(("|seconds", "|steps"))})
        metrics: dict[str, float] = {}
        for key in buffered:
            energy, seconds, steps = (flat[f"{key}|{f}"] for f in ("energy_J", "seconds", "steps"))
            suffix = f"/dataloader_idx_{key}" if multi and phase != "train" else ""
            metrics[f"energy/{phase}_{_STEP_NAME[phase]}_J{suffix}"] = _ratio(energy, steps)
            metrics[f"power/{phase}_W{suffix}"] = _ratio(energy, seconds)
        self._publish(trainer, metrics, step)

    def _eval_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, phase: str, batch: Any, dataloader_idx: int
    ) -> None:
        samples = batch_samples(batch, self.batch_size_fn)
        items = int(self.length_fn(batch)) if self.length_fn else 0
        log_now = self._log_point(trainer)
        self.tracker.step(phase, samples, items, key=dataloader_idx, sync=self._sync(log_now), read=self._read(log_now))
        self._batches[phase] = self._batches.get(phase, 0) + 1
        if log_now:
            self._log_steps(trainer, phase, self._batches[phase], self._multi_loader(trainer, phase))
        if self.proxies and self._flops is None and phase != "val":
            self._measure_flops(trainer, pl_module, batch, phase)

    def _eval_end(self, trainer: Trainer, phase: str, num_batches: Any) -> Any:
        """Close the loop of ``phase``: log its leftover steps and loop totals; returns the closing snapshot."""
        self.tracker.close(phase, sync=self.cuda_sync != "never")
        if trainer.log_every_n_steps > 0:
            self._log_steps(trainer, phase, self._batches.get(phase, 0), self._multi_loader(trainer, phase))
        at = self.tracker.pause(phase, sync=self.cuda_sync != "never")
        by_key = self.tracker.epoch_by_key(phase)
        loop = self.tracker.end_epoch(phase)
        parts: dict[str, Totals] = {f"{phase}_epoch": loop}
        n_loaders = len(num_batches) if isinstance(num_batches, list) else 1
        if n_loaders > 1:
            parts.update({f"{phase}_epoch/dataloader_idx_{k}": t for k, t in by_key.items()})
        values = self._reduce_totals(parts)
        e = values[f"{phase}_epoch"]
        metrics: dict[str, float] = {
            f"energy/{phase}_epoch_J": e["energy_J"],
            f"energy/{phase}_per_sample_J": _ratio(e["energy_J"], e["samples"]),
        }
        if self.length_fn:
            metrics[f"energy/{phase}_per_item_J"] = _ratio(e["energy_J"], e["items"])
        for name, v in values.items():
            if "/dataloader_idx_" in name:
                metrics[f"energy/{phase}_per_sample_J/{name.split('/', 1)[1]}"] = _ratio(v["energy_J"], v["samples"])
        self._publish(trainer, {**metrics, **self._total_metrics()}, self._train_step(trainer), save=True)
        return at

    def _local_cluster(self) -> dict[str, dict[str, float]]:
        out = {p: dict(v) for p, v in self._restored.items()}
        for phase in self.tracker.phases:
            t = self.tracker.total(phase)
            base = out.setdefault(phase, dict.fromkeys(_FIELDS, 0.0))
            for f in _FIELDS:
                base[f] = base.get(f, 0.0) + float(getattr(t, f))
        return out

    def _reduce_totals(self, extra: Mapping[str, Totals]) -> dict[str, dict[str, float]]:
        """Reduce every phase's running total plus ``extra`` spans over ranks in one collective; updates the
        cluster totals and returns the reduced ``extra``."""
        flat: dict[str, float] = {}
        phases = sorted(set(self.tracker.phases) | set(COUNTED))
        spans: dict[str, Totals] = {**{f"total:{p}": self.tracker.total(p) for p in phases}, **extra}
        for name, t in spans.items():
            for f in _FIELDS:
                flat[f"{name}|{f}"] = float(getattr(t, f))
        ops: dict[str, Literal["sum", "max"]] = {k: "max" for k in flat if k.endswith(("|seconds", "|steps"))}
        reduced = self._reducer.reduce(flat, ops)
        unpacked = {name: {f: reduced[f"{name}|{f}"] for f in _FIELDS} for name in spans}
        cluster = {p: dict(v) for p, v in self._restored.items()}
        for p in phases:
            base = cluster.setdefault(p, dict.fromkeys(_FIELDS, 0.0))
            for f in _FIELDS:
                base[f] = base.get(f, 0.0) + unpacked[f"total:{p}"][f]
        self._cluster = cluster
        return {name: unpacked[name] for name in extra}

    def _total_metrics(self) -> dict[str, float]:
        c = self._cluster
        get = lambda p, f: c.get(p, {}).get(f, 0.0)  # noqa: E731
        total = sum(get(p, "energy_J") for p in COUNTED)
        estimated = sum(get(p, "estimated_J") for p in COUNTED)
        out = {"energy/total_J": total, "energy/estimated_fraction": _ratio(estimated, total)}
        for p in ("train", "val", "test", "predict"):
            if get(p, "steps") or get(p, "energy_J"):
                out[f"energy/{p}_total_J"] = get(p, "energy_J")
        if self._idle_W is not None:
            seconds = sum(get(p, "seconds") for p in COUNTED)
            out["energy/total_net_J"] = total - self._idle_W * seconds
            if "train" in c:
                out["energy/train_total_net_J"] = get("train", "energy_J") - self._idle_W * get("train", "seconds")
        if self.carbon_intensity is not None:
            out["carbon/total_gCO2e"] = carbon_g(total, self.carbon_intensity, self.pue)
            if "train" in c:
                out["carbon/train_total_gCO2e"] = carbon_g(get("train", "energy_J"), self.carbon_intensity, self.pue)
        if self.price_per_kWh is not None:
            out[f"cost/total_{self.currency}"] = cost(total, self.price_per_kWh, self.pue)
        return out

    def _publish_params(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.proxies and self._params is None:
            self._params = count_parameters(pl_module)
        if self._params is not None:
            self._publish(trainer, {"model/params": float(self._params)}, self._train_step(trainer))

    def _measure_flops(self, trainer: Trainer, pl_module: LightningModule, batch: Any, phase: str) -> None:
        """Count FLOPs per sample on ``batch``; the clock of ``phase`` is paused so the extra pass is not
        counted as the model's energy."""
        samples = batch_samples(batch, self.batch_size_fn)
        if samples <= 0:
            return
        running = self.tracker.running(phase)
        if running:
            self.tracker.pause(phase)
        try:
            self._flops = flops_per_sample(pl_module, batch, samples)
        except Exception as exc:  # a model the default forward cannot call: the proxy is optional
            self._flops = math.nan
            warnings.warn(f"ecopt: FLOPs per sample not counted ({type(exc).__name__}: {exc})", EnergyWarning, 2)
        finally:
            if running:
                self.tracker.start(phase)
        self._publish(trainer, {"model/flops_per_sample": self._flops}, self._train_step(trainer))

    def _benchmark_loader(self, trainer: Trainer, pl_module: LightningModule, cfg: InferenceBenchmark) -> Any:
        if cfg.dataloader is not None:
            return cfg.dataloader
        loaders = trainer.val_dataloaders
        if loaders is None:
            source = trainer.datamodule if trainer.datamodule is not None else pl_module
            try:
                loaders = source.val_dataloader()
            except Exception:
                return None
        if isinstance(loaders, list | tuple):
            return loaders[0] if loaders else None
        if isinstance(loaders, Mapping):
            return next(iter(loaders.values()), None)
        return loaders

    def _run_benchmark(self, trainer: Trainer, pl_module: LightningModule, cfg: InferenceBenchmark) -> None:
        loader = self._benchmark_loader(trainer, pl_module, cfg)
        if loader is None or self.monitor is None:
            warnings.warn("ecopt: no dataloader for the inference benchmark: skipped", EnergyWarning, 2)
            return
        max_batches = cfg.max_batches
        if max_batches is None and isinstance(trainer.limit_val_batches, int) and trainer.limit_val_batches > 0:
            max_batches = trainer.limit_val_batches
        quick = bool(trainer.fast_dev_run)
        result = measure_inference(
            pl_module,
            loader,
            warmup_batches=0 if quick else cfg.warmup_batches,
            repeats=1 if quick else cfg.repeats,
            rel_precision=None if quick else cfg.rel_precision,
            max_repeats=max(1 if quick else cfg.repeats, cfg.max_repeats),
            max_seconds=cfg.max_seconds,
            min_window_s=0.0 if quick else cfg.min_window_s,
            max_batches=1 if quick else max_batches,
            forward_fn=cfg.forward_fn,
            batch_size_fn=self.batch_size_fn,
            monitor=self.monitor,
            context=trainer.precision_plugin.predict_step_context,
            reduce=self._reducer.reduce if self._reducer.world_size > 1 else None,
        )
        self._inference = result
        self.tracker.add("benchmark", result.measurement, samples=result.samples_total)
        if self.proxies and self._flops is None:
            first = next(iter(loader), None)
            if first is not None:
                from lightning.fabric.utilities.apply_func import move_data_to_device

                self._measure_flops(trainer, pl_module, move_data_to_device(first, pl_module.device), "benchmark")
        if not result.converged and result.rel_precision is not None:
            warnings.warn(
                f"ecopt: inference energy per sample known only to +-{result.rel_halfwidth or math.inf:.0%} "
                f"(target {result.rel_precision:.0%}) after {result.repeats} repeats ({result.stop_reason}); "
                "quiet the machine or raise max_seconds",
                EnergyWarning,
                2,
            )
        self._publish(trainer, result.metrics(), self._train_step(trainer))

    def _summary_file(self, trainer: Trainer) -> str:
        if self.summary_path is not None:
            return os.fspath(self.summary_path)
        # as trainer.log_dir, without its broadcast (a collective that would hang in on_exception)
        folder: str | None = None
        if trainer.loggers:
            logger = trainer.loggers[0]
            is_file_logger = isinstance(logger, TensorBoardLogger | CSVLogger)
            folder = logger.log_dir if is_file_logger else getattr(logger, "save_dir", None)
        return os.path.join(folder or trainer.default_root_dir, SUMMARY_FILE)

    def _write_summary(self, trainer: Trainer) -> None:
        if not trainer.is_global_zero:
            return
        path = self._summary_file(trainer)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.summary(), f, indent=2, default=str)
        os.replace(tmp, path)


def _none_if_nan(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _one_label(sources: Iterable[str]) -> str:
    kinds = sorted({s.split(":", 1)[0] for s in sources})
    if not kinds:
        return "none"
    return kinds[0] if len(kinds) == 1 else "mixed(" + ",".join(kinds) + ")"
