"""GPU validation of ecopt-lightning's NVML measurements (issue 8): one run, one JSON file, a few PNG plots.

Steps (each recorded on its own; one failing step does not lose the others):

1. ``environment``: GPU, driver, NVML and library versions; which counters and power fields the GPU supports,
   and how often each one actually changes.
2. ``idle``: 5 s idle, energy from the counter against polled instantaneous power (W).
3. ``load``: ~10 s of bf16 matrix multiplies; counter energy against polled power integrated over the same
   window (difference in %); the power trace as ``load_power.png``.
4. ``telescoping``: 200 back-to-back ~50 ms windows inside one outer window: their sum against the outer window
   (goal: within 0.5 %), and how many were flagged approximate.
5. ``sync``: the same queued kernels measured with and without CUDA synchronisation at the window ends.
6. ``lightning``: a small CNN on FakeData with and without ``EnergyCallback``: step time ratio (goal <= 1.01),
   window sums against epoch totals, J per inference sample.
7. ``textgen``: J per generated token of ``examples/textgen`` (GPT-2 small shape) at batch sizes 1, 8, 64.

Without CUDA (or with ``--dry-run``) everything runs small on the CPU against the simulated GPU of
``tests/doubles/simulated_gpu.py`` installed as ``pynvml``: a check of the script, not of any hardware.

Run (from the repository root):
    python benchmarks/gpu_check.py benchmarks/results/gpu/H100-2026-01-01            # the real check (~2 min)
    python benchmarks/gpu_check.py /tmp/gpu-check --quick                            # shorter windows
    python benchmarks/gpu_check.py /tmp/gpu-check --dry-run                          # CPU, simulated GPU
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import itertools
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `examples`, `tests.doubles` and an uninstalled `ecopt_lightning`
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

RESULT_FILE = "gpu_check.json"
SECTIONS = ("environment", "idle", "load", "telescoping", "sync", "lightning", "textgen")
TELESCOPING_GOAL_PCT = 0.5
STEP_TIME_GOAL = 1.01


# settings -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Durations and sizes of every step; ``full`` on a GPU, ``quick`` shorter, ``dry`` on a CPU."""

    idle_s: float
    load_s: float
    load_warmup_s: float
    matmul_n: int
    windows: int
    window_s: float
    sync_work_s: float
    trace_period_s: float
    lightning_steps: int
    lightning_repeats: int
    lightning_batch: int
    lightning_filters: int
    textgen_preset: str
    textgen_batches: tuple[int, ...]
    textgen_new_tokens: int
    textgen_prompt_len: int
    textgen_repeats: int

    @classmethod
    def make(cls, mode: str) -> Plan:
        gpu = {
            "idle_s": 5.0,
            "load_s": 10.0,
            "load_warmup_s": 2.0,
            "matmul_n": 8192,
            "windows": 200,
            "window_s": 0.05,
            "sync_work_s": 0.8,
            "trace_period_s": 0.01,
            "lightning_steps": 300,
            "lightning_repeats": 5,
            "lightning_batch": 64,
            "lightning_filters": 32,
            "textgen_preset": "gpt2",
            "textgen_batches": (1, 8, 64),
            "textgen_new_tokens": 128,
            "textgen_prompt_len": 64,
            "textgen_repeats": 3,
        }
        changes: dict[str, dict[str, Any]] = {
            "full": {},
            "quick": {
                "idle_s": 2.0,
                "load_s": 4.0,
                "load_warmup_s": 1.0,
                "window_s": 0.025,
                "sync_work_s": 0.5,
                "lightning_steps": 100,
                "lightning_repeats": 1,
                "textgen_new_tokens": 32,
                "textgen_prompt_len": 32,
                "textgen_repeats": 2,
            },
            "dry": {
                "idle_s": 0.5,
                "load_s": 0.8,
                "load_warmup_s": 0.1,
                "matmul_n": 64,
                "window_s": 0.002,
                "sync_work_s": 0.2,
                "lightning_steps": 8,
                "lightning_repeats": 1,
                "lightning_batch": 8,
                "lightning_filters": 4,
                "textgen_preset": "tiny",
                "textgen_new_tokens": 8,
                "textgen_prompt_len": 8,
                "textgen_repeats": 1,
            },
        }
        return cls(**{**gpu, **changes[mode]})


@dataclass
class Context:
    """What every step needs: the device, NVML and the GPU's handle, where to write, and the plan."""

    out: Path
    plan: Plan
    dry: bool
    device: torch.device
    nvml: Any
    handle: Any
    sim_gpu: Any = None  # the SimGpu in a dry run (its power follows the load)
    notes: list[str] = field(default_factory=list)
    matmul_per_s: float | None = None  # measured in step 3, used by steps 4 and 5


