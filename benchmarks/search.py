"""Search efficiency: hypervolume regret of our sampler choices and of the official sweeper's default.

For each problem of :mod:`problems` (ZDT1-4, ZDT6, DTLZ2 with 2 and 3 objectives, WFG4, WFG9), each method
and each seed, run a sequential ask/tell study and record the hypervolume regret (true front's hypervolume
minus the found front's, both against the problem's fixed reference point) after 25, 50, 100 and 200 trials.
Our methods are built by the sweeper's own factory (:func:`ecopt_lightning.sweeper._samplers.choose` and
``build``); ``official`` is hydra-optuna-sweeper 1.3.0's default (TPE on Optuna 2.10), run by
``benchmarks/official/runner.py`` in ``benchmarks/.venv-official``. Hypervolumes use our exact
:func:`ecopt_lightning.sweeper._pareto.hypervolume`.

Budgets differ by cost (2-core CPU): GP takes ~20 s a 50-trial run (with greenlet; ~3x more without) and
~5 min a 200-trial run; Optuna 2.10's multi-objective TPE (official) ~30 s at 100 trials and over 5 min at
200; Optuna 5's TPE ~16 s at 200. Defaults: random and nsga2 200 trials, tpe 100, gp/auto and official 50
(the goal's checkpoint), so the full run fits the 30-minute ``run_all.sh``. Cells past a budget show "—".

Example:
    ``python benchmarks/search.py --quick``   (3 seeds, 3 problems, 50 trials: ~3 min)
    ``python benchmarks/search.py``           (10 seeds, 8 problems: ~20 min)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from problems import BENCHMARK_SET, PROBLEMS  # noqa: E402

METHODS = ("auto", "tpe", "nsga2", "gp", "random")
CHECKPOINTS = (25, 50, 100, 200)
OFFICIAL_PY = HERE / ".venv-official" / "bin" / "python"
FLOOR = 1e-9  # regrets below this (numerically on the front) are shown at this value on log axes


def run_ours(problem: str, method: str, seed: int, n_trials: int) -> dict[str, Any]:
    """One study of ``n_trials`` trials with the sampler the sweeper would build for ``method``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import optuna
    import torch
    from optuna.distributions import FloatDistribution

    from ecopt_lightning.sweeper import _samplers

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    p = PROBLEMS[problem]
    space = {f"x{i:02d}": FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(p.bounds)}
    name, _why = _samplers.choose(method, p.n_obj, space, n_trials, custom_space=False)
    sampler = _samplers.build(name, {}, seed, constrained=False)
    study = optuna.create_study(directions=["minimize"] * p.n_obj, sampler=sampler)
    values: list[list[float]] = []
    start = time.perf_counter()
    for _ in range(n_trials):
        trial = study.ask(space)
        f = list(p.evaluate([trial.params[k] for k in space]))
        study.tell(trial, f)
        values.append(f)
    seconds = time.perf_counter() - start
    return {"problem": problem, "method": method, "seed": seed, "values": values, "seconds": seconds, "chose": name}


def run_official(problems: Sequence[str], seeds: Sequence[int], n_trials: int) -> list[dict[str, Any]]:
    """The official sweeper's default sampler on ``problems`` x ``seeds`` (a subprocess in its own venv)."""
    job = json.dumps({"problems": list(problems), "seeds": list(seeds), "n_trials": n_trials})
    out = subprocess.run(
        [str(OFFICIAL_PY), str(HERE / "official" / "runner.py")], input=job, text=True, capture_output=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"official runner failed on {list(problems)}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)["rows"]


def regrets(problem: str, values: Sequence[Sequence[float]], checkpoints: Sequence[int]) -> dict[int, float]:
    """Hypervolume regret after each checkpoint's number of trials (only checkpoints the run reached)."""
    from ecopt_lightning.sweeper._pareto import hypervolume, pareto_indices

    p = PROBLEMS[problem]
    out = {}
    for n in checkpoints:
        if n <= len(values):
            pts = [tuple(v) for v in values[:n]]
            front = [pts[i] for i in pareto_indices(pts)]
            out[n] = max(p.true_hv - hypervolume(front, p.reference), 0.0)
    return out


def _quartiles(xs: Sequence[float]) -> tuple[float, float, float]:
    import numpy as np

    q1, med, q3 = np.percentile(np.asarray(xs, dtype=float), [25, 50, 75])
    return float(q1), float(med), float(q3)


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[int, tuple[float, float, float]]]]:
    """``{problem: {method: {n_trials: (q1, median, q3)}}}`` of the regrets over seeds."""
    table: dict[str, dict[str, dict[int, list[float]]]] = {}
    for r in rows:
        for n, reg in r["regret"].items():
            table.setdefault(r["problem"], {}).setdefault(r["method"], {}).setdefault(int(n), []).append(reg)
    return {p: {m: {n: _quartiles(v) for n, v in ns.items()} for m, ns in ms.items()} for p, ms in table.items()}


