"""A constraint spelt as the README once had it, ``[metric <= bound]`` unquoted, gets one line with the quoting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecopt_lightning.sweeper._override_hints import constraint_quoting_error
from tests.guards import SUBPROCESS_S

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
        ("hydra.sweeper.constraints='energy/total_J <= 60'", "\"hydra.sweeper.constraints=['energy/total_J <= 60']\""),
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