# helpers --------------------------------------------------------------------------------------------------
def install_simulated_gpu() -> Any:
    """Put a simulated H100-like GPU in ``sys.modules["pynvml"]`` (70 W idle; 100 ms counter updates)."""
    from tests.doubles.simulated_gpu import SimGpu, SimulatedNvml

    gpu = SimGpu("GPU-00000000-dry-run", power_W=70.0, name="Simulated H100 (dry run)", counter_period_s=0.1)
    sys.modules["pynvml"] = SimulatedNvml([gpu])
    return gpu


def sync(ctx: Context) -> None:
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)


@contextmanager
def busy(ctx: Context, watts: float = 300.0) -> Iterator[None]:
    """Mark a stretch of GPU work; in a dry run the simulated GPU draws ``watts`` meanwhile."""
    if ctx.sim_gpu is not None:
        ctx.sim_gpu.set_power(lambda t: watts + 20.0 * math.sin(40.0 * t))
    try:
        yield
    finally:
        if ctx.sim_gpu is not None:
            ctx.sim_gpu.set_power(70.0)


def matmul_operands(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    n = ctx.plan.matmul_n
    g = torch.Generator(device=ctx.device).manual_seed(0)
    a = torch.randn(n, n, device=ctx.device, dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device=ctx.device, dtype=torch.bfloat16, generator=g)
    return a, b


def run_matmuls(a: torch.Tensor, b: torch.Tensor, count: int) -> None:
    """Queue ``count`` bf16 matrix multiplies (into one preallocated output: no allocations per kernel)."""
    out = torch.empty_like(a)
    for _ in range(count):
        torch.mm(a, b, out=out)


def call(fn: Callable[[], Any]) -> dict[str, Any]:
    """``{"value": fn()}`` or ``{"error": "..."}``: a probe of one NVML call."""
    try:
        value = fn()
        if isinstance(value, bytes):
            value = value.decode()
        return {"value": value if isinstance(value, (int, float, str, bool, type(None))) else str(value)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def field_W(ctx: Context, field_id: int | None) -> float:
    """One NVML power field (mW) in W; raises when the field is not supported (``None``: not in this pynvml)."""
    if field_id is None:
        raise RuntimeError("field not in this pynvml")
    value = ctx.nvml.nvmlDeviceGetFieldValues(ctx.handle, [field_id])[0]
    if int(value.nvmlReturn) != 0:
        raise RuntimeError(f"field {field_id}: NVML return code {int(value.nvmlReturn)}")
    from ecopt_lightning.energy.nvml import _field_value

    return _field_value(value) / 1000.0


class Trace:
    """A background thread sampling instant power, averaged power (W) and the energy counter (J).

    Samples are ``(t, instant_W, average_W, counter_J)`` with ``t`` from ``time.perf_counter`` (s); a value
    the GPU does not support is NaN.
    """

    def __init__(self, ctx: Context, period_s: float) -> None:
        self.ctx, self.period_s = ctx, period_s
        self.samples: list[tuple[float, float, float, float]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-check-trace", daemon=True)
        self._instant_id: int | None = getattr(ctx.nvml, "NVML_FI_DEV_POWER_INSTANT", None)

    def _read(self) -> tuple[float, float, float, float]:
        nvml, handle = self.ctx.nvml, self.ctx.handle
        values = []
        for probe in (
            lambda: field_W(self.ctx, self._instant_id),
            lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0,
        ):
            try:
                values.append(float(probe()))
            except Exception:
                values.append(math.nan)
        instant_W, average_W, counter_J = values
        return time.perf_counter(), instant_W, average_W, counter_J

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._read())
            except Exception:
                self.errors += 1
            self._stop.wait(self.period_s)

    def __enter__(self) -> Trace:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def integral_J(self, column: int, t0: float, t1: float) -> float:
        """Trapezoid integral of a power column (1 instant, 2 average) over ``[t0, t1]`` (J)."""
        pts = [(t, s[column]) for s in self.samples if t0 <= (t := s[0]) <= t1 and not math.isnan(s[column])]
        return sum(0.5 * (w0 + w1) * (b - a) for (a, w0), (b, w1) in itertools.pairwise(pts))

    def mean_W(self, column: int, t0: float, t1: float) -> float | None:
        values = [s[column] for s in self.samples if t0 <= s[0] <= t1 and not math.isnan(s[column])]
        return statistics.fmean(values) if values else None

    def update_period_s(self, column: int) -> float | None:
        """How often a column actually changes (s): the median time between changes of value."""
        changes = [s[0] for prev, s in itertools.pairwise(self.samples) if s[column] != prev[column]]
        gaps = [b - a for a, b in itertools.pairwise(changes)]
        return statistics.median(gaps) if gaps else None


def pct(value: float, reference: float) -> float | None:
    """``100 * (value - reference) / reference`` (%), None when the reference is 0."""
    return 100.0 * (value - reference) / reference if reference else None


def counter_and_polled(ctx: Context) -> tuple[Any, Any]:
    """The product's two NVML meters on the same GPU: the energy counter and polled power (50 ms)."""
    from ecopt_lightning.energy.nvml import NvmlCounterMeter, NvmlPowerMeter, find_gpus

    gpus, missing = find_gpus(ctx.nvml, [ctx.device.index or 0])
    if not gpus:
        raise RuntimeError(f"no NVML device for the CUDA device: {missing}")
    return NvmlCounterMeter(ctx.nvml, gpus), NvmlPowerMeter(ctx.nvml, gpus, period_s=0.05)


def save_plot(ctx: Context, name: str, draw: Callable[[Any], None]) -> str:
    """Draw onto a new matplotlib figure and write ``name`` in the output folder.

    Returns the file name, or ``"not drawn: <why>"``: a missing matplotlib must not cost a step its numbers.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"not drawn: {exc}"
    fig, ax = plt.subplots(figsize=(9, 4.5))
    try:
        draw(ax)
        fig.tight_layout()
        fig.savefig(ctx.out / name, dpi=110)
    except Exception as exc:
        return f"not drawn: {type(exc).__name__}: {exc}"
    finally:
        plt.close(fig)
    return name


# step 1 ---------------------------------------------------------------------------------------------------
def step_environment(ctx: Context) -> dict[str, Any]:
    nvml, h = ctx.nvml, ctx.handle
    versions: dict[str, str | None] = {}
    for dist in ("torch", "lightning", "nvidia-ml-py", "torchvision", "matplotlib", "optuna", "hydra-core"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    fields = {}
    for name in ("NVML_FI_DEV_POWER_INSTANT", "NVML_FI_DEV_POWER_AVERAGE"):
        fid = getattr(nvml, name, None)
        fields[name] = {"error": "not in this pynvml"} if fid is None else call(functools.partial(field_W, ctx, fid))
    out: dict[str, Any] = {
        "dry_run": ctx.dry,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "versions": versions,
        "cuda": {
            "available": torch.cuda.is_available(),
            "torch_cuda": torch.version.cuda,
            "device": str(ctx.device),
            "name": torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else None,
            "capability": list(torch.cuda.get_device_capability(ctx.device)) if ctx.device.type == "cuda" else None,
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        },
        "nvml": {
            "driver": call(nvml.nvmlSystemGetDriverVersion),
            "nvml_version": call(nvml.nvmlSystemGetNVMLVersion),
            "cuda_driver": call(lambda: nvml.nvmlSystemGetCudaDriverVersion()),
            "name": call(lambda: nvml.nvmlDeviceGetName(h)),
            "uuid": call(lambda: nvml.nvmlDeviceGetUUID(h)),
            "mig_mode": call(lambda: nvml.nvmlDeviceGetMigMode(h)),
            "power_limit_W": call(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0),
            "persistence_mode": call(lambda: nvml.nvmlDeviceGetPersistenceMode(h)),
        },
        "supported": {
            "total_energy_counter_mJ": call(lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(h)),
            "power_usage_W": call(lambda: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0),
            **fields,
        },
    }
    with Trace(ctx, 0.002) as trace:
        time.sleep(1.0)
    out["observed_update_period_s"] = {
        "instant_power": trace.update_period_s(1),
        "average_power": trace.update_period_s(2),
        "energy_counter": trace.update_period_s(3),
        "samples": len(trace.samples),
    }
    from ecopt_lightning import EnergyMonitor

    with EnergyMonitor(gpus=[ctx.device.index or 0], cpu="auto") as monitor:
        out["monitor"] = {"sources": dict(monitor.sources), "missing": dict(monitor.missing)}
        out["monitor"]["describe"] = monitor.describe()
    out["read_cost_us"] = read_cost_us(ctx)
    return out


def read_cost_us(ctx: Context, calls: int = 2000) -> dict[str, float]:
    """Median cost of one read (us): the raw NVML counter call, and the snapshot ``EnergyCallback`` takes per
    step (GPU counter, and with ``cpu="estimate"`` the process CPU time). Per-step overhead is about one
    snapshot, so this over the step time predicts the step-time ratio without the run-to-run noise."""
    from ecopt_lightning import EnergyMonitor

    def median_us(fn: Callable[[], Any]) -> float:
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1e6 * statistics.median(times)

    gpus = [ctx.device.index or 0]
    out = {"nvml_total_energy": median_us(lambda: ctx.nvml.nvmlDeviceGetTotalEnergyConsumption(ctx.handle))}
    cpus: dict[str, Literal["estimate"] | bool] = {"snapshot_gpu": False, "snapshot_gpu_cpu_estimate": "estimate"}
    for label, cpu in cpus.items():
        with EnergyMonitor(gpus=gpus, cpu=cpu) as monitor:
            out[label] = median_us(functools.partial(monitor.snapshot, sync=False))
    return out


# step 2 and 3 ---------------------------------------------------------------------------------------------
def compare_window(ctx: Context, work: Callable[[], None], trace_period_s: float) -> dict[str, Any]:
    """Run ``work`` in one window read by the counter meter, the polled meter and a trace; compare them."""
    counter, polled = counter_and_polled(ctx)
    try:
        with Trace(ctx, trace_period_s) as trace:
            time.sleep(0.2)  # the trace has samples before the window opens
            sync(ctx)
            c0, p0, t0 = counter.read(), polled.read(), time.perf_counter()
            work()
            sync(ctx)
            c1, p1, t1 = counter.read(), polled.read(), time.perf_counter()
            time.sleep(0.2)
    finally:
        polled.close()
    domain = next(iter(counter.sources))
    seconds = t1 - t0
    counter_J = c1.energy_J[domain] - c0.energy_J[domain]
    polled_J = p1.energy_J[domain] - p0.energy_J[domain]
    trace_instant_J = trace.integral_J(1, t0, t1)
    return {
        "seconds": seconds,
        "counter_J": counter_J,
        "counter_W": counter_J / seconds,
        "polled_J": polled_J,
        "polled_W": polled_J / seconds,
        "polled_source": "instant field" if polled.update_period_s < 1.0 else "nvmlDeviceGetPowerUsage (1 s average)",
        "polled_vs_counter_pct": pct(polled_J, counter_J),
        "trace_instant_J": trace_instant_J,
        "trace_instant_vs_counter_pct": pct(trace_instant_J, counter_J),
        "trace_mean_instant_W": trace.mean_W(1, t0, t1),
        "trace_mean_average_W": trace.mean_W(2, t0, t1),
        "trace_samples": len(trace.samples),
        "_trace": trace,
        "_window": (t0, t1),
    }


def step_idle(ctx: Context) -> dict[str, Any]:
    result = compare_window(ctx, lambda: time.sleep(ctx.plan.idle_s), 0.02)
    result.pop("_trace"), result.pop("_window")
    return result


def step_load(ctx: Context) -> dict[str, Any]:
    a, b = matmul_operands(ctx)
    with busy(ctx):
        end = time.perf_counter() + ctx.plan.load_warmup_s  # clocks and power settle first
        while time.perf_counter() < end:
            run_matmuls(a, b, 10)
            sync(ctx)
        count = [0]

        def work() -> None:
            end = time.perf_counter() + ctx.plan.load_s
            while time.perf_counter() < end:
                run_matmuls(a, b, 20)
                sync(ctx)  # bounded queue: the window ends when the work does
                count[0] += 20

        result = compare_window(ctx, work, ctx.plan.trace_period_s)
    trace, (t0, t1) = result.pop("_trace"), result.pop("_window")
    ctx.matmul_per_s = count[0] / result["seconds"]
    n = ctx.plan.matmul_n
    result.update(matmuls=count[0], matmul_n=n, tflops=2 * n**3 * ctx.matmul_per_s / 1e12)
    result["plot"] = save_plot(ctx, "load_power.png", lambda ax: draw_trace(ax, trace, t0, t1, result))
    result["trace_csv"] = write_trace(ctx, trace, "load_trace.csv")
    return result


def draw_trace(ax: Any, trace: Trace, t0: float, t1: float, result: dict[str, Any]) -> None:
    ts = [s[0] - t0 for s in trace.samples]
    ax.plot(ts, [s[1] for s in trace.samples], lw=0.8, label="instant power (NVML_FI_DEV_POWER_INSTANT)")
    ax.plot(ts, [s[2] for s in trace.samples], lw=1.2, label="nvmlDeviceGetPowerUsage")
    # the counter's own power: its increments over the time between them
    changes = [(s[0], s[3]) for p, s in itertools.pairwise(trace.samples) if s[3] != p[3] and not math.isnan(s[3])]
    if len(changes) > 1:
        ax.step(
            [b[0] - t0 for b in changes[1:]],
            [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(changes)],
            where="pre",
            lw=1.0,
            label="energy counter increments / time",
        )
    ax.axvspan(0, t1 - t0, alpha=0.08, color="k", label=f"window: counter {result['counter_W']:.0f} W")
    ax.set_xlabel("time since the window opened (s)")
    ax.set_ylabel("power (W)")
    ax.set_title(f"bf16 matmul load: polled vs counter {result['polled_vs_counter_pct']:+.2f} %")
    ax.legend(fontsize=8, loc="lower right")


def write_trace(ctx: Context, trace: Trace, name: str) -> str:
    lines = ["t_s,instant_W,average_W,counter_J"]
    t0 = trace.samples[0][0] if trace.samples else 0.0
    lines += [f"{t - t0:.4f},{i:.3f},{a:.3f},{c:.3f}" for t, i, a, c in trace.samples]
    (ctx.out / name).write_text("\n".join(lines) + "\n")
    return name


# step 4 ---------------------------------------------------------------------------------------------------
def matmuls_for(ctx: Context, seconds: float) -> int:
    rate = ctx.matmul_per_s
    if not rate:
        a, b = matmul_operands(ctx)
        sync(ctx)
        t = time.perf_counter()
        run_matmuls(a, b, 10)
        sync(ctx)
        rate = 10 / (time.perf_counter() - t)
        ctx.matmul_per_s = rate
    return max(1, round(rate * seconds))


def step_telescoping(ctx: Context) -> dict[str, Any]:
    from ecopt_lightning import EnergyMonitor

    a, b = matmul_operands(ctx)
    per_window = matmuls_for(ctx, ctx.plan.window_s)
    with EnergyMonitor(gpus=[ctx.device.index or 0], cpu=False, sync=True) as monitor, busy(ctx):
        run_matmuls(a, b, per_window)  # warm
        monitor.begin("outer")
        inner = []
        for i in range(ctx.plan.windows):
            with monitor.window(f"w{i}") as w:
                run_matmuls(a, b, per_window)
            inner.append(w.measurement)
        outer = monitor.end("outer")
        # the same with shared snapshots (as EnergyCallback's steps): window i ends where i+1 starts
        chain = [monitor.snapshot()]
        for _ in range(ctx.plan.windows):
            run_matmuls(a, b, per_window)
            chain.append(monitor.snapshot())
        chained = [monitor.measure(s, e) for s, e in itertools.pairwise(chain)]
        chained_outer = monitor.measure(chain[0], chain[-1])
    inner_sum = sum(m.energy_J for m in inner)
    chained_sum = sum(m.energy_J for m in chained)
    energies = [m.energy_J for m in inner]
    diff = pct(inner_sum, outer.energy_J)
    result: dict[str, Any] = {
        "windows": len(inner),
        "matmuls_per_window": per_window,
        "median_window_s": statistics.median(m.seconds for m in inner),
        "outer_J": outer.energy_J,
        "outer_s": outer.seconds,
        "inner_sum_J": inner_sum,
        "inner_sum_s": sum(m.seconds for m in inner),
        "inner_vs_outer_pct": diff,
        "approximate_windows": sum(m.approximate for m in inner),
        "zero_windows": sum(e == 0 for e in energies),
        "window_J": {"min": min(energies), "median": statistics.median(energies), "max": max(energies)},
        "chained_sum_J": chained_sum,
        "chained_outer_J": chained_outer.energy_J,
        "chained_vs_outer_pct": pct(chained_sum, chained_outer.energy_J),
        "source": outer.source,
        "goal_pct": TELESCOPING_GOAL_PCT,
        "within_goal": diff is not None and abs(diff) <= TELESCOPING_GOAL_PCT,
    }

    def draw(ax: Any) -> None:
        powers = [e / m.seconds if m.seconds > 0 else 0.0 for e, m in zip(energies, inner, strict=True)]
        ax.bar(range(len(energies)), powers, width=1.0)
        ax.axhline(outer.power_W, color="k", lw=1, label=f"outer window {outer.power_W:.0f} W")
        ax.set_xlabel("window")
        ax.set_ylabel("mean power in the window (W)")
        versus = "outer window read 0 J" if diff is None else f"sum vs outer {diff:+.3f} %"
        ax.set_title(f"{len(inner)} windows of ~{result['median_window_s'] * 1e3:.0f} ms: {versus}")
        ax.legend(fontsize=8)

    result["plot"] = save_plot(ctx, "telescoping.png", draw)
    return result


# step 5 ---------------------------------------------------------------------------------------------------
def step_sync(ctx: Context) -> dict[str, Any]:
    from ecopt_lightning import EnergyMonitor

    a, b = matmul_operands(ctx)
    # below CUDA's launch queue depth (about 1024 kernels): launching must not block, or there is no asynchrony
    count = min(matmuls_for(ctx, ctx.plan.sync_work_s), 500)
    out: dict[str, Any] = {"matmuls": count}
    with EnergyMonitor(gpus=[ctx.device.index or 0], cpu=False) as monitor, busy(ctx):
        for label, flag in (("no_sync", False), ("sync", True), ("no_sync_again", False), ("sync_again", True)):
            sync(ctx)
            time.sleep(0.3)  # idle gap: the previous case's power has settled
            with monitor.window(label, sync=flag) as w:
                run_matmuls(a, b, count)
            t = time.perf_counter()
            sync(ctx)
            m = w.measurement
            out[label] = {
                "energy_J": m.energy_J,
                "seconds": m.seconds,
                "drained_after_window_s": time.perf_counter() - t,
                "approximate": m.approximate,
            }
    synced = statistics.fmean([out["sync"]["energy_J"], out["sync_again"]["energy_J"]])
    unsynced = statistics.fmean([out["no_sync"]["energy_J"], out["no_sync_again"]["energy_J"]])
    out["no_sync_over_sync"] = unsynced / synced if synced else None
    return out


# step 6 ---------------------------------------------------------------------------------------------------
class StepTimer:
    """Times between consecutive training batch starts (s): a step's whole cost, hooks and data included."""

    def __init__(self) -> None:
        from lightning.pytorch import Callback
        from typing_extensions import override

        timer = self

        class _Hook(Callback):
            @override
            def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
                timer.starts.append(time.perf_counter())

        self.starts: list[float] = []
        self.callback = _Hook()

    def median_s(self, skip: int = 5) -> float:
        gaps = [b - a for a, b in itertools.pairwise(self.starts)][skip:]
        return statistics.median(gaps) if gaps else math.nan


def fake_images(n: int, seed: int, unique: int = 2048) -> tuple[torch.utils.data.TensorDataset, str]:
    """``n`` CIFAR-shaped images: up to ``unique`` from torchvision's FakeData, made once into tensors and
    repeated (so that making images on the CPU is not what the steps time); random tensors when torchvision
    is missing."""
    k = min(n, unique)
    try:
        from torchvision import datasets, transforms

        fake = datasets.FakeData(k, (3, 32, 32), 10, transforms.ToTensor(), random_offset=seed)
        xs, ys = zip(*(fake[i] for i in range(k)), strict=True)
        x, y, kind = torch.stack(xs), torch.tensor(ys), "torchvision FakeData"
    except ImportError:
        g = torch.Generator().manual_seed(seed)
        x, y = torch.rand(k, 3, 32, 32, generator=g), torch.randint(0, 10, (k,), generator=g)
        kind = "random tensors (torchvision is not installed)"
    reps = -(-n // k)
    return torch.utils.data.TensorDataset(x.repeat(reps, 1, 1, 1)[:n], y.repeat(reps)[:n]), kind


def fit_once(ctx: Context, data: Any, steps: int, energy: Any | None, epochs: int = 1) -> tuple[float, Any]:
    """Fit the small CNN (3 blocks of 3x3 convolutions) for ``steps`` optimizer steps over ``epochs``.

    Returns the median step time (s) and the trainer.
    """
    import lightning as L

    from examples.cifar10.model import PlainCnn

    torch.manual_seed(0)
    timer = StepTimer()
    batch, filters = ctx.plan.lightning_batch, ctx.plan.lightning_filters
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        accelerator="gpu" if ctx.device.type == "cuda" else "cpu",
        devices=[ctx.device.index or 0] if ctx.device.type == "cuda" else 1,
        max_epochs=epochs,
        limit_train_batches=steps // epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
        default_root_dir=str(ctx.out / "lightning"),
        callbacks=[timer.callback] + ([energy] if energy is not None else []),
    )
    trainer.fit(PlainCnn(filters=filters, depth=3, kernel_size=3, pool=True), loader)
    return timer.median_s(), trainer


def record_steps(energy: Any) -> dict[str, list[Any]]:
    """Wrap the callback's tracker to keep every training window's energy (a window covers the steps since
    the previous read: a log interval by default) and every epoch's total (J)."""
    seen: dict[str, list[Any]] = {"windows": [[]], "epochs": []}
    tracker = energy.tracker
    step, close, end_epoch = tracker.step, tracker.close, tracker.end_epoch

    def keep(name: str, m: Any) -> Any:
        if name == "train" and m is not None:
            seen["windows"][-1].append(m.energy_J)
        return m

    def on_end_epoch(name: str, *args: Any, **kwargs: Any) -> Any:
        totals = end_epoch(name, *args, **kwargs)
        if name == "train":
            seen["epochs"].append(totals.energy_J)
            seen["windows"].append([])
        return totals

    tracker.step = lambda name, *a, **k: keep(name, step(name, *a, **k))
    tracker.close = lambda name, *a, **k: keep(name, close(name, *a, **k))
    tracker.end_epoch = on_end_epoch
    return seen


def step_lightning(ctx: Context) -> dict[str, Any]:
    from ecopt_lightning import EnergyCallback

    plan = ctx.plan
    steps = plan.lightning_steps
    data, data_kind = fake_images(plan.lightning_batch * steps, seed=0)
    cpu: bool | Literal["estimate"] = False if ctx.device.type == "cuda" else "estimate"
    fit_once(ctx, data, min(steps, 30), None)  # warm-up: cuDNN algorithm choice, allocator, imports
    runs: dict[str, list[float]] = {"without": [], "with": [], "with_step_sync": []}
    for _ in range(plan.lightning_repeats):
        runs["without"].append(fit_once(ctx, data, steps, None)[0])
        runs["with"].append(fit_once(ctx, data, steps, EnergyCallback(cpu=cpu, proxies=False))[0])
        sync_every = EnergyCallback(cpu=cpu, proxies=False, cuda_sync="step")
        runs["with_step_sync"].append(fit_once(ctx, data, steps, sync_every)[0])
    ratio = statistics.median(runs["with"]) / statistics.median(runs["without"])
    # one more run, 2 epochs, with the inference benchmark: window sums against epoch totals, J per sample
    from ecopt_lightning import EnergyMonitor

    energy = EnergyCallback(
        cpu=cpu,
        inference_benchmark={"dataloader": torch.utils.data.DataLoader(data, batch_size=256), "max_batches": 10},
    )
    seen = record_steps(energy)
    with EnergyMonitor(gpus=[ctx.device.index or 0], cpu=cpu) as outside, outside.window("fit") as fit_window:
        _, trainer = fit_once(ctx, data, steps, energy, epochs=2)
    summary = energy.summary()
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("energy/", "efficiency/"))}
    epochs = [
        {"windows": len(s), "window_sum_J": sum(s), "epoch_J": e, "diff_pct": pct(sum(s), e)}
        for s, e in zip(seen["windows"], seen["epochs"], strict=False)  # an empty list follows the last epoch
    ]
    inference = summary.get("inference") or {}
    return {
        "data": data_kind,
        "steps_per_run": steps,
        "median_step_s": {k: statistics.median(v) for k, v in runs.items()},
        "runs_median_step_s": runs,
        "step_time_ratio": ratio,
        "step_time_ratio_step_sync": statistics.median(runs["with_step_sync"]) / statistics.median(runs["without"]),
        "goal_ratio": STEP_TIME_GOAL,
        "within_goal": ratio <= STEP_TIME_GOAL,
        "epochs": epochs,
        "callback_total_J": summary.get("total_J"),
        "outside_fit_window_J": fit_window.measurement.energy_J,  # Trainer set-up and teardown included
        "J_per_inference_sample": inference.get("per_sample_J"),
        "J_per_inference_sample_iqr": inference.get("iqr_J"),
        "inference_source": inference.get("source"),
        "sources": summary.get("sources"),
        "metrics": metrics,
    }


