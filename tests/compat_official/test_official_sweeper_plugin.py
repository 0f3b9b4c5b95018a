"""The compatibility contract: hydra-optuna-sweeper's own test suite, run against ``ecopt``.

Ported from facebookresearch/hydra ``plugins/hydra_optuna_sweeper/tests/test_optuna_sweeper_plugin.py``
(commit 2c03d1b925fe, plus ``test_example_with_deprecated_search_space`` from the 1.3 line), with its
example apps and configs beside this file. The one word changed is ``optuna`` -> ``ecopt`` (in the
configs' ``override hydra/sweeper: ...``, and in ``optimization_results.yaml``'s ``name``, which names the
sweeper that wrote it). Every command line is the official one; every multirun is real, in a subprocess.

Kept as they are (their assertions unchanged): the examples, grid, multi-objective, custom search space,
failure rate, motpe and deprecated ``search_space`` runs; the grammar cases, run through our parser.
Skipped, with the reason: tests of the official plugin's internal classes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.errors import InstantiationException
from hydra.plugins.sweeper import Sweeper
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from pytest import mark, raises

from ecopt_lightning.sweeper._space import parse_space, to_distribution
from ecopt_lightning.sweeper.config import MOTPESamplerConf
from tests.guards import SUBPROCESS_S

pytestmark = [mark.compat_official, mark.slow]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SWEEPER_NAME = "ecopt"  # official: "optuna"


def run_python_script(cmd: list[str], raise_exception: bool = True) -> tuple[str, str]:
    """``python <cmd>`` in this folder (the official tests run from the plugin's root), as hydra's
    ``run_python_script``/``run_process``: stdout and stderr; a non-zero exit fails unless told not to."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, *cmd], cwd=HERE, env=env, capture_output=True, text=True, timeout=SUBPROCESS_S, check=False
    )
    if raise_exception and proc.returncode != 0:
        pytest.fail(f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout, proc.stderr


def test_discovery() -> None:
    assert "EcoptSweeper" in [x.__name__ for x in Plugins.instance().discover(Sweeper)]


def check_distribution(expected: BaseDistribution, actual: BaseDistribution) -> None:
    if not isinstance(expected, CategoricalDistribution):
        assert expected == actual
        return

    assert isinstance(actual, CategoricalDistribution)
    # shuffle() will randomize the order of items in choices.
    assert set(expected.choices) == set(actual.choices)


@mark.parametrize(
    "input, expected",
    [
        ("key=choice(1,2)", CategoricalDistribution([1, 2])),
        ("key=choice(true, false)", CategoricalDistribution([True, False])),
        ("key=choice('hello', 'world')", CategoricalDistribution(["hello", "world"])),
        ("key=shuffle(range(1,3))", CategoricalDistribution((1, 2))),
        ("key=range(1,3)", IntDistribution(1, 3)),
        ("key=interval(1, 5)", FloatDistribution(1, 5)),
        ("key=int(interval(1, 5))", IntDistribution(1, 5)),
        ("key=tag(log, interval(1, 5))", FloatDistribution(1, 5, log=True)),
        ("key=tag(log, int(interval(1, 5)))", IntDistribution(1, 5, log=True)),
        ("key=range(0.5, 5.5, step=1)", FloatDistribution(0.5, 5.5, step=1)),
    ],
)
def test_create_optuna_distribution_from_override(input: Any, expected: Any) -> None:
    # official: _impl.create_optuna_distribution_from_override; ours: _space.to_distribution, same contract
    parsed = OverridesParser.create().parse_overrides([input])[0]
    actual = to_distribution(parsed)
    check_distribution(expected, actual)


@mark.parametrize(
    "input, expected",
    [
        (["key=choice(1,2)"], ({"key": CategoricalDistribution([1, 2])}, {}, [])),
        (["key=5"], ({}, {"key": "5"}, [])),
        (
            ["key1=choice(1,2)", "key2=5"],
            ({"key1": CategoricalDistribution([1, 2])}, {"key2": "5"}, []),
        ),
        (
            ["key1=choice(1,2)", "key2=5", "key3=range(1,3)"],
            (
                {
                    "key1": CategoricalDistribution([1, 2]),
                    "key3": IntDistribution(1, 3),
                },
                {"key2": "5"},
                [],
            ),
        ),
        (["~z"], ({}, {}, ["~z"])),
        (["~z=10"], ({}, {}, ["~z=10"])),
    ],
)
def test_create_params_from_overrides(input: Any, expected: Any) -> None:
    # official: (distributions, fixed params, delete overrides); ours keeps fixed params and deletions as the
    # override lines they were given as, in one list
    distributions, fixed_params, fixed_overrides = expected
    space = parse_space({}, input)
    assert space.distributions == distributions
    assert space.fixed == [f"{k}={v}" for k, v in fixed_params.items()] + fixed_overrides


@mark.skip(
    reason="tests an internal: OptunaSweeper.sweep() returning None to hydra's in-process TSweepRunner with no "
    "task function; ours returns the study name and front, and a task that returns nothing is a failed trial"
)
def test_launch_jobs() -> None:
    pass


@mark.parametrize("with_commandline", (True, False))
def test_optuna_example(with_commandline: bool, tmpdir: Path) -> None:
    storage = "sqlite:///" + os.path.join(str(tmpdir), "test.db")
    study_name = "test-optuna-example"
    cmd = [
        "example/sphere.py",
        "--multirun",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweeper.study_name={study_name}",
        "hydra/sweeper/sampler=tpe",
        "hydra.sweeper.sampler.seed=123",
        "~z",
    ]
    if with_commandline:
        cmd += [
            "x=choice(0, 1, 2)",
            "y=0",  # Fixed parameter
        ]
    run_python_script(cmd)
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    study = optuna.load_study(storage=storage, study_name=study_name)
    best_trial = study.best_trial
    assert isinstance(returns, DictConfig)
    assert returns.name == SWEEPER_NAME
    assert returns["best_params"]["x"] == best_trial.params["x"]
    if with_commandline:
        assert "y" not in returns["best_params"]
        assert "y" not in best_trial.params
    else:
        assert returns["best_params"]["y"] == best_trial.params["y"]
    assert returns["best_value"] == best_trial.value
    # Check the search performance of the TPE sampler.
    # The threshold is the 95th percentile calculated with 1000 different seed values
    # to make the test robust against the detailed implementation of the sampler.
    # See https://github.com/facebookresearch/hydra/pull/1746#discussion_r681549830.
    assert returns["best_value"] <= 2.27


@mark.parametrize("num_trials", (10, 1))
def test_example_with_grid_sampler(tmpdir: Path, num_trials: int) -> None:
    storage = "sqlite:///" + os.path.join(str(tmpdir), "test.db")
    study_name = "test-grid-sampler"
    cmd = [
        "example/sphere.py",
        "--multirun",
        "--config-dir=conf",
        "--config-name=test_grid",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=False",
        f"hydra.sweeper.n_trials={num_trials}",
        "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweeper.study_name={study_name}",
    ]
    run_python_script(cmd)
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    assert isinstance(returns, DictConfig)
    bv, bx, by, bz = (
        returns["best_value"],
        returns["best_params"]["x"],
        returns["best_params"]["y"],
        returns["best_params"]["z"],
    )
    if num_trials >= 12:
        assert bv == 1 and abs(bx) == 1 and by == 0
    else:
        assert bx in [-1, 1] and by in [-1, 0]
    assert bz in ["foo", "bar"]


@mark.parametrize("with_commandline", (True, False))
def test_optuna_multi_objective_example(with_commandline: bool, tmpdir: Path) -> None:
    cmd = [
        "example/multi-objective.py",
        "--multirun",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=123",
    ]
    if with_commandline:
        cmd += [
            "x=range(0, 5)",
            "y=range(0, 3)",
        ]
    run_python_script(cmd)
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    assert isinstance(returns, DictConfig)
    assert returns.name == SWEEPER_NAME
    if with_commandline:
        for trial_x in returns["solutions"]:
            assert trial_x["params"]["x"] % 1 == 0
            assert trial_x["params"]["y"] % 1 == 0
            # The trials must not dominate each other.
            for trial_y in returns["solutions"]:
                assert not _dominates(trial_x, trial_y)
    else:
        for trial_x in returns["solutions"]:
            assert trial_x["params"]["x"] % 1 in {0, 0.5}
            assert trial_x["params"]["y"] % 1 in {0, 0.5}
            # The trials must not dominate each other.
            for trial_y in returns["solutions"]:
                assert not _dominates(trial_x, trial_y)


def _dominates(values_x: list[float], values_y: list[float]) -> bool:
    return all(x <= y for x, y in zip(values_x, values_y, strict=False)) and any(
        x < y for x, y in zip(values_x, values_y, strict=False)
    )


def test_optuna_custom_search_space_example(tmpdir: Path) -> None:
    max_z_difference_from_x = 0.3
    cmd = [
        "example/custom-search-space-objective.py",
        "--multirun",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=123",
        f"max_z_difference_from_x={max_z_difference_from_x}",
    ]
    run_python_script(cmd)
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    assert isinstance(returns, DictConfig)
    assert returns.name == SWEEPER_NAME
    assert abs(returns["best_params"]["x"] - returns["best_params"]["z"]) <= max_z_difference_from_x
    w = returns["best_params"]["+w"]
    assert 0 <= w <= 1


@mark.parametrize("max_failure_rate", (0.5, 1.0))
def test_failure_rate(max_failure_rate: float, tmpdir: Path) -> None:
    cmd = [
        "example/sphere.py",
        "--multirun",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=123",
        f"hydra.sweeper.max_failure_rate={max_failure_rate}",
        "error=true",
    ]
    _, err = run_python_script(cmd, raise_exception=False)
    error_string = "RuntimeError: cfg.error is True"
    if max_failure_rate < 1.0:
        assert error_string in err
    else:
        assert error_string not in err


def test_motpe_sampler_removed() -> None:
    with raises(InstantiationException, match=r"The 'motpe' sampler was removed in Optuna 4\.0"):
        instantiate(OmegaConf.structured(MOTPESamplerConf))


def test_example_with_removed_motpe(tmpdir: Path) -> None:
    cmd = [
        "example/multi-objective.py",
        "--multirun",
        "--config-dir=conf",
        "--config-name=test_motpe",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=1",
    ]

    _, err = run_python_script(cmd, raise_exception=False)
    assert "motpe" in err
    assert "sampler was removed in Optuna 4.0" in err


@mark.skip(
    reason="tests an internal: OptunaSweeperImpl._process_searchspace_config's UserWarnings, called on the "
    "class directly; ours logs the deprecation (see test_example_with_deprecated_search_space)"
)
def test_warnings() -> None:
    pass


def test_example_with_deprecated_search_space(tmpdir: Path) -> None:
    cmd = [
        "-W ignore::UserWarning",
        "example/sphere.py",
        "--multirun",
        "--config-dir=conf",
        "--config-name=test_deprecated_search_space",
        "hydra.sweep.dir=" + str(tmpdir),
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.n_jobs=1",
    ]

    out, _ = run_python_script(cmd)
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    assert isinstance(returns, DictConfig)
    assert returns.name == SWEEPER_NAME
    assert abs(returns["best_params"]["x"]) <= 5.5
    assert "search_space is deprecated" in out  # ours: a log line, where the official warns


# Not ported from upstream: its tests always choose a sampler group, but its custom-search-space example's config
# sets `sampler: {seed: 123}` alone (the official default sampler, TPE, takes it), and users write the seed so.
def test_a_sampler_seed_without_a_sampler_group_is_taken(tmpdir: Path) -> None:
    cmd = [
        "example/custom-search-space-objective.py",
        "--multirun",
        "hydra.job.chdir=True",
        "hydra.sweeper.n_trials=3",
    ]
    run_python_script([*cmd, f"hydra.sweep.dir={tmpdir}/as_written"])  # the config's own `sampler: {seed: 123}`
    assert OmegaConf.load(f"{tmpdir}/as_written/optimization_results.yaml").name == SWEEPER_NAME
    proposals = []
    for run in ("a", "b"):
        run_python_script([*cmd, f"hydra.sweep.dir={tmpdir}/{run}", "hydra.sweeper.sampler.seed=7"])
        proposals.append(OmegaConf.load(f"{tmpdir}/{run}/optimization_results.yaml").best_params)
    assert proposals[0] == proposals[1]


# Not ported from upstream: with hydra-core 1.3 the official sweeper instantiates a storage written as a config.
def test_a_storage_written_as_an_rdb_storage_config_is_used(tmpdir: Path) -> None:
    db = Path(tmpdir) / "study.db"
    storage = f'{{_target_:optuna.storages.RDBStorage,url:"sqlite:///{db}"}}'
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmpdir}/s", "hydra.sweeper.n_trials=2"]
    run_python_script([*cmd, f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=rdb"])
    assert len(optuna.load_study(study_name="rdb", storage=f"sqlite:///{db}").trials) == 2


# Not ported from upstream: with hydra-core 1.3 the official sweeper instantiates any storage config, a journal
# file's too; ours refused it as "an Optuna storage URL" without saying which one.
def test_a_storage_written_as_a_journal_file_config_is_used(tmpdir: Path) -> None:
    log = Path(tmpdir) / "study.log"
    backend = "{_target_:optuna.storages.journal.JournalFileBackend,file_path:'%s'%s}"
    storage = "{_target_:optuna.storages.JournalStorage,log_storage:%s}"
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmpdir}/s", "hydra.sweeper.n_trials=2"]
    run_python_script([*cmd, f"hydra.sweeper.storage={storage % (backend % (log, ''))}", "hydra.sweeper.study_name=j"])
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(log)))
    assert len(optuna.load_study(study_name="j", storage=journal).trials) == 2
    # other arguments than file_path: the sweeper opens the file itself, so they are refused in one line
    bad = storage % (backend % (log, ",lock_obj:null"))
    _, err = run_python_script([*cmd, f"hydra.sweeper.storage={bad}"], raise_exception=False)
    line = next(line for line in err.splitlines() if "is not allowed" in line)
    assert "is not allowed: {_target_: optuna.storages.JournalStorage, log_storage: {_target_: " in line
    assert "file_path: <path>}} with only file_path set, or null (SQLite in the sweep dir)" in line


