"""At least 30 bad configs and arguments, each a real multirun: a one-line error naming the field, the bad value
and what is allowed, a non-zero exit, and nothing partial written. Runs the cases two at a time."""

from __future__ import annotations

import importlib.util
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest

from .conftest import run

pytestmark = pytest.mark.slow
SPACE = "width=choice(8,16)"
PW = "Zq8pw_secret"

# (id, overrides, expected start of the error line, texts the line must also hold)
CASES = [
    ("unknown sampler", ["hydra.sweeper.sampler=anneal"], "hydra.sweeper.sampler='anneal'", ["one of auto, tpe"]),
    (
        "single-objective sampler, two objectives",
        ["hydra/sweeper/sampler=cmaes"],
        "hydra.sweeper.sampler='cmaes'",
        ["one objective", "tpe"],
    ),
    (
        "bad direction",
        ["hydra.sweeper.objectives=[{name: val_acc, direction: up}]"],
        "hydra.sweeper.objectives[0].direction='up'",
        ["maximize or minimize"],
    ),
    ("no objectives", ["hydra.sweeper.objectives=[]"], "hydra.sweeper.objectives=[]", ["non-empty list"]),
    (
        "duplicate objective",
        ["hydra.sweeper.objectives=[{name: val_acc},{name: val_acc}]"],
        "hydra.sweeper.objectives[1].name='val_acc'",
        ["not used by another objective"],
    ),
    (
        "empty objective name",
        ["hydra.sweeper.objectives=[{name: '', direction: maximize}]"],
        "hydra.sweeper.objectives[0].name=''",
        ["a metric name"],
    ),
    (
        "objective not a mapping",
        ["hydra.sweeper.objectives=[val_acc]"],
        "hydra.sweeper.objectives[0]='val_acc'",
        ["a mapping {name"],
    ),
    (
        "objective extra key",
        ["hydra.sweeper.objectives=[{name: val_acc, weight: 2}]"],
        "hydra.sweeper.objectives[0]=",
        ["a mapping {name"],
    ),
    ("n_trials negative", ["hydra.sweeper.n_trials=-1"], "hydra.sweeper.n_trials=-1", ["an integer >= 0"]),
    ("n_trials text", ["hydra.sweeper.n_trials=many"], "hydra.sweeper.n_trials='many'", ["an integer >= 0"]),
    ("n_jobs zero", ["hydra.sweeper.n_jobs=0"], "hydra.sweeper.n_jobs=0", ["an integer >= 1"]),
    ("negative seed", ["hydra.sweeper.seed=-1"], "hydra.sweeper.seed=-1", ["an integer >= 0"]),
    ("max_failures zero", ["hydra.sweeper.max_failures=0"], "hydra.sweeper.max_failures=0", ["an integer >= 1"]),
    (
        "negative energy budget",
        ["hydra.sweeper.energy_budget_J=-5"],
        "hydra.sweeper.energy_budget_J=-5",
        ["a positive number (J)"],
    ),
    (
        "text energy budget",
        ["hydra.sweeper.energy_budget_J=lots"],
        "hydra.sweeper.energy_budget_J='lots'",
        ["a positive number (J)"],
    ),
    (
        "negative heartbeat",
        ["hydra.sweeper.heartbeat_interval_s=-1"],
        "hydra.sweeper.heartbeat_interval_s=-1",
        ["an integer >= 0"],
    ),
    ("negative max_retry", ["hydra.sweeper.max_retry=-1"], "hydra.sweeper.max_retry=-1", ["an integer >= 0"]),
    (
        "wait_for_running text",
        ["hydra.sweeper.wait_for_running=maybe"],
        "hydra.sweeper.wait_for_running='maybe'",
        ["true"],
    ),
    (
        "constraint operator",
        ["hydra.sweeper.constraints=['energy/total_J == 3']"],
        "hydra.sweeper.constraints[0]='energy/total_J == 3'",
        ["'<metric> <= <number>'"],
    ),
    (
        "constraint without metric",
        ["hydra.sweeper.constraints=['<= 3']"],
        "hydra.sweeper.constraints[0]='<= 3'",
        ["'<metric> <= <number>'"],
    ),
    (
        "unknown logger",
        ["hydra.sweeper.loggers=[neptune]"],
        "hydra.sweeper.loggers='neptune'",
        ["tensorboard, wandb, mlflow"],
    ),
    (
        "storage not a url",
        ["hydra.sweeper.storage='not a url'"],
        "hydra.sweeper.storage='not a url'",
        ["an Optuna storage URL"],
    ),
    (
        "storage unknown scheme",
        ["hydra.sweeper.storage='redis://localhost:6379'"],
        "hydra.sweeper.storage='redis://localhost:6379'",
        ["postgresql://"],
    ),
    (
        "unreachable database",
        [f"hydra.sweeper.storage='postgresql://ecopt:{PW}@127.0.0.1:1/db'"],
        "hydra.sweeper.storage='postgresql://ecopt:***@127.0.0.1:1/db'",
        ["a reachable storage", "Connection refused"],
    ),
    (
        "sqlite folder missing",
        ["hydra.sweeper.storage='sqlite:////nonexistent/dir/x.db'"],
        "hydra.sweeper.storage='sqlite:////nonexistent/dir/x.db'",
        ["a reachable storage"],
    ),
    ("blank study name", ["hydra.sweeper.study_name='  '"], "hydra.sweeper.study_name='", ["a non-empty name or null"]),
    (
        "custom space not importable",
        ["hydra.sweeper.custom_search_space=no.such.fn"],
        "hydra.sweeper.custom_search_space='no.such.fn'",
        ["importable dotted path"],
    ),
    (
        "malformed range",
        ["+hydra.sweeper.params.width='range(1,'"],
        "hydra.sweeper.params.width='range(1,'",
        ["choice(a,b,...)"],
    ),
    (
        "interval low > high",
        ["width=interval(5,1)"],
        "the command-line override 'width=interval(5,1)'",
        ["interval low must be below high"],
    ),
    (
        "log of non-positive bound",
        ["lr=tag(log, interval(0, 1))"],
        "the command-line override 'lr=tag(log, interval(0, 1))'",
        ["interval(low,high)"],
    ),
    ("empty range", ["width=range(3,1)"], "the command-line override 'width=range(3,1)'", ["empty range"]),
    (
        "log of a negative bound in params",
        ["+hydra.sweeper.params.lr='tag(log, interval(-1, 1))'"],
        "hydra.sweeper.params.lr='tag(log, interval(-1, 1))'",
        ["tag(log, interval(low,high))"],
    ),
    ("unknown field", ["+hydra.sweeper.n_trails=3"], "hydra.sweeper.n_trails=3", ["not a field"]),
    ("empty energy metric", ["hydra.sweeper.energy_metric=''"], "hydra.sweeper.energy_metric=''", ["a metric name"]),
    (
        "bad sampler kwargs",
        ["hydra.sweeper.sampler=random", "+hydra.sweeper.sampler_kwargs.bogus=1"],
        "hydra.sweeper.sampler_kwargs={bogus: 1}",
        ["arguments of RandomSampler"],
    ),
    ("empty search space", [], "hydra.sweeper.params={}", ["at least one search expression"]),
    (
        "empty search space: a plain value replaced it",  # first-hour audit, 2026-11-28: it did not say so
        ["+hydra.sweeper.params.width='choice(8,16)'", "width=8"],
        "hydra.sweeper.params={width: 'choice(8,16)'}",
        ["every trial would be the same (the command line gave plain values for width, which replace their"],
    ),
]
CASES += [  # Hydra's "Could not override" took four lines and did not say the key came from the search space
    (
        "search key the app lacks, on the command line",
        ["wdth=choice(8,16)"],
        "the command-line override 'wdth=choice(8,16)'",
        ["a key of the app's config (did you mean 'width'?); to add one it lacks: '+wdth=choice(8,16)'"],
    ),
    (
        "search key the app lacks, in params",
        ["+hydra.sweeper.params.wdth='choice(8,16)'"],
        "hydra.sweeper.params.wdth='choice(8,16)'",
        ["a key of the app's config (did you mean 'width'?); to add one it lacks: the key +wdth in params"],
    ),
]
if importlib.util.find_spec("cmaes") is None:  # Optuna's CmaEsSampler imports it at its first proposal
    one_objective = "hydra.sweeper.objectives=[{name: val_acc, direction: maximize}]"
    cmaes = ["hydra/sweeper/sampler=cmaes", one_objective]
    CASES.append(("cmaes not installed", cmaes, "hydra.sweeper.sampler='cmaes'", ["pip install cmaes"]))