# step 7 ---------------------------------------------------------------------------------------------------
def step_textgen(ctx: Context) -> dict[str, Any]:
    from ecopt_lightning import EnergyMonitor
    from examples.textgen.energy import break_even, measure_j_per_token
    from examples.textgen.model import build_model

    plan = ctx.plan
    model = build_model(plan.textgen_preset, ctx.device)
    results = []
    with EnergyMonitor(gpus=[ctx.device.index or 0], cpu=False) as monitor, busy(ctx, 200.0):
        monitor.begin("tuning")
        for batch_size in plan.textgen_batches:
            results.append(
                measure_j_per_token(
                    model,
                    monitor,
                    batch_size=batch_size,
                    new_tokens=plan.textgen_new_tokens,
                    prompt_len=plan.textgen_prompt_len,
                    repeats=plan.textgen_repeats,
                )
            )
        tuning = monitor.end("tuning")
    verdict = break_even(results, tuning.energy_J, baseline_batch_size=plan.textgen_batches[0])
    out = {
        "preset": plan.textgen_preset,
        "n_params": model.n_params(),
        "dtype": str(next(model.parameters()).dtype),
        "results": [{k: v for k, v in r.to_dict().items() if k != "runs"} for r in results],
        "J_per_token": {str(r.batch_size): r.gpu_J_per_token for r in results},
        "break_even": verdict.to_dict(),
    }

    def draw(ax: Any) -> None:
        sizes = [r.batch_size for r in results]
        ax.loglog(sizes, [r.gpu_J_per_token for r in results], "o-")
        for r in results:
            ax.annotate(f"{r.tokens_per_s:.0f} tok/s", (r.batch_size, r.gpu_J_per_token), fontsize=8)
        ax.set_xlabel("batch size")
        ax.set_ylabel("GPU energy per generated token (J)")
        ax.set_title(f"textgen {plan.textgen_preset} ({model.n_params() / 1e6:.0f} M parameters), greedy, KV cache")

    out["plot"] = save_plot(ctx, "textgen_j_per_token.png", draw)
    return out


