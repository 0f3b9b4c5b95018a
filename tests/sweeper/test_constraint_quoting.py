"""A constraint spelt as the README once had it, ``[metric <= bound]`` unquoted, gets one line with the quoting;
the spellings Hydra's grammar takes (a list of quoted constraints, one quoted string) run a sweep with them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecopt_lightning.sweeper._override_hints import constraint_quoting_error
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