def goal_lines(summary: dict[str, Any], at: int = 50) -> list[str]:
    """Issue 7's goal per problem: auto's median regret at ``at`` trials <= half random's and <= official's."""
    lines, met_random, met_official, n = [], 0, 0, 0
    for problem, ms in summary.items():
        if at not in ms.get("auto", {}) or at not in ms.get("random", {}):
            continue
        n += 1
        auto, rnd = ms["auto"][at][1], ms["random"][at][1]
        off = ms.get("official", {}).get(at, (math.nan,) * 3)[1]
        ok_r = auto <= 0.5 * rnd
        ok_o = not math.isnan(off) and auto <= off
        met_random += ok_r
        met_official += ok_o
        lines.append(
            f"{problem}: auto {auto:.3g} vs random {rnd:.3g} ({'MET' if ok_r else 'NOT MET'}: <= half), "
            f"vs official {off:.3g} ({'MET' if ok_o else 'NOT MET'}: <= official)"
        )
    lines.append(f"at {at} trials: <= half of random on {met_random}/{n} problems; <= official on {met_official}/{n}")
    return lines


def markdown(summary: dict[str, Any], seconds: dict[str, dict[str, float]], methods: Sequence[str]) -> str:
    """Median [IQR] regret table, one row per problem x method, one column per checkpoint."""
    head = "| problem | method | " + " | ".join(f"{n} trials" for n in CHECKPOINTS) + " | s/run (median) |"
    lines = [head, "|" + "---|" * (len(CHECKPOINTS) + 3)]
    for problem, ms in summary.items():
        for m in methods:
            if m not in ms:
                continue
            cells = []
            for n in CHECKPOINTS:
                q = ms[m].get(n)
                cells.append("—" if q is None else f"{q[1]:.3g} [{q[0]:.2g}, {q[2]:.2g}]")
            lines.append(f"| {problem} | {m} | " + " | ".join(cells) + f" | {seconds[problem][m]:.2f} |")
    return "\n".join(lines)


