"""Benchmark sweeps (pruning.py, multi_fidelity.py, multi_fidelity_replay.py): one sweep run in a subprocess, its
trials read back as rows, and the hypervolume reached against the energy spent.

A trial without a measured energy keeps ``energy_J = None`` (never 0 J): the energy sums skip it and
:func:`unmeasured` says how many they skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from ecopt_lightning.sweeper._records import TrialRecord

ROOT = Path(__file__).resolve().parents[1]
#: the quality and the inference cost every benchmark sweep's front is drawn in
ACC_METRIC, J_PER_SAMPLE_METRIC = "val_acc", "energy/inference_per_sample_J"
Row = dict[str, Any]


def run_sweep(
    script: str, overrides: list[str], sweep_dir: Path, study_name: str, label: str, threads: int = 0
) -> list[tuple[FrozenTrial, TrialRecord]]:
    """Run ``script --app -m`` with ``overrides`` in ``sweep_dir``; return ``(FrozenTrial, TrialRecord)`` by number.

    ``threads``: ``OMP_NUM_THREADS`` of the sweep and its jobs (0: torch's default). Raises ``SystemExit`` naming
    ``label`` and the sweep's last stderr when the sweep fails.
    """
    cmd = [sys.executable, str(Path(script).resolve()), "--app", "-m", f"hydra.sweep.dir={sweep_dir}", *overrides]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({label}): {proc.stderr[-1500:]}")
    return read_study(sweep_dir, study_name)


def read_study(sweep_dir: Path, study_name: str) -> list[tuple[FrozenTrial, TrialRecord]]:
    """The SQLite study ``study_name`` in ``sweep_dir``: ``(FrozenTrial, TrialRecord)`` by trial number."""
    import optuna

    from ecopt_lightning.sweeper._records import to_record
    from ecopt_lightning.sweeper._schema import ReportSettings

    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{sweep_dir / 'ecopt.db'}")
    settings = ReportSettings.from_attrs(study.user_attrs, None, ["maximize", "minimize"])
    return [(t, to_record(t, settings)) for t in sorted(study.trials, key=lambda t: t.number)]


def trial_row(trial: FrozenTrial, record: TrialRecord) -> Row:
    """One trial as the benchmarks tabulate it: number, state, energy (J) and its source, ``val_acc``, J per
    inference sample, the rung it was stopped at, params. ``energy_J`` is ``None`` when nothing measured it."""
    return {
        "number": trial.number,
        "state": trial.state.name,
        "energy_J": record.energy_J,
        "energy_source": record.energy_source,
        "acc": record.metrics.get(ACC_METRIC),
        "j_per_sample": record.metrics.get(J_PER_SAMPLE_METRIC),
        "stopped_at_epoch": record.stopped_at_epoch,
        "params": dict(trial.params),
    }


def unmeasured(rows: Sequence[Row]) -> int:
    """How many trials have no measured energy (left out of every energy sum)."""
    return sum(r["energy_J"] is None for r in rows)


def complete(r: Row) -> bool:
    """Whether a trial ran to the end with both values measured (only such a trial can be on a front).

    Example:
        >>> complete({"state": "COMPLETE", "acc": 0.9, "j_per_sample": None})
        False
    """
    return r["state"] == "COMPLETE" and r["acc"] is not None and r["j_per_sample"] is not None


def hv_curve(rows: Sequence[Row], ref: tuple[float, float]) -> list[tuple[float, float]]:
    """``(cumulative measured energy J, hypervolume of the complete trials' front)`` after each trial.

    Points are ``(-val_acc, J/sample)``; only those strictly better than ``ref`` add volume. A trial without a
    measured energy adds nothing to the energy (see :func:`unmeasured`).
    """
    from ecopt_lightning.sweeper._pareto import hypervolume

    points: list[tuple[float, float]] = []
    curve: list[tuple[float, float]] = []
    spent = 0.0
    for r in rows:
        if r["energy_J"] is not None:
            spent += r["energy_J"]
        if complete(r):
            points.append((-r["acc"], r["j_per_sample"]))
        curve.append((spent, hypervolume(points, ref) if points else 0.0))
    return curve


def energy_to_reach(curve: Sequence[tuple[float, float]], target: float) -> float | None:
    """Cumulative energy (J) when the hypervolume first reaches ``target``; ``None`` if it never does."""
    return next((e for e, hv in curve if hv >= target * (1 - 1e-12)), None)


def trials_to_reach(curve: Sequence[tuple[float, float]], target: float) -> int | None:
    """Trials run (stopped ones included) when the hypervolume first reaches ``target``; ``None`` if never.

    Example:
        >>> trials_to_reach([(10.0, 0.0), (25.0, 0.5), (30.0, 0.9)], 0.5)
        2
    """
    return next((i + 1 for i, (_, hv) in enumerate(curve) if hv >= target * (1 - 1e-12)), None)