# Not ported from upstream: a field of the sampler's own config that the sampler refuses is named as set.
def test_a_bad_field_of_the_sampler_config_is_named_as_the_user_set_it(tmpdir: Path) -> None:
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmpdir}/s", "hydra/sweeper/sampler=tpe"]
    _, err = run_python_script([*cmd, "+hydra.sweeper.sampler.n_startup_trialz=5"], raise_exception=False)
    line = next(line for line in err.splitlines() if "is not allowed" in line)
    assert line.startswith("hydra.sweeper.sampler={n_startup_trialz: 5} is not allowed: arguments of TPESampler")
    assert not Path(f"{tmpdir}/s").exists()  # stopped before anything was written
    _, err = run_python_script([*cmd, "+hydra.sweeper.sampler_kwargs.n_startup_trialz=5"], raise_exception=False)
    assert "hydra.sweeper.sampler_kwargs={n_startup_trialz: 5} is not allowed: arguments of TPESampler" in err


# Not ported from upstream: the official sweeper says "Expect 3, but actually 2." where the returned values and
# the directions differ in number; ours said "the task returned tuple, not a dict of metrics", of a tuple it takes.
@mark.parametrize(
    "direction, said",
    [
        ("[minimize,minimize,minimize]", "the task returned 2 number(s) (tuple) for 3 objective(s)"),
        ("minimize", "the task returned 2 number(s) (tuple) for 1 objective(s) (value)"),
    ],
)
def test_a_return_of_another_count_than_the_directions_says_both_counts(
    direction: str, said: str, tmpdir: Path
) -> None:
    cmd = ["example/multi-objective.py", "--multirun", f"hydra.sweep.dir={tmpdir}", "hydra.sweeper.n_trials=2"]
    _, err = run_python_script([*cmd, f"hydra.sweeper.direction={direction}"], raise_exception=False)
    line = next(line for line in err.splitlines() if "is not allowed" in line)
    assert line.startswith("hydra.sweeper.direction=")
    assert said in line
    assert "not a dict of metrics" not in line


