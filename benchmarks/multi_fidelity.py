"""Tuning energy saved by multi-fidelity (successive halving over epochs) on the digits main job.

Per seed, two sweeps of the digits job (``examples/train.py``'s ``run``, config ``conf/train.yaml``), random
sampler with the same seed, ``--trials`` proposals each, ``--epochs`` epochs of full training: one plain, one with
``hydra.sweeper.multi_fidelity={min_epochs: 1, eta: --eta}``. The random sampler's proposals do not depend on
results, and a trial stopped at a rung counts towards ``n_trials``, so both sweeps see the same proposals in the
same order (paired design): the only difference is that dominated trials stop early.

Energy is the sweeper's own accounting (``energy/total_J`` of every trial, stopped ones included). Quality is
each trial's ``val_acc`` after its training, energy per inference sample its ``energy/inference_per_sample_J``;
stopped trials are not on the front (they add no hypervolume). Reference point: ``val_acc = 0`` and 1.1 x the
largest J per sample of both sweeps' complete trials (the ``box`` reference, the one the goal is read on).

The box reference saturates on this job: one model at 0.97 accuracy and a tenth of the largest J/sample covers
about 90% of the box, so "95% of the final hypervolume" reads "a decent model found", and a front point that
successive halving stopped barely shows in the final hypervolume. So the report also measures on the ``front``
reference (:func:`front_reference`: the nadir of both sweeps' joint front plus 10% of its range, the sweeper's
own convention applied to the front), which weighs the trade-off's own region, and names how many of the plain
sweep's front trials the multi-fidelity sweep stopped (the design is paired: the same proposals in the same
order).

Reported per seed: the energy each sweep spends before its front first reaches ``HV_FRACTION`` (95%) of the
PLAIN sweep's final hypervolume (``None``: never reached), their ratio, and the two final hypervolumes side by
side (a smaller cost bought with a worse front shows). Then median and IQR over seeds. Goal: the
multi-fidelity sweep needs at most a third of the energy.

Example:
    ``python benchmarks/multi_fidelity.py --quick``   (2 seeds, 6 proposals, 9 epochs)
    ``python benchmarks/multi_fidelity.py``           (5 seeds, 8 proposals, 9 epochs)
    ``python benchmarks/multi_fidelity.py --report benchmarks/results/multi_fidelity_27trials_81epochs_threads1.json``
    (print a saved run's report again)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mnist1d_job
from _sweep_runs import (  # sibling scripts
    Row,
    complete,
    energy_to_reach,
    hv_curve,
    run_sweep,
    trial_row,
    trials_to_reach,
    unmeasured,
)
from search import _quartiles  # median and IQR as the search benchmark takes them

from ecopt_lightning.sweeper._pareto import pareto_indices, reference_point
from ecopt_lightning.sweeper.successive_halving import KEEP_FRONT, NDS_HV, RANKS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPACE = (
    "model.width=choice(8,16,64,256,1024)",
    "model.depth=range(1,4)",
    "model.lr=tag(log, interval(0.0001, 0.03))",
)
#: the target: this fraction of the plain sweep's final hypervolume (J/sample of the same model varies by some
#: percent between measurements, which moves the hypervolume of an identical front)
HV_FRACTION = 0.95
GOAL_RATIO = 1 / 3
GOAL_KEY = "goal_at_most_a_third_of_the_energy"
#: the jobs the sweeps can run (``--job``): the main job on scikit-learn's digits, or its MLP on MNIST-1D
JOBS = ("digits", "mnist1d")
#: scales of the J/sample axis the hypervolume is measured on (:func:`on_scale`); ``linear`` is the reported one
LINEAR, LOG = "linear", "log"
ENERGY_SCALES = (LINEAR, LOG)
#: reference points of the hypervolume: :func:`reference` (the goal's) and :func:`front_reference`
BOX, FRONT = "box", "front"
REFERENCES = (BOX, FRONT)


def app() -> None:
    """The Hydra app: the digits main job, on MNIST-1D when ``$ECOPT_BENCH_MNIST1D`` names its data
    (``--job mnist1d``)."""
    import hydra
    from omegaconf import DictConfig

    sys.path.insert(0, str(ROOT / "examples"))
    import train
    from train import run

    if os.environ.get(mnist1d_job.DATA_ENV):
        mnist1d_job.use_in(train)

    @hydra.main(config_path="../conf", config_name="train", version_base="1.3")
    def main(cfg: DictConfig) -> dict[str, float]:
        return run(cfg)

    main()


def sweep(
    out: Path,
    mf: bool,
    n_trials: int,
    epochs: int,
    eta: int,
    seed: int,
    repeats: int = 3,
    rank: str = NDS_HV,
    threads: int = 0,
    keep_front: bool = KEEP_FRONT,
    space: Sequence[str] = SPACE,
    min_epochs: int = 1,
) -> list[Row]:
    """Run one sweep in a subprocess; its trials in order: state, energy (J), val_acc, J/sample, params."""
    sweep_dir = out / f"seed{seed}" / ("mf" if mf else "plain")
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.sampler=random",
        f"hydra.sweeper.seed={seed}",
        "hydra.sweeper.baseline=false",
        f"trainer.max_epochs={epochs}",
        f"energy.repeats={repeats}",
        *space,
    ]
    if mf:
        front = str(keep_front).lower()
        overrides.append(
            f"hydra.sweeper.multi_fidelity={{min_epochs: {min_epochs}, eta: {eta}, rank: {rank}, keep_front: {front}}}"
        )
    label = f"{'mf' if mf else 'plain'}, seed {seed}"
    runs = run_sweep(__file__, overrides, sweep_dir, "multi_fidelity", label, threads)
    return [trial_row(t, r) for t, r in runs]


def reference(*arms: Sequence[Row]) -> tuple[float, float]:
    """``(-val_acc, J/sample)`` reference point: accuracy 0, 1.1 x the largest J/sample of complete trials."""
    js = [r["j_per_sample"] for rows in arms for r in rows if r["state"] == "COMPLETE"]
    return (0.0, 1.1 * max(j for j in js if j is not None))


def _points(rows: Sequence[Row]) -> list[tuple[float, float]]:
    return [(-r["acc"], r["j_per_sample"]) for r in rows if complete(r)]


def front_reference(*arms: Sequence[Row]) -> tuple[float, float]:
    """``(-val_acc, J/sample)`` reference point at the nadir of the arms' joint front (complete trials) plus 10%
    of the front's range per objective (of the value's magnitude where the front is one point).

    Example:
        >>> rows = [{"state": "COMPLETE", "acc": a, "j_per_sample": j} for a, j in [(0.9, 1.0), (0.8, 0.5), (0.5, 3.0)]]
        >>> tuple(round(x, 3) for x in front_reference(rows))
        (-0.79, 1.05)
    """
    points = [p for rows in arms for p in _points(rows)]
    front = [points[i] for i in pareto_indices(points)]
    ref = reference_point(front)
    return (ref[0], ref[1])


def front_stopped(plain: Sequence[Row], mf: Sequence[Row]) -> tuple[int, int]:
    """``(stopped, front size)``: how many of the plain sweep's front trials (complete, non-dominated) the paired
    multi-fidelity sweep did not train to the end.

    Example:
        >>> c = lambda a, j: {"state": "COMPLETE", "acc": a, "j_per_sample": j}
        >>> front_stopped([c(0.9, 2.0), c(0.8, 1.0), c(0.7, 3.0)], [c(0.9, 2.0), {"state": "PRUNED"}, c(0.7, 3.0)])
        (1, 2)
    """
    done = [i for i, r in enumerate(plain) if complete(r)]
    front = [done[i] for i in pareto_indices(_points(plain))]
    return sum(mf[i]["state"] != "COMPLETE" for i in front), len(front)


def on_scale(rows: Sequence[Row], scale: str, floor: float) -> list[Row]:
    """``rows`` with J/sample as measured (``linear``) or as ``log10(J/sample / floor)`` (``log``: 0 at ``floor``,
    the most frugal model of both arms). On the log axis a model 10x more frugal gains the same at any size, and
    the hypervolume is the same whether energy is given per sample or as samples per joule (the paper's
    efficiency); on the linear axis J/sample spans 300x here, and the cheap models' differences vanish.

    Example:
        >>> [r["j_per_sample"] for r in on_scale([{"j_per_sample": 1e-5}, {"j_per_sample": None}], "log", 1e-6)]
        [1.0, None]
    """
    if scale not in ENERGY_SCALES:
        raise ValueError(f"energy scale {scale!r} is not allowed: one of {', '.join(ENERGY_SCALES)}")
    if scale == LINEAR:
        return list(rows)
    return [{**r, "j_per_sample": math.log10(r["j_per_sample"] / floor)} if r.get("j_per_sample") else r for r in rows]


def compare(plain: Sequence[Row], mf: Sequence[Row], scale: str = LINEAR, ref_kind: str = BOX) -> dict[str, Any]:
    """One seed: the target (95% of the plain sweep's final HV), energy to reach it, ratio, final HVs; the
    hypervolume on the J/sample axis of ``scale`` (:func:`on_scale`) from the reference ``ref_kind``
    (:data:`REFERENCES`)."""
    if ref_kind not in REFERENCES:
        raise ValueError(f"reference {ref_kind!r} is not allowed: one of {', '.join(REFERENCES)}")
    js = [r["j_per_sample"] for rows in (plain, mf) for r in rows if r["state"] == "COMPLETE" and r["j_per_sample"]]
    if js:
        plain, mf = on_scale(plain, scale, min(js)), on_scale(mf, scale, min(js))
    ref = reference(plain, mf) if ref_kind == BOX else front_reference(plain, mf)
    c_plain, c_mf = hv_curve(plain, ref), hv_curve(mf, ref)
    target = HV_FRACTION * c_plain[-1][1]
    e_plain, e_mf = energy_to_reach(c_plain, target), energy_to_reach(c_mf, target)
    ratio = None if not e_plain or e_mf is None or target <= 0 else e_mf / e_plain
    paired = [a["params"] for a in plain] == [b["params"] for b in mf]
    return {
        "reference": ref,
        "target_hv": target,
        "energy_to_target_J": {"plain": e_plain, "mf": e_mf},
        "ratio": ratio,
        "paired": paired,
        "total_J": {"plain": c_plain[-1][0], "mf": c_mf[-1][0]},  # measured trials only
        "unmeasured_trials": {"plain": unmeasured(plain), "mf": unmeasured(mf)},
        "final_hv": {"plain": c_plain[-1][1], "mf": c_mf[-1][1]},
        "n_stopped": sum(r["stopped_at_epoch"] is not None for r in mf),
        "curves": {"plain": c_plain, "mf": c_mf},
        "trials": {"plain": list(plain), "mf": list(mf)},
    }


def summarise(seeds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median and IQR over seeds of the energy ratio to the target (seeds where the multi-fidelity sweep never
    reached it are counted apart) and of the total-energy ratio."""
    ratios = [s["ratio"] for s in seeds if s["ratio"] is not None]
    totals = [s["total_J"]["mf"] / s["total_J"]["plain"] for s in seeds if s["total_J"]["plain"] > 0]
    hv = [s["final_hv"]["mf"] / s["final_hv"]["plain"] for s in seeds if s["final_hv"]["plain"] > 0]
    return {
        "energy_ratio_to_target_quartiles": _quartiles(ratios) if ratios else None,
        "seeds_target_not_reached_by_mf": sum(s["ratio"] is None for s in seeds),
        "total_energy_ratio_quartiles": _quartiles(totals) if totals else None,
        "final_hv_ratio_quartiles": _quartiles(hv) if hv else None,
        "unmeasured_trials": {arm: sum(s["unmeasured_trials"][arm] for s in seeds) for arm in ("plain", "mf")},
    }


def _q(q: Sequence[float] | None, pct: bool = True) -> str:
    if q is None:
        return "-"
    return f"{q[1]:.0%} [{q[0]:.0%}, {q[2]:.0%}]" if pct else f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]"


