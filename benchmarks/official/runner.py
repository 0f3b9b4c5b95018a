"""Run benchmark problems through the official hydra-optuna-sweeper's default sampler (Optuna 2.10).

Runs inside ``benchmarks/.venv-official`` (optuna 2.10, hydra-optuna-sweeper 1.3.0, hydra-core 1.3). The
sampler is built from the plugin's own default config (``TPESamplerConfig``: TPE, ``n_startup_trials=10``,
``multivariate=False``...) and driven the way the plugin drives it (``study.ask()``, one ``suggest_float``
per parameter for ``interval(low, high)``, ``study.tell(values)``), without Hydra jobs in between.

Input (stdin, JSON): ``{"problems": [...], "seeds": [...], "n_trials": N}``. Output (stdout, JSON): one row
per (problem, seed) with every trial's objective values (all minimised) and the wall time (s).

With ``"set": "spaces"`` the problems are :data:`problems.SPACE_PROBLEMS` (categorical, integer, mixed; issue
13): each parameter is written as the Hydra override a user would write (``choice(0, 1, ...)``,
``range(0, 4)``, ``interval(lo, hi)``, ``tag(log, interval(lo, hi))``), turned into a distribution by the
plugin's own ``create_optuna_distribution_from_override`` and suggested through the public ``suggest_*`` call
that builds the same distribution (the plugin calls ``trial._suggest`` with it); a configuration that fails
is told ``TrialState.FAIL`` as the plugin tells a failed job, and the study runs until ``n_trials`` trials
completed or ``n_trials`` failed (as ``benchmarks/search.py``'s ``run_space``).

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
from problems import PROBLEMS, SPACE_PROBLEMS


def _suggest(trial: optuna.trial.Trial, name: str, dist: Any) -> Any:
    """``dist`` suggested through the public Optuna 2.10 call that records the same distribution."""
    d = optuna.distributions
    if isinstance(dist, d.CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, d.IntLogUniformDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=True)
    if isinstance(dist, d.IntUniformDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step)
    if isinstance(dist, d.DiscreteUniformDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.q)
    if isinstance(dist, d.LogUniformDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=True)
    if isinstance(dist, d.UniformDistribution):
        return trial.suggest_float(name, dist.low, dist.high)
    raise TypeError(f"distribution {dist!r} of {name!r} is not one the official plugin creates")


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


def space_override(name: str, kind: str, choices: tuple[float, ...]) -> str:
    """The Hydra sweep override a user would write for one parameter of a space problem."""
    if kind == "cat":
        return f"{name}=choice({', '.join(str(int(c)) for c in choices)})"
    if kind == "int":
        return f"{name}=range(0,{len(choices) - 1})"  # the plugin draws range's end too: levels 0..len-1
    lo, hi = choices
    return f"{name}=tag(log, interval({lo},{hi}))" if name == "lr" else f"{name}=interval({lo},{hi})"


def run_space(problem: str, seed: int, n_trials: int) -> dict[str, Any]:
    """The official default sampler on a categorical/mixed problem, parameters parsed as the plugin parses them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override
    from optuna.trial import TrialState

    p = SPACE_PROBLEMS[problem]
    parsed = OverridesParser.create().parse_overrides([space_override(*param) for param in p.params])
    space = {o.get_key_element(): create_optuna_distribution_from_override(o) for o in parsed}
    sampler = instantiate(OmegaConf.structured(TPESamplerConfig(seed=seed)))
    study = optuna.create_study(sampler=sampler, directions=["minimize", "minimize"])
    values: list[list[float]] = []
    failed = 0
    start = time.perf_counter()
    while len(values) < n_trials and failed < n_trials:
        trial = study.ask()
        for name, dist in space.items():
            _suggest(trial, name, dist)
        out = p.evaluate(dict(trial.params))
        if out is None:
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
        else:
            study.tell(trial, list(out))
            values.append(list(out))
    return {
        "problem": problem,
        "method": "official",
        "wrapped": False,  # the plugin has no failure wrapper
        "seed": seed,
        "chose": f"{type(sampler).__name__} (hydra-optuna-sweeper 1.3.0 default, Optuna {optuna.__version__})",
        "seconds": time.perf_counter() - start,
        "failed": failed,
        "complete": len(values),
        "values": values,
    }


def main() -> None:
    """Read the job list from stdin and print the results as JSON."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    job = json.load(sys.stdin)
    one = run_space if job.get("set") == "spaces" else run
    rows = [one(p, s, job["n_trials"]) for p in job["problems"] for s in job["seeds"]]
    json.dump({"optuna": optuna.__version__, "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
