"""Replay the promotion rule on the plain sweeps of ``benchmarks/multi_fidelity.py``: what each ranking rule
(``nds_hv``, ``nds_crowding``) would have stopped, from the measured per-epoch values, at no extra training.

Reads ``multirun/multi_fidelity_bench/seed*/plain`` (left by the benchmark): per trial, in order, its
per-epoch ``val_acc``, ``energy/train_epoch_J`` and ``energy/val_epoch_J`` (TensorBoard events in its job
folder), its final J per inference sample and its total energy. Each trial is ranked at each rung, in trial
order, among the trials the replay let reach that rung, by
:func:`ecopt_lightning.sweeper.successive_halving.decide`: values ``(val_acc at the rung's epoch, final
J/sample)`` (J/sample depends on the architecture, not on training progress). A trial stopped after epoch ``e``
costs its measured total minus the measured train and validation energy of the epochs after ``e``.

This is a SIMULATION from measured values, not a measurement of a multi-fidelity sweep: the benchmark's own
``mf`` arm is that measurement, and the replay of ``nds_hv`` is set beside it to show how far the two agree
(the real arm measured J/sample again at the first rung, with its own noise). Its use: the two ranking rules on
the same trials, and larger ``eta`` or fewer rungs, without training again.

``--orders K`` replays each seed's trials in ``K`` random orders as well (fixed RNG seeds). A random sampler's
proposals are independent draws, so every order of them is as likely as the recorded one, and the energy to the
target depends much on how early the order happens to bring a front-defining model. Per seed the mean energy to
the target over the orders is compared (orders where the multi-fidelity replay never reaches it are counted
apart): the expected cost, not one order's luck.

``--pool N`` (with ``--orders K``) instead replays ``K`` sweeps of ``N`` trials, each drawn without replacement from
all seeds' plain trials together (the seeds' proposals are draws from the same space, so the pool is a larger
sample of it) and put in a random order. ``--energy-scale log`` measures the hypervolume on log10 J/sample
(:func:`multi_fidelity.on_scale`); ``--rank-energy-scale linear`` replays the rule as it was before 2026-11-28
(its tie-break on J/sample; the sweeper's is on log10 J/sample).

Example:
    ``python benchmarks/multi_fidelity_replay.py --eta 3``
    ``python benchmarks/multi_fidelity_replay.py --eta 3 --trials 27 --orders 200``
    ``python benchmarks/multi_fidelity_replay.py --trials 27 --pool 27 --orders 100 --energy-scale log``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _sweep_runs import Row, read_study, trial_row  # sibling scripts
from multi_fidelity import ENERGY_SCALES, HV_FRACTION, LINEAR, LOG, compare, summarise  # same hypervolume arithmetic

from ecopt_lightning.sweeper.successive_halving import RANKS, RungSchedule, decide

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIRECTIONS = ["maximize", "minimize"]  # val_acc, J per inference sample


def curves(job_dir: str | Path) -> dict[str, list[float]]:
    """Per-epoch ``val_acc``, ``energy/train_epoch_J``, ``energy/val_epoch_J`` from the job's TensorBoard events,
    in step order (one value per epoch)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[float]] = {}
    for events in sorted(Path(job_dir).glob("lightning_logs/version_*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for tag in ("val_acc", "energy/train_epoch_J", "energy/val_epoch_J"):
            if tag in tags:
                out[tag] = [e.value for e in sorted(acc.Scalars(tag), key=lambda e: e.step)]
    return out


def plain_trials(sweep_dir: Path) -> list[Row]:
    """The plain sweep's trials in order, as the benchmark's rows plus their per-epoch curves."""
    return [
        {**trial_row(t, r), "curves": curves(sweep_dir / r.job_dir) if r.job_dir else {}}
        for t, r in read_study(sweep_dir, "multi_fidelity")
    ]


def without_curves(row: Row) -> Row:
    """A replayed trial's row as the benchmark's rows are: its per-epoch curves left out."""
    return {k: v for k, v in row.items() if k != "curves"}


def replay(plain: Sequence[Row], schedule: RungSchedule, epochs: int, rank_scale: str = LOG) -> list[Row]:
    """The plain trials as a multi-fidelity sweep with ``schedule`` would have run them (in trial order); the
    rule's tie-break inside a front on log10 J/sample (``rank_scale`` ``log``, as the sweeper ranks energy) or on
    J/sample (``linear``, the rule before 2026-11-28)."""
    reached: dict[int, dict[int, list[float]]] = {}  # rung epoch -> trial number -> values there
    out = []
    for row in plain:
        c = row["curves"]
        accs, train, val = c.get("val_acc", []), c.get("energy/train_epoch_J", []), c.get("energy/val_epoch_J", [])
        sim = without_curves(row)
        if row["state"] != "COMPLETE" or row["j_per_sample"] is None or len(accs) < epochs or len(train) < epochs:
            out.append(sim)  # not rankable: it runs as it ran
            continue
        for epoch in schedule.decision_epochs(epochs):
            cohort = reached.setdefault(epoch, {})
            cohort[row["number"]] = [accs[epoch - 1], row["j_per_sample"]]
            d = decide(row["number"], cohort, DIRECTIONS, schedule.eta, schedule.rank, (False, rank_scale == LOG))
            if not d.go_on:
                later = sum(train[epoch:epochs]) + sum(val[epoch:epochs])
                spent = None if row["energy_J"] is None else row["energy_J"] - later  # unmeasured stays so
                sim.update(state="PRUNED", stopped_at_epoch=epoch, energy_J=spent, acc=accs[epoch - 1])
                break
        out.append(sim)
    return out


def reordered(plain: Sequence[Row], rng: random.Random) -> list[Row]:
    """The trials in a random order, renumbered ``0..n-1`` in that order (the rule breaks ties by number)."""
    rows = list(plain)
    rng.shuffle(rows)
    return [{**r, "number": i} for i, r in enumerate(rows)]


def over_orders(
    plain: Sequence[Row],
    schedule: RungSchedule,
    epochs: int,
    orders: int,
    seed: int,
    scale: str = LINEAR,
    rank_scale: str = LOG,
    draw: int | None = None,
) -> dict[str, Any]:
    """Energy to the target averaged over ``orders`` random orders of the plain trials: ``plain_J`` and ``mf_J``
    (means over the orders where both reach it), their ratio, and the share of orders where mf never does.
    ``draw``: each order is a sweep of ``draw`` trials drawn from ``plain`` without replacement (a pool of a
    random sampler's proposals, several seeds' together); ``scale``: the hypervolume's J/sample axis
    (:func:`multi_fidelity.on_scale`); ``rank_scale``: the rule's (:func:`replay`).

    Example (three trials, the last one alone defines the front; no rung stops a trial of a 1-epoch budget):
        >>> rows = [{"number": i, "state": "COMPLETE", "acc": a, "j_per_sample": 1.0, "energy_J": 10.0,
        ...          "params": {}, "stopped_at_epoch": None, "curves": {}} for i, a in enumerate([0.1, 0.2, 0.9])]
        >>> out = over_orders(rows, RungSchedule(1, 3, 1), 1, 30, seed=0)
        >>> out["ratio"], out["mf_never_share"], 10.0 <= out["plain_J"] <= 30.0
        (1.0, 0.0, True)
    """
    rng = random.Random(seed)
    plain_j, mf_j, never = [], [], 0
    for _ in range(orders):
        rows = reordered(plain if draw is None else rng.sample(list(plain), draw), rng)
        s = compare([without_curves(r) for r in rows], replay(rows, schedule, epochs, rank_scale), scale)
        e = s["energy_to_target_J"]
        if e["mf"] is None:
            never += 1
        elif e["plain"]:
            plain_j.append(e["plain"])
            mf_j.append(e["mf"])
    both = bool(plain_j)
    return {
        "orders": orders,
        "plain_J": statistics.fmean(plain_j) if both else None,
        "mf_J": statistics.fmean(mf_j) if both else None,
        "ratio": statistics.fmean(mf_j) / statistics.fmean(plain_j) if both else None,
        "mf_never_share": never / orders,
        "draw": draw,
        "scale": scale,
        "rank_scale": rank_scale,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "multirun" / "multi_fidelity_bench")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--min-epochs", type=int, default=1)
    ap.add_argument("--trials", type=int, default=8, help="replay only plain sweeps that finished this many trials")
    ap.add_argument(
        "--orders",
        type=int,
        default=0,
        help="also replay each seed in this many random trial orders (with --pool: this many drawn sweeps instead)",
    )
    ap.add_argument(
        "--pool",
        type=int,
        default=0,
        help="replay --orders sweeps of this many trials drawn from all seeds' plain trials together",
    )
    ap.add_argument("--energy-scale", choices=ENERGY_SCALES, default=LINEAR, help="the hypervolume's J/sample axis")
    ap.add_argument(
        "--rank-energy-scale",
        choices=ENERGY_SCALES,
        default=LOG,
        help="the rule's J/sample axis inside a front: log (the sweeper's) or linear (its rule before 2026-11-28)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.orders < 0:
        ap.error(f"--orders {args.orders}: give 0 (the recorded order only) or a positive count")
    if args.pool < 0 or (args.pool and not args.orders):
        ap.error(f"--pool {args.pool}: give 0 (no pool) or a positive sweep size, with --orders K")
    seeds = sorted(args.work.glob("seed*"), key=lambda p: int(p.name[4:]))
    if not seeds:
        raise SystemExit(f"--work {args.work}: no seed*/plain sweeps there; run benchmarks/multi_fidelity.py first")
    results: dict[str, list[dict[str, Any]]] = {rank: [] for rank in RANKS}
    ordered: dict[str, list[dict[str, Any]]] = {rank: [] for rank in RANKS}
    used, pooled, pool_epochs = [], [], 0
    for seed_dir in seeds:
        plain = plain_trials(seed_dir / "plain")
        finished = [r for r in plain if r["state"] in ("COMPLETE", "PRUNED", "FAIL")]
        if len(finished) < args.trials:
            print(f"{seed_dir.name}: {len(finished)} of {args.trials} trials finished in the plain sweep: skipped")
            continue
        used.append(seed_dir.name)
        epochs = max(len(r["curves"].get("val_acc", [])) for r in plain)
        pooled += plain
        pool_epochs = max(pool_epochs, epochs)
        for rank in RANKS:
            sim = replay(plain, RungSchedule(args.min_epochs, args.eta, epochs, rank), epochs, args.rank_energy_scale)
            rows = [without_curves(r) for r in plain]
            s = compare(rows, sim, args.energy_scale)
            s["seed"] = int(seed_dir.name[4:])
            results[rank].append(s)
            if args.orders and not args.pool:
                o = over_orders(
                    plain,
                    RungSchedule(args.min_epochs, args.eta, epochs, rank),
                    epochs,
                    args.orders,
                    s["seed"],
                    args.energy_scale,
                    args.rank_energy_scale,
                )
                ordered[rank].append({"seed": s["seed"], **o})
    pool: dict[str, dict[str, Any]] = {}
    if args.pool:
        if args.pool > len(pooled):
            raise SystemExit(f"--pool {args.pool}: the plain sweeps hold {len(pooled)} trials; give at most that")
        for rank in RANKS:
            schedule = RungSchedule(args.min_epochs, args.eta, pool_epochs, rank)
            pool[rank] = over_orders(
                pooled, schedule, pool_epochs, args.orders, 0, args.energy_scale, args.rank_energy_scale, args.pool
            )
    lines = [
        f"REPLAY (simulated from the plain sweeps' measured per-epoch values, not a measurement): {len(used)} "
        f"seeds ({', '.join(used)}), {args.trials} proposals each, min_epochs={args.min_epochs}, eta={args.eta}; "
        f"hypervolume on {args.energy_scale} J/sample, the rule ranking on {args.rank_energy_scale} J/sample.",
        "",
        f"| rule | energy to {HV_FRACTION:.0%} of plain's HV, mf/plain: median [IQR] | seeds never reaching it | "
        "whole-sweep energy, mf/plain | final HV, mf/plain |",
        "|---|---|---|---|---|",
    ]
    summary = {}
    for rank, seeds_out in results.items():
        s = summary[rank] = summarise(seeds_out)

        def q(x: Any) -> str:
            return "-" if x is None else f"{x[1]:.0%} [{x[0]:.0%}, {x[2]:.0%}]"

        lines.append(
            f"| {rank} | {q(s['energy_ratio_to_target_quartiles'])} | {s['seeds_target_not_reached_by_mf']} | "
            f"{q(s['total_energy_ratio_quartiles'])} | {q(s['final_hv_ratio_quartiles'])} |"
        )
    if args.orders and not args.pool:
        lines += [
            "",
            f"Over {args.orders} random orders of each seed's trials (mean energy to the target per seed, orders where "
            "mf never reaches it counted apart):",
            "",
            "| rule | per seed: mean mf J / mean plain J (orders mf never reaches it) | median over seeds |",
            "|---|---|---|",
        ]
        for rank, rows in ordered.items():
            per = ", ".join(
                f"seed {o['seed']} {'-' if o['ratio'] is None else format(o['ratio'], '.0%')} "
                f"({o['mf_never_share']:.0%})"
                for o in rows
            )
            ratios = [o["ratio"] for o in rows if o["ratio"] is not None]
            lines.append(f"| {rank} | {per} | {format(statistics.median(ratios), '.0%') if ratios else '-'} |")
    if pool:
        lines += [
            "",
            f"Sweeps of {args.pool} trials drawn from all {len(pooled)} plain trials of these seeds together "
            f"({args.orders} draws, each in a random order):",
            "",
            "| rule | mean mf J / mean plain J to the target | draws mf never reaches it |",
            "|---|---|---|",
        ]
        for rank, o in pool.items():
            ratio = "-" if o["ratio"] is None else format(o["ratio"], ".0%")
            lines.append(f"| {rank} | {ratio} | {o['mf_never_share']:.0%} |")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"multi_fidelity_replay_eta{args.eta}" + (f"_{args.trials}trials" if args.trials != 8 else "")
    stem += f"_pool{args.pool}" if args.pool else ""
    stem += "_log" if args.energy_scale == LOG else ""
    stem += "_ranklinear" if args.rank_energy_scale == LINEAR else ""
    (args.out / f"{stem}.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "seeds": used,
                "summary": summary,
                "per_seed": results,
                "over_orders": ordered,
                "pool": pool,
            },
            indent=1,
        )
    )
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
