"""The inference benchmark inside a Trainer's fit: when it runs, and what it adds to the run.

It runs once per fit: after fit, or, inside a multi-fidelity sweep, at the first rung
(:mod:`ecopt_lightning.rung_check`; J per sample depends on the architecture, not on training progress). A sweep
may ask for fewer repeats there (``rung_repeats``, no precision target: enough to rank); a trial that then goes
on continues that measurement at the rung with the full settings (:meth:`BenchmarkRunner.complete_at_rung`: the
short measurement's repeats count towards the full one's, so no repeat is spent twice). At a rung (an epoch's
end) the running clock is paused (the benchmark's energy is its own) and torch's random state is forked:
iterating a DataLoader draws from torch's generator, which would change the order of the shuffled batches that
training sees next against the same run without multi-fidelity. The benchmark's windows go to the tracker's
``benchmark`` phase; with ``keep_for_confirm`` the model and batches are saved next to the summary for ``ecopt
confirm`` after fit (the trained model, even when it was measured at a rung); the FLOPs proxy is measured on its
first batch when no earlier batch gave it.

The measurement itself is :func:`~ecopt_lightning.inference.run_benchmark`; the settings are
:class:`~ecopt_lightning.inference.InferenceBenchmark`. ``EnergyCallback`` publishes what the methods return.

Example:
    >>> tracker, proxies = EnergyTracker(None), ModelProxies()
    >>> off = BenchmarkRunner(None, tracker, proxies)  # no benchmark asked for: nothing to measure or publish
    >>> off.pending, off.to_dict()
    (False, None)
    >>> runner = BenchmarkRunner(InferenceBenchmark(repeats=6, max_seconds=10.0), tracker, proxies)
    >>> runner.pending, runner.to_dict()  # a rung would measure it: nothing measured yet
    (True, None)
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .confirm import CANDIDATE_DIR, save_candidate
from .energy import EnergyMonitor, EnergyWarning
from .energy_summary import rank_named
from .energy_tracker import BENCHMARK, OTHER, EnergyTracker
from .inference import InferenceBenchmark, InferenceResult, batch_samples, benchmark_loader, benchmark_metrics
from .inference import run_benchmark as measure
from .proxies import ModelProxies
from .ranks import RankReducer

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer


@dataclass(frozen=True)
class FitContext:
    """What the benchmark reads from the run, built once per call by ``EnergyCallback``.

    Attributes:
        trainer, pl_module: the fit's.
        monitor: the run's meters (``None``: closed; the benchmark is skipped with a warning).
        reducer: the run's ranks (the benchmark's windows are reduced over them).
        summary_dir: the summary's folder, asked for only when the model is kept for ``ecopt confirm``
            (finding it may ask a logger).
    """

    trainer: Trainer
    pl_module: LightningModule
    monitor: EnergyMonitor | None
    reducer: RankReducer
    summary_dir: Callable[[], str | Path]


class BenchmarkRunner:
    """Runs the inference benchmark of one fit and keeps its result.

    Args:
        settings: the benchmark's settings; ``None``: no benchmark (every method returns ``{}``).
        tracker: the run's accounting; the benchmark's energy goes to its ``benchmark`` phase.
        proxies: the run's model proxies (FLOPs measured on the benchmark's first batch if still unknown).
        batch_size_fn: ``batch -> samples``; default as Lightning infers it.
    """

    def __init__(
        self,
        settings: InferenceBenchmark | None,
        tracker: EnergyTracker,
        proxies: ModelProxies,
        batch_size_fn: Callable[[Any], int] | None = None,
    ) -> None:
        self.settings = settings
        self.tracker = tracker
        self.proxies = proxies
        self.batch_size_fn = batch_size_fn
        self.result: InferenceResult | None = None
        self.measured_at_rung = False  # then after fit its values are published again, not measured again
        self.rung_result: InferenceResult | None = None  # the first rung's shorter measurement, when asked for

    @property
    def pending(self) -> bool:
        """Whether a rung would measure: a benchmark is set and nothing has been measured yet."""
        return self.settings is not None and self.result is None and self.rung_result is None

    def at_rung(self, ctx: FitContext, *, sync: bool = False, repeats: int | None = None) -> dict[str, float]:
        """The benchmark at a multi-fidelity rung, unless measured already: the running clock paused (read with
        ``sync``), the random state forked. ``repeats``: exactly that many, with no precision target and nothing
        kept for ``ecopt confirm``; after fit the full settings measure again. ``None``: the full settings,
        once. Returns the metrics to publish."""
        if not self.pending:
            return {}
        cfg = self.settings
        assert cfg is not None
        if repeats is not None:
            cfg = dataclasses.replace(cfg, repeats=repeats, rel_precision=None)
        with self._at_rung(ctx, sync):
            values, result = self._run(ctx, cfg)
        if repeats is None:
            self.result = result
            self.measured_at_rung = result is not None
        else:
            self.rung_result = result
        return values

    def complete_at_rung(self, ctx: FitContext, *, sync: bool = False) -> dict[str, float]:
        """For a trial that goes on past the rung where it was measured short: the full settings' measurement,
        there, continuing the short one (its repeats count; the warm-up runs again). Nothing to do otherwise.
        Returns the metrics to publish."""
        if self.settings is None or self.rung_result is None or self.result is not None:
            return {}
        with self._at_rung(ctx, sync):
            values, self.result = self._run(ctx, self.settings, prior=self.rung_result)
        self.measured_at_rung = self.result is not None
        return values

    def after_fit(self, ctx: FitContext, *, stopped: bool = False) -> dict[str, float]:
        """The benchmark at the end of fit, or the values measured at the first rung (with the full settings
        there, or ``stopped`` at a rung: a stopped trial is not measured again). Returns the metrics to publish."""
        if self.settings is None:
            return {}
        if self.measured_at_rung and self.result is not None:
            if self.settings.keep_for_confirm and not stopped:
                self._keep(ctx, self.settings)
            return benchmark_metrics(self.result)
        if stopped and self.rung_result is not None:
            return benchmark_metrics(self.rung_result)
        values, self.result = self._run(ctx, self.settings, keep=self.settings.keep_for_confirm)
        return values

    def to_dict(self) -> dict[str, Any] | None:
        """The summary's ``inference`` entry (``None``: not measured): the full measurement, with the first
        rung's shorter one under ``first_rung`` when there was one; a trial stopped at a rung has only that."""
        if self.result is None:
            return None if self.rung_result is None else {**self.rung_result.to_dict(), "measured_at": "first_rung"}
        entry = self.result.to_dict()
        if self.rung_result is not None:
            entry["first_rung"] = self.rung_result.to_dict()
        return entry

    @contextlib.contextmanager
    def _at_rung(self, ctx: FitContext, sync: bool) -> Iterator[None]:
        """At a rung (an epoch's end): OTHER's clock paused (read with ``sync``), torch's random state forked."""
        device = ctx.pl_module.device
        with (
            self.tracker.paused(OTHER, sync=sync),
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        ):
            yield

    def _keep(self, ctx: FitContext, cfg: InferenceBenchmark, loader: Any = None) -> None:
        """The model and benchmark batches saved for ``ecopt confirm`` (a warning says why when they cannot be)."""
        trainer, pl_module = ctx.trainer, ctx.pl_module
        loader = loader if loader is not None else benchmark_loader(trainer, pl_module, cfg)
        if loader is None:
            return
        settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}  # asdict would copy the loader
        why = save_candidate(trainer, pl_module, loader, settings, Path(ctx.summary_dir()) / CANDIDATE_DIR)
        if why is not None:
            warnings.warn(f"ecopt: this trial cannot be confirmed later: {why}", EnergyWarning, 4)

    def _run(
        self, ctx: FitContext, cfg: InferenceBenchmark, prior: InferenceResult | None = None, keep: bool = False
    ) -> tuple[dict[str, float], InferenceResult | None]:
        """Measure with ``cfg`` (continuing ``prior``; with ``keep``, the model saved for ``ecopt confirm``);
        returns the metrics to publish and the result (``None``: skipped)."""
        trainer, pl_module, monitor = ctx.trainer, ctx.pl_module, ctx.monitor
        loader = benchmark_loader(trainer, pl_module, cfg)
        if loader is None or monitor is None:
            warnings.warn("ecopt: no dataloader for the inference benchmark: skipped", EnergyWarning, 3)
            return {}, None
        reduce = ctx.reducer.reduce if ctx.reducer.world_size > 1 else None
        result = measure(
            trainer,
            pl_module,
            loader,
            cfg,
            monitor=monitor,
            batch_size_fn=self.batch_size_fn,
            reduce=reduce,
            prior=prior,
        )
        # the energy is this rank's, the samples every rank's already: rank 0 adds them, so that the phase's
        # reduction over ranks counts them once
        samples = result.samples_total if ctx.trainer.is_global_zero else 0
        self.tracker.add(BENCHMARK, result.measurement, samples=samples)
        if ctx.reducer.world_size > 1:  # the figures are every rank's: so are its energy and sources
            m = result.measurement
            by_rank = ctx.reducer.gather_objects((dict(m.by_device), dict(m.sources), m.seconds))
            m = dataclasses.replace(
                m,
                by_device=rank_named([energy for energy, _, _ in by_rank]),
                sources=rank_named([sources for _, sources, _ in by_rank]),
                seconds=max(seconds for _, _, seconds in by_rank),
            )
            result = dataclasses.replace(result, measurement=m, sources=dict(m.sources))
        if keep:
            self._keep(ctx, cfg, loader)
        values: dict[str, float] = {}
        if self.proxies.wants_flops:
            first = next(iter(loader), None)
            if first is not None:
                from lightning.fabric.utilities.apply_func import move_data_to_device

                batch = move_data_to_device(first, pl_module.device)
                samples = batch_samples(batch, self.batch_size_fn)
                values = self.proxies.measure_flops(pl_module, batch, samples, forward_fn=cfg.forward_fn)
        return {**values, **benchmark_metrics(result)}, result
