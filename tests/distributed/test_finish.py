"""The distributed tests' ``finish``: a sweep process that hangs fails the test with every thread's stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.guards import wait_for

from .conftest import finish, sweep_env


def test_a_hung_process_fails_with_its_stacks_in_the_message(tmp_path: Path) -> None:
    script = "import time\nprint('ready', flush=True)\ndef stuck_here():\n    time.sleep(3600)\nstuck_here()\n"
    with open(tmp_path / "hung.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT, env=sweep_env())
    wait_for(lambda: "ready" in (tmp_path / "hung.log").read_text(), what="the process to start")
    with pytest.raises(AssertionError, match=r"(?s)sweep hung still running.*stuck_here"):
        finish(proc, tmp_path / "hung", timeout=0.1)  # it never ends by itself: no race with the clock
    assert proc.returncode is not None


def test_an_ended_process_gives_its_exit_code(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert finish(proc, tmp_path / "ended") == 3
