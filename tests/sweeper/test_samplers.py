"""Sampler choice (``auto``) and construction with Optuna's constructor arguments."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from ecopt_lightning.sweeper import SweeperConfigError
from ecopt_lightning.sweeper._samplers import auto_kwargs, build, choose, describe, grid_points, too_slow
from ecopt_lightning.sweeper._sweeper import runs_alone, sampler_seed
from ecopt_lightning.sweeper.config import validate

NUMERIC = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
MIXED = {**NUMERIC, "opt": CategoricalDistribution(["adam", "sgd"])}


def _inner(sampler):
    """The Optuna sampler itself: inside the failure wrapper (Optuna 5), or as built (Optuna 4)."""
    return getattr(sampler, "inner", sampler)


@pytest.mark.parametrize(
    ("space", "n_obj", "n_trials", "custom", "expected"),
    [
        (NUMERIC, 2, 50, False, "gp"),
        (MIXED, 2, 50, False, "gp"),
        (MIXED, 2, 150, False, "tpe"),
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
    assert _inner(build("nsga2", {"population_size": 4}, seed=0, constrained=False))._population_size == 4
    with pytest.raises(SweeperConfigError, match=r"^hydra.sweeper.sampler_kwargs=\{bogus: 1\} is not allowed"):
        build("tpe", {"bogus": 1}, seed=0, constrained=False)


def test_grid_points_and_a_continuous_interval_is_refused_with_one_line() -> None:
    from optuna.distributions import IntDistribution

    space = {
        "w": CategoricalDistribution([8, 16]),
        "d": IntDistribution(1, 5, step=2),
        "lr": FloatDistribution(0, 1, step=0.5),
    }
    # as hydra-optuna-sweeper's grid: the steps below the range's high (Hydra's range excludes stop)
    assert grid_points(space) == {"w": [8, 16], "d": [1, 3], "lr": [0.0, 0.5]}
    assert build("grid", {}, seed=0, constrained=False, space=space)._n_min_trials == 8
    with pytest.raises(SweeperConfigError, match=r"^hydra.sweeper.sampler='grid' is not allowed: .*lr is FloatDist"):
        grid_points(NUMERIC)


@pytest.mark.slow
def test_grid_multirun_visits_every_point_once(multirun, tmp_path) -> None:
    from .conftest import load_study

    multirun(
        "width=choice(8,16,32)",
        "depth=range(1,3)",
        "hydra.sweeper.sampler=grid",
        "hydra.sweeper.n_trials=50",  # capped at the 6 points
        "hydra.sweeper.n_jobs=2",
    )
    trials = load_study(tmp_path / "sweep").trials
    points = sorted((t.params["width"], t.params["depth"]) for t in trials)
    assert points == [(w, d) for w in (8, 16, 32) for d in (1, 2)]
    assert all(t.state.name == "COMPLETE" for t in trials)


def test_auto_weighs_gp_time_against_the_trials_and_says_why() -> None:
    slow_trials = choose("auto", 2, NUMERIC, 200, False, trial_seconds=600.0)
    instant_trials = choose("auto", 2, NUMERIC, 200, False, trial_seconds=0.01)
    assert slow_trials[0] == "gp" and "numeric" in slow_trials[1]
    assert instant_trials[0] == "tpe"
    assert "GP (estimated) proposing took" in instant_trials[1] and "> 10% of the time" in instant_trials[1]
    assert choose("auto", 2, NUMERIC, 200, False)[0] == "gp"  # durations unknown: the measured time decides later


def test_too_slow_moves_only_from_samplers_with_a_cheaper_one() -> None:
    assert too_slow("gp", propose_s=1.0, trial_s=1.0) == (
        "proposing took 1 s against 1 s of running trials (50% > 10% of the time); tpe is cheaper"
    )
    assert too_slow("gp", propose_s=1.0, trial_s=9.0) is None  # exactly the share: stays
    assert too_slow("tpe", propose_s=5.0, trial_s=0.0) is None  # nothing cheaper that still learns


def test_a_batch_whose_trials_all_failed_does_not_move_auto_off_gp() -> None:
    """A first trial that failed at once (no GPU, a typo in the app) made its batch look quick, and auto left GP
    for TPE for the rest of the sweep on the strength of it."""
    assert too_slow("gp", propose_s=1.0, trial_s=0.01, completed=False) is None
    assert too_slow("gp", propose_s=1.0, trial_s=0.01, completed=True) is not None


def test_auto_uses_multivariate_tpe_on_categorical_and_integer_spaces() -> None:
    from optuna.distributions import IntDistribution

    assert auto_kwargs("tpe", MIXED) == {"multivariate": True, "group": True}
    assert auto_kwargs("tpe", {"depth": IntDistribution(1, 8)}) == {"multivariate": True, "group": True}
    assert auto_kwargs("tpe", NUMERIC) == {} and auto_kwargs("gp", MIXED) == {}
    inner = _inner(build("tpe", auto_kwargs("tpe", MIXED), seed=0, constrained=False))
    assert inner._multivariate and inner._group


def test_auto_on_categorical_spaces_moves_from_gp_to_tpe_when_trials_are_instant_and_the_budget_large() -> None:
    small = choose("auto", 2, MIXED, 50, False, trial_seconds=30.0)
    large_instant = choose("auto", 2, MIXED, 100, False, trial_seconds=0.01)
    assert small[0] == "gp" and "GP had the best hypervolume" in small[1]
    assert large_instant[0] == "tpe" and "proposing took" in large_instant[1]


def test_tpe_lies_about_running_trials_only_when_others_can_run_meanwhile() -> None:
    # alone, no other trial runs while one is proposed: constant_liar changes no proposal, only adds reads
    assert _inner(build("tpe", {}, seed=0, constrained=False))._constant_liar
    assert not _inner(build("tpe", {}, seed=0, constrained=False, concurrent=False))._constant_liar
    given = {"constant_liar": True}
    assert _inner(build("tpe", given, seed=0, constrained=False, concurrent=False))._constant_liar
    assert runs_alone(validate({"n_jobs": 1}))
    assert not runs_alone(validate({"n_jobs": 2}))
    assert not runs_alone(validate({"n_jobs": 1, "storage": "sqlite:///shared.db"}))  # other workers may share it


def test_a_sampler_that_takes_over_does_not_replay_the_first_proposal() -> None:
    """Regression (first-hour audit, 2026-11-28): when ``auto`` moved from GP to TPE after trial 0, TPE got the
    sweep's seed and its random start drew trial 0's parameters again (a failing trial failed twice)."""
    import optuna

    def first(sampler):
        return optuna.create_study(directions=["maximize", "minimize"], sampler=sampler).ask(MIXED).params

    gp_first = first(build("gp", {}, seed=0, constrained=False))
    assert first(build("tpe", {}, seed=0, constrained=False)) == gp_first  # the same seed, the same random start
    assert first(build("tpe", {}, seed=sampler_seed(0, 1), constrained=False)) != gp_first


def test_a_sampler_class_that_cannot_be_imported_says_why(tmp_path, monkeypatch) -> None:
    """A sampler module that imports a missing package gave the line of a misspelt path, without the reason."""
    (tmp_path / "mysampler.py").write_text("import no_such_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SweeperConfigError) as info:
        build("custom", {}, None, False, target="mysampler.Sampler")
    assert str(info.value) == (
        "hydra.sweeper.sampler._target_='mysampler.Sampler' is not allowed: an importable Optuna sampler class "
        "(ModuleNotFoundError: No module named 'no_such_package_xyz')"
    )
