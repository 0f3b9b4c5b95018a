"""The ecopt sweeper's own bookkeeping time per trial (everything but the task), as a study grows.

Runs the real sweep loop (:class:`EcoptSweeperImpl`: ask, heartbeat, tell, dead-worker check, artifacts) with
a stand-in launcher whose task is trivial (or sleeps ``--task-s``), on SQLite and on PostgreSQL with 1 and 2
worker processes. Per trial it records the time between two launches minus the sampler's own time; it
prints the mean at trials 1-10, 91-100 and 991-1000 and their ratio (goal: trial 1000 <= 2x trial 10), the
sampler time apart, and the wall time of a fixed budget of 1 s trials with 1 and 2 workers (goal: 2 workers
<= 0.6x of 1). With ``--workers-table`` it measures one study shared by 1, 2, 4 and 8 worker processes of
trivial trials, on PostgreSQL directly and through Optuna's gRPC storage proxy: trials/s (COMPLETE trials over
the time from the first worker's start to the last one's end), trials over budget, trials asked in a race and
not run, and duplicate configurations.

Example:
    ``python benchmarks/sweep_scale.py --postgres "$(bash scripts/postgres.sh)" --trials 1000``
    ``python benchmarks/sweep_scale.py --trials 100``   # SQLite only, quick
    ``python benchmarks/sweep_scale.py --postgres "$(bash scripts/postgres.sh)" --workers-table --table-trials 48``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext
from omegaconf import OmegaConf
from typing_extensions import override

from ecopt_lightning.sweeper import _samplers
from ecopt_lightning.sweeper._sweeper import EcoptSweeperImpl

WINDOWS = ((1, 10), (91, 100), (991, 1000))


class TimedSampler(optuna.samplers.BaseSampler):
    """Delegates to a sampler and adds up the seconds spent in it."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, name: str, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            self.seconds += time.perf_counter() - start

    @override
    def infer_relative_search_space(self, study, trial):
        return self._timed("infer_relative_search_space", study, trial)

    @override
    def sample_relative(self, study, trial, search_space):
        return self._timed("sample_relative", study, trial, search_space)

    @override
    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._timed("sample_independent", study, trial, param_name, param_distribution)

    @override
    def before_trial(self, study, trial):
        return self._timed("before_trial", study, trial)

    @override
    def after_trial(self, study, trial, state, values):
        return self._timed("after_trial", study, trial, state, values)


class Launcher:
    """Runs the batch's jobs in this process (each sleeps ``task_s``); records when each launch starts/ends."""

    def __init__(self, task_s: float, sampler: list[TimedSampler]) -> None:
        self.task_s = task_s
        self.sampler = sampler
        self.marks: list[tuple[float, float, float]] = []  # (launch start, launch end, sampler s so far)

    def launch(self, batch, initial_job_idx):
        start = time.perf_counter()
        returns = []
        for overrides in batch:
            if self.task_s:
                time.sleep(self.task_s)
            width = float(overrides[0].split("=")[1])
            returns.append(
                JobReturn(
                    overrides=list(overrides),
                    status=JobStatus.COMPLETED,
                    _return_value={"val_acc": 1 - 1 / width, "energy/inference_per_sample_J": width * 1e-4},
                )
            )
        self.marks.append((start, time.perf_counter(), self.sampler[0].seconds if self.sampler else 0.0))
        return returns