# Not ported from upstream: hydra-optuna-sweeper's default sampler is TPE, so its users set TPE's fields without a
# sampler group (hydra.sweeper.sampler.n_startup_trials=2); ours stopped in Hydra's "Key 'n_startup_trials' is not
# in struct", on three lines that did not say what to write.
def test_a_sampler_field_without_a_sampler_group_reaches_the_sampler(tmpdir: Path) -> None:
    cmd = ["example/custom-search-space-objective.py", "--multirun", f"hydra.sweep.dir={tmpdir}/tpe"]
    out, err = run_python_script([*cmd, "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2"])
    assert "ecopt: sampler TPESampler" in out + err  # auto picks TPE for a custom space
    assert OmegaConf.load(f"{tmpdir}/tpe/optimization_results.yaml").name == SWEEPER_NAME
    # a field of TPE alone, where auto picks another sampler: one line saying how to pick TPE
    cmd = ["example/sphere.py", "--multirun", "--config-dir=conf", "--config-name=test_deprecated_search_space"]
    _, err = run_python_script(
        [*cmd, f"hydra.sweep.dir={tmpdir}/gp", "hydra.sweeper.sampler.consider_endpoints=true"], raise_exception=False
    )
    line = next(line for line in err.splitlines() if "is not allowed" in line)
    assert line.startswith("hydra.sweeper.sampler={consider_endpoints: true} is not allowed: arguments of GPSampler")
    assert line.endswith(
        "which auto picked; to give them to another, pick it: hydra/sweeper/sampler=<name> (tpe: "
        "hydra-optuna-sweeper's default)"
    )
    assert "not in struct" not in err


