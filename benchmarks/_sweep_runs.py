"""One benchmark sweep in a subprocess, read back as its trials' records (for pruning.py and multi_fidelity.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(script: str, overrides: list[str], sweep_dir: Path, study_name: str, label: str) -> list[tuple[Any, Any]]:
    """Run ``script --app -m`` with ``overrides`` in ``sweep_dir``; return ``(FrozenTrial, TrialRecord)`` by number.

    Raises ``SystemExit`` naming ``label`` and the sweep's last stderr when the sweep fails.
    """
    import optuna

    from ecopt_lightning.sweeper._records import to_record
    from ecopt_lightning.sweeper._schema import ReportSettings

    cmd = [sys.executable, str(Path(script).resolve()), "--app", "-m", f"hydra.sweep.dir={sweep_dir}", *overrides]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({label}): {proc.stderr[-1500:]}")
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{sweep_dir / 'ecopt.db'}")
    settings = ReportSettings.from_attrs(study.user_attrs, None, ["maximize", "minimize"])
    return [(t, to_record(t, settings)) for t in sorted(study.trials, key=lambda t: t.number)]
