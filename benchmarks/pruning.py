"""Tuning energy saved by pruning before training, on the digits example with an inference-energy constraint.

Two sweeps of the digits main job (``examples/train.py``'s ``run``, same config ``conf/train.yaml``, wider
widths so that some architectures violate the constraint), same sampler and seed, with and without
``hydra.sweeper.prune_before_training``. With it, each job first measures the untrained model's inference
energy on 3 validation batches (:func:`ecopt_lightning.sweeper.pruning.check_before_training`) and is told
PRUNED before training when it violates the constraint. Reported: cumulative tuning energy (J, the sweep's
own measured energy: ``energy/total_J`` of trained trials + the checks' energy) at which each sweep first
reaches the same hypervolume (the smaller of the two final hypervolumes), reference point fixed at
``(val_acc = 0, energy/inference_per_sample_J = the constraint's bound)``.

Example:
    ``python benchmarks/pruning.py --quick``   (8 trained trials per sweep, 3 epochs: ~3 min)
    ``python benchmarks/pruning.py``           (16 trained trials per sweep, 8 epochs: ~8 min)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPACE = (
    "model.width=choice(16,64,256,1024,4096)",
    "model.depth=range(1,4)",
    "model.lr=tag(log, interval(0.0003, 0.03))",
)


def app() -> None:
    """The Hydra app: the digits job, preceded by the pruning check on the untrained model."""
    import hydra
    from omegaconf import DictConfig

    sys.path.insert(0, str(ROOT / "examples"))
    from digits import DigitsClassifier, DigitsDataModule
    from train import run

    from ecopt_lightning.sweeper.pruning import check_before_training

    @hydra.main(config_path="../conf", config_name="train", version_base="1.3")
    def main(cfg: DictConfig) -> dict[str, float]:
        data = DigitsDataModule(batch_size=cfg.data.batch_size, seed=cfg.seed)
        data.setup("fit")
        model = DigitsClassifier(width=cfg.model.width, depth=cfg.model.depth, lr=cfg.model.lr)
        check_before_training(model, data.val_dataloader())
        return run(cfg)

    main()


def sweep(out: Path, prune: bool, n_trials: int, epochs: int, bound: float, seed: int) -> list[dict[str, Any]]:
    """Run one sweep in a subprocess; return its trials (number, state, energy J, objectives)."""
    import optuna

    sweep_dir = out / ("pruned" if prune else "plain")
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--app",
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.sampler=tpe",
        f"hydra.sweeper.seed={seed}",
        "hydra.sweeper.baseline=false",
        f"hydra.sweeper.constraints=['energy/inference_per_sample_J <= {bound}']",
        f"hydra.sweeper.prune_before_training={str(prune).lower()}",
        f"trainer.max_epochs={epochs}",
        "data.batch_size=64",
        *SPACE,
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({'pruned' if prune else 'plain'}): {proc.stderr[-1500:]}")
    study = optuna.load_study(study_name="pruning", storage=f"sqlite:///{sweep_dir / 'ecopt.db'}")
    rows = []
    for t in sorted(study.trials, key=lambda t: t.number):
        energy = t.user_attrs.get("energy/total_J", t.user_attrs.get("ecopt.energy_J", 0.0))
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "energy_J": float(energy or 0.0),
                "acc": t.user_attrs.get("val_acc"),
                "j_per_sample": t.user_attrs.get("energy/inference_per_sample_J"),
                "params": dict(t.params),
            }
        )
    return rows


def hv_curve(rows: Sequence[dict[str, Any]], bound: float) -> list[tuple[float, float]]:
    """``(cumulative energy J, hypervolume of the feasible front)`` after each trial."""
    from ecopt_lightning.sweeper._pareto import hypervolume

    points, curve, spent = [], [], 0.0
    for r in rows:
        spent += r["energy_J"]
        if r["state"] == "COMPLETE" and r["j_per_sample"] is not None and r["j_per_sample"] <= bound:
            points.append((-r["acc"], r["j_per_sample"]))
        curve.append((spent, hypervolume(points, (0.0, bound)) if points else 0.0))
    return curve


def energy_to_reach(curve: Sequence[tuple[float, float]], target: float) -> float | None:
    """Cumulative energy (J) when the hypervolume first reaches ``target``."""
    return next((e for e, hv in curve if hv >= target * (1 - 1e-12)), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both sweeps and write ``pruning.json``, ``pruning.md``, ``pruning.png`` under ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--bound", type=float, default=0.002, help="J per sample (estimate meter, 2-core CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.quick:
        args.trials, args.epochs = 8, 3
    work = ROOT / "multirun" / "pruning_bench"  # git-ignored; sweep dirs and SQLite studies
    if work.exists():
        import shutil

        shutil.rmtree(work)
    plain = sweep(work, False, args.trials, args.epochs, args.bound, args.seed)
    pruned = sweep(work, True, args.trials, args.epochs, args.bound, args.seed)
    c_plain, c_pruned = hv_curve(plain, args.bound), hv_curve(pruned, args.bound)
    target = min(c_plain[-1][1], c_pruned[-1][1])
    e_plain, e_pruned = energy_to_reach(c_plain, target), energy_to_reach(c_pruned, target)
    saving = None if not e_plain or e_pruned is None else 1.0 - e_pruned / e_plain
    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "target_hv": target,
        "energy_to_target_J": {"plain": e_plain, "pruned": e_pruned},
        "saving": saving,
        "total_J": {"plain": c_plain[-1][0], "pruned": c_pruned[-1][0]},
        "final_hv": {"plain": c_plain[-1][1], "pruned": c_pruned[-1][1]},
        "states": {"plain": [r["state"] for r in plain], "pruned": [r["state"] for r in pruned]},
        "trials": {"plain": plain, "pruned": pruned},
    }
    tag = "_quick" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"pruning{tag}.json").write_text(json.dumps(result, indent=1))
    verdict = "MET" if saving is not None and saving >= 0.3 else "NOT MET"
    md = "\n".join(
        [
            f"| sweep | trials (pruned) | total J | final HV | J to reach HV {target:.4g} |",
            "|---|---|---|---|---|",
            f"| without pruning | {len(plain)} (0) | {c_plain[-1][0]:.4g} | {c_plain[-1][1]:.4g} | {e_plain} |",
            f"| prune_before_training | {len(pruned)} ({sum(r['state'] == 'PRUNED' for r in pruned)}) | "
            f"{c_pruned[-1][0]:.4g} | {c_pruned[-1][1]:.4g} | {e_pruned} |",
            "",
            f"- energy saved to reach the same hypervolume: {saving if saving is None else f'{saving:.0%}'} "
            f"(goal >= 30%: {verdict})",
        ]
    )
    (args.out / f"pruning{tag}.md").write_text(md + "\n")
    _plot(c_plain, c_pruned, target, args.out / f"pruning{tag}.png")
    print(md)
    return 0


def _plot(
    c_plain: Sequence[tuple[float, float]], c_pruned: Sequence[tuple[float, float]], target: float, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for curve, label in ((c_plain, "without pruning"), (c_pruned, "prune_before_training")):
        ax.step([e for e, _ in curve], [h for _, h in curve], where="post", label=label, marker=".")
    ax.axhline(target, color="grey", linestyle=":", label="same hypervolume")
    ax.set_xlabel("cumulative tuning energy (J)")
    ax.set_ylabel("hypervolume (val_acc x J/sample)")
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
