"""Tuning energy saved by pruning before training, on the digits example with an inference-energy constraint.

Per seed, two sweeps of the digits main job (``examples/train.py``'s ``run``, same config ``conf/train.yaml``,
wider widths so that some architectures violate the constraint), same sampler and seed, with and without
``hydra.sweeper.prune_before_training``. With it, each job first measures the untrained model's inference
energy on 3 validation batches (:func:`ecopt_lightning.sweeper.pruning.check_before_training`) and is told
PRUNED before training when it violates the constraint. Both sweeps train ``--trials`` models (pruned trials do
not count). Energy is the sweeper's own accounting (``trials.csv``'s ``energy_J``: ``energy/total_J`` of trained
trials plus their check, the check alone for pruned ones).

Two designs:

- ``random`` (paired, the default): the random sampler proposes the same architectures in the same order in
  both sweeps (its proposals do not depend on results), so the only difference is pruning; this isolates its
  effect. It is also what TPE (``auto``'s pick for this space) does in sweeps this short: its first 10 trials
  are random start-up trials (Optuna's ``n_startup_trials=10``).
- ``tpe`` (``--tpe-seeds``, end to end): pruned trials change what TPE proposes next, so the two sweeps diverge
  and luck (which sweep meets a good small model first) adds to the difference.

The constraint's bound (J per sample) is calibrated on the machine that runs the benchmark, since J per sample
depends on the meter and the hardware: every architecture of the space is measured untrained as the check
measures it, and the bound is the geometric mean of the cheapest and the dearest (halfway on a log scale).

Reported per seed: the energy at which each sweep first reaches the same hypervolume (the smaller of the two
final hypervolumes; reference point ``(val_acc = 0, J/sample = bound)``), and the saving; then the median over
seeds.

Example:
    ``python benchmarks/pruning.py --quick``   (2 paired seeds, 6 trained trials per sweep, 2 epochs)
    ``python benchmarks/pruning.py``           (5 paired seeds, 10 trained trials per sweep, 2 epochs)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _sweep_runs import Row, energy_to_reach, hv_curve, run_sweep, trial_row, unmeasured  # sibling scripts
from search import _quartiles  # median and IQR as the search benchmark takes them

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPACE = (
    "model.width=choice(16,64,256,1024,4096)",
    "model.depth=range(1,3)",
    "model.lr=tag(log, interval(0.0003, 0.03))",
)


def app() -> None:
    """The Hydra app: the digits main job (whose ``run`` calls the pruning check before training)."""
    import hydra
    from omegaconf import DictConfig

    sys.path.insert(0, str(ROOT / "examples"))
    from train import run

    @hydra.main(config_path="../conf", config_name="train", version_base="1.3")
    def main(cfg: DictConfig) -> dict[str, float]:
        return run(cfg)

    main()


WIDTHS, DEPTHS = (16, 64, 256, 1024, 4096), (1, 2, 3)


def calibrate_bound() -> tuple[float, dict[str, float]]:
    """``(bound, per-architecture J/sample)``: each untrained architecture measured as the check does
    (median of 3), bound = geometric mean of the cheapest and the dearest."""
    import warnings

    sys.path.insert(0, str(ROOT / "examples"))
    from digits import DigitsClassifier, DigitsDataModule

    from ecopt_lightning import measure_inference
    from ecopt_lightning.sweeper.pruning import CHECK_MAX_BATCHES, CHECK_REPEATS, CHECK_WARMUP_BATCHES

    warnings.simplefilter("ignore")
    data = DigitsDataModule(batch_size=64, seed=0)
    data.setup("fit")
    loader = data.val_dataloader()
    measured = {}
    for w in WIDTHS:
        for d in DEPTHS:
            model = DigitsClassifier(width=w, depth=d, lr=1e-3)
            runs = [
                measure_inference(
                    model,
                    loader,
                    warmup_batches=CHECK_WARMUP_BATCHES,
                    repeats=CHECK_REPEATS,
                    max_batches=CHECK_MAX_BATCHES,
                ).per_sample_J
                for _ in range(3)
            ]
            measured[f"{w}x{d}"] = statistics.median(runs)
    bound = math.sqrt(min(measured.values()) * max(measured.values()))
    return float(f"{bound:.3g}"), measured


def sweep(
    out: Path, prune: bool, n_trials: int, epochs: int, bound: float, seed: int, sampler: str = "tpe"
) -> list[Row]:
    """Run one sweep in a subprocess; return its trials in order (state, energy J, val_acc, J/sample)."""
    sweep_dir = out / f"{sampler}_seed{seed}" / ("pruned" if prune else "plain")
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.sampler={sampler}",
        f"hydra.sweeper.seed={seed}",
        "hydra.sweeper.baseline=false",
        f"hydra.sweeper.constraints=['energy/inference_per_sample_J <= {bound}']",
        f"hydra.sweeper.prune_before_training={str(prune).lower()}",
        f"trainer.max_epochs={epochs}",
        "data.batch_size=64",
        *SPACE,
    ]
    label = f"{'pruned' if prune else 'plain'}, seed {seed}"
    return [trial_row(t, r) for t, r in run_sweep(__file__, overrides, sweep_dir, "pruning", label)]


#: The common target: this fraction of the smaller final hypervolume. J/sample of small models varies by some
#: percent between measurements, which moves the hypervolume of the same model; without the margin, whichever
#: sweep happened to measure its first good model a little cheaper "reaches" the other's final value at once.
HV_FRACTION = 0.95


def compare(plain: Sequence[Row], pruned: Sequence[Row], bound: float) -> dict[str, Any]:
    """One seed's comparison: curves, the common target hypervolume, energy to reach it, saving; and, when
    both sweeps proposed the same architectures in the same order (paired design), the energy each spent on
    the plain sweep's proposals, which give both the same front by construction."""
    c_plain, c_pruned = hv_curve(plain, (0.0, bound)), hv_curve(pruned, (0.0, bound))
    target = HV_FRACTION * min(c_plain[-1][1], c_pruned[-1][1])
    e_plain, e_pruned = energy_to_reach(c_plain, target), energy_to_reach(c_pruned, target)
    saving = None if not e_plain or e_pruned is None or target <= 0 else 1.0 - e_pruned / e_plain
    n = len(plain)
    paired = len(pruned) >= n and all(
        a.get("params") == b.get("params") for a, b in zip(plain, pruned[:n], strict=True)
    )
    same_front = same_front_hv = None
    if paired and c_plain[-1][0] > 0:
        same_front = 1.0 - c_pruned[n - 1][0] / c_plain[-1][0]
        # equal unless a check pruned a model that measures feasible once trained (a borderline architecture)
        same_front_hv = c_pruned[n - 1][1] / c_plain[-1][1] if c_plain[-1][1] > 0 else None
    return {
        "target_hv": target,
        "energy_to_target_J": {"plain": e_plain, "pruned": e_pruned},
        "saving": saving,
        "paired": paired,
        "saving_same_proposals": same_front,
        "hv_ratio_same_proposals": same_front_hv,
        "total_J": {"plain": c_plain[-1][0], "pruned": c_pruned[-1][0]},  # measured trials only
        "unmeasured_trials": {"plain": unmeasured(plain), "pruned": unmeasured(pruned)},
        "final_hv": {"plain": c_plain[-1][1], "pruned": c_pruned[-1][1]},
        "n_pruned": sum(r["state"] == "PRUNED" for r in pruned),
        "infeasible_trained": sum(r["state"] == "COMPLETE" and (r["j_per_sample"] or 0.0) > bound for r in plain),
        "curves": {"plain": c_plain, "pruned": c_pruned},
        "trials": {"plain": list(plain), "pruned": list(pruned)},
    }


