"""The inference benchmark: energy per sample (J) of a model over a dataloader, with its spread.

This is the objective ECOpt tunes. It works on any ``torch.nn.Module`` (a ``LightningModule`` included)
on its own, and is what ``EnergyCallback(inference_benchmark=...)`` runs after fit.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from lightning_utilities.core.apply_func import apply_to_collection

from . import metrics
from .energy import EnergyMonitor, EnergyWarning, Measurement, checks
from .energy._notices import say_once
from .energy.contention import Contention
from .energy.measurement import source_label
from .intervals import (
    CONFIDENCE,
    MIN_VALUES_FOR_INTERVAL,
    REL_PRECISION,
    Runs,
    precision_reached,
    repeats_interval,
)
from .proxies import ForwardFn, default_forward

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

log = logging.getLogger("ecopt_lightning")

#: torch intra-op threads of the inference benchmark unless set (:attr:`InferenceBenchmark.threads`)
BENCHMARK_THREADS = metrics.BENCHMARK_THREADS
#: bytes of batches the benchmark keeps on the model's device unless set (:attr:`InferenceBenchmark.cache_bytes`)
CACHE_BYTES = 1 << 30
#: the stop reason of a benchmark that measured nothing (:data:`~ecopt_lightning.metrics.NOTHING_MEASURED`)
NOTHING_MEASURED = metrics.NOTHING_MEASURED
#: the stop reason of a benchmark whose repeats shift in level (:attr:`InferenceResult.level_shifts`) beyond its
#: target: their interval is then their range, which more repeats can only widen
LEVEL_SHIFTS = "level shifts"


def batch_samples(batch: Any, batch_size_fn: Callable[[Any], int] | None = None) -> int:
    """Samples in ``batch``: ``batch_size_fn(batch)`` when given, else found as Lightning finds it (the
    first dimension of the first tensor in the batch; Lightning warns when tensors disagree).

    Example:
        >>> batch_samples((torch.zeros(8, 3), torch.zeros(8)))
        8
    """
    if batch_size_fn is not None:
        return checks.count("samples", batch_size_fn(batch), "batch_size_fn")
    # fast paths for the common shapes (Lightning's general search costs ~0.2 ms a batch, and importing it
    # ~4 s for a caller without Lightning); same answer
    if isinstance(batch, list | tuple) and batch:
        first = batch[0]
    elif isinstance(batch, Mapping) and batch:
        first = next(iter(batch.values()))
    else:
        first = batch
    if isinstance(first, torch.Tensor):
        return int(first.shape[0]) if first.ndim else 1
    from lightning.pytorch.utilities.data import extract_batch_size

    try:
        return int(extract_batch_size(batch))
    except Exception:  # Lightning raises when no tensor is found
        kind = type(batch).__name__
        say_once(
            f"no-samples:{kind}",
            f"ecopt energy: no tensor in a batch of type {kind}: its samples are not counted, so J per sample is not "
            "logged; give EnergyCallback(batch_size_fn=...) (e.g. len)",
        )
        return 0


def batch_items(batch: Any, length_fn: Callable[[Any], int] | None) -> int:
    """Items in ``batch`` (tokens, ...) as ``length_fn`` counts them; 0 without one.

    Example:
        >>> batch_items(torch.zeros(2, 5), lambda b: b.numel())
        10
    """
    return 0 if length_fn is None else checks.count("items", length_fn(batch), "length_fn")


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
        per_sample_J: median over repeats of the energy per sample (J); NaN when nothing was measured
            (:data:`NOTHING_MEASURED`: every repeat read 0 J), never 0 J.
        iqr_J: interquartile range of the energy per sample over repeats (J); NaN when nothing was measured.
        per_repeat_J: energy per sample of each repeat (J).
        samples: samples in the last repeat (summed over ranks when reduced).
        seconds: median wall time of one repeat (s).
        measurement: every window of the benchmark, warm-up included, summed (this process only); of a
            continued measurement (``prior``), the windows of this call only: the earlier ones are the prior's.
        interval_J: the median's :data:`CONFIDENCE` interval (:func:`median_interval`, J), or the repeats' range
            when they shift in level (:attr:`level_shifts`); ``None`` with too few repeats.
        converged: the interval lies within ``rel_precision`` of the median.
        rel_precision: the target (a fraction of the median; ``None``: a fixed number of repeats was run).
        stop_reason: ``"converged"``, ``"max_repeats"``, ``"max_seconds"``, ``"fixed repeats"``, ``"invalid
            readings"`` (``max_repeats`` repeats, or ``max_seconds``, lost to failed readings), ``"level shifts"``
            (:data:`LEVEL_SHIFTS`: the repeats shift in level and their range is wider than the target) or
            ``"nothing measured"`` (every repeat read 0 J on every rank: no meter, so no precision to reach).
        min_window_s: the shortest window the meters read resolve (s); each repeat ran batches until its
            window was at least this long.
        batches_per_repeat: batches in the last repeat.
        short_windows: repeats whose window still came out shorter than ``min_window_s``.
        samples_total: samples over all repeats (of a continued measurement, over this call's repeats).
        contention: the CPU load of other processes over all repeats (``None`` where ``/proc`` is not read).
        contended_repeats: repeats whose own window was contended.
        invalid_repeats: repeats left out because a domain's reading failed in their window (on any rank), an NVML
            counter did not move in it (:attr:`Measurement.unread`), or nothing was read: they did not measure what
            the others did, and would read low (0 J with that domain alone). A domain failing since before the
            repeats began is absent from all of them alike instead.
        approximate_repeats: repeats counted whose window was approximate (on any rank: an NVML counter that did
            not move, a gap in polled power, a window shorter than a sensor's update): their energy is not a full
            reading (:attr:`Measurement.approximate_why` of :attr:`measurement` says why).
        runs: the runs test of the repeats in the order measured (:func:`~ecopt_lightning.intervals.runs_test`;
            ``None`` with too few repeats or all of them equal).
        threads: torch's intra-op threads during the repeats; omp_wait_policy: ``$OMP_WAIT_POLICY`` of the
            process (``PASSIVE``: waiting OpenMP threads sleep; unset or ``ACTIVE``: they may spin, and the CPU
            estimate counts the spin as work).
    """

    per_sample_J: float
    iqr_J: float
    per_repeat_J: list[float]
    samples: int
    seconds: float
    measurement: Measurement
    sources: dict[str, str] = field(default_factory=dict)
    interval_J: tuple[float, float] | None = None
    converged: bool = False
    rel_precision: float | None = None
    stop_reason: str = "fixed repeats"
    min_window_s: float = 0.0
    batches_per_repeat: int = 0
    short_windows: int = 0
    samples_total: int = 0
    contention: Contention | None = None
    contended_repeats: int = 0
    invalid_repeats: int = 0
    approximate_repeats: int = 0
    runs: Runs | None = None
    threads: int = 0
    omp_wait_policy: str | None = None

    @property
    def level_shifts(self) -> bool:
        """The repeats came in stretches at different levels (too few runs about their median for independent
        repeats): the interval is then their range (see :class:`~ecopt_lightning.intervals.Runs`)."""
        return self.runs is not None and self.runs.level_shifts

    @property
    def contended(self) -> bool:
        """Other processes' CPU load over the repeats may bias the result (see :mod:`.energy.contention`)."""
        return self.contention is not None and self.contention.contended

    @property
    def repeats(self) -> int:
        """Measured repeats (warm-up excluded)."""
        return len(self.per_repeat_J)

    @property
    def rel_halfwidth(self) -> float | None:
        """The interval's larger distance from the median, as a fraction of the median (``None``: no interval)."""
        if self.interval_J is None or not self.per_sample_J > 0:
            return None
        lo, hi = self.interval_J
        return max(self.per_sample_J - lo, hi - self.per_sample_J) / self.per_sample_J

    @property
    def samples_per_J(self) -> float:
        """Efficiency: samples per joule (1 / median J per sample); NaN when the median is 0 J (nothing measured)."""
        return 1.0 / self.per_sample_J if self.per_sample_J > 0 else math.nan

    @property
    def power_W(self) -> float:
        """Mean power over the repeats (W)."""
        return self.per_sample_J * self.samples / self.seconds if self.seconds > 0 else math.nan

    @property
    def source(self) -> str:
        """One source label for the numbers (``estimate``, ``nvml_counter``, ``mixed(...)``): :func:`source_label`
        of :attr:`sources`."""
        return source_label(self.sources)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "per_sample_J": None if math.isnan(self.per_sample_J) else self.per_sample_J,  # nothing measured
            "iqr_J": None if math.isnan(self.iqr_J) else self.iqr_J,
            "interval_J": None if self.interval_J is None else list(self.interval_J),
            "confidence": CONFIDENCE,
            "rel_halfwidth": self.rel_halfwidth,
            "rel_precision": self.rel_precision,
            "converged": self.converged,
            "repeats": self.repeats,
            "stop_reason": self.stop_reason,
            "samples_per_J": None if math.isnan(self.samples_per_J) else self.samples_per_J,  # JSON has no NaN
            "per_repeat_J": list(self.per_repeat_J),
            "samples_per_repeat": self.samples,
            "batches_per_repeat": self.batches_per_repeat,
            "seconds_per_repeat": self.seconds,
            "min_window_s": self.min_window_s,
            "short_windows": self.short_windows,
            "contended": self.contended,
            "contended_repeats": self.contended_repeats,
            "invalid_repeats": self.invalid_repeats,
            "approximate_repeats": self.approximate_repeats,
            "level_shifts": self.level_shifts,
            "runs_test": None if self.runs is None else self.runs.to_dict(),
            "threads": self.threads,
            "omp_wait_policy": self.omp_wait_policy,
            "contention": None if self.contention is None else self.contention.to_dict(),
            "energy_J": self.measurement.energy_J,
            "source": self.source,
            "sources": dict(self.sources),
        }

    def metrics(self) -> dict[str, float]:
        """The figures EnergyCallback logs: :func:`benchmark_metrics`."""
        return benchmark_metrics(self)


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


