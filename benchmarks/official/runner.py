"""Run benchmark problems through the official hydra-optuna-sweeper's default sampler (Optuna 2.10).

Runs inside ``benchmarks/.venv-official`` (optuna 2.10, hydra-optuna-sweeper 1.3.0, hydra-core 1.3). The
sampler is built from the plugin's own default config (``TPESamplerConfig``: TPE, ``n_startup_trials=10``,
``multivariate=False``...) and driven the way the plugin drives it (``study.ask()``, one ``suggest_float``
per parameter for ``interval(low, high)``, ``study.tell(values)``), without Hydra jobs in between.

Input (stdin, JSON): ``{"problems": [...], "seeds": [...], "n_trials": N}``. Output (stdout, JSON): one row
per (problem, seed) with every trial's objective values (all minimised) and the wall time (s).

Example:
    ``echo '{"problems": ["zdt1"], "seeds": [0], "n_trials": 25}' | benchmarks/.venv-official/bin/python
    benchmarks/official/runner.py``
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper.config import TPESamplerConfig
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from problems import PROBLEMS


def run(problem: str, seed: int, n_trials: int) -> dict[str, Any]:
    """Objective values of ``n_trials`` trials of the official sweeper's default sampler on ``problem``."""
    p = PROBLEMS[problem]
    sampler = instantiate(OmegaConf.structured(TPESamplerConfig(seed=seed)))
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * p.n_obj)
    values = []
    start = time.perf_counter()
    for _ in range(n_trials):
        trial = study.ask()
        x = [trial.suggest_float(f"x{i:02d}", lo, hi) for i, (lo, hi) in enumerate(p.bounds)]
        f = list(p.evaluate(x))
        study.tell(trial, f)
        values.append(f)
    return {
        "problem": problem,
        "method": "official",
        "seed": seed,
        "values": values,
        "seconds": time.perf_counter() - start,
        "sampler": type(sampler).__name__,
    }


def main() -> None:
    """Read the job list from stdin and print the results as JSON."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    job = json.load(sys.stdin)
    rows = [run(p, s, job["n_trials"]) for p in job["problems"] for s in job["seeds"]]
    json.dump({"optuna": optuna.__version__, "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
