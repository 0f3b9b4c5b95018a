"""Sampler choice (``auto``) and construction with Optuna's constructor arguments."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from ecopt_lightning.sweeper import SweeperConfigError
from ecopt_lightning.sweeper._samplers import build, choose, describe

NUMERIC = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
MIXED = {**NUMERIC, "opt": CategoricalDistribution(["adam", "sgd"])}


@pytest.mark.parametrize(
    ("space", "n_obj", "n_trials", "custom", "expected"),
    [
        (NUMERIC, 2, 50, False, "gp"),
        (MIXED, 2, 50, False, "tpe"),
        (NUMERIC, 2, 500, False, "nsga2"),
        (NUMERIC, 4, 500, False, "nsga3"),
        (NUMERIC, 2, 250, False, "tpe"),
        (NUMERIC, 2, 20, True, "tpe"),
    ],
)
def test_auto_choice_and_reason(space, n_obj: int, n_trials: int, custom: bool, expected: str) -> None:
    name, reason = choose("auto", n_obj, space, n_trials, custom)
    assert name == expected and reason


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("tpe", "TPESampler"),
        ("nsga2", "NSGAIISampler"),
        ("nsga3", "NSGAIIISampler"),
        ("gp", "GPSampler"),
        ("random", "RandomSampler"),
        ("qmc", "QMCSampler"),
    ],
)
def test_build_each_sampler(name: str, cls: str) -> None:
    assert describe(build(name, {}, seed=1, constrained=True)).split(" ")[0] == cls


def test_sampler_kwargs_pass_through_and_bad_ones_name_the_field() -> None:
    assert build("nsga2", {"population_size": 4}, seed=0, constrained=False).inner._population_size == 4
    with pytest.raises(SweeperConfigError, match=r"^hydra.sweeper.sampler_kwargs=\{'bogus': 1\} is not allowed"):
        build("tpe", {"bogus": 1}, seed=0, constrained=False)