def sweep(storage: str | None, n_trials: int, out: Path, study: str, seed: int, task_s: float) -> dict[str, Any]:
    """One worker: the real sweep loop; returns per-trial bookkeeping (s) and sampler time (s)."""
    timed: list[TimedSampler] = []
    build = _samplers.build

    def build_timed(*args: Any, **kwargs: Any) -> optuna.samplers.BaseSampler:
        timed.append(TimedSampler(build(*args, **kwargs)))
        return timed[-1]

    _samplers.build = build_timed
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raw = {
        "objectives": [
            {"name": "val_acc", "direction": "maximize"},
            {"name": "energy/inference_per_sample_J", "direction": "minimize"},
        ],
        "params": {"width": "interval(1.0, 1000.0)"},
        "sampler": "random",
        "seed": seed,
        "n_trials": n_trials,
        "storage": storage,
        "study_name": study,
        "baseline": False,
        "max_failures": n_trials,
    }
    impl = EcoptSweeperImpl(raw)
    impl.config = OmegaConf.create({"hydra": {"job": {"name": study}, "sweep": {"dir": str(out)}, "launcher": {}}})
    # the loop reads only config_loader.load_sweep_config from Hydra's context (set by setup(), skipped here)
    impl.hydra_context = cast(
        HydraContext, SimpleNamespace(config_loader=SimpleNamespace(load_sweep_config=lambda **kw: None))
    )
    impl.launcher = Launcher(task_s, timed)
    impl.sweep_dir = out
    started_at = time.time()
    start = time.perf_counter()
    impl.sweep([])
    wall = time.perf_counter() - start
    ended_at = time.time()
    marks = impl.launcher.marks
    # bookkeeping of trial k: from the end of launch k-1 to the start of launch k, sampler time taken out
    per_trial, sampler = [], []
    for prev, cur in itertools.pairwise([(0.0, start, 0.0), *marks]):
        sampler.append(cur[2] - prev[2])
        per_trial.append(cur[0] - prev[1] - sampler[-1])
    return {
        "per_trial_s": per_trial,
        "sampler_s": sampler,
        "wall_s": wall,
        "trials": len(marks),
        "started_at": started_at,
        "ended_at": ended_at,
    }


def windows(values: list[float]) -> dict[str, float]:
    out = {}
    for lo, hi in WINDOWS:
        part = values[lo - 1 : hi]
        if len(part) == hi - lo + 1:
            out[f"{lo}-{hi}"] = statistics.mean(part)
    return out


