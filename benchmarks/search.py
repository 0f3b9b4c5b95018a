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

``--set categorical`` (issue 13) runs the categorical, integer and mixed problems of
:data:`problems.CATEGORICAL_SET` instead and reports the hypervolume ratio to the best attainable front (exact,
by enumeration) after ``--trials`` trials; ``--set failing`` runs the failing-region problem ``oom`` (its
optimum borders configurations that run out of memory) with and without the failure wrapper
(:mod:`ecopt_lightning.sweeper._failures`) and reports each sampler's failure share and whether the sweep
completes ``n_trials`` under the default ``max_failures`` (= ``n_trials``).

Example:
    ``python benchmarks/search.py --quick``   (3 seeds, 3 problems, 50 trials: ~3 min)
    ``python benchmarks/search.py``           (10 seeds, 8 problems: ~20 min)
    ``python benchmarks/search.py --set categorical --quick``   (3 seeds, 2 problems, 30 trials)
    ``python benchmarks/search.py --set categorical --seeds 10 --trials 50``
    ``python benchmarks/search.py --set failing --seeds 10 --trials 50``
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
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from problems import BENCHMARK_SET, CATEGORICAL_SET, PROBLEMS, SPACE_PROBLEMS  # noqa: E402

METHODS = ("auto", "tpe", "nsga2", "gp", "random")
CHECKPOINTS = (25, 50, 100, 200)
OFFICIAL_PY = HERE / ".venv-official" / "bin" / "python"
FLOOR = 1e-9  # regrets below this (numerically on the front) are shown at this value on log axes


def run_ours(problem: str, method: str, seed: int, n_trials: int) -> dict[str, Any]:
    """One study of ``n_trials`` trials with the sampler the sweeper would build for ``method``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import optuna
    import torch
    from optuna.distributions import BaseDistribution, FloatDistribution

    from ecopt_lightning.sweeper import _samplers

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    p = PROBLEMS[problem]
    space: dict[str, BaseDistribution] = {f"x{i:02d}": FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(p.bounds)}
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
    if argv is None:
        argv = sys.argv[1:]
    if "--set" in argv and argv[argv.index("--set") + 1] != "numeric":
        return main_spaces(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=["numeric"], default="numeric")
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
    runs: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        runs.setdefault(r["problem"], {}).setdefault(r["method"], []).append(r["seconds"])
    seconds = {p: {m: float(sorted(v)[len(v) // 2]) for m, v in ms.items()} for p, ms in runs.items()}
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


# ---- categorical / mixed spaces and the failing region (issue 13) ------------------------------------------------
#: sampler name of a GP whose proposals are mixed with other samplers' by trial number (:func:`build_space_sampler`)
SCHEDULED = "gp+"
#: GPSampler's start-up trials (Optuna's default), after which a scheduled sampler's mixing starts
GP_STARTUP = 10
#: ``independent_sampler`` value that :func:`build_space_sampler` replaces with a seeded BalancedStartSampler
BALANCED = "balanced_start"
#: sampler name of ParEGO on a single-objective GP (:func:`build_space_sampler`; benchmarks/parego_sampler.py)
PAREGO = "parego"
#: method -> (sampler name, sampler_kwargs); ``auto`` is resolved by the sweeper's own rules
SPACE_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "tpe": ("tpe", {}),
    "tpe_mv": ("tpe", {"multivariate": True, "group": True}),
    "nsga2": ("nsga2", {"population_size": 10}),
    "gp": ("gp", {}),
    # GP settings compared on tuning seeds (issue 13: nas6x5); not in the default method list
    "gp_s5": ("gp", {"n_startup_trials": 5}),
    "gp_s20": ("gp", {"n_startup_trials": 20}),
    "gp_det": ("gp", {"deterministic_objective": True}),
    # GP with every 3rd/5th proposal after its 10 start-up trials from multivariate TPE or random (issue 13:
    # exploration mixed into GP; benchmarks/scheduled_sampler.py); not in the default method list
    "gp_tpe3": (SCHEDULED, {"every": [("tpe", {"multivariate": True, "group": True}, 3)]}),
    "gp_tpe5": (SCHEDULED, {"every": [("tpe", {"multivariate": True, "group": True}, 5)]}),
    "gp_rand5": (SCHEDULED, {"every": [("random", {}, 5)]}),
    # GP whose start-up trials spread each parameter's levels evenly (benchmarks/balanced_start.py); tuning only
    "gp_bal": ("gp", {"independent_sampler": BALANCED}),
    # ParEGO: single-objective GP (Optuna's defaults, log EI) on a random augmented Chebyshev scalarisation per
    # proposal (benchmarks/parego_sampler.py); tuning only
    "gp_parego": (PAREGO, {}),
    # GP with every 5th proposal after its start-up trials from a single-objective GP on one objective alone,
    # cycling through the objectives (the front's ends; benchmarks/parego_sampler.py weights="cycle"); tuning only
    "gp_ext5": (SCHEDULED, {"every": [(PAREGO, {"weights": "cycle"}, 5)]}),
}
#: methods run when ``--methods`` is not given
DEFAULT_SPACE_METHODS = ("random", "tpe", "tpe_mv", "nsga2", "gp", "official", "auto")


def space_distributions(problem: str) -> dict[str, Any]:
    """Optuna distributions of a :class:`problems.SpaceProblem` (categorical choices are the level indices)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, kind, choices in SPACE_PROBLEMS[problem].params:
        if kind == "cat":
            out[name] = CategoricalDistribution([int(c) for c in choices])
        elif kind == "int":
            out[name] = IntDistribution(0, len(choices) - 1)
        else:
            out[name] = FloatDistribution(choices[0], choices[1], log=name == "lr")
    return out