# Not ported from upstream: the official sweeper ignores what custom_search_space returns; ours took it for a dict
# of extra overrides and stopped in a traceback ("TypeError: 'float' object is not iterable") on a float.
def test_a_custom_space_returning_no_dict_is_ignored_as_the_official_sweeper_does(tmpdir: Path) -> None:
    cmd = [
        "example/custom-search-space-objective.py",
        "--multirun",
        f"hydra.sweep.dir={tmpdir}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.custom_search_space=returning_space.configure",
    ]
    out, err = run_python_script(cmd)
    assert "Traceback" not in err
    said = "custom_search_space returning_space.configure returned float, not a dict of extra overrides: ignored"
    assert (out + err).count(said) == 1  # said once, not per trial
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    assert set(returns["best_params"]) == {"x", "y", "z", "+w"}


# Not ported from upstream: the official sweeper locates custom_search_space as Hydra locates a _target_, a class's
# method too; ours imported all but the last name as a module: "No module named 'returning_space.Spaces'".
def test_a_custom_space_that_is_a_class_method_is_located_as_hydra_does(tmpdir: Path) -> None:
    cmd = [
        "example/custom-search-space-objective.py",
        "--multirun",
        f"hydra.sweep.dir={tmpdir}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.custom_search_space=returning_space.Spaces.configure",
    ]
    run_python_script(cmd)
    returns = OmegaConf.load(f"{tmpdir}/optimization_results.yaml")
    assert set(returns["best_params"]) == {"x", "y", "z", "+w"}


