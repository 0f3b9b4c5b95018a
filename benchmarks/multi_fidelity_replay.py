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
(its tie-break on J/sample; the sweeper's is on log10 J/sample). ``--promotion`` replays ASHA's promotion (pause
and resume from a checkpoint, :func:`replay_promotion`) instead of the sweeper's stop on arrival.

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
from dataclasses import replace
from pathlib import Path
from typing import Any

from _sweep_runs import Row, complete, read_study, trial_row  # sibling scripts
from multi_fidelity import (  # same hypervolume arithmetic
    BOX,
    ENERGY_SCALES,
    HV_FRACTION,
    LINEAR,
    LOG,
    REFERENCES,
    compare,
    front_stopped,
    on_scale,
    reference,
    summarise,
)

from ecopt_lightning.sweeper.successive_halving import KEEP_FRONT, RANKS, RungSchedule, can_stop, decide, ranking

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIRECTIONS = ["maximize", "minimize"]  # val_acc, J per inference sample
#: replayed "rules" that know the future (:func:`front_oracle`, :func:`target_oracle`), beside the real ranks
ORACLE = "front_oracle"
TARGET_ORACLE = "target_oracle"
ORACLES = (ORACLE, TARGET_ORACLE)
RULES = (*RANKS, *ORACLES)


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


def benchmark_cost(job_dir: str | Path) -> dict[str, float]:
    """The inference benchmark's energy (J), repeats and warm-up energy (J: its energy less its repeats') from
    the job's ``energy_summary.json``; empty if absent."""
    for path in sorted(Path(job_dir).glob("lightning_logs/version_*/energy_summary.json")):
        s = json.loads(path.read_text())
        bench, inference = (s.get("phases") or {}).get("benchmark") or {}, s.get("inference") or {}
        repeats, per_repeat = inference.get("repeats"), inference.get("per_repeat_J") or []
        if bench.get("energy_J") is not None and repeats and inference.get("samples_per_repeat"):
            in_repeats = sum(per_repeat) * inference["samples_per_repeat"]
            warmup = max(0.0, float(inference.get("energy_J", bench["energy_J"])) - in_repeats)
            return {"energy_J": float(bench["energy_J"]), "repeats": float(repeats), "warmup_J": warmup}
    return {}


def short_benchmark_J(bench: dict[str, float], rung_repeats: int) -> float:
    """A benchmark of ``rung_repeats`` repeats (J), from a measured one: its warm-up plus that share of its
    repeats' energy.

    Example (a 6-repeat benchmark of 8 J, 2 J of it the warm-up: 3 repeats cost 2 + 6 x 3/6 = 5 J):
        >>> short_benchmark_J({"energy_J": 8.0, "repeats": 6.0, "warmup_J": 2.0}, 3)
        5.0
    """
    warmup = bench.get("warmup_J", 0.0)
    return warmup + (bench["energy_J"] - warmup) * min(1.0, rung_repeats / bench["repeats"])


def plain_trials(sweep_dir: Path) -> list[Row]:
    """The plain sweep's trials in order, as the benchmark's rows plus their per-epoch curves and (``"curves"``
    key ``"benchmark"``) their inference benchmark's energy and repeats."""
    return [
        {
            **trial_row(t, r),
            "curves": {**curves(sweep_dir / r.job_dir), "benchmark": benchmark_cost(sweep_dir / r.job_dir)}
            if r.job_dir
            else {},
        }
        for t, r in read_study(sweep_dir, "multi_fidelity")
    ]


def stopped_cost(row: Row, epoch: int, epochs: int, rung_repeats: int | None) -> float | None:
    """What a trial stopped after ``epoch`` costs: its measured total less the measured train and validation
    energy of the later epochs; with ``rung_repeats``, its inference benchmark cut to that many repeats
    (:func:`short_benchmark_J`: the sweeper's short first-rung measurement, ``multi_fidelity.rung_repeats``).
    ``None`` if nothing measured it."""
    if row["energy_J"] is None:
        return None
    c = row["curves"]
    later = sum(c.get("energy/train_epoch_J", [])[epoch:epochs]) + sum(c.get("energy/val_epoch_J", [])[epoch:epochs])
    bench = c.get("benchmark") or {}
    cut = 0.0
    if rung_repeats is not None and bench and bench["repeats"] > rung_repeats:
        cut = bench["energy_J"] - short_benchmark_J(bench, rung_repeats)
    return float(row["energy_J"] - later - cut)


def without_curves(row: Row) -> Row:
    """A replayed trial's row as the benchmark's rows are: its per-epoch curves left out."""
    return {k: v for k, v in row.items() if k != "curves"}


def rankable(row: Row, epochs: int) -> bool:
    """Whether a plain trial can be replayed at the rungs: complete, with its final values and a measured
    ``val_acc`` and training energy for each of the ``epochs``."""
    c = row["curves"]
    done = complete(row)
    return done and len(c.get("val_acc", [])) >= epochs and len(c.get("energy/train_epoch_J", [])) >= epochs


def stopped(row: Row, epoch: int, energy_J: float | None) -> Row:
    """``row`` as a trial stopped after ``epoch``, which cost ``energy_J``: its values there, its curves left out."""
    acc = row["curves"]["val_acc"][epoch - 1]
    return {**without_curves(row), "state": "PRUNED", "stopped_at_epoch": epoch, "energy_J": energy_J, "acc": acc}


def replay(
    plain: Sequence[Row], schedule: RungSchedule, epochs: int, rank_scale: str = LOG, rung_repeats: int | None = None
) -> list[Row]:
    """The plain trials as a multi-fidelity sweep with ``schedule`` would have run them (in trial order); the
    rule's tie-break inside a front on log10 J/sample (``rank_scale`` ``log``, as the sweeper ranks energy) or on
    J/sample (``linear``, the rule before 2026-11-28); a stopped trial costs :func:`stopped_cost`. With
    ``rung_repeats``, a trial that could have been stopped at the first rung (``can_stop``) and went on
    pays what measuring short first adds (:func:`short_measurement_cost`), as the sweeper's trials do."""
    reached: dict[int, dict[int, list[float]]] = {}  # rung epoch -> trial number -> values there
    out = []
    for row in plain:
        sim = without_curves(row)
        if not rankable(row, epochs):
            out.append(sim)  # it runs as it ran
            continue
        accs = row["curves"]["val_acc"]
        for k, epoch in enumerate(schedule.decision_epochs(epochs)):
            cohort = reached.setdefault(epoch, {})
            cohort[row["number"]] = [accs[epoch - 1], row["j_per_sample"]]
            log_axes = (False, rank_scale == LOG)
            d = decide(row["number"], cohort, DIRECTIONS, schedule.eta, schedule.rank, log_axes, schedule.keep_front)
            if not d.go_on:
                sim = stopped(row, epoch, stopped_cost(row, epoch, epochs, rung_repeats))
                break
            if (
                k == 0
                and rung_repeats is not None
                and sim["energy_J"] is not None
                and can_stop(len(cohort), schedule.eta, schedule.keep_front)
            ):
                sim["energy_J"] += short_measurement_cost(row, rung_repeats)
        out.append(sim)
    return out


def short_measurement_cost(row: Row, rung_repeats: int) -> float:
    """What measuring ``row`` short at the first rung adds (J) when it goes on: the sweeper continues the short
    measurement there with the full settings (its repeats count), so the second warm-up; 0 when the
    benchmark's energy is not known. (Before 2026-11-28 07:40 UTC a trial that went on was measured again in
    full after fit, which added the whole short measurement, :func:`short_benchmark_J`.)"""
    bench = row["curves"].get("benchmark") or {}
    return bench.get("warmup_J", 0.0) if bench else 0.0


def front_oracle(plain: Sequence[Row], first_epoch: int, epochs: int, rung_repeats: int | None = None) -> list[Row]:
    """The best any rule that keeps the sweep's final front can do: trains to the end exactly the trials on the
    plain sweep's final front (known in advance, which no real rule can) and stops every other rankable trial at
    ``first_epoch``, charged :func:`stopped_cost`. Its energy to the target bounds every such rule's from below.

    Example (the 0.9-accuracy trial alone is the front; the others stop at epoch 1 and pay 10 - 2 J):
        >>> c = {"val_acc": [0.1, 0.1], "energy/train_epoch_J": [1.0, 1.0], "energy/val_epoch_J": [1.0, 1.0]}
        >>> rows = [{"number": i, "state": "COMPLETE", "acc": a, "j_per_sample": 1.0, "energy_J": 10.0,
        ...          "params": {}, "stopped_at_epoch": None, "curves": c} for i, a in enumerate([0.1, 0.2, 0.9])]
        >>> [(r["state"], r["energy_J"]) for r in front_oracle(rows, 1, 2)]
        [('PRUNED', 8.0), ('PRUNED', 8.0), ('COMPLETE', 10.0)]
    """
    from ecopt_lightning.sweeper._pareto import pareto_indices

    done = [r for r in plain if complete(r)]
    keep = {done[i]["number"] for i in pareto_indices([(-r["acc"], r["j_per_sample"]) for r in done])}
    return [
        stopped(row, first_epoch, stopped_cost(row, first_epoch, epochs, rung_repeats))
        if rankable(row, epochs) and row["number"] not in keep
        else without_curves(row)
        for row in plain
    ]


def target_oracle(
    plain: Sequence[Row], first_epoch: int, epochs: int, scale: str, rung_repeats: int | None = None
) -> list[Row]:
    """The least energy in which any stopping rule could reach the target (95% of the plain sweep's final
    hypervolume on ``scale``), knowing every trial's final values in advance: over each prefix of the trials,
    the cheapest set of its non-dominated trials whose hypervolume reaches the target is trained to the end,
    and every other rankable trial stops at ``first_epoch`` (:func:`stopped_cost`). The prefix and set with the
    least total energy win. It bounds every rule from below (up to the restriction to each prefix's
    non-dominated trials: a dominated trial could only be cheaper to finish, never add hypervolume).

    Example (only the 0.9-accuracy trial is needed; the trials before it stop at epoch 1, the one after runs):
        >>> c = {"val_acc": [0.1, 0.1], "energy/train_epoch_J": [1.0, 1.0], "energy/val_epoch_J": [1.0, 1.0]}
        >>> rows = [{"number": i, "state": "COMPLETE", "acc": a, "j_per_sample": 1.0, "energy_J": 10.0,
        ...          "params": {}, "stopped_at_epoch": None, "curves": c} for i, a in enumerate([0.1, 0.9, 0.5])]
        >>> [(r["state"], r["energy_J"]) for r in target_oracle(rows, 1, 2, "linear")]
        [('PRUNED', 8.0), ('COMPLETE', 10.0), ('PRUNED', 8.0)]
    """
    from itertools import combinations

    from ecopt_lightning.sweeper._pareto import hypervolume, pareto_indices

    js = [r["j_per_sample"] for r in plain if r["state"] == "COMPLETE" and r["j_per_sample"]]
    scaled = on_scale(plain, scale, min(js)) if js else list(plain)
    ref = reference(scaled)
    point: dict[int, tuple[float, float]] = {
        i: (-r["acc"], r["j_per_sample"]) for i, r in enumerate(scaled) if complete(r)
    }
    target = HV_FRACTION * hypervolume(list(point.values()), ref)
    # a rankable trial's cost when stopped (None for the others, and where nothing measured it: those run as ran)
    short = [stopped_cost(r, first_epoch, epochs, rung_repeats) if rankable(r, epochs) else None for r in plain]
    cost = [s if s is not None else (r["energy_J"] or 0.0) for s, r in zip(short, plain, strict=True)]
    best: tuple[float, tuple[int, ...]] | None = None
    for k in range(len(plain)):
        base = sum(cost[: k + 1])
        if best is not None and base >= best[0]:
            break
        fixed = [i for i in range(k + 1) if short[i] is None and i in point]
        cands = [i for i in range(k + 1) if short[i] is not None]
        cands = [cands[j] for j in pareto_indices([point[i] for i in cands])] if cands else []
        for size in range(len(cands) + 1):
            for chosen in combinations(cands, size):
                extra = sum(plain[i]["energy_J"] - cost[i] for i in chosen)
                if best is not None and base + extra >= best[0]:
                    continue
                if hypervolume([point[i] for i in (*fixed, *chosen)], ref) >= target > 0:
                    best = (base + extra, chosen)
    keep = set(best[1]) if best else {i for i in range(len(plain)) if short[i] is not None}
    return [
        stopped(row, first_epoch, short[i]) if short[i] is not None and i not in keep else without_curves(row)
        for i, row in enumerate(plain)
    ]


def replay_brackets(
    plain: Sequence[Row],
    schedule: RungSchedule,
    brackets: int,
    epochs: int,
    rank_scale: str = LOG,
    rung_repeats: int | None = None,
) -> list[Row]:
    """Hyperband-style brackets, an experiment and not a sweeper option: the ``i``-th trial goes to bracket
    ``b = i % brackets``, whose first rung is ``min_epochs * eta**b`` epochs, and each bracket is replayed alone by
    :func:`replay` (ASHA within each bracket). A later first rung hedges against models that start slowly, at
    the price of training more of every trial in its bracket. ``brackets=1`` is :func:`replay`.

    Example (each trial behind the one before it after epoch 1; the second, in bracket 1, has no rung below the
    2-epoch budget and runs to the end; the third is ranked against the first alone, and stops):
        >>> c = lambda a: {"val_acc": [a, 0.9], "energy/train_epoch_J": [1.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        >>> rows = [{"number": i, "state": "COMPLETE", "acc": 0.9, "j_per_sample": 1.0, "energy_J": 10.0,
        ...          "params": {}, "stopped_at_epoch": None, "curves": c(a)} for i, a in enumerate([0.5, 0.4, 0.1])]
        >>> [r["state"] for r in replay_brackets(rows, RungSchedule(1, 2, 2), 2, 2)]
        ['COMPLETE', 'COMPLETE', 'PRUNED']
        >>> [r["state"] for r in replay_brackets(rows, RungSchedule(1, 2, 2), 1, 2)]
        ['COMPLETE', 'PRUNED', 'PRUNED']
    """
    out: dict[int, Row] = {}
    for b in range(brackets):
        positions = range(b, len(plain), brackets)
        first = replace(schedule, min_epochs=schedule.min_epochs * schedule.eta**b)
        sub = replay([plain[i] for i in positions], first, epochs, rank_scale, rung_repeats)
        out.update(zip(positions, sub, strict=True))
    return [out[i] for i in range(len(plain))]


def promotable(
    cohort: dict[int, list[float]], promoted: set[int], schedule: RungSchedule, log_axes: tuple[bool, bool]
) -> list[int]:
    """The paused trials at one rung that ASHA's promotion would resume, best first: none while fewer than ``eta``
    trials have reached the rung, then those :func:`decide` lets go on (the top ``floor(n / eta)``, and with
    ``keep_front`` the rung's non-dominated front too) that have not gone up already."""
    if len(cohort) < schedule.eta:
        return []
    order = ranking(cohort, DIRECTIONS, schedule.rank, log_axes)
    return [
        t
        for t in order
        if t not in promoted
        and decide(t, cohort, DIRECTIONS, schedule.eta, schedule.rank, log_axes, schedule.keep_front).go_on
    ]


def replay_promotion(
    plain: Sequence[Row], schedule: RungSchedule, epochs: int, rank_scale: str = LOG, rung_repeats: int | None = None
) -> list[Row]:
    """ASHA's promotion (pause and resume from a checkpoint), an experiment and not a sweeper option: a trial
    pauses at each rung; one worker, whenever it is free, resumes the best paused trial that may go up
    (:func:`promotable`, the highest rung first) for the epochs to the next rung, or else starts the next
    proposal (in trial order). Unlike the sweeper's rule (:func:`replay`: decide on arrival, stop for good) a
    trial can go up later, when more trials have reached its rung, and while fewer than ``eta`` have, nobody goes
    up: the first trials wait instead of running in full. Resuming is free here (a real resume reloads a
    checkpoint). A trial's first segment costs :func:`stopped_cost` at the first rung, a later one the measured
    epochs' energy, and one that reaches the full budget what measuring short first adds
    (:func:`short_measurement_cost`).

    Returns the work in the order it was done, one row per segment (``"segment_of"``: the trial's number): the
    segment that reaches the full budget is the trial's ``COMPLETE`` row, the others ``PAUSED`` (never on a front);
    a trial still paused at the end was stopped there (``stopped_at_epoch`` on its last segment).
    :func:`per_trial` folds them into one row per trial.

    Example (rungs 1 and 2, eta 2; trial 0 waits until trial 1 has reached epoch 1, then goes up; 1 and 2 rank
    below it and stay paused):
        >>> c = lambda a: {"val_acc": [a, 0.9], "energy/train_epoch_J": [1.0] * 2, "energy/val_epoch_J": [0.0] * 2}
        >>> rows = [{"number": i, "state": "COMPLETE", "acc": 0.9, "j_per_sample": 1.0, "energy_J": 10.0,
        ...          "params": {}, "stopped_at_epoch": None, "curves": c(a)} for i, a in enumerate([0.5, 0.4, 0.1])]
        >>> work = replay_promotion(rows, RungSchedule(1, 2, 2, keep_front=False), 2)
        >>> [(r["segment_of"], r["state"], r["energy_J"], r["stopped_at_epoch"]) for r in work]
        [(0, 'PAUSED', 9.0, None), (1, 'PAUSED', 9.0, 1), (0, 'COMPLETE', 1.0, None), (2, 'PAUSED', 9.0, 1)]
    """
    rungs = schedule.epochs(epochs)
    log_axes = (False, rank_scale == LOG)
    reached: list[dict[int, list[float]]] = [{} for _ in rungs[:-1]]  # rung -> trial number -> values there
    promoted: list[set[int]] = [set() for _ in rungs[:-1]]
    by_number = {r["number"]: r for r in plain}
    fresh = iter(plain)
    out: list[Row] = []
    while True:
        job = next(
            (
                (t, k + 1)
                for k in reversed(range(len(reached)))
                for t in promotable(reached[k], promoted[k], schedule, log_axes)
            ),
            None,
        )
        if job is None:
            row = next(fresh, None)
            if row is None:
                break
            if not rankable(row, epochs):
                out.append({**without_curves(row), "segment_of": row["number"]})  # it runs as it ran
                continue
            job = (row["number"], 0)
        number, k = job
        row = by_number[number]
        if k == 0:
            energy = stopped_cost(row, rungs[0], epochs, rung_repeats)
        else:
            promoted[k - 1].add(number)
            c = row["curves"]
            energy = sum(c["energy/train_epoch_J"][rungs[k - 1] : rungs[k]]) + sum(
                c["energy/val_epoch_J"][rungs[k - 1] : rungs[k]]
            )
        if energy is not None and k == len(rungs) - 1 and rung_repeats is not None:
            energy += short_measurement_cost(row, rung_repeats)
        if k == len(rungs) - 1:
            out.append({**without_curves(row), "energy_J": energy, "segment_of": number})
            continue
        reached[k][number] = [row["curves"]["val_acc"][rungs[k] - 1], row["j_per_sample"]]
        out.append({**stopped(row, rungs[k], energy), "state": "PAUSED", "segment_of": number})
    last = {r["segment_of"]: i for i, r in enumerate(out)}  # a trial's last segment: where it ended
    return [
        r if r["state"] != "PAUSED" or last[r["segment_of"]] == i else {**r, "stopped_at_epoch": None}
        for i, r in enumerate(out)
    ]


def per_trial(plain: Sequence[Row], work: Sequence[Row]) -> list[Row]:
    """:func:`replay_promotion`'s segments as one row per trial of ``plain`` (its last segment, with the energy of
    all of them); other rules' rows (one per trial already) as they are.

    Example:
        >>> work = [{"segment_of": 0, "state": "PAUSED", "energy_J": 9.0}, {"segment_of": 0, "state": "COMPLETE",
        ...          "energy_J": 1.0}]
        >>> per_trial([{"number": 0}], work)
        [{'segment_of': 0, 'state': 'COMPLETE', 'energy_J': 10.0}]
    """
    if not any("segment_of" in r for r in work):
        return list(work)
    out = []
    for row in plain:
        segments = [r for r in work if r["segment_of"] == row["number"]]
        spent = [r["energy_J"] for r in segments if r["energy_J"] is not None]
        out.append({**segments[-1], "energy_J": sum(spent) if spent else None})
    return out


#: what ``--final-known`` replays, in the report's first line
FINAL_KNOWN_WORDS = ", the rule seeing each trial's final val_acc at every rung"


def final_known(row: Row) -> Row:
    """``row`` as a rule that knew every trial's final ``val_acc`` at every rung would see it (``--final-known``: how
    much of the gap to the oracles is the rungs' poor ranking); its energy and final values are unchanged.

    Example:
        >>> row = {"acc": 0.7, "curves": {"val_acc": [0.2, 0.5, 0.7], "energy/train_epoch_J": [1.0, 1.0, 1.0]}}
        >>> final_known(row)["curves"]
        {'val_acc': [0.7, 0.7, 0.7], 'energy/train_epoch_J': [1.0, 1.0, 1.0]}
    """
    accs = (row.get("curves") or {}).get("val_acc")
    if not accs:
        return row
    return {**row, "curves": {**row["curves"], "val_acc": [row["acc"]] * len(accs)}}


def simulate(
    rows: Sequence[Row],
    rule: str,
    schedule: RungSchedule,
    epochs: int,
    rank_scale: str,
    rung_repeats: int | None,
    scale: str = LINEAR,
    brackets: int = 1,
    promotion: bool = False,
) -> list[Row]:
    """The multi-fidelity arm of ``rows`` under ``rule``: a rank of :data:`RANKS` replayed (in ``brackets``:
    :func:`replay_brackets`; with ``promotion``: :func:`replay_promotion`), or an oracle."""
    if rule == ORACLE:
        return front_oracle(rows, schedule.min_epochs, epochs, rung_repeats)
    if rule == TARGET_ORACLE:
        return target_oracle(rows, schedule.min_epochs, epochs, scale, rung_repeats)
    if promotion:
        return replay_promotion(rows, schedule, epochs, rank_scale, rung_repeats)
    return replay_brackets(rows, schedule, brackets, epochs, rank_scale, rung_repeats)


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
    rule: str | None = None,
    rung_repeats: int | None = None,
    ref_kind: str = BOX,
    brackets: int = 1,
    promotion: bool = False,
) -> dict[str, Any]:
    """Energy to the target averaged over ``orders`` random orders of the plain trials: ``plain_J`` and ``mf_J``
    (means over the orders where both reach it), their ratio, and the share of orders where mf never does.
    ``draw``: each order is a sweep of ``draw`` trials drawn from ``plain`` without replacement (a pool of a
    random sampler's proposals, several seeds' together); ``scale``: the hypervolume's J/sample axis
    (:func:`multi_fidelity.on_scale`); ``rank_scale``: the rule's (:func:`replay`); ``ref_kind``: the hypervolume's
    reference point (:data:`multi_fidelity.REFERENCES`). ``front_stopped_share``: of the plain front's trials
    over all orders, the share the rule stopped; ``whole_sweep_ratio``: the whole sweep's energy, mf / plain, mean
    over the orders.

    Example (three trials, the last one alone defines the front; no rung stops a trial of a 1-epoch budget):
        >>> rows = [{"number": i, "state": "COMPLETE", "acc": a, "j_per_sample": 1.0, "energy_J": 10.0,
        ...          "params": {}, "stopped_at_epoch": None, "curves": {}} for i, a in enumerate([0.1, 0.2, 0.9])]
        >>> out = over_orders(rows, RungSchedule(1, 3, 1), 1, 30, seed=0)
        >>> out["ratio"], out["mf_never_share"], 10.0 <= out["plain_J"] <= 30.0, out["front_stopped_share"]
        (1.0, 0.0, True, 0.0)
        >>> out["whole_sweep_ratio"]
        1.0
    """
    rng = random.Random(seed)
    plain_j, mf_j, never, lost, front, whole = [], [], 0, 0, 0, []
    for _ in range(orders):
        rows = reordered(plain if draw is None else rng.sample(list(plain), draw), rng)
        sim = simulate(
            rows, rule or schedule.rank, schedule, epochs, rank_scale, rung_repeats, scale, brackets, promotion
        )
        bare = [without_curves(r) for r in rows]
        s = compare(bare, sim, scale, ref_kind)
        k, n = front_stopped(bare, per_trial(rows, sim))
        lost, front = lost + k, front + n
        if s["total_J"]["plain"] > 0:
            whole.append(s["total_J"]["mf"] / s["total_J"]["plain"])
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
        "front_stopped_share": lost / front if front else None,
        "whole_sweep_ratio": statistics.fmean(whole) if whole else None,
        "draw": draw,
        "scale": scale,
        "rank_scale": rank_scale,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "multirun" / "multi_fidelity_bench")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--min-epochs", type=int, default=1)
    ap.add_argument(
        "--brackets",
        type=int,
        default=1,
        help="Hyperband-style brackets: trial i starts its rungs at min-epochs x eta^(i mod B) (replay_brackets)",
    )
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
    ap.add_argument(
        "--promotion",
        action="store_true",
        help="pause and resume (ASHA's promotion, replay_promotion) instead of the sweeper's stop on arrival",
    )
    ap.add_argument(
        "--final-known",
        action="store_true",
        help="the rule sees each trial's final val_acc at every rung (final_known): a rule with perfect prediction",
    )
    ap.add_argument("--energy-scale", choices=ENERGY_SCALES, default=LINEAR, help="the hypervolume's J/sample axis")
    ap.add_argument(
        "--reference",
        choices=REFERENCES,
        default=BOX,
        help="the hypervolume's reference point: box (accuracy 0, 1.1 x the largest J/sample; the goal's) or front "
        "(the joint front's nadir + 10%% of its range)",
    )
    ap.add_argument(
        "--rank-energy-scale",
        choices=ENERGY_SCALES,
        default=LOG,
        help="the rule's J/sample axis inside a front: log (the sweeper's) or linear (its rule before 2026-11-28)",
    )
    ap.add_argument(
        "--keep-front",
        choices=("true", "false"),
        default="true" if KEEP_FRONT else "false",
        help="a trial on the rung's front goes on whatever its place (the sweeper's default) or not (before)",
    )
    ap.add_argument(
        "--rung-repeats",
        type=int,
        default=None,
        help="charge a stopped trial's inference benchmark at this many repeats (the sweeper's rung_repeats)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.orders < 0:
        ap.error(f"--orders {args.orders}: give 0 (the recorded order only) or a positive count")
    if args.brackets < 1:
        ap.error(f"--brackets {args.brackets}: give 1 (one bracket: plain successive halving) or more")
    if args.promotion and args.brackets != 1:
        ap.error(
            f"--promotion with --brackets {args.brackets}: promotion is replayed in one bracket; give --brackets 1"
        )
    if args.pool < 0 or (args.pool and not args.orders):
        ap.error(f"--pool {args.pool}: give 0 (no pool) or a positive sweep size, with --orders K")
    keep_front = args.keep_front == "true"
    seeds = sorted(args.work.glob("seed*"), key=lambda p: int(p.name[4:]))
    if not seeds:
        raise SystemExit(f"--work {args.work}: no seed*/plain sweeps there; run benchmarks/multi_fidelity.py first")
    results: dict[str, list[dict[str, Any]]] = {rule: [] for rule in RULES}
    ordered: dict[str, list[dict[str, Any]]] = {rule: [] for rule in RULES}
    used, pooled, pool_epochs = [], [], 0
    for seed_dir in seeds:
        plain = plain_trials(seed_dir / "plain")
        plain = [final_known(r) for r in plain] if args.final_known else plain
        finished = [r for r in plain if r["state"] in ("COMPLETE", "PRUNED", "FAIL")]
        if len(finished) < args.trials:
            print(f"{seed_dir.name}: {len(finished)} of {args.trials} trials finished in the plain sweep: skipped")
            continue
        used.append(seed_dir.name)
        epochs = max(len(r["curves"].get("val_acc", [])) for r in plain)
        pooled += plain
        pool_epochs = max(pool_epochs, epochs)
        for rank in RULES:
            schedule = RungSchedule(
                args.min_epochs, args.eta, epochs, RANKS[0] if rank in ORACLES else rank, keep_front=keep_front
            )
            sim = simulate(
                plain,
                rank,
                schedule,
                epochs,
                args.rank_energy_scale,
                args.rung_repeats,
                args.energy_scale,
                args.brackets,
                args.promotion,
            )
            rows = [without_curves(r) for r in plain]
            s = compare(rows, sim, args.energy_scale, args.reference)
            s["seed"] = int(seed_dir.name[4:])
            s["front_stopped"] = front_stopped(rows, per_trial(plain, sim))
            results[rank].append(s)
            if args.orders and not args.pool:
                o = over_orders(
                    plain,
                    schedule,
                    epochs,
                    args.orders,
                    s["seed"],
                    args.energy_scale,
                    args.rank_energy_scale,
                    rule=rank,
                    rung_repeats=args.rung_repeats,
                    ref_kind=args.reference,
                    brackets=args.brackets,
                    promotion=args.promotion,
                )
                ordered[rank].append({"seed": s["seed"], **o})
    pool: dict[str, dict[str, Any]] = {}
    if args.pool:
        if args.pool > len(pooled):
            raise SystemExit(f"--pool {args.pool}: the plain sweeps hold {len(pooled)} trials; give at most that")
        for rank in RULES:
            schedule = RungSchedule(
                args.min_epochs, args.eta, pool_epochs, RANKS[0] if rank in ORACLES else rank, keep_front=keep_front
            )
            pool[rank] = over_orders(
                pooled,
                schedule,
                pool_epochs,
                args.orders,
                0,
                args.energy_scale,
                args.rank_energy_scale,
                args.pool,
                rule=rank,
                rung_repeats=args.rung_repeats,
                ref_kind=args.reference,
                brackets=args.brackets,
                promotion=args.promotion,
            )
    lines = [
        f"REPLAY (simulated from the plain sweeps' measured per-epoch values, not a measurement): {len(used)} "
        f"seeds ({', '.join(used)}), {args.trials} proposals each, min_epochs={args.min_epochs}, eta={args.eta}, "
        f"{args.brackets} bracket(s), "
        f"{'pause and resume (ASHA promotion, one worker)' if args.promotion else 'stop on arrival (the sweeper)'}"
        f"{FINAL_KNOWN_WORDS if args.final_known else ''}; "
        f"hypervolume on {args.energy_scale} J/sample from the {args.reference} reference, the rule ranking on "
        f"{args.rank_energy_scale} J/sample, "
        f"keep_front={keep_front}, a stopped trial's inference benchmark charged at "
        f"{'its measured repeats' if args.rung_repeats is None else f'{args.rung_repeats} repeats'}.",
        "",
        f"| rule | energy to {HV_FRACTION:.0%} of plain's HV, mf/plain: median [IQR] | seeds never reaching it | "
        "whole-sweep energy, mf/plain | final HV, mf/plain | plain's front trials stopped |",
        "|---|---|---|---|---|---|",
    ]
    summary = {}
    for rank, seeds_out in results.items():
        s = summary[rank] = summarise(seeds_out)

        def q(x: Any) -> str:
            return "-" if x is None else f"{x[1]:.0%} [{x[0]:.0%}, {x[2]:.0%}]"

        lines.append(
            f"| {rank} | {q(s['energy_ratio_to_target_quartiles'])} | {s['seeds_target_not_reached_by_mf']} | "
            f"{q(s['total_energy_ratio_quartiles'])} | {q(s['final_hv_ratio_quartiles'])} | "
            f"{sum(x['front_stopped'][0] for x in seeds_out)} of {sum(x['front_stopped'][1] for x in seeds_out)} |"
        )
    if args.orders and not args.pool:
        lines += [
            "",
            f"Over {args.orders} random orders of each seed's trials (mean energy to the target per seed, orders where "
            "mf never reaches it counted apart):",
            "",
            "| rule | per seed: mean mf J / mean plain J (orders mf never reaches it) | median over seeds | "
            "plain's front trials stopped, per seed | whole sweep, mf / plain, median over seeds |",
            "|---|---|---|---|---|",
        ]
        for rank, rows in ordered.items():
            per = ", ".join(
                f"seed {o['seed']} {'-' if o['ratio'] is None else format(o['ratio'], '.0%')} "
                f"({o['mf_never_share']:.0%})"
                for o in rows
            )
            ratios = [o["ratio"] for o in rows if o["ratio"] is not None]
            shares = [o["front_stopped_share"] for o in rows]
            lost = ", ".join("-" if x is None else f"{x:.0%}" for x in shares)
            median = format(statistics.median(ratios), ".0%") if ratios else "-"
            wholes = [o["whole_sweep_ratio"] for o in rows if o["whole_sweep_ratio"] is not None]
            whole = format(statistics.median(wholes), ".0%") if wholes else "-"
            lines.append(f"| {rank} | {per} | {median} | {lost} | {whole} |")
    if pool:
        lines += [
            "",
            f"Sweeps of {args.pool} trials drawn from all {len(pooled)} plain trials of these seeds together "
            f"({args.orders} draws, each in a random order):",
            "",
            "| rule | mean mf J / mean plain J to the target | draws mf never reaches it | plain's front trials "
            "stopped |",
            "|---|---|---|---|",
        ]
        for rank, o in pool.items():
            ratio = "-" if o["ratio"] is None else format(o["ratio"], ".0%")
            lost = "-" if o["front_stopped_share"] is None else format(o["front_stopped_share"], ".0%")
            lines.append(f"| {rank} | {ratio} | {o['mf_never_share']:.0%} | {lost} |")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"multi_fidelity_replay_eta{args.eta}" + (f"_{args.trials}trials" if args.trials != 8 else "")
    stem += f"_pool{args.pool}" if args.pool else ""
    stem += "_log" if args.energy_scale == LOG else ""
    stem += "_frontref" if args.reference != BOX else ""
    stem += f"_min{args.min_epochs}" if args.min_epochs != 1 else ""
    stem += f"_brackets{args.brackets}" if args.brackets != 1 else ""
    stem += "_promotion" if args.promotion else ""
    stem += "_finalknown" if args.final_known else ""
    stem += "_ranklinear" if args.rank_energy_scale == LINEAR else ""
    stem += f"_rungrepeats{args.rung_repeats}" if args.rung_repeats is not None else ""
    stem += "" if keep_front else "_toponly"
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