def plot(summary: dict[str, Any], methods: Sequence[str], path: Path) -> None:
    """Median regret against trials (log y) with the IQR shaded, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(summary)
    cols = 3
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, problem in zip(axes.flat, problems, strict=False):
        for m in methods:
            data = summary[problem].get(m)
            if not data:
                continue
            ns = sorted(data)
            med = [max(data[n][1], FLOOR) for n in ns]
            ax.plot(ns, med, marker="o", label=m, linestyle="--" if m == "auto" else "-")
            ax.fill_between(ns, [max(data[n][0], FLOOR) for n in ns], [max(data[n][2], FLOOR) for n in ns], alpha=0.15)
        ax.set_yscale("log")
        ax.set_xscale("log", base=2)
        ax.set_xticks(CHECKPOINTS, [str(n) for n in CHECKPOINTS])
        ax.set_title(problem)
        ax.set_xlabel("trials")
        ax.set_ylabel("HV regret (objective units)")
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, write ``search.json``, ``search.md`` and ``search_regret.png`` under ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds, zdt1/dtlz2_2/wfg4, 50 trials")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", nargs="+", default=list(BENCHMARK_SET))
    ap.add_argument("--trials", type=int, default=200, help="budget of nsga2 and random")
    ap.add_argument("--tpe-trials", type=int, default=100, help="budget of tpe (~7 s a run at 100, ~16 s at 200)")
    ap.add_argument("--gp-trials", type=int, default=50, help="budget of gp and auto (~20 s a run at 50)")
    ap.add_argument("--official-trials", type=int, default=50, help="official TPE (~30 s a run at 100, >5 min at 200)")
    ap.add_argument("--methods", nargs="+", default=[*METHODS, "official"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.problems = 3, ["zdt1", "dtlz2_2", "wfg4"]
        args.trials = args.tpe_trials = args.gp_trials = args.official_trials = 50
    seeds = list(range(args.seeds))
    budget = {m: args.trials for m in args.methods}
    budget.update(gp=args.gp_trials, auto=args.gp_trials, tpe=args.tpe_trials, official=args.official_trials)
    jobs = [
        (p, m, s, budget[m])
        for m in args.methods
        if m not in ("official", "auto")
        for p in args.problems
        for s in seeds
    ]
    jobs.sort(key=lambda j: j[1] != "gp")  # the slow ones first
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_ours, *j) for j in jobs]
        official = []
        if "official" in args.methods:
            if not OFFICIAL_PY.exists():
                print(f"official sweeper venv missing ({OFFICIAL_PY}): run benchmarks/run_all.sh once", file=sys.stderr)
            else:
                official = [pool.submit(run_official, [p], seeds, budget["official"]) for p in args.problems]
        rows += [f.result() for f in futures]
        for f in official:
            rows += f.result()
    if "auto" in args.methods:  # auto resolves to one of our samplers: same factory, same seed, same runs
        for p in args.problems:
            for s in seeds:
                rows.append(_auto_row(p, s, budget["auto"], rows))
    for r in rows:
        r["regret"] = regrets(r["problem"], r["values"], CHECKPOINTS)
    summary = summarise(rows)
    seconds: dict[str, dict[str, float]] = {}
    for r in rows:
        seconds.setdefault(r["problem"], {}).setdefault(r["method"], []).append(r["seconds"])  # type: ignore[arg-type]
    seconds = {p: {m: float(sorted(v)[len(v) // 2]) for m, v in ms.items()} for p, ms in seconds.items()}  # type: ignore[union-attr]
    methods = [m for m in [*METHODS, "official"] if m in args.methods]
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "_quick" if args.quick else ""
    choices = {r["problem"]: r.get("chose") for r in rows if r["method"] == "auto"}
    goals = goal_lines(summary)
    (args.out / f"search{tag}.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "wall_s": time.perf_counter() - start,
                "auto_chose": choices,
                "summary": {
                    p: {m: {str(n): q for n, q in d.items()} for m, d in ms.items()} for p, ms in summary.items()
                },
                "seconds_per_run": seconds,
                "goals": goals,
                "runs": [{k: v for k, v in r.items() if k != "values"} for r in rows],
            },
            indent=1,
        )
    )
    table = markdown(summary, seconds, methods)
    (args.out / f"search{tag}.md").write_text(table + "\n\n" + "\n".join(f"- {g}" for g in goals) + "\n")
    plot(summary, methods, args.out / f"search_regret{tag}.png")
    print(table)
    print(f"auto chose: {choices}")
    print("\n".join(goals))
    print(f"wall time {time.perf_counter() - start:.0f} s; files in {args.out}")
    return 0


def _auto_row(problem: str, seed: int, n_trials: int, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution

    from ecopt_lightning.sweeper import _samplers

    p = PROBLEMS[problem]
    space = {f"x{i:02d}": FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(p.bounds)}
    name, _ = _samplers.choose("auto", p.n_obj, space, n_trials, custom_space=False)
    for r in rows:
        if r["problem"] == problem and r["method"] == name and r["seed"] == seed and len(r["values"]) >= n_trials:
            return {**r, "method": "auto", "chose": name, "values": r["values"][:n_trials]}
    return run_ours(problem, "auto", seed, n_trials)


if __name__ == "__main__":
    raise SystemExit(main())