def resolve_method(method: str, problem: str, n_trials: int) -> tuple[str, dict[str, Any], str]:
    """``(sampler, kwargs, reason)`` for a method; ``auto`` as the sweeper resolves it."""
    from ecopt_lightning.sweeper import _samplers

    if method != "auto":
        name, kwargs = SPACE_METHODS[method]
        return name, kwargs, "fixed"
    name, reason = _samplers.choose("auto", 2, space_distributions(problem), n_trials, custom_space=False)
    return name, _samplers.auto_kwargs(name, space_distributions(problem)), reason


def run_space(problem: str, method: str, seed: int, n_trials: int, wrapped: bool = True) -> dict[str, Any]:
    """One ask/tell study until ``n_trials`` trials completed or ``n_trials`` failed (the default
    ``max_failures``); a configuration that fails is told FAIL as the sweeper tells it."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import optuna
    import torch
    from optuna.trial import TrialState

    from ecopt_lightning.sweeper._schema import JOB_FAILED_ATTR

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    p = SPACE_PROBLEMS[problem]
    space = space_distributions(problem)
    name, kwargs, _why = resolve_method(method, problem, n_trials)
    sampler = build_space_sampler(name, kwargs, seed, wrapped)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    values: list[list[float]] = []
    failed = 0
    start = time.perf_counter()
    while len(values) < n_trials and failed < n_trials:
        trial = study.ask(space)
        out = p.evaluate(trial.params)
        if out is None:
            trial.set_user_attr(JOB_FAILED_ATTR, True)
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
        else:
            study.tell(trial, list(out))
            values.append(list(out))
    return {
        "problem": problem,
        "method": method,
        "wrapped": wrapped,
        "seed": seed,
        "chose": f"{name} {kwargs}" if kwargs else name,
        "seconds": time.perf_counter() - start,
        "failed": failed,
        "complete": len(values),
        "hv_ratio": hv_ratio(problem, values),
        "values": values,
    }


def build_space_sampler(name: str, kwargs: dict[str, Any], seed: int, wrapped: bool) -> Any:
    """The sweeper's sampler ``name`` (``_samplers.build``), or for :data:`SCHEDULED` a GP with Optuna's
    defaults that leaves every ``period``-th proposal after its start-up trials to another sampler (both read
    the same study), or for :data:`PAREGO` a GP with Optuna's defaults proposing on one scalarisation of the
    objectives per trial (also as a scheduled sampler's other); the failure wrapper (``wrapped``) goes around the
    whole."""
    from parego_sampler import ParEgoSampler
    from scheduled_sampler import ScheduledSampler

    from ecopt_lightning.sweeper import _failures, _samplers

    if kwargs.get("independent_sampler") == BALANCED:
        from balanced_start import BalancedStartSampler

        kwargs = {**kwargs, "independent_sampler": BalancedStartSampler(seed=seed)}
    if name not in (SCHEDULED, PAREGO):
        return _samplers.build(name, kwargs, seed, constrained=False, failures_infeasible=wrapped)

    def inner(n: str, k: dict[str, Any]) -> Any:
        if n == PAREGO:
            return ParEgoSampler(inner("gp", {}), seed=seed, **k)
        return _samplers.build(n, k, seed, constrained=False, failures_infeasible=False)

    if name == PAREGO:
        parego = inner(PAREGO, kwargs)
        return _failures.wrap(parego) if wrapped else parego
    gp = inner("gp", {})
    others = [(inner(n, k), period) for n, k, period in kwargs["every"]]
    sampler = ScheduledSampler(gp, others, start=GP_STARTUP)
    return _failures.wrap(sampler) if wrapped else sampler


def hv_ratio(problem: str, values: Sequence[Sequence[float]]) -> float:
    """Hypervolume of the found front over the best attainable front's, against the problem's reference."""
    from ecopt_lightning.sweeper._pareto import hypervolume

    p = SPACE_PROBLEMS[problem]
    return hypervolume([tuple(v) for v in values], p.reference) / p.best_hv


def run_official_spaces(problem: str, seeds: Sequence[int], n_trials: int) -> list[dict[str, Any]]:
    """The official sweeper's default sampler on a categorical/mixed problem (its runner, in its own venv)."""
    job = json.dumps({"set": "spaces", "problems": [problem], "seeds": list(seeds), "n_trials": n_trials})
    out = subprocess.run(
        [str(OFFICIAL_PY), str(HERE / "official" / "runner.py")], input=job, text=True, capture_output=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"official runner failed on {problem}: {out.stderr[-2000:]}")
    rows = json.loads(out.stdout)["rows"]
    return [{**r, "hv_ratio": hv_ratio(problem, r["values"])} for r in rows]


def _same_as_auto(problem: str, n_trials: int) -> str | None:
    """The fixed method whose sampler and settings ``auto`` resolves to on ``problem`` (its runs are ``auto``'s)."""
    name, kwargs, _ = resolve_method("auto", problem, n_trials)
    return next((m for m, nk in SPACE_METHODS.items() if nk == (name, kwargs)), None)


def _space_jobs(args: argparse.Namespace) -> list[tuple[str, str, int, int, bool]]:
    capped = [m for m in args.methods if m.startswith("gp")] if args.seeds > args.gp_seeds else []
    if capped:
        last = args.first_seed + args.gp_seeds - 1
        print(
            f"search.py: --gp-seeds {args.gp_seeds} caps {', '.join(capped)} at seeds {args.first_seed}-{last} "
            f"of {args.first_seed}-{args.first_seed + args.seeds - 1} (raise --gp-seeds to run them all)",
            file=sys.stderr,
        )
    jobs = []
    for problem in args.problems:
        for method in args.methods:
            if method == "official" or (method == "auto" and _same_as_auto(problem, args.trials) in args.methods):
                continue  # official: its own venv (run_official_spaces); auto: the same runs as that method's
            for wrapped in (True, False) if args.set == "failing" and method not in ("random", "auto") else (True,):
                n_seeds = args.seeds if not method.startswith("gp") else min(args.seeds, args.gp_seeds)
                for seed in range(args.first_seed, args.first_seed + n_seeds):
                    jobs.append((problem, method, seed, args.trials, wrapped))
    jobs.sort(key=lambda j: (j[1].startswith("gp"), j[2]))  # every cheap run first, then GP seed by seed
    return jobs


def space_markdown(rows: Sequence[dict[str, Any]], failing: bool) -> str:
    """Median [IQR] per problem x method (HV ratio; and failure share, completion for the failing set)."""
    groups: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["method"], r["wrapped"]), []).append(r)
    if failing:
        head = (
            "| problem | method | failure wrapper | seeds | failure share median [IQR] "
            "| sweeps that completed n_trials | HV ratio median [IQR] | s/run |"
        )
    else:
        head = "| problem | method | seeds | HV ratio median [IQR] | s/run (median) | chose |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (problem, method, wrapped), rs in groups.items():
        q1, med, q3 = _quartiles([r["hv_ratio"] for r in rs])
        secs = sorted(r["seconds"] for r in rs)[len(rs) // 2]
        hv = f"{med:.3f} [{q1:.3f}, {q3:.3f}]"
        if failing:
            f1, fm, f3 = _quartiles([r["failed"] / (r["failed"] + r["complete"]) for r in rs])
            done = sum(r["complete"] >= int(r.get("n_trials", r["complete"])) for r in rs)
            lines.append(
                f"| {problem} | {method} | {'yes' if wrapped else 'no'} | {len(rs)} | {fm:.0%} [{f1:.0%}, {f3:.0%}] "
                f"| {done}/{len(rs)} | {hv} | {secs:.1f} |"
            )
        else:
            lines.append(f"| {problem} | {method} | {len(rs)} | {hv} | {secs:.1f} | {rs[0]['chose']} |")
    return "\n".join(lines)


def method_order(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Methods in table order: :data:`SPACE_METHODS`, ``official``, ``auto``, then any other method the runs
    name (a variant measured and retired, whose code is in git history: benchmarks/README.md says where).

    Example:
        >>> method_order([{"method": "gp_old"}, {"method": "gp"}])[-3:]
        ['official', 'auto', 'gp_old']
    """
    known = [*SPACE_METHODS, "official", "auto"]
    return known + sorted({r["method"] for r in rows} - set(known))


def wide_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """HV ratio median [IQR] (seeds) per problem (rows) and method (columns): the categorical set at a glance."""
    methods = [m for m in method_order(rows) if any(r["method"] == m for r in rows)]
    lines = ["| problem | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
    for problem in dict.fromkeys(r["problem"] for r in rows):
        cells = []
        for m in methods:
            xs = [
                r["hv_ratio"]
                for r in rows
                if r["problem"] == problem and r["method"] == m and r["wrapped"] != (m == "official")
            ]
            q1, med, q3 = _quartiles(xs) if xs else (math.nan,) * 3
            cells.append(f"{med:.3f} [{q1:.3f}-{q3:.3f}] ({len(xs)})" if xs else "—")
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main_spaces(argv: Sequence[str]) -> int:
    """``--set categorical`` or ``--set failing``: write ``search_<set>.json`` and ``.md`` under ``--out``."""
    ap = argparse.ArgumentParser(description="categorical/mixed and failing-region search benchmarks")
    ap.add_argument("--set", choices=["categorical", "failing"], required=True)
    ap.add_argument("--quick", action="store_true", help="3 seeds, 2 problems, 30 trials, no GP")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--gp-seeds", type=int, default=10, help="at most this many seeds of each gp* method (slow)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--problems", nargs="+")
    ap.add_argument("--methods", nargs="+", default=list(DEFAULT_SPACE_METHODS))
    ap.add_argument("--append", action="store_true", help="add to the runs' .jsonl instead of starting it anew")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--table-only", action="store_true", help="rebuild the table from the runs' .jsonl")
    args = ap.parse_args(argv)
    if args.problems is None:
        args.problems = ["oom"] if args.set == "failing" else list(CATEGORICAL_SET)
    if args.quick:
        args.seeds, args.trials = 3, 30
        args.methods = [m for m in args.methods if m not in ("gp", "auto", "official")]  # GP: minutes a run
        if args.set == "categorical":
            args.problems = args.problems[:2]
    if "official" in args.methods and not OFFICIAL_PY.exists() and not args.table_only:
        ap.error(f"method official needs the official sweeper's venv ({OFFICIAL_PY}): run benchmarks/run_all.sh once")
    for problem in args.problems:
        try:
            SPACE_PROBLEMS[problem]
        except KeyError as exc:
            ap.error(f"problem {exc.args[0]}; known: {', '.join(dict.fromkeys([*CATEGORICAL_SET, *SPACE_PROBLEMS]))}")
    start = time.perf_counter()
    tag = f"_{args.set}" + ("_quick" if args.quick else "")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = args.out / f"search{tag}.jsonl"  # one line per finished run: a cut-short run keeps what it measured
    if args.table_only:
        rows = [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]
        for r in rows:  # against the problems as defined now
            r["hv_ratio"] = hv_ratio(r["problem"], r["values"])
    else:
        if not args.append:
            runs.write_text("")
        rows = []
        with ProcessPoolExecutor(args.workers) as pool:
            futures: list[Future[Any]] = [pool.submit(run_space, *job) for job in _space_jobs(args)]
            if "official" in args.methods:
                seeds = range(args.first_seed, args.first_seed + args.seeds)
                futures += [pool.submit(run_official_spaces, p, seeds, args.trials) for p in args.problems]
            for future in as_completed(futures):
                result = future.result()
                for row in result if isinstance(result, list) else [result]:
                    row = {**row, "n_trials": args.trials}
                    rows.append(row)
                    with runs.open("a") as f:
                        f.write(json.dumps(row) + "\n")
        if args.append:
            rows = [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]
    if "auto" in args.methods:  # auto resolving to a fixed method's sampler and settings: that method's runs
        for problem in args.problems:
            same = _same_as_auto(problem, args.trials)
            rows += [
                {**r, "method": "auto"}
                for r in rows
                if r["method"] == same and r["problem"] == problem and r["wrapped"]
            ]
    # one run per problem, method, wrapper and seed: the first recorded (an --append rerun may repeat one)
    rows = list({(r["problem"], r["method"], r["wrapped"], r["seed"]): r for r in reversed(rows)}.values())[::-1]
    order = method_order(rows)
    rows.sort(
        key=lambda r: (
            r["problem"],
            order.index(r["method"]),
            not r["wrapped"],
            r["seed"],
        )
    )
    table = space_markdown(rows, args.set == "failing")
    if args.set == "categorical":
        table += "\n\nHV ratio median [IQR] (seeds):\n\n" + wide_markdown(rows)
    wall = time.perf_counter() - start
    meta = {"args": {k: str(v) for k, v in vars(args).items()}, "wall_s": wall, "date": time.strftime("%F %T %Z")}
    (args.out / f"search{tag}.json").write_text(json.dumps(meta, indent=1))  # the runs: search<tag>.jsonl
    (args.out / f"search{tag}.md").write_text(table + "\n")
    print(table)
    print(f"wall time {wall:.0f} s; files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