# trial-level mistakes: the study exists, the first trial fails, the run stops at once with one line
TRIAL_CASES = [
    (
        "objective missing from metrics",
        ["hydra.sweeper.objectives=[{name: accuracy, direction: maximize}]"],
        "hydra.sweeper.objectives=[{name: 'accuracy', direction: 'maximize'}] is not allowed",
        ["missing objective 'accuracy'; available:", "stopped after its first finished job"],
    ),
    (  # it said "hydra.sweeper.objectives=['value:minimize'] ...: names of numeric metrics", of a field not set
        "direction set, the task returns a dict",
        ["hydra.sweeper.direction=minimize"],
        "hydra.sweeper.direction='minimize' is not allowed: one direction per number of a task that returns a float",
        ["missing objective 'value'", "for a dict of metrics, name them in hydra.sweeper.objectives instead"],
    ),
    (  # the budget could never stop the sweep: every trial ran, its energy "unknown"
        "energy budget with a misspelt energy metric",
        ["hydra.sweeper.energy_budget_J=100", "hydra.sweeper.energy_metric=energy/totl_J"],
        "hydra.sweeper.energy_metric='energy/totl_J' is not allowed: a metric the task returns, so that "
        "energy_budget_J=100 J can be counted",
        ["(trial 0 reported no energy (did you mean 'energy/total_J'?); available:", "the sweep stopped"],
    ),
    (  # the function's width replaced the command line's width=8 without a word
        "custom space sets a fixed parameter",
        ["hydra.sweeper.custom_search_space=spaces.conditional", "width=8"],
        "hydra.sweeper.custom_search_space='spaces.conditional' is not allowed: a function that sets no parameter",
        ["the overrides fix (width=8;", "as hydra-optuna-sweeper refuses the overlap"],
    ),
    (
        "non-numeric metric",
        ["mode=text_acc"],
        "hydra.sweeper.objectives=",
        ["metric 'val_acc' is 'high' (str): return a number"],
    ),
]


