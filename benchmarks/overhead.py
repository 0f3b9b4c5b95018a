"""Overhead of EnergyCallback on a small training run, and the cost of one measurement window vs other tools.

Usage: python benchmarks/overhead.py [--turns 5] [--steps 300] [--windows 2000]

1. The same training run (an MLP whose steps take about 2 ms on CPU) with and without ``EnergyCallback``, in
   alternating turns within one process; prints the median wall time of each and their ratio (goal <= 1.02).
2. The wall time of one measurement window (open + close) with ``EnergyMonitor``, CodeCarbon's task API
   (``start_task``/``stop_task``) and Zeus (``begin_window``/``end_window``), where each can run here; a tool
   that cannot measure on this machine is reported as such, with its error, not timed.
CodeCarbon and Zeus are not dependencies: ``pip install codecarbon zeus`` to include them.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.callback import EnergyCallback


class Mlp(LightningModule):
    def __init__(self, width: int = 192) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(128, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
            torch.nn.Linear(width, 10),
        )  # fmt: skip

    @override
    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    @override
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class TimedCallback(EnergyCallback):
    """EnergyCallback that adds up the wall time spent in its per-step hooks (s)."""

    hook_seconds = 0.0
    steps = 0

    @override
    def on_train_batch_start(self, *args, **kwargs) -> None:
        t0 = time.perf_counter()
        super().on_train_batch_start(*args, **kwargs)
        TimedCallback.hook_seconds += time.perf_counter() - t0

    @override
    def on_train_batch_end(self, *args, **kwargs) -> None:
        t0 = time.perf_counter()
        super().on_train_batch_end(*args, **kwargs)
        TimedCallback.hook_seconds += time.perf_counter() - t0
        TimedCallback.steps += 1


def train_seconds(steps: int, with_callback: bool, root: str) -> tuple[float, float]:
    """Wall time and process CPU time (s) of ``trainer.fit``."""
    data = TensorDataset(torch.randn(steps * 64, 128), torch.randint(0, 10, (steps * 64,)))
    trainer = Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
        callbacks=[TimedCallback(proxies=False)] if with_callback else [],
    )  # fmt: skip
    torch.manual_seed(0)
    model = Mlp()
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(model, DataLoader(data, batch_size=64))
    return time.perf_counter() - t0, time.process_time() - c0


def window_cost(open_close: Callable[[], None], n: int) -> tuple[float, float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        open_close()
        times.append((time.perf_counter() - t0) * 1e6)
    q = statistics.quantiles(times, n=4)
    return q[0], statistics.median(times), q[2]


def ecopt_window(n: int) -> tuple[float, float, float]:
    monitor = EnergyMonitor()

    def once() -> None:
        monitor.begin("w")
        monitor.end("w")

    try:
        return window_cost(once, n)
    finally:
        monitor.close()


def ecopt_window_fresh(n: int) -> tuple[float, float, float]:
    """As :func:`ecopt_window`, with ``/proc`` read at both ends of every window: the cost of a window that opens
    more than ``PROC_MAX_AGE_S`` after the last read (back to back, the close and the next open share a read)."""
    from ecopt_lightning.energy import contention

    saved = contention.PROC_MAX_AGE_S
    contention.PROC_MAX_AGE_S = 0.0
    try:
        return ecopt_window(n)
    finally:
        contention.PROC_MAX_AGE_S = saved


def codecarbon_window(n: int) -> tuple[float, float, float]:
    from codecarbon import EmissionsTracker

    tracker = EmissionsTracker(
        save_to_file=False, log_level="error", measure_power_secs=1, output_dir=tempfile.mkdtemp()
    )

    def once() -> None:
        tracker.start_task("w")
        tracker.stop_task()

    try:
        return window_cost(once, n)
    finally:
        tracker.stop()


ZEUS_NOTE: list[str] = []


def zeus_window(n: int) -> tuple[float, float, float]:
    from zeus.monitor import ZeusMonitor

    monitor = ZeusMonitor(gpu_indices=[], approx_instant_energy=True)
    if not getattr(monitor, "cpu_indices", None) and not getattr(monitor, "gpu_indices", None):
        ZEUS_NOTE.append("Zeus found no GPU and no readable RAPL here: its windows measure NOTHING (empty result)")

    def once() -> None:
        monitor.begin_window("w")
        monitor.end_window("w")

    return window_cost(once, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5, help="alternating turns of each variant")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--windows", type=int, default=2000, help="windows timed per tool (CodeCarbon: /10)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name in ("lightning", "lightning.pytorch", "codecarbon", "zeus", "ecopt_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(1)  # steady per-step time on a shared 2-core machine

    with tempfile.TemporaryDirectory() as root:
        train_seconds(20, True, root)  # warm up imports, allocator, the monitor's first notices
        without, with_cb = [], []
        TimedCallback.hook_seconds, TimedCallback.steps = 0.0, 0
        for _ in range(args.turns):
            without.append(train_seconds(args.steps, False, root))
            with_cb.append(train_seconds(args.steps, True, root))
    print(f"training run: {args.steps} steps, {args.turns} alternating turns, 1 torch thread, {os.cpu_count()} CPUs")
    for i, kind in enumerate(("wall", "process CPU")):
        base = statistics.median(t[i] for t in without)
        cb = statistics.median(t[i] for t in with_cb)
        print(f"  {kind} time: without {base:.3f} s ({1e3 * base / args.steps:.2f} ms/step), with {cb:.3f} s")
        print(
            f"    ratio with/without: {cb / base:.4f} (goal <= 1.02); runs without {[round(t[i], 2) for t in without]}"
        )
        print(f"    runs with {[round(t[i], 2) for t in with_cb]}")
    per_step = TimedCallback.hook_seconds / max(1, TimedCallback.steps)
    step_s = statistics.median(t[0] for t in without) / args.steps
    print(f"  in the callback's step hooks: {1e6 * per_step:.1f} µs a step = {per_step / step_s:.2%} of a step")

    print("cost of one measurement window (open + close), µs: median (IQR)")
    results: dict[str, float] = {}
    for label, fn, n in (
        ("ecopt EnergyMonitor begin/end", ecopt_window, args.windows),
        ("ecopt, /proc read at both ends", ecopt_window_fresh, args.windows),
        ("CodeCarbon start_task/stop_task", codecarbon_window, max(20, args.windows // 10)),
        ("Zeus begin_window/end_window", zeus_window, args.windows),
    ):
        try:
            q1, med, q3 = fn(n)
        except Exception as exc:
            print(f"  {label:<34}: NOT MEASURED on this machine: {type(exc).__name__}: {exc}")
            continue
        note = f"  <- {ZEUS_NOTE[0]}" if label.startswith("Zeus") and ZEUS_NOTE else ""
        if not note:
            results[label] = med
        print(f"  {label:<34}: {med:10.1f} ({q1:.1f}-{q3:.1f}) over {n} windows{note}")
    ours = results.get("ecopt EnergyMonitor begin/end")
    for label, med in results.items():
        if ours and not label.startswith("ecopt"):
            fresh = results.get("ecopt, /proc read at both ends")
            also = f"; {med / fresh:.0f}x with /proc read at both ends" if fresh else ""
            print(f"  {label} / ecopt: {med / ours:.0f}x (goal for CodeCarbon: >= 20x){also}")


if __name__ == "__main__":
    main()