@runtime_checkable
class _Movable(Protocol):
    """What :func:`cache_batches` moves to the device: anything with a ``to`` method (tensors, and batch objects
    such as a graph's), as Lightning's ``move_data_to_device`` does; without importing Lightning (about 5 s for a
    caller of :func:`measure_inference` that has not)."""

    def to(self, *args: Any, **kwargs: Any) -> Any: ...


def _to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` (nested lists, tuples, mappings, dataclasses) with everything that has a ``to`` method moved to
    ``device``; an in-place ``to`` that returns ``None`` keeps its object."""

    def move(data: Any) -> Any:
        moved = data.to(device)
        return data if moved is None else moved

    return apply_to_collection(batch, _Movable, move)


def _nbytes(batch: Any) -> int:
    """Bytes of the tensors in a (nested) batch."""
    sizes: list[int] = []
    apply_to_collection(batch, torch.Tensor, lambda t: sizes.append(t.nelement() * t.element_size()))
    return sum(sizes)


def cache_batches(
    dataloader: Iterable[Any], device: torch.device, max_batches: int | None, max_bytes: int
) -> list[Any]:
    """The first ``max_batches`` batches of ``dataloader`` (all when ``None``) moved to ``device``, as long as
    they fit in ``max_bytes`` (at least one batch).

    Example:
        >>> data, cpu = [(torch.zeros(4, 8),) for _ in range(5)], torch.device("cpu")  # 128 bytes each
        >>> len(cache_batches(data, cpu, None, 300)), len(cache_batches(data, cpu, 2, 10))
        (2, 1)
    """
    cached: list[Any] = []
    used = 0
    for batch in itertools.islice(dataloader, max_batches):
        used += _nbytes(batch)
        if cached and used > max_bytes:
            break
        cached.append(_to_device(batch, device))
    return cached


def _cycle(batches: list[Any]) -> Iterator[tuple[int, int, Any]]:
    """``(pass, batch_idx, batch)`` over ``batches`` (not empty), pass after pass, without end."""
    for n in itertools.count():
        for i, batch in enumerate(batches):
            yield n, i, batch


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and not math.isnan(x)


def check_settings(
    *,
    warmup_batches: Any = 2,
    warmup_s: Any = None,
    repeats: Any = 6,
    rel_precision: Any = None,
    max_repeats: Any = 50,
    max_seconds: Any = None,
    min_window_s: Any = None,
    max_batches: Any = None,
    cache_bytes: Any = 0,
) -> None:
    """Raise a one-line ``ValueError`` naming the first benchmark setting of the wrong type or range, and what
    is allowed (before any training, where the settings are given: :class:`InferenceBenchmark`).

    Example:
        >>> check_settings(repeats="six")
        Traceback (most recent call last):
        ...
        ValueError: repeats='six' is not allowed: give an int >= 1
    """
    rules: list[tuple[str, Any, bool, str]] = [
        ("warmup_batches", warmup_batches, _is_int(warmup_batches) and warmup_batches >= 0, "an int >= 0"),
        ("warmup_s", warmup_s, warmup_s is None or (_is_number(warmup_s) and warmup_s >= 0), "seconds >= 0 or None"),
        ("repeats", repeats, _is_int(repeats) and repeats >= 1, "an int >= 1"),
        (
            "rel_precision",
            rel_precision,
            rel_precision is None or (_is_number(rel_precision) and 0 < rel_precision < 1),
            "a fraction in (0, 1) or None",
        ),
        (
            "max_repeats",
            max_repeats,
            _is_int(max_repeats) and (not _is_int(repeats) or max_repeats >= repeats),
            f"an int >= repeats ({repeats!r})",
        ),
        (
            "max_repeats",
            max_repeats,
            rel_precision is None or not _is_int(max_repeats) or max_repeats >= MIN_VALUES_FOR_INTERVAL,
            f"an int >= {MIN_VALUES_FOR_INTERVAL} with rel_precision={rel_precision!r} (the fewest repeats whose "
            "median has a 95% interval), or rel_precision=None for a fixed number of repeats",
        ),
        ("max_seconds", max_seconds, max_seconds is None or (_is_number(max_seconds) and max_seconds > 0),
         "seconds > 0 or None"),
        ("min_window_s", min_window_s, min_window_s is None or (_is_number(min_window_s) and min_window_s >= 0),
         "seconds >= 0 or None"),
        ("max_batches", max_batches, max_batches is None or (_is_int(max_batches) and max_batches >= 1),
         "an int >= 1 or None"),
        ("cache_bytes", cache_bytes, _is_int(cache_bytes) and cache_bytes >= 0, "bytes as an int >= 0"),
    ]  # fmt: skip
    for name, value, ok, allowed in rules:
        if not ok:
            raise ValueError(f"{name}={value!r} is not allowed: give {allowed}")


def measure_inference(
    module: torch.nn.Module,
    dataloader: Iterable[Any],
    *,
    warmup_batches: int = 2,
    warmup_s: float | None = None,
    repeats: int = 6,
    rel_precision: float | None = REL_PRECISION,
    max_repeats: int = 50,
    max_seconds: float | None = 30.0,
    min_window_s: float | None = None,
    max_batches: int | None = None,
    cache_bytes: int = CACHE_BYTES,
    forward_fn: ForwardFn | None = None,
    batch_size_fn: Callable[[Any], int] | None = None,
    monitor: EnergyMonitor | None = None,
    context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    reduce: Callable[[Mapping[str, float]], Mapping[str, float]] | None = None,
    prior: InferenceResult | None = None,
) -> InferenceResult:
    """Energy per sample (J) of ``module`` under ``torch.inference_mode``: the median over repeats, measured
    until it is known to ``rel_precision``.

    Runs an unmeasured warm-up (at least ``warmup_batches`` batches and ``warmup_s``), then repeats: each is one
    measurement window (CUDA is synchronised at window ends) of enough batches to last ``min_window_s`` (the
    first ``max_batches`` batches of the dataloader, cycled; at least one pass). It stops after at least
    ``repeats`` repeats once the median's 95% interval (:func:`median_interval`) lies within ``rel_precision``
    of it, or at ``max_repeats`` repeats, or when the repeats have taken ``max_seconds``, or once the repeats
    shift in level beyond ``rel_precision`` (:func:`~ecopt_lightning.intervals.repeats_interval`: their range,
    which more repeats can only widen); ``result.converged`` and ``result.stop_reason`` say which.
    Batches are moved to the module's device once, before the windows (up to ``cache_bytes`` of them), so that
    the windows measure the model's forward passes, not the data pipeline: on a GPU, loading and copying batches
    inside the windows would count the GPU's idle power while it waits for them. The module is put in eval mode
    and its mode restored.

    Args:
        module: the model; ``forward_fn(module, batch, batch_idx)`` runs it (default
            :func:`~ecopt_lightning.proxies.default_forward`).
        dataloader: batches to run; read once (its first ``max_batches`` batches, up to ``cache_bytes``).
        warmup_s: the shortest warm-up (s; default the repeats' window floor, ``min_window_s``), as long as
            ``warmup_batches`` is not 0: caches, allocators and a GPU's clocks (which ramp up from idle) settle
            before the first window, whose value would otherwise read high.
        repeats: the fewest repeats (a 95% interval of the median needs 6).
        rel_precision: target half-width of the median's interval, as a fraction of the median; ``None``
            runs exactly ``repeats`` repeats.
        max_repeats: the most repeats.
        max_seconds: time cap on the repeats (s, summed window lengths); ``None``: none.
        min_window_s: the shortest repeat window (s); default the monitor's floor
            (:attr:`EnergyMonitor.min_window_s`: 1 s for NVML, 0.2 s for RAPL and the estimate).
        max_batches: batches per pass over the dataloader (default all).
        cache_bytes: the most bytes of batches kept on the device (at least one batch is); a pass is then the
            batches that fit. ``0`` keeps one batch.
        batch_size_fn: samples in a batch (default: as Lightning infers it).
        monitor: the :class:`EnergyMonitor` to read (default: a new one on the module's GPU and the CPU).
        context: a context manager factory around the forward passes (e.g. autocast).
        reduce: combines ``{"energy_J", "seconds", "samples", "invalid", "approximate"}`` over DDP ranks (sum, max,
            sum, sum, sum); every rank then takes the same stopping decision.
        prior: an earlier measurement of the same module on the same batches to continue (a multi-fidelity
            rung's short one): its repeats count towards ``repeats``, the precision target, ``max_repeats`` and
            ``max_seconds``, and the new repeats use its batches per window. The warm-up runs again.

    Example:
        >>> from ecopt_lightning import EnergyMonitor
        >>> data = [(torch.randn(16, 8),) for _ in range(4)]
        >>> r = measure_inference(torch.nn.Linear(8, 2), data, repeats=3, rel_precision=None, min_window_s=0,
        ...                       monitor=EnergyMonitor(gpus=[], cpu="estimate"))
        >>> r.repeats, r.samples, r.source, r.stop_reason
        (3, 64, 'estimate', 'fixed repeats')
        >>> more = measure_inference(torch.nn.Linear(8, 2), data, repeats=5, rel_precision=None, min_window_s=0,
        ...                          monitor=EnergyMonitor(gpus=[], cpu="estimate"), prior=r)
        >>> more.repeats, more.per_repeat_J[:3] == r.per_repeat_J, more.samples_total
        (5, True, 128)
    """
    check_settings(
        warmup_batches=warmup_batches,
        warmup_s=warmup_s,
        repeats=repeats,
        rel_precision=rel_precision,
        max_repeats=max_repeats,
        max_seconds=max_seconds,
        min_window_s=min_window_s,
        max_batches=max_batches,
        cache_bytes=cache_bytes,
    )
    device = _module_device(module)
    own_monitor = monitor is None
    if monitor is None:
        monitor = EnergyMonitor(gpus=[device.index or 0] if device.type == "cuda" else [])
    floor = monitor.min_window_s if min_window_s is None else float(min_window_s)
    forward = forward_fn or default_forward
    make_context = context or contextlib.nullcontext
    was_training = module.training
    module.eval()
    per_repeat: list[float] = list(prior.per_repeat_J) if prior is not None else []
    seconds: list[float] = [prior.seconds] * prior.repeats if prior is not None else []  # it keeps their median
    samples = batches = short = samples_total = contended = invalid = approximate = 0
    contention: Contention | None = None
    stop = "fixed repeats"
    try:
        cached = cache_batches(dataloader, device, max_batches, cache_bytes)
        if not cached:
            raise ValueError("the dataloader gave no samples: cannot measure energy per sample")
        with torch.inference_mode(), make_context():
            start = monitor.snapshot(sync=True)
            warm_s = floor if warmup_s is None else warmup_s
            warm_until = monitor.clock() + warm_s if warmup_batches and warm_s else None
            for n, (_, i, batch) in enumerate(_cycle(cached)):
                if n >= warmup_batches and (warm_until is None or monitor.clock() >= warm_until):
                    break
                forward(module, batch, i)
            mark = monitor.snapshot(sync=True)
            total = monitor.measure(start, mark, "inference-warmup")
            failing = set(total.invalid)  # failing before the repeats began: absent from all of them alike
            # batches per repeat: found by the first repeat, raised when a window comes out short
            target = prior.batches_per_repeat if prior is not None else 0
            elapsed = sum(seconds)
            while True:
                samples = batches = 0
                t0 = time.perf_counter()
                for passes, i, batch in _cycle(cached):
                    if target and batches >= target:
                        break
                    if not target and passes >= 1 and time.perf_counter() - t0 >= floor:
                        break  # the first repeat: at least one pass, and long enough for the meters
                    samples += batch_samples(batch, batch_size_fn)
                    forward(module, batch, i)
                    batches += 1
                end = monitor.snapshot(sync=True)
                m = monitor.measure(mark, end, "inference")
                mark, total = end, total + m
                if m.contention is not None:
                    contention = m.contention if contention is None else contention + m.contention
                    contended += m.contended
                # a domain failing anew, or read still (an NVML counter that did not move: its 0 J is no reading)
                lost = float(
                    bool(set(m.invalid) - failing) or bool(m.unread) or (bool(monitor.sources) and not m.by_device)
                )
                values = {
                    "energy_J": m.energy_J,
                    "seconds": m.seconds,
                    "samples": float(samples),
                    "invalid": lost,
                    "approximate": float(m.approximate),
                }
                if reduce is not None:
                    values = dict(reduce(values))
                samples = int(values["samples"])
                if values.get("invalid", lost) > 0:  # summed over ranks: every rank leaves the repeat out
                    invalid += 1
                    elapsed += values["seconds"]
                    if invalid >= max_repeats or (max_seconds is not None and elapsed >= max_seconds):
                        if not per_repeat:
                            why_lost = {**m.invalid, **{d: m.approximate_why[d] for d in m.unread}}
                            reasons = "; ".join(f"{d}: {why}" for d, why in why_lost.items()) or "on another rank"
                            raise ValueError(
                                f"inference energy not measured: a reading failed in all {invalid} repeats ({reasons})"
                            )
                        stop = "invalid readings"
                        break
                    continue
                if samples <= 0:
                    raise ValueError("the dataloader gave no samples: cannot measure energy per sample")
                samples_total += samples
                approximate += values.get("approximate", float(m.approximate)) > 0  # summed over ranks
                per_repeat.append(values["energy_J"] / samples)
                seconds.append(values["seconds"])
                elapsed += values["seconds"]
                target = target or batches
                if values["seconds"] < floor:
                    short += 1
                    grow = math.ceil(target * floor / max(values["seconds"], 1e-9))
                    target = max(target + 1, min(grow, 10 * target))  # at most 10x: a stalled clock stays finite
                n = len(per_repeat)
                if n < repeats:
                    continue
                if not any(per_repeat):  # summed over ranks: every rank stops here
                    stop = NOTHING_MEASURED
                    break
                if rel_precision is None:
                    break
                median = _quartiles(per_repeat)[1]
                interval, runs = repeats_interval(per_repeat)
                if precision_reached(median, interval, rel_precision):
                    stop = "converged"
                elif runs is not None and runs.level_shifts:
                    stop = LEVEL_SHIFTS
                elif n >= max_repeats:
                    stop = "max_repeats"
                elif max_seconds is not None and elapsed >= max_seconds:
                    stop = "max_seconds"
                else:
                    continue
                break
    finally:
        module.train(was_training)
        if own_monitor:
            monitor.close()
    if prior is not None:  # the repeats' bookkeeping covers the prior's repeats too
        short, contended = short + prior.short_windows, contended + prior.contended_repeats
        invalid += prior.invalid_repeats
        approximate += prior.approximate_repeats
        if prior.contention is not None:
            contention = prior.contention if contention is None else prior.contention + contention
    q1, median, q3 = _quartiles(per_repeat)
    interval, runs = repeats_interval(per_repeat)
    if stop == NOTHING_MEASURED:  # 0 J of no meter, or of a counter that never moved: no value, never 0 J per sample
        q1 = median = q3 = math.nan
        interval, runs = None, None
    return InferenceResult(
        per_sample_J=median,
        iqr_J=q3 - q1,
        per_repeat_J=per_repeat,
        samples=samples,
        seconds=_quartiles(seconds)[1],
        measurement=total,
        sources=dict(total.sources),
        interval_J=interval,
        converged=rel_precision is not None
        and stop != NOTHING_MEASURED
        and precision_reached(median, interval, rel_precision),
        rel_precision=rel_precision,
        stop_reason=stop,
        min_window_s=floor,
        batches_per_repeat=batches,
        short_windows=short,
        samples_total=samples_total,
        contention=contention,
        contended_repeats=contended,
        invalid_repeats=invalid,
        approximate_repeats=approximate,
        runs=runs,
        threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
    )


# the benchmark EnergyCallback runs after fit -------------------------------------------------------------
@dataclass
class InferenceBenchmark:
    """Settings of the inference benchmark run after fit.

    Attributes:
        dataloader: batches to measure; default the trainer's (first) validation dataloader.
        warmup_batches: unmeasured batches first (at least).
        warmup_s: the shortest warm-up (s); default the meters' floor (1 s NVML: GPU clocks ramp up from idle).
        repeats: the fewest repeats; the median, IQR and 95% interval of J per sample are over the repeats.
        rel_precision: repeat until the median's 95% interval is within this fraction of it (``None``: run
            exactly ``repeats``).
        max_repeats: the most repeats.
        max_seconds: time cap on the repeats (s).
        min_window_s: the shortest repeat (s); default the meters' floor (1 s NVML, 0.2 s RAPL/estimate).
        max_batches: batches per pass; default ``limit_val_batches`` when it is a count, else all.
        cache_bytes: the most bytes of those batches kept on the model's device for the benchmark (default
            :data:`CACHE_BYTES`, 1 GiB; at least one batch): the windows then measure the model, not the loader.
        forward_fn: ``(module, batch, batch_idx) -> output``; default ``predict_step`` or ``module(batch[0])``.
        keep_for_confirm: save the trained model and the benchmark's batches next to the summary, so that
            ``ecopt confirm`` can measure it again (the pattern in :mod:`ecopt_lightning.confirm`).
        threads: torch intra-op threads while the benchmark runs (default :data:`BENCHMARK_THREADS`: 1); the
            process's own setting is put back afterwards. ``None`` keeps the process's setting. One thread makes
            the figure comparable between trials and machines loads: with several, threads wait for each other,
            OpenMP threads spin while they wait, and on a CPU the spin is counted as work (docs/measurement.md).

    Example:
        >>> InferenceBenchmark.of({"repeats": 3}).repeats, InferenceBenchmark.of(True).warmup_batches
        (3, 2)
    """

    dataloader: Iterable[Any] | None = None
    warmup_batches: int = 2
    warmup_s: float | None = None
    repeats: int = 6
    rel_precision: float | None = REL_PRECISION
    max_repeats: int = 50
    max_seconds: float | None = 30.0
    min_window_s: float | None = None
    max_batches: int | None = None
    cache_bytes: int = CACHE_BYTES
    forward_fn: ForwardFn | None = None
    keep_for_confirm: bool = False
    threads: int | None = BENCHMARK_THREADS

    def __post_init__(self) -> None:
        check_settings(
            warmup_batches=self.warmup_batches,
            warmup_s=self.warmup_s,
            repeats=self.repeats,
            rel_precision=self.rel_precision,
            max_repeats=self.max_repeats,
            max_seconds=self.max_seconds,
            min_window_s=self.min_window_s,
            max_batches=self.max_batches,
            cache_bytes=self.cache_bytes,
        )
        if self.threads is not None and not (_is_int(self.threads) and self.threads >= 1):
            raise ValueError(f"threads={self.threads!r} is not allowed: an int >= 1, or None (the process's own)")
        if not isinstance(self.keep_for_confirm, bool):
            raise ValueError(f"keep_for_confirm={self.keep_for_confirm!r} is not allowed: give true or false")
        if self.dataloader is not None and not isinstance(self.dataloader, Iterable):
            raise ValueError(
                f"dataloader={self.dataloader!r} is not allowed: give a DataLoader (any iterable of batches) or None "
                "(the first validation dataloader)"
            )
        if self.forward_fn is not None and not callable(self.forward_fn):
            raise ValueError(
                f"forward_fn={self.forward_fn!r} is not allowed: give (module, batch, batch_idx) -> output"
            )

    @classmethod
    def of(cls, value: bool | InferenceBenchmark | Mapping[str, Any] | None) -> InferenceBenchmark | None:
        """The settings ``EnergyCallback(inference_benchmark=value)`` takes: ``True`` (defaults), an
        instance, its fields as a dict, or ``None``/``False`` (no benchmark)."""
        if value is True:
            return cls()
        if isinstance(value, Mapping):
            names = [f.name for f in fields(cls)]
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"inference_benchmark key {unknown[0]!r} is not allowed: one of {', '.join(names)}")
            return cls(**value)
        if value is None or value is False or isinstance(value, InferenceBenchmark):
            return value or None
        raise ValueError(
            f"inference_benchmark={value!r} is not allowed: give True, False, None, an InferenceBenchmark or a dict "
            "of its fields"
        )


def benchmark_loader(trainer: Trainer, pl_module: LightningModule, cfg: InferenceBenchmark) -> Any:
    """The dataloader to benchmark: ``cfg.dataloader``, else the first validation dataloader (``None``: none)."""
    if cfg.dataloader is not None:
        return cfg.dataloader
    loaders = trainer.val_dataloaders
    if loaders is None:
        from ._lightning_compat import datamodule as attached

        datamodule = attached(trainer)
        source = datamodule if datamodule is not None else pl_module
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
    prior: InferenceResult | None = None,
) -> InferenceResult:
    """:func:`measure_inference` with the trainer's settings: on its root device, in its precision context,
    ``limit_val_batches`` as the default ``max_batches``, one batch and no warm-up under ``fast_dev_run``;
    ``prior``: an earlier measurement to continue."""
    from ._lightning_compat import fast_dev_run

    max_batches = cfg.max_batches
    if max_batches is None and isinstance(trainer.limit_val_batches, int) and trainer.limit_val_batches > 0:
        max_batches = trainer.limit_val_batches
    quick = bool(fast_dev_run(trainer))
    with benchmark_threads(cfg.threads), on_device(pl_module, trainer.strategy.root_device):
        result = _run(trainer, pl_module, loader, cfg, max_batches, quick, monitor, batch_size_fn, reduce, prior)
    if result.stop_reason == NOTHING_MEASURED and result.sources:  # without a meter the callback has said so
        warnings.warn(
            f"ecopt: the inference benchmark measured nothing: every one of its {result.repeats} repeats read 0 J on "
            f"{source_label(result.sources)} ({', '.join(sorted(result.sources))}), a counter that did not move: no "
            "energy per sample is logged (docs/measurement.md)",
            EnergyWarning,
            2,
        )
    elif not result.converged and result.rel_precision is not None and result.stop_reason != NOTHING_MEASURED:
        half = result.rel_halfwidth
        shifts = result.runs.describe() if result.runs is not None else ""
        advice = (
            "more repeats cannot narrow a range: compare candidates side by side with `ecopt confirm` (interleaved "
            "rounds)"
            if result.stop_reason == LEVEL_SHIFTS
            else "quiet the machine or raise max_seconds"
        )
        warnings.warn(
            f"ecopt: inference energy per sample known only to +-{math.inf if half is None else half:.0%} "
            f"(target {result.rel_precision:.0%}) after {result.repeats} repeats ({result.stop_reason})"
            f"{'; ' + shifts if shifts else ''}; {advice} (docs/measurement.md)",
            EnergyWarning,
            2,
        )
    return result


_said_threads: set[tuple[int, int]] = set()


@contextlib.contextmanager
def on_device(module: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """``module`` on ``device`` inside the block, then back where it was.

    The benchmark after fit needs it: Lightning's strategy teardown moves the module to the CPU before
    ``on_fit_end``, so a GPU model would otherwise be measured running on the CPU while the GPU idles (seen on an
    H200: 0.11 J per sample, the GPU's idle power over a CPU forward pass).

    Example:
        >>> m = torch.nn.Linear(2, 2)
        >>> with on_device(m, torch.device("cpu")):
        ...     str(next(m.parameters()).device)
        'cpu'
    """
    before = _module_device(module)
    module.to(device)  # always: a module moved away and back reports the same device, and `to` is free when there
    try:
        yield
    finally:
        module.to(before)


@contextlib.contextmanager
def benchmark_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` torch intra-op threads (``None``: as the process is), then put the
    process's setting back; says once per setting what it did, and how to keep the process's own.

    Example:
        >>> before = torch.get_num_threads()
        >>> with benchmark_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    if (threads, before) not in _said_threads:
        _said_threads.add((threads, before))
        log.info(
            "ecopt: the inference benchmark runs on %d torch thread(s), the process on %d "
            "(InferenceBenchmark.threads; None keeps the process's setting)",
            threads,
            before,
        )
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(
    trainer: Trainer,
    pl_module: LightningModule,
    loader: Iterable[Any],
    cfg: InferenceBenchmark,
    max_batches: int | None,
    quick: bool,
    monitor: EnergyMonitor,
    batch_size_fn: Callable[[Any], int] | None,
    reduce: Callable[[Mapping[str, float]], Mapping[str, float]] | None,
    prior: InferenceResult | None = None,
) -> InferenceResult:
    return measure_inference(
        pl_module,
        loader,
        warmup_batches=0 if quick else cfg.warmup_batches,
        warmup_s=cfg.warmup_s,
        repeats=1 if quick else cfg.repeats,
        rel_precision=None if quick else cfg.rel_precision,
        max_repeats=max(1 if quick else cfg.repeats, cfg.max_repeats),
        max_seconds=cfg.max_seconds,
        min_window_s=0.0 if quick else cfg.min_window_s,
        max_batches=1 if quick else max_batches,
        cache_bytes=cfg.cache_bytes,
        forward_fn=cfg.forward_fn,
        batch_size_fn=batch_size_fn,
        monitor=monitor,
        context=trainer.precision_plugin.predict_step_context,
        reduce=reduce,
        prior=prior,
    )


