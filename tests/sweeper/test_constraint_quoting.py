"""A constraint spelt as the README once had it, ``[metric <= bound]`` unquoted, gets one line with the quoting;
the spellings Hydra's grammar takes (a list of quoted constraints, one quoted string) run a sweep with them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ecopt_lightning.sweeper._override_hints import constraint_quoting_error, quoting_error
from ecopt_lightning.sweeper._schema import CONSTRAINTS_ATTR, SETTINGS_ATTR
from tests.guards import SUBPROCESS_S

from .conftest import load_study

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("arg", "right"),
    [
        (
            "hydra.sweeper.constraints=[energy/inference_per_sample_J <= 0.0002]",
            "\"hydra.sweeper.constraints=['energy/inference_per_sample_J <= 0.0002']\"",
        ),
        ("hydra.sweeper.constraints=[a > 1, 'b <= 2']", "\"hydra.sweeper.constraints=['a > 1', 'b <= 2']\""),
        ("hydra.sweeper.constraints=energy/total_J<=60", "\"hydra.sweeper.constraints=['energy/total_J<=60']\""),
        ("hydra.sweeper.constraints=a<=1, b>=2", "\"hydra.sweeper.constraints=['a<=1', 'b>=2']\""),
        ("+hydra.sweeper.constraints=[x>=1]", "\"+hydra.sweeper.constraints=['x>=1']\""),
    ],
)
def test_spellings_the_grammar_refuses_get_the_right_quoting(arg: str, right: str) -> None:
    message = constraint_quoting_error(["model.width=8", arg])
    assert message is not None and message.endswith(f"quote each constraint: {right}")
    assert "\n" not in message


@pytest.mark.parametrize(
    "arg",
    [
        "hydra.sweeper.constraints=['energy/inference_per_sample_J <= 0.0002']",
        'hydra.sweeper.constraints=["a <= 1", "b >= 2"]',
        "hydra.sweeper.constraints=[]",
        "hydra.sweeper.constraints='energy/total_J <= 60'",  # one quoted string: the sweeper splits it
        'hydra.sweeper.constraints="energy/total_J <= 60, val_acc >= 0.5"',
        "model.note=[a <= 1]",  # not ours
    ],
)
def test_spellings_that_work_pass_untouched(arg: str) -> None:
    assert constraint_quoting_error([arg]) is None


def test_the_app_stops_with_one_line_instead_of_hydras_lexer_error(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "train.py"),
        "-m",
        "hydra/sweeper=ecopt",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra.sweeper.constraints=[energy/inference_per_sample_J <= 0.0002]",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=SUBPROCESS_S, env={**os.environ})
    assert out.returncode == 1
    assert "LexerNoViableAltException" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "hydra.sweeper.constraints=[energy/inference_per_sample_J <= 0.0002]: Hydra's override grammar does not "
        "allow a bare '<' or '>'; quote each constraint: "
        "\"hydra.sweeper.constraints=['energy/inference_per_sample_J <= 0.0002']\""
    ]
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(
    "arg",
    [
        'hydra.sweeper.constraints=["energy/total_J <= 60", "val_acc >= 0.9"]',
        "hydra.sweeper.constraints='energy/total_J <= 60, val_acc >= 0.9'",
        'hydra.sweeper.constraints="[energy/total_J <= 60, val_acc >= 0.9]"',
    ],
)
def test_a_sweep_takes_the_list_and_the_one_string_spellings(multirun, tmp_path: Path, arg: str) -> None:
    multirun("hydra.sweeper.n_trials=1", "width=choice(8,16)", arg)
    study = load_study(tmp_path / "sweep")
    assert study.user_attrs[SETTINGS_ATTR]["constraints"] == ["energy/total_J <= 60", "val_acc >= 0.9"]
    (trial,) = study.trials
    # the toy's baseline: 2.1 J, val_acc 1 - 0.5 / 1.8 (tests/sweeper/apps/toy.py)
    values = trial.user_attrs[CONSTRAINTS_ATTR]
    assert values == pytest.approx({"energy/total_J <= 60": 2.1 - 60, "val_acc >= 0.9": 0.9 - (1 - 0.5 / 1.8)})


@pytest.mark.parametrize(
    ("arg", "right"),
    [
        (
            "hydra.sweeper.params.width=choice(8,16)",
            "quote it: \"hydra.sweeper.params.width='choice(8,16)'\", or give it as 'width=choice(8,16)'",
        ),
        (
            "+hydra.sweeper.params.lr=tag(log, interval(1e-4, 1))",
            "quote it: \"+hydra.sweeper.params.lr='tag(log, interval(1e-4, 1))'\", "
            "or give it as 'lr=tag(log, interval(1e-4, 1))'",
        ),
        ("hydra.sweeper.params.width=8,16", "quote it: \"hydra.sweeper.params.width='8,16'\", or give it as"),
        ("hydra.sweeper.params.d=int(interval(1, 5))", "quote it: \"hydra.sweeper.params.d='int(interval(1, 5))'\""),
        (
            "hydra.sweeper.params.opt=choice('adam','sgd')",
            "quote it: \"hydra.sweeper.params.opt=\\\"choice('adam','sgd')\\\"\", "
            "or give it as \"opt=choice('adam','sgd')\"",
        ),
    ],
)
def test_an_unquoted_search_expression_in_params_gets_the_quoting(arg: str, right: str) -> None:
    message = quoting_error(["model.width=8", arg])
    assert message is not None and message.startswith(f"{arg}: Hydra does not allow a sweep in its own config")
    assert right in message and "\n" not in message


@pytest.mark.parametrize(
    "arg",
    [
        "hydra.sweeper.params.width='choice(8,16)'",
        "hydra.sweeper.params.width=8",
        "hydra.sweeper.params.note=[1,2]",
        "hydra.sweeper.params.d=int(3.5)",
        "width=choice(8,16)",
    ],
)
def test_params_spellings_that_work_pass_untouched(arg: str) -> None:
    assert quoting_error([arg]) is None


def test_the_quoting_shown_for_params_runs_the_search(tmp_path: Path) -> None:
    """``hydra.sweeper.params.x=choice(...)`` unquoted stopped with Hydra's "Sweeping over Hydra's configuration
    is not supported", which does not say what to write; the line now names the quoting, and the spelling it
    shows, typed into a shell, runs the search."""
    app = ROOT / "tests" / "compat_official" / "example" / "sphere.py"
    # the sphere squares x: string choices fail its trials, which max_failure_rate=1.0 lets pass
    base = [sys.executable, str(app), "-m", "hydra.sweeper.n_trials=1", "hydra.sweeper.max_failure_rate=1.0"]
    out = subprocess.run(
        [*base, f"hydra.sweep.dir={tmp_path / 'a'}", "hydra.sweeper.params.x=choice('1','2')"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_S,
    )
    assert out.returncode == 1 and not (tmp_path / "a").exists()
    (line,) = [x for x in out.stderr.splitlines() if "hydra.sweeper.params" in x]
    shown = line.split("quote it: ", 1)[1].split(", or give it as ")[0]
    command = " ".join([*map(shlex.quote, base), shlex.quote(f"hydra.sweep.dir={tmp_path / 'b'}"), shown])
    run = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=SUBPROCESS_S)
    assert run.returncode == 0, run.stderr
    assert "search space x: one of 1, 2;" in run.stdout + run.stderr


def test_a_dotted_key_in_params_quoted_as_shown_is_searched(tmp_path: Path) -> None:
    """The quoting shown for ``+hydra.sweeper.params.optim.name=choice(adam,sgd)`` made a nested ``params`` mapping
    that stopped the sweep with a grammar error; the key is searched as ``optim.name``."""
    arg = "+hydra.sweeper.params.optim.name=choice(adam,sgd)"  # composed.yaml has no params: +
    shown = quoting_error([arg]).split("quote it: ", 1)[1].split(", or give it as ")[0]  # type: ignore[union-attr]
    assert shown == "\"+hydra.sweeper.params.optim.name='choice(adam,sgd)'\""
    app = ROOT / "tests" / "sweeper" / "apps" / "composed.py"
    sweep = tmp_path / "sweep"
    base = [
        sys.executable,
        str(app),
        "-m",
        "hydra/sweeper=ecopt",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweeper.n_trials=2",
    ]
    command = " ".join([*map(shlex.quote, base), "hydra.sweeper.baseline=false", shown])
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.run(
        command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=SUBPROCESS_S, env=env
    )
    assert run.returncode == 0, run.stderr
    study = load_study(sweep, "composed")
    assert [sorted(t.params) for t in study.trials] == [["optim.name"], ["optim.name"]]
    assert {t.params["optim.name"] for t in study.trials} <= {"adam", "sgd"}
