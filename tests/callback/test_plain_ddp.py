"""EnergyCallback under plain ``ddp`` (Lightning runs the script again for each rank; not ``ddp_spawn``), 2 CPU
processes (gloo), inside a multiprocessing child as a sweep's worker runs a job: one run in a subprocess, shared
by the tests (tests/callback/plain_ddp_fit.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guards import SUBPROCESS_S
from tests.processes import ends_with_this_process

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rank_1_raises(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Rank 1 raises in epoch 1; the temporary folder (``TMPDIR``) is the run's own: ``FOLDER/tmp``."""
    folder = tmp_path_factory.mktemp("plain_ddp")
    (folder / "tmp").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.callback.plain_ddp_fit", str(folder), "1"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(folder / "tmp")},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_S,
        preexec_fn=ends_with_this_process(),
    )
    assert "child exit code 1" in proc.stdout, proc.stderr[-3000:]
    return folder, proc


def test_the_summary_and_the_console_name_the_rank_that_failed_first(rank_1_raises) -> None:
    """Regression (DDP audit, 2026-11-30): rank 0, which writes the summary, failed in its next collective once
    rank 1 was gone, and the summary said rank 0's error, gloo's 'Connection closed by peer ... Check the logs of
    the remote worker', not rank 1's RuntimeError that caused it."""
    folder, proc = rank_1_raises
    summary = json.loads((folder / "energy_summary.json").read_text())
    assert summary["status"] == "failed: rank 1: RuntimeError: boom: injected failure"
    assert summary["partial"] is False and summary["progress"] == {"epochs": 1, "steps": 4}
    assert summary["phases"]["train"]["samples"] == 64  # epoch 0 of both ranks, as of its end
    said = [line for line in proc.stderr.splitlines() if line.startswith("ecopt energy: rank 1 failed first")]
    assert said and said[0].startswith(
        "ecopt energy: rank 1 failed first (rank 1: RuntimeError: boom: injected failure); this rank's RuntimeError:"
    ), proc.stderr[-3000:]


def test_a_failed_fit_leaves_nothing_in_the_temporary_folder(rank_1_raises) -> None:
    """Regression (DDP audit, 2026-11-30): rank 0 took itself for a rank ``ddp_spawn`` started (it ran in a
    multiprocessing child) and wrote ``ecopt-spawn-<parent pid>-summary.txt`` for a launching process that does not
    exist; a fit that raised left it in the temporary folder."""
    folder, _ = rank_1_raises
    assert sorted(p.name for p in (folder / "tmp").glob("ecopt-*")) == []
    # no rank was spawned: rank 1 is a copy of the script; the public fallback cannot tell rank 0, a multiprocessing
    # child (as _lightning_compat.spawned_rank_public says), so the private attribute decides
    assert json.loads((folder / "launch_rank0.json").read_text()) == {"private": False, "public": True}
    assert json.loads((folder / "launch_rank1.json").read_text()) == {"private": False, "public": False}
