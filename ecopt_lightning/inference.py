"""The inference benchmark: energy per sample (J) of a model over a dataloader, with its spread.

This is the objective ECOpt tunes. It works on any ``torch.nn.Module`` (a ``LightningModule`` included)
on its own, and is what ``EnergyCallback(inference_benchmark=...)`` runs after fit.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from . import metrics
from .energy import EnergyMonitor, Measurement
from .proxies import ForwardFn, default_forward

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer


def batch_samples(batch: Any, batch_size_fn: Callable[[Any], int] | None = None) -> int:
    """Samples in ``batch``: ``batch_size_fn(batch)`` when given, else found as Lightning finds it (the
    first dimension of the first tensor in the batch; Lightning warns when tensors disagree).

    Example:
        >>> batch_samples((torch.zeros(8, 3), torch.zeros(8)))
        8
    """
    if batch_size_fn is not None:
        return int(batch_size_fn(batch))
    # fast paths for the common shapes (Lightning's general search costs ~0.2 ms a batch); same answer
    first = batch[0] if isinstance(batch, list | tuple) and batch else batch
    if isinstance(first, torch.Tensor):
        return int(first.shape[0]) if first.ndim else 1
    from lightning.pytorch.utilities.data import extract_batch_size

    try:
        return int(extract_batch_size(batch))
    except Exception:  # Lightning raises when no tensor is found
        return 0


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)

    def q(p: float) -> float:  # linear interpolation, as numpy.percentile's default
        pos = p * (len(ordered) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


@dataclass(frozen=True)
class InferenceResult:
    """What :func:`measure_inference` found.

    Attributes:
        per_sample_J: median over repeats of the energy per sample (J).
        iqr_J: interquartile range of the energy per sample over repeats (J).
        per_repeat_J: energy per sample of each repeat (J).
        samples: samples per repeat (summed over ranks when reduced).
        seconds: median wall time of one repeat (s).
        measurement: every window of the benchmark, warm-up included, summed (this process only).
    """

    per_sample_J: float
    iqr_J: float
    per_repeat_J: list[float]
    samples: int
    seconds: float
    measurement: Measurement
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def samples_per_J(self) -> float:
        """Efficiency: samples per joule (1 / median J per sample)."""
        return 1.0 / self.per_sample_J if self.per_sample_J > 0 else math.inf

    @property
    def power_W(self) -> float:
        """Mean power over the repeats (W)."""
        return self.per_sample_J * self.samples / self.seconds if self.seconds > 0 else math.nan

    @property
    def source(self) -> str:
        """One source label for the numbers (``estimate``, ``nvml_counter``, ``mixed(...)``)."""
        return self.measurement.source

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "per_sample_J": self.per_sample_J,
            "iqr_J": self.iqr_J,
            "samples_per_J": self.samples_per_J,
            "per_repeat_J": list(self.per_repeat_J),
            "samples_per_repeat": self.samples,
            "seconds_per_repeat": self.seconds,
            "energy_J": self.measurement.energy_J,
            "source": self.source,
            "sources": dict(self.sources),
        }


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


def measure_inference(
    module: torch.nn.Module,
    dataloader: Iterable[Any],
    *,
    warmup_batches: int = 2,
    repeats: int = 5,
    max_batches: int | None = None,
    forward_fn: ForwardFn | None = None,
    batch_size_fn: Callable[[Any], int] | None = None,
    monitor: EnergyMonitor | None = None,
    context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    reduce: Callable[[Mapping[str, float]], Mapping[str, float]] | None = None,
) -> InferenceResult:
    """Energy per sample (J) of ``module`` over ``dataloader`` under ``torch.inference_mode``: median and IQR.

    Runs ``warmup_batches`` unmeasured batches, then ``repeats`` passes of up to ``max_batches`` batches,
    each pass one measurement window (CUDA is synchronised at window ends). Batches are moved to the
    module's device; the module is put in eval mode and its mode restored.

    Args:
        module: the model; ``forward_fn(module, batch, batch_idx)`` runs it (default
            :func:`~ecopt_lightning.proxies.default_forward`).
        dataloader: batches to run; it is iterated once per repeat (plus once for warm-up).
        batch_size_fn: samples in a batch (default: as Lightning infers it).
        monitor: the :class:`EnergyMonitor` to read (default: a new one on the module's GPU and the CPU).
        context: a context manager factory around the forward passes (e.g. autocast).
        reduce: combines ``{"energy_J", "seconds", "samples"}`` over DDP ranks (sum, max, sum).

    Example:
        >>> from ecopt_lightning import EnergyMonitor
        >>> data = [(torch.randn(16, 8),) for _ in range(4)]
        >>> r = measure_inference(torch.nn.Linear(8, 2), data, repeats=3,
        ...                       monitor=EnergyMonitor(gpus=[], cpu="estimate"))
        >>> len(r.per_repeat_J), r.samples, r.source
        (3, 64, 'estimate')
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r} is not allowed: give at least 1")
    if warmup_batches < 0:
        raise ValueError(f"warmup_batches={warmup_batches!r} is not allowed: give 0 or more")
    device = _module_device(module)
    own_monitor = monitor is None
    if monitor is None:
        monitor = EnergyMonitor(gpus=[device.index or 0] if device.type == "cuda" else [])
    forward = forward_fn or default_forward
    make_context = context or contextlib.nullcontext
    from lightning.fabric.utilities.apply_func import move_data_to_device

    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(), make_context():
            start = monitor.snapshot(sync=True)
            for i, batch in enumerate(dataloader):
                if i >= warmup_batches:
                    break
                forward(module, move_data_to_device(batch, device), i)
            mark = monitor.snapshot(sync=True)
            total = monitor.measure(start, mark, "inference-warmup")
            per_repeat: list[float] = []
            seconds: list[float] = []
            samples = 0
            for _ in range(repeats):
                samples = 0
                for i, batch in enumerate(dataloader):
                    if max_batches is not None and i >= max_batches:
                        break
                    samples += batch_samples(batch, batch_size_fn)
                    forward(module, move_data_to_device(batch, device), i)
                end = monitor.snapshot(sync=True)
                m = monitor.measure(mark, end, "inference")
                mark, total = end, total + m
                values = {"energy_J": m.energy_J, "seconds": m.seconds, "samples": float(samples)}
                if reduce is not None:
                    values = dict(reduce(values))
                samples = int(values["samples"])
                if samples <= 0:
                    raise ValueError("the dataloader gave no samples: cannot measure energy per sample")
                per_repeat.append(values["energy_J"] / samples)
                seconds.append(values["seconds"])
    finally:
        module.train(was_training)
        if own_monitor:
            monitor.close()
    q1, median, q3 = _quartiles(per_repeat)
    return InferenceResult(
        per_sample_J=median,
        iqr_J=q3 - q1,
        per_repeat_J=per_repeat,
        samples=samples,
        seconds=_quartiles(seconds)[1],
        measurement=total,
        sources=dict(total.sources),
    )