def _num(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.4g}"


def report(result: dict[str, Any]) -> str:
    """The Markdown report of a run's ``result`` (as written to ``multi_fidelity.json``)."""
    a, load, seeds, verdict = result["args"], result["load_average_1_5_15min"], result["seeds"], result[GOAL_KEY]
    summary = result["summary"]
    summary_log = result.get("summary_on_log_energy") or summarise(
        [compare(s["trials"]["plain"], s["trials"]["mf"], LOG) for s in seeds]
    )
    q = summary["energy_ratio_to_target_quartiles"]
    # the front reference and the front trials stopped are computed here from the saved trials, so that a run
    # saved before they existed reports them too
    fronts = {
        scale: [compare(s["trials"]["plain"], s["trials"]["mf"], scale, FRONT) for s in seeds]
        for scale in ENERGY_SCALES
    }
    lost = [front_stopped(s["trials"]["plain"], s["trials"]["mf"]) if s["paired"] else None for s in seeds]
    lines = [
        f"Job {a.get('job', JOBS[0])}: "  # a run saved before --job existed ran the digits job
        f"{a['seeds']} paired seeds (random sampler), {a['trials']} proposals per sweep, {a['epochs']} epochs of full "
        f"training, multi-fidelity min_epochs={a.get('min_epochs', 1)} eta={a['eta']} rank={a['rank']} "
        f"keep_front={a.get('keep_front', 'false')}, "  # a run saved before keep_front existed ranked top-only
        f"{a['jobs']} seed(s) at a time, "
        f"OMP_NUM_THREADS {a.get('threads', '0') if a.get('threads', '0') != '0' else 'unset'}; "
        f"{result['wall_s']:.0f} s on {result['cpus']} CPU(s), load average (1, 5, 15 min) "
        f"{' '.join(f'{x:.1f}' for x in load['start'])} at the start, "
        f"{' '.join(f'{x:.1f}' for x in load['end'])} at the end. Space: {a.get('space', list(SPACE))}.",
        "",
        f"| seed | plain: J total | mf: J total (stopped) | {HV_FRACTION:.0%} of plain's final HV | plain J to it | "
        "mf J to it | trials run to it, plain / mf | mf / plain | final HV plain | final HV mf | "
        "final HV mf / plain, front reference | plain's front trials mf stopped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s, front, stopped in zip(seeds, fronts[LINEAR], lost, strict=True):
        e = s["energy_to_target_J"]
        n = {arm: trials_to_reach(s["curves"][arm], s["target_hv"]) for arm in ("plain", "mf")}
        ratio = "-" if s["ratio"] is None else f"{s['ratio']:.0%}"
        lines.append(
            f"| {s['seed']} | {s['total_J']['plain']:.4g} | {s['total_J']['mf']:.4g} ({s['n_stopped']}) | "
            f"{s['target_hv']:.4g} | {_num(e['plain'])} | {_num(e['mf'])} | {n['plain'] or '-'} / {n['mf'] or '-'} | "
            f"{ratio} | "
            f"{s['final_hv']['plain']:.4g} | {s['final_hv']['mf']:.4g} | "
            f"{front['final_hv']['mf'] / front['final_hv']['plain']:.0%} | "
            f"{'unpaired' if stopped is None else f'{stopped[0]} of {stopped[1]}'} |"
        )
    on_front = {scale: summarise(fronts[scale]) for scale in ENERGY_SCALES}
    paired = [x for x in lost if x is not None]
    lines += [
        "",
        f"- energy to reach {HV_FRACTION:.0%} of the plain sweep's final hypervolume, mf / plain, median [IQR]: "
        f"{_q(q)} (seeds where mf never reached it: {summary['seeds_target_not_reached_by_mf']})",
        f"- whole sweep energy, mf / plain: {_q(summary['total_energy_ratio_quartiles'])}",
        f"- final hypervolume, mf / plain: {_q(summary['final_hv_ratio_quartiles'])}",
        "- trials without a measured energy, left out of the energy sums: "
        f"{summary.get('unmeasured_trials', 'not recorded')}",
        f"- the same on log10 J/sample, energy to {HV_FRACTION:.0%} of plain's final HV, mf / plain: "
        f"{_q(summary_log['energy_ratio_to_target_quartiles'])} (seeds where mf never reached it: "
        f"{summary_log['seeds_target_not_reached_by_mf']}); final HV, mf / plain: "
        f"{_q(summary_log['final_hv_ratio_quartiles'])}",
        f"- on the front reference (nadir of both sweeps' joint front + 10% of its range): energy to "
        f"{HV_FRACTION:.0%} of plain's final HV, mf / plain: "
        f"{_q(on_front[LINEAR]['energy_ratio_to_target_quartiles'])} (seeds where mf never reached it: "
        f"{on_front[LINEAR]['seeds_target_not_reached_by_mf']}); final HV, mf / "
        f"plain: {_q(on_front[LINEAR]['final_hv_ratio_quartiles'])}; on log10 J/sample: "
        f"{_q(on_front[LOG]['energy_ratio_to_target_quartiles'])} (never: "
        f"{on_front[LOG]['seeds_target_not_reached_by_mf']}), final HV {_q(on_front[LOG]['final_hv_ratio_quartiles'])}",
        f"- the plain sweep's front trials that the multi-fidelity sweep stopped: {sum(k for k, _ in paired)} of "
        f"{sum(n for _, n in paired)} (paired seeds: {len(paired)} of {len(seeds)})",
        f"- goal (at most a third of the energy, box reference): {verdict}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweeps; write ``multi_fidelity.json`` and ``multi_fidelity.md`` under ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, 6 proposals, 9 epochs")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed + 1, ...")
    ap.add_argument(
        "--space",
        nargs="+",
        default=list(SPACE),
        metavar="OVERRIDE",
        help="the search space as Hydra sweep overrides (default: %(default)s); parameters not named keep the "
        "config's (data.batch_size)",
    )
    ap.add_argument(
        "--job",
        choices=JOBS,
        default=JOBS[0],
        help="the data: scikit-learn's digits (the main job) or MNIST-1D (generated offline: mnist1d_job.py)",
    )
    ap.add_argument("--trials", type=int, default=8, help="proposals per sweep (stopped ones included)")
    ap.add_argument("--epochs", type=int, default=9, help="full training (epochs)")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--min-epochs", type=int, default=1, help="the first rung (epochs)")
    ap.add_argument(
        "--work",
        type=Path,
        default=ROOT / "multirun" / "multi_fidelity_bench",
        help="the sweeps' folders and studies (emptied at the start; multi_fidelity_replay.py reads them)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="seeds run at the same time")
    ap.add_argument("--repeats", type=int, default=3, help="inference benchmark repeats")
    ap.add_argument("--rank", choices=RANKS, default=NDS_HV, help="the promotion rule's tie-break inside a front")
    ap.add_argument(
        "--keep-front",
        choices=("true", "false"),
        default=str(KEEP_FRONT).lower(),
        help="a trial on the rung's non-dominated front goes on whatever its place (the sweeper's default)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS of every trial (0: torch's default); 1 keeps waiting threads from spinning, which the "
        "CPU estimate counts as work",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument(
        "--report",
        type=Path,
        help="run nothing: print the Markdown report of a saved results JSON again (for example after the report "
        "gained a column)",
    )
    args = ap.parse_args(argv)
    if args.report:
        if not args.report.is_file():
            ap.error(f"--report {args.report}: no such file; give a results JSON this script wrote")
        print(report(json.loads(args.report.read_text())))
        return 0
    if args.threads < 0:
        ap.error(f"--threads {args.threads}: give 0 (torch's default) or a positive thread count")
    if args.quick:
        args.seeds, args.trials, args.epochs = 2, 6, 9
    start, load_before = time.perf_counter(), os.getloadavg()
    work = args.work
    if work.exists():
        import shutil

        shutil.rmtree(work)
    os.environ.pop(mnist1d_job.DATA_ENV, None)
    if args.job == "mnist1d":  # generated once here; every trial's process loads the file
        os.environ[mnist1d_job.DATA_ENV] = str(mnist1d_job.generate(work / "mnist1d.npz"))

    def pair(seed: int) -> dict[str, Any]:
        plain = sweep(
            work, False, args.trials, args.epochs, args.eta, seed, args.repeats, threads=args.threads, space=args.space
        )
        keep_front = args.keep_front == "true"
        mf = sweep(
            work,
            True,
            args.trials,
            args.epochs,
            args.eta,
            seed,
            args.repeats,
            args.rank,
            args.threads,
            keep_front,
            args.space,
            args.min_epochs,
        )
        s = {"seed": seed, **compare(plain, mf)}
        s[LOG] = {k: v for k, v in compare(plain, mf, LOG).items() if k not in ("trials", "curves")}
        print(
            f"seed {seed}: total J plain {s['total_J']['plain']:.4g} mf {s['total_J']['mf']:.4g} "
            f"({s['n_stopped']} stopped); to {HV_FRACTION:.0%} of plain's HV: {s['energy_to_target_J']} "
            f"-> ratio {s['ratio']}; final HV {s['final_hv']}; unmeasured trials {s['unmeasured_trials']}",
            flush=True,
        )
        return s

    # seeds in parallel (each one's two sweeps in turn): the CPU estimate counts each process's own CPU time
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        seeds = list(pool.map(pair, range(args.first_seed, args.first_seed + args.seeds)))
    summary = summarise(seeds)
    summary_log = summarise([s[LOG] for s in seeds])
    q = summary["energy_ratio_to_target_quartiles"]
    verdict = (
        "MET" if q is not None and q[1] <= GOAL_RATIO and not summary["seeds_target_not_reached_by_mf"] else "NOT MET"
    )
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "wall_s": time.perf_counter() - start,
        "load_average_1_5_15min": {"start": load_before, "end": os.getloadavg()},
        "cpus": os.cpu_count(),
        GOAL_KEY: verdict,
        "summary": summary,
        "summary_on_log_energy": summary_log,
        "seeds": seeds,
    }
    tag = "_quick" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"multi_fidelity{tag}.json").write_text(json.dumps(result, indent=1))
    md = report(result)
    (args.out / f"multi_fidelity{tag}.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--app"]:
        sys.argv.pop(1)
        app()
    else:
        raise SystemExit(main())