def summarise(seeds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median and IQR over seeds: saving to the same hypervolume, on the same proposals (paired seeds only),
    and for the same number of trained trials."""
    savings = [s["saving"] for s in seeds if s["saving"] is not None]
    same = [s["saving_same_proposals"] for s in seeds if s.get("saving_same_proposals") is not None]
    totals = [1.0 - s["total_J"]["pruned"] / s["total_J"]["plain"] for s in seeds if s["total_J"]["plain"] > 0]
    return {
        "saving_to_same_hv_quartiles": _quartiles(savings) if savings else None,
        "saving_same_proposals_quartiles": _quartiles(same) if same else None,
        "saving_same_trained_trials_quartiles": _quartiles(totals) if totals else None,
        "unmeasured_trials": {arm: sum(s["unmeasured_trials"][arm] for s in seeds) for arm in ("plain", "pruned")},
    }


def _pct(q: Sequence[float] | None) -> str:
    return "-" if q is None else f"{q[1]:.0%} [{q[0]:.0%}, {q[2]:.0%}]"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweeps and write ``pruning.json``, ``pruning.md``, ``pruning.png`` under ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 paired seeds, 6 trained trials, 2 epochs")
    ap.add_argument("--seeds", type=int, default=5, help="seeds of the paired (random sampler) design")
    ap.add_argument("--tpe-seeds", type=int, default=0, help="seeds of the TPE design")
    ap.add_argument("--trials", type=int, default=10, help="trained trials per sweep")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--bound", type=float, default=None, help="J per sample (default: calibrated here)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.tpe_seeds, args.trials, args.epochs = 2, 0, 6, 2
    start = time.perf_counter()
    measured: dict[str, float] = {}
    if args.bound is None:
        args.bound, measured = calibrate_bound()
    infeasible = sorted(k for k, v in measured.items() if v > args.bound)
    print(f"bound {args.bound} J/sample; infeasible untrained: {infeasible or 'not calibrated'}", flush=True)
    work = ROOT / "multirun" / "pruning_bench"  # git-ignored; sweep dirs and SQLite studies
    if work.exists():
        import shutil

        shutil.rmtree(work)
    designs: dict[str, list[dict[str, Any]]] = {}
    for sampler, n_seeds in (("random", args.seeds), ("tpe", args.tpe_seeds)):
        designs[sampler] = []
        for seed in range(n_seeds):
            plain = sweep(work, False, args.trials, args.epochs, args.bound, seed, sampler)
            pruned = sweep(work, True, args.trials, args.epochs, args.bound, seed, sampler)
            s = {"seed": seed, **compare(plain, pruned, args.bound)}
            designs[sampler].append(s)
            print(
                f"{sampler} seed {seed}: total J plain {s['total_J']['plain']:.4g} pruned {s['total_J']['pruned']:.4g}"
                f"; to HV {s['target_hv']:.4g}: {s['energy_to_target_J']} -> saving {s['saving']}; "
                f"unmeasured trials {s['unmeasured_trials']}",
                flush=True,
            )
    summaries = {d: summarise(seeds) for d, seeds in designs.items() if seeds}
    primary = summaries.get("random", {}).get("saving_same_proposals_quartiles")
    verdict = "MET" if primary is not None and primary[1] >= 0.3 else "NOT MET"
    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "wall_s": time.perf_counter() - start,
        "bound_J_per_sample": args.bound,
        "untrained_J_per_sample": measured,
        "infeasible_architectures": infeasible,
        "goal_30pct_less_energy_same_front_paired": verdict,
        "summary": summaries,
        "designs": designs,
    }
    tag = "_quick" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"pruning{tag}.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"Bound {args.bound:.3g} J/sample (architectures over it untrained: {', '.join(infeasible) or '-'}); "
        f"sweeps of {args.trials} trained trials, {args.epochs} epochs; {result['wall_s']:.0f} s.",
        "",
        "| design | seed | plain: J total (infeasible trained) | pruned: J total (pruned) | pruned J on plain's "
        f"proposals (saving) | {HV_FRACTION:.0%} of common HV | plain J to it | pruned J to it | saving |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for design, seeds in designs.items():
        for s in seeds:
            e = s["energy_to_target_J"]
            saving = "-" if s["saving"] is None else f"{s['saving']:.0%}"
            same = s["saving_same_proposals"]
            on_plain = "-" if same is None else f"{s['total_J']['plain'] * (1 - same):.4g} ({same:.0%})"
            lines.append(
                f"| {design} | {s['seed']} | {s['total_J']['plain']:.4g} ({s['infeasible_trained']}) | "
                f"{s['total_J']['pruned']:.4g} ({s['n_pruned']}) | {on_plain} | {s['target_hv']:.4g} | "
                f"{_num(e['plain'])} | {_num(e['pruned'])} | {saving} |"
            )
    lines.append("")
    for design, q in summaries.items():
        same = q["saving_same_proposals_quartiles"]
        lines.append(
            f"- {design}: energy saved, median [IQR] over seeds: "
            + (f"for the same front (same proposals) {_pct(same)}; " if same else "")
            + f"to reach {HV_FRACTION:.0%} of the common hypervolume {_pct(q['saving_to_same_hv_quartiles'])}; "
            f"for the same number of trained trials {_pct(q['saving_same_trained_trials_quartiles'])}; "
            f"trials without a measured energy, left out of the energy sums: {q['unmeasured_trials']}"
        )
    lines.append(f"- goal (>= 30% less energy for the same front; paired design, same proposals): {verdict}")
    md = "\n".join(lines)
    (args.out / f"pruning{tag}.md").write_text(md + "\n")
    _plot(designs, args.out / f"pruning{tag}.png")
    print(md)
    return 0


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _plot(designs: Mapping[str, Sequence[Row]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {d: seeds for d, seeds in designs.items() if seeds}
    fig, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 3.8), squeeze=False)
    colors = {"plain": "tab:blue", "pruned": "tab:orange"}
    labels = {"plain": "without pruning", "pruned": "prune_before_training"}
    for ax, (design, seeds) in zip(axes[0], shown.items(), strict=True):
        for i, s in enumerate(seeds):
            for arm in ("plain", "pruned"):
                curve = s["curves"][arm]
                ax.step(
                    [e for e, _ in curve],
                    [h for _, h in curve],
                    where="post",
                    color=colors[arm],
                    alpha=0.75,
                    lw=1.2,
                    label=labels[arm] if i == 0 else None,
                )
                e = s["energy_to_target_J"][arm]
                if e is not None:
                    ax.plot([e], [s["target_hv"]], "o", color=colors[arm], ms=4)
        ax.set_xscale("log")
        ax.set_xlabel("cumulative tuning energy (J, log)")
        ax.set_ylabel("hypervolume (val_acc x J/sample)")
        ax.set_title(f"{design} sampler: one line per seed; dots: the same HV first reached", fontsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--app"]:
        sys.argv.pop(1)
        app()
    else:
        raise SystemExit(main())