def _error_lines(stderr: str) -> list[str]:
    """The error's lines: Hydra's hint and Optuna's INFO log lines (``[I ...]``) left out."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and "HYDRA_FULL_ERROR" not in line and not line.startswith("[I ")
    ]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    root = tmp_path_factory.mktemp("bad")

    def one(case):
        name, overrides, *_ = case
        sweep = root / "".join(c if c.isalnum() else "_" for c in name) / "sweep"
        space = [] if name.startswith("empty search space") else [SPACE]
        extra = ["hydra.sweeper.max_failures=1"] if case in TRIAL_CASES else []
        return name, (sweep, run(sweep, *space, *extra, *overrides))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, CASES + TRIAL_CASES))


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) + len(TRIAL_CASES) >= 30


@pytest.mark.parametrize(("name", "overrides", "start", "texts"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_nonzero_and_writes_nothing(results, name, overrides, start, texts) -> None:
    sweep, proc = results[name]
    lines = _error_lines(proc.stderr)
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(start) and " is not allowed: " in lines[0], lines[0]
    for text in texts:
        assert text in lines[0], lines[0]
    assert PW not in proc.stderr + proc.stdout
    assert not sweep.exists(), sorted(p.name for p in sweep.rglob("*"))


@pytest.mark.parametrize(("name", "overrides", "start", "texts"), TRIAL_CASES, ids=[c[0] for c in TRIAL_CASES])
def test_bad_metrics_stop_with_one_line(results, name, overrides, start, texts) -> None:
    sweep, proc = results[name]
    lines = _error_lines(proc.stderr.split("Error executing job")[0])
    assert proc.returncode != 0
    assert lines[-1].startswith(start) and all(t in lines[-1] for t in texts), proc.stderr
    json.loads((sweep / "summary.json").read_text())  # the artifacts are whole files


def test_study_with_other_directions_is_refused_and_left_untouched(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    optuna.create_study(study_name="toy", storage=storage, directions=["minimize", "minimize"])
    proc = run(sweep, SPACE)
    lines = _error_lines(proc.stderr)
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("hydra.sweeper.objectives=[{name: 'val_acc', direction: 'maximize'}, {name: 'energy/")
    assert "those of the existing study 'toy'" in lines[0] and "pick another study_name" in lines[0]
    assert sorted(p.name for p in sweep.iterdir()) == ["ecopt.db"]
    assert not optuna.load_study(study_name="toy", storage=storage).trials