# Not ported from upstream: a config that relied on the official default direction (minimize) runs under ours with
# our default objectives, which name metrics of a dict; the line said what the task returned, not what to write.
def test_a_float_task_without_a_direction_is_told_to_set_one(tmpdir: Path) -> None:
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmpdir}", "hydra.sweeper.direction=null"]
    cmd.append("hydra.sweeper.max_failure_rate=null")  # else the failed batch stops it first, with the trial's error
    _, err = run_python_script(cmd, raise_exception=False)
    line = next(line for line in err.splitlines() if "is not allowed" in line)
    assert line.startswith("hydra.sweeper.objectives=")
    assert "(trial 0: the task returned 1 number(s) (float) for 2 objective(s) (val_acc, " in line
    assert "set hydra.sweeper.direction, one per number (hydra-optuna-sweeper's default: minimize)" in line


# Not ported from upstream: Optuna records a choice as the index of the first equal one, so with choice(1, true) the
# trials that ran x=true were stored and reported as x: 1 (the official sweeper ran them with x=1); refused now.
def test_choices_optuna_cannot_tell_apart_are_refused_before_anything_runs(tmpdir: Path) -> None:
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmpdir}/s", "x=choice(1, 2.5, true)", "y=0"]
    _, err = run_python_script(cmd, raise_exception=False)
    line = next(line for line in err.splitlines() if "is not allowed" in line)
    assert line.startswith("the command-line override 'x=choice(1, 2.5, true)' is not allowed: choice(a,b,...)")
    assert line.endswith(
        "(choices 1 and true are equal in Python, so Optuna would record true as 1: keep one, or quote one)"
    )
    assert not Path(f"{tmpdir}/s").exists()


# Not ported from upstream: the app's own config, error: false, was taken as lying in choice(0, 1) (False == 0 in
# Python), so the baseline trial ran error=false and the study recorded it as error: 0.
def test_a_config_value_equal_to_a_choice_of_another_type_is_no_baseline(tmpdir: Path) -> None:
    from ecopt_lightning.sweeper._schema import BASELINE_ATTR, OVERRIDES_ATTR

    storage = f"sqlite:///{tmpdir}/s.db"
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmpdir}/s", f"hydra.sweeper.storage={storage}"]
    out, err = run_python_script(
        [*cmd, "hydra.sweeper.study_name=b", "hydra.sweeper.n_trials=2", "y=choice(1)", "error=choice(0)"]
    )
    assert "ecopt: no baseline trial: the config's error=False is outside the search space" in out + err
    trials = optuna.load_study(study_name="b", storage=storage).trials
    assert [t.params["error"] for t in trials] == [0, 0]
    assert all(BASELINE_ATTR not in t.user_attrs and "error=0" in t.user_attrs[OVERRIDES_ATTR] for t in trials)
