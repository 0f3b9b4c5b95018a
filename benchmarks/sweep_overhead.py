"""Per-trial cost of the sweeper itself: ``ecopt`` against the official hydra-optuna-sweeper, side by side.

The app is trivial (the official sweeper's own ``sphere.py`` and ``multi-objective.py`` examples), so what is
measured is the sweeper: composing configs, sampling, storage, artifacts. Each run is a whole
``python app.py --multirun`` process; the per-trial cost is ``(cost(N) - cost(2)) / (N - 2)``, which takes
out process start and import time. Wall time and CPU time (user + system of the child process) are measured;
runs alternate between the two sweepers so that both see the same machine load, and the ratio rows
(``ecopt / official``) take each run's ratio of the back-to-back pair, then their median.

- ``ecopt``: this checkout, its default SQLite storage in the sweep dir, ``hydra/sweeper=ecopt``;
- ``official``: hydra-optuna-sweeper 1.3.0 on Optuna 2.10 in ``benchmarks/.venv-official`` (made by
  ``benchmarks/run_all.sh``), its default in-memory storage, ``hydra/sweeper=optuna``.

With ``--official-sqlite``, also ``official+sqlite``: the official sweeper with a SQLite storage, as ours.
Both get the same command line otherwise (``hydra/sweeper/sampler=tpe``, seed 0, ``n_jobs=1``). The bytes the
N-trial ecopt sweep wrote (sweep dir and job dirs, apparent size, links not followed) are reported too.

Example:
    ``.venv/bin/python benchmarks/sweep_overhead.py --trials 60 --runs 3``
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLES = ROOT / "tests" / "compat_official" / "example"
OFFICIAL_PY = HERE / ".venv-official" / "bin" / "python"
APPS = {1: ("sphere.py", "conf"), 2: ("multi-objective.py", "multi-objective-conf")}


def make_app(dest: Path, objectives: int, sweeper: str) -> Path:
    """A copy of the official example app for ``objectives`` with ``hydra/sweeper: <sweeper>``."""
    script, conf = APPS[objectives]
    shutil.copy(EXAMPLES / script, dest / script)
    (dest / conf).mkdir()
    text = (EXAMPLES / conf / "config.yaml").read_text()
    (dest / conf / "config.yaml").write_text(text.replace("hydra/sweeper: ecopt", f"hydra/sweeper: {sweeper}"))
    return dest / script


def run_once(python: str, app: Path, sweep_dir: Path, n_trials: int, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole multirun process."""
    cmd = [
        python,
        str(app),
        "--multirun",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=tpe",
        "hydra.sweeper.sampler.seed=0",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the official venv must not see ours
    if python == sys.executable:
        env["PYTHONPATH"] = str(ROOT)
    env["HYDRA_FULL_ERROR"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=app.parent, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bytes_written(path: Path) -> int:
    """Apparent size of every regular file under ``path`` (links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60, help="trials of the long run (the short one has 2)")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per sweeper and size")
    parser.add_argument("--objectives", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument(
        "--official-sqlite", action="store_true", help="also the official sweeper with a SQLite storage, as ours"
    )
    args = parser.parse_args()
    if not OFFICIAL_PY.exists():
        raise SystemExit(f"{OFFICIAL_PY} is missing: run benchmarks/run_all.sh once (it makes the official venv)")
    sides = {"ecopt": (sys.executable, "ecopt"), "official": (str(OFFICIAL_PY), "optuna")}
    if args.official_sqlite:
        sides["official+sqlite"] = (str(OFFICIAL_PY), "optuna")
    print(f"sweep_overhead: {args.trials} vs 2 trials, {args.runs} alternating run(s), tpe seed 0, n_jobs=1")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"load average (1, 5, 15 min) at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| sweeper | objectives | per trial, wall (ms) | per trial, CPU (ms) | bytes written, N trials |")
    print("|---|---|---|---|---|")
    for objectives in args.objectives:
        with tempfile.TemporaryDirectory(prefix="ecopt-overhead-") as tmp:
            apps = {}
            for side, (_, word) in sides.items():
                (Path(tmp) / side).mkdir()
                apps[side] = make_app(Path(tmp) / side, objectives, word)
            per_trial: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
            written: dict[str, int] = {}
            for run in range(args.runs):
                for side, (python, _) in sides.items():
                    costs = {}
                    for n in (2, args.trials):
                        sweep_dir = Path(tmp) / f"{side}-{run}-{n}"
                        db = f"sqlite:///{sweep_dir.parent / sweep_dir.name}.db"  # outside: made before the dir
                        extra = [f"hydra.sweeper.storage={db}"] if "sqlite" in side else []
                        costs[n] = run_once(python, apps[side], sweep_dir, n, extra)
                        if n == args.trials:
                            written[side] = bytes_written(sweep_dir)
                        shutil.rmtree(sweep_dir, ignore_errors=True)
                    (wall_n, cpu_n), (wall_2, cpu_2) = costs[args.trials], costs[2]
                    per_trial[side].append(((wall_n - wall_2) / (args.trials - 2), (cpu_n - cpu_2) / (args.trials - 2)))
            for side in sides:
                wall = statistics.median(w for w, _ in per_trial[side]) * 1e3
                cpu = statistics.median(c for _, c in per_trial[side]) * 1e3
                print(f"| {side} | {objectives} | {wall:.0f} | {cpu:.0f} | {written[side] / 1e6:.2f} MB |", flush=True)
            for side in sides:
                if side != "ecopt":  # each run's ratio (the two ran back to back), then their median
                    pairs = list(zip(per_trial["ecopt"], per_trial[side], strict=True))
                    wall_ratio, cpu_ratio = (statistics.median(a[i] / b[i] for a, b in pairs) for i in (0, 1))
                    print(f"| ecopt / {side} | {objectives} | {wall_ratio:.2f} | {cpu_ratio:.2f} | |", flush=True)
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