STEPS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "environment": step_environment,
    "idle": step_idle,
    "load": step_load,
    "telescoping": step_telescoping,
    "sync": step_sync,
    "lightning": step_lightning,
    "textgen": step_textgen,
}


# driver ---------------------------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """NaN and infinities as None, tuples as lists: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write(report: dict[str, Any], out: Path) -> None:
    tmp = out / f"{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False))
    tmp.replace(out / RESULT_FILE)


def run_step(name: str, fn: Callable[[Context], dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """Run one step; its result, or its error and traceback, with the time it took (s)."""
    t = time.perf_counter()
    try:
        entry: dict[str, Any] = {"status": "ok", "result": fn(ctx)}
    except Exception as exc:
        entry = {"status": "error", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    entry["seconds"] = time.perf_counter() - t
    return entry


def summary_line(name: str, entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return f"[{name}] ERROR {entry['error']}"
    r = entry["result"]
    text = {
        "environment": lambda: f"{r['nvml']['name'].get('value')} driver {r['nvml']['driver'].get('value')}",
        "idle": lambda: f"{r['counter_W']:.1f} W counter, polled {r['polled_vs_counter_pct']:+.2f} %",
        "load": lambda: f"{r['counter_W']:.0f} W, {r['tflops']:.1f} TFLOPS, polled {r['polled_vs_counter_pct']:+.2f} %",
        "telescoping": lambda: f"sum vs outer {r['inner_vs_outer_pct']:+.3f} %, {r['approximate_windows']} approximate",
        "sync": lambda: f"no-sync / sync energy {r['no_sync_over_sync']:.3f}",
        "lightning": lambda: f"step time ratio {r['step_time_ratio']:.3f}, {r['J_per_inference_sample']} J/sample",
        "textgen": lambda: "J/token " + ", ".join(f"bs{k}: {v:.4g}" for k, v in r["J_per_token"].items()),
    }[name]
    try:
        return f"[{name}] ok ({entry['seconds']:.1f} s): {text()}"
    except Exception:
        return f"[{name}] ok ({entry['seconds']:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    """Run every step (or ``--only`` some); write ``gpu_check.json`` and plots.

    Returns 0 when every step ran, 1 when some step failed, 2 when NVML could not be started at all.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--dry-run", action="store_true", help="CPU and the simulated GPU (automatic without CUDA)")
    parser.add_argument("--quick", action="store_true", help="shorter windows and fewer steps")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these steps")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    args = parser.parse_args(argv)

    dry = args.dry_run or not torch.cuda.is_available()
    mode = "dry" if dry else ("quick" if args.quick else "full")
    args.out.mkdir(parents=True, exist_ok=True)
    sim_gpu = install_simulated_gpu() if dry else None
    device = torch.device("cpu") if dry else torch.device("cuda", args.device)
    if not dry:
        torch.cuda.set_device(device)
    report: dict[str, Any] = {
        "check": "ecopt-lightning GPU validation (issue 8)",
        "mode": mode,
        "dry_run": dry,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "plan": asdict(Plan.make(mode)),
        "sections": {},
    }
    if dry:
        report["note"] = "DRY RUN: CPU and a simulated GPU; these numbers say nothing about real hardware."
    from ecopt_lightning.energy.nvml import find_gpus, load_nvml

    try:
        nvml = load_nvml()
        gpus, missing = find_gpus(nvml, [0 if dry else args.device])
        if not gpus:
            raise RuntimeError(f"no NVML device for {device}: {missing}")
    except Exception as exc:  # nothing can be measured: say why in the JSON, not only on stderr
        report["fatal"] = f"{type(exc).__name__}: {exc}"
        write(report, args.out)
        print(f"gpu_check: cannot start: {report['fatal']}", file=sys.stderr)
        return 2
    ctx = Context(args.out, Plan.make(mode), dry, device, nvml, gpus[0].handle, sim_gpu)
    print(f"gpu_check: mode {mode}, device {device}, output {args.out}", flush=True)
    for name in args.only or SECTIONS:
        entry = run_step(name, STEPS[name], ctx)
        report["sections"][name] = entry
        write(report, args.out)  # after every step: a crash later keeps what is done
        print(summary_line(name, entry), flush=True)
    report["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    report["failed"] = [n for n, e in report["sections"].items() if e["status"] != "ok"]
    write(report, args.out)
    print(f"gpu_check: wrote {args.out / RESULT_FILE}; failed steps: {report['failed'] or 'none'}")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