# the benchmark EnergyCallback runs after fit -------------------------------------------------------------
@dataclass
class InferenceBenchmark:
    """Settings of the inference benchmark run after fit.

    Attributes:
        dataloader: batches to measure; default the trainer's (first) validation dataloader.
        warmup_batches: unmeasured batches first.
        repeats: passes over the dataloader; the median and IQR of J per sample are over these.
        max_batches: batches per pass; default ``limit_val_batches`` when it is a count, else all.
        forward_fn: ``(module, batch, batch_idx) -> output``; default ``predict_step`` or ``module(batch[0])``.

    Example:
        >>> InferenceBenchmark.of({"repeats": 3}).repeats, InferenceBenchmark.of(True).warmup_batches
        (3, 2)
    """

    dataloader: Iterable[Any] | None = None
    warmup_batches: int = 2
    repeats: int = 5
    max_batches: int | None = None
    forward_fn: ForwardFn | None = None

    @classmethod
    def of(cls, value: bool | InferenceBenchmark | Mapping[str, Any] | None) -> InferenceBenchmark | None:
        """The settings ``EnergyCallback(inference_benchmark=value)`` takes: ``True`` (defaults), an
        instance, its fields as a dict, or ``None``/``False`` (no benchmark)."""
        if value is True:
            return cls()
        if isinstance(value, Mapping):
            return cls(**value)
        return value or None


def benchmark_loader(trainer: Trainer, pl_module: LightningModule, cfg: InferenceBenchmark) -> Any:
    """The dataloader to benchmark: ``cfg.dataloader``, else the first validation dataloader (``None``: none)."""
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


def run_benchmark(
    trainer: Trainer,
    pl_module: LightningModule,
    loader: Iterable[Any],
    cfg: InferenceBenchmark,
    *,
    monitor: EnergyMonitor,
    batch_size_fn: Callable[[Any], int] | None = None,
    reduce: Callable[[Mapping[str, float]], Mapping[str, float]] | None = None,
) -> InferenceResult:
    """:func:`measure_inference` with the trainer's settings: its precision context, ``limit_val_batches`` as
    the default ``max_batches``, one batch and no warm-up under ``fast_dev_run``."""
    max_batches = cfg.max_batches
    if max_batches is None and isinstance(trainer.limit_val_batches, int) and trainer.limit_val_batches > 0:
        max_batches = trainer.limit_val_batches
    quick = bool(trainer.fast_dev_run)
    return measure_inference(
        pl_module,
        loader,
        warmup_batches=0 if quick else cfg.warmup_batches,
        repeats=1 if quick else cfg.repeats,
        max_batches=1 if quick else max_batches,
        forward_fn=cfg.forward_fn,
        batch_size_fn=batch_size_fn,
        monitor=monitor,
        context=trainer.precision_plugin.predict_step_context,
        reduce=reduce,
    )


def benchmark_metrics(result: InferenceResult) -> dict[str, float]:
    """The metrics the callback logs for a benchmark: J per sample (median, IQR), samples per J, power (W)."""
    return {
        metrics.INFERENCE_PER_SAMPLE_J: result.per_sample_J,
        metrics.INFERENCE_PER_SAMPLE_IQR_J: result.iqr_J,
        metrics.SAMPLES_PER_J: result.samples_per_J,
        metrics.INFERENCE_W: result.power_W,
    }