def run_workers(
    storage: str, n_workers: int, n_trials: int, task_s: float, study: str | None = None
) -> list[dict[str, Any]]:
    """``n_workers`` processes of this script on one study; returns each worker's result."""
    study = study or f"scale_{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="ecopt-scale-"))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                storage,
                study,
                str(root / f"w{i}"),
                str(i),
                str(n_trials),
                str(task_s),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(n_workers)
    ]
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def report(label: str, result: dict[str, Any]) -> dict[str, Any]:
    w, s = windows(result["per_trial_s"]), windows(result["sampler_s"])
    first, last = next(iter(w.values()), float("nan")), list(w.values())[-1] if w else float("nan")
    print(
        f"{label:<28} "
        + "  ".join(f"trials {k}: {v * 1e3:6.1f} ms" for k, v in w.items())
        + f"  | growth x{last / first:.2f}  | sampler "
        + "  ".join(f"{v * 1e3:.2f}" for v in s.values())
        + " ms"
    )
    return {
        "bookkeeping_ms": {k: v * 1e3 for k, v in w.items()},
        "sampler_ms": {k: v * 1e3 for k, v in s.items()},
        "growth": last / first,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_proxy(database: str) -> tuple[subprocess.Popen, str]:
    """Optuna's gRPC storage proxy in front of ``database``, ready; returns the process and its URL."""
    from ecopt_lightning.sweeper._storage import open_storage

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecopt_lightning.sweeper.grpc_proxy", "--storage", database, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": f"{Path(__file__).parents[1]}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )
    url = f"grpc://localhost:{port}"
    open_storage(url, heartbeat_interval_s=0).close()  # waits until it answers
    return proc, url


def shared_study_row(storage: str, read_url: str, n_workers: int, n_trials: int) -> dict[str, Any]:
    """One study, ``n_workers`` processes of trivial trials: trials/s, over budget, raced, duplicates."""
    from ecopt_lightning.sweeper._budget import OVER_BUDGET_ERROR
    from ecopt_lightning.sweeper._storage import open_storage

    study_name = f"table_{uuid.uuid4().hex[:8]}"
    results = run_workers(storage, n_workers, n_trials, 0.0, study=study_name)
    study = optuna.load_study(study_name=study_name, storage=open_storage(read_url, heartbeat_interval_s=0))
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    span = max(r["ended_at"] for r in results) - min(r["started_at"] for r in results)
    params = [tuple(sorted(t.params.items())) for t in complete]
    return {
        "workers": n_workers,
        "complete": len(complete),
        "trials_per_s": len(complete) / span,
        "over_budget": max(0, len(complete) - n_trials),
        "raced_not_run": sum(t.user_attrs.get("ecopt.error") == OVER_BUDGET_ERROR for t in trials),
        "duplicates": len(params) - len(set(params)),
        "other_states": len(trials)
        - len(complete)
        - sum(t.user_attrs.get("ecopt.error") == OVER_BUDGET_ERROR for t in trials),
    }


def workers_table(postgres: str, n_trials: int, counts: tuple[int, ...] = (1, 2, 4, 8)) -> dict[str, Any]:
    """The 1/2/4/8-worker table for PostgreSQL directly and through the gRPC proxy; printed as Markdown."""
    rows: dict[str, Any] = {}
    proxy, proxy_url = start_proxy(postgres)
    try:
        for label, url in (("PostgreSQL direct", postgres), ("gRPC proxy -> PostgreSQL", proxy_url)):
            rows[label] = [shared_study_row(url, postgres, n, n_trials) for n in counts]
    finally:
        proxy.terminate()
        proxy.wait()
    print(f"one study, {n_trials} trivial trials, n workers")
    print("| storage | workers | trials/s | over budget | asked in a race, not run | duplicate configs |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, table in rows.items():
        for r in table:
            print(
                f"| {label} | {r['workers']} | {r['trials_per_s']:.1f} | {r['over_budget']} | "
                f"{r['raced_not_run']} | {r['duplicates']} |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (scripts/postgres.sh prints one)")
    parser.add_argument("--budget", type=int, default=12, help="trials of --task-s seconds for the 1 vs 2 workers run")
    parser.add_argument("--task-s", type=float, default=1.0)
    parser.add_argument("--workers-table", action="store_true", help="only the 1/2/4/8-worker table (--postgres)")
    parser.add_argument("--table-trials", type=int, default=48, help="n_trials of each study in the workers table")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        storage, study, out, seed, n, task_s = args.worker
        result = sweep(storage, int(n), Path(out), study, int(seed), float(task_s))
        print(json.dumps(result))
        return 0
    if args.workers_table:
        if not args.postgres:
            parser.error("--workers-table needs --postgres URL (scripts/postgres.sh prints one)")
        print(json.dumps(workers_table(args.postgres, args.table_trials)))
        return 0

    results: dict[str, Any] = {}
    print(f"bookkeeping per trial (ms, everything but the task and the sampler), {args.trials} trivial trials")
    with tempfile.TemporaryDirectory() as tmp:
        r = sweep(None, args.trials, Path(tmp) / "sqlite", "scale", 0, 0.0)
        results["sqlite"] = report("SQLite, 1 worker", r)
    if args.postgres:
        (r,) = run_workers(args.postgres, 1, args.trials, 0.0)
        results["postgres_1"] = report("PostgreSQL, 1 worker", r)
        both = run_workers(args.postgres, 2, args.trials, 0.0)
        for i, r in enumerate(both):
            results[f"postgres_2_w{i}"] = report(f"PostgreSQL, 2 workers (w{i})", r)
        one = run_workers(args.postgres, 1, args.budget, args.task_s)
        two = run_workers(args.postgres, 2, args.budget, args.task_s)
        t1, t2 = one[0]["wall_s"], max(r["wall_s"] for r in two)
        print(
            f"{args.budget} trials of {args.task_s:g} s on PostgreSQL: 1 worker {t1:.2f} s, 2 workers {t2:.2f} s "
            f"-> ratio {t2 / t1:.2f} (goal <= 0.6)"
        )
        results["throughput"] = {"one_worker_s": t1, "two_workers_s": t2, "ratio": t2 / t1}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