def benchmark_metrics(result: InferenceResult) -> dict[str, float]:
    """The metrics the callback logs for a benchmark: J per sample (median, IQR, 95% interval), repeats,
    convergence and contention (1.0 or 0.0), samples per J, power (W); NaN where undefined."""
    lo, hi = result.interval_J if result.interval_J is not None else (math.nan, math.nan)
    half = result.rel_halfwidth
    return {
        metrics.INFERENCE_PER_SAMPLE_J: result.per_sample_J,
        metrics.INFERENCE_PER_SAMPLE_IQR_J: result.iqr_J,
        metrics.ci_lo(metrics.INFERENCE_PER_SAMPLE_J): lo,
        metrics.ci_hi(metrics.INFERENCE_PER_SAMPLE_J): hi,
        metrics.INFERENCE_REPEATS: float(result.repeats),
        metrics.INFERENCE_CONVERGED: float(result.converged),
        metrics.INFERENCE_REL_HALFWIDTH: math.nan if half is None else half,
        metrics.INFERENCE_CONTENDED: float(result.contended),
        metrics.INFERENCE_FOREIGN_CORES: math.nan if result.contention is None else result.contention.foreign_cores,
        metrics.SAMPLES_PER_J: result.samples_per_J,
        metrics.INFERENCE_W: result.power_W,
    }
