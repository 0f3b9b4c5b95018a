"""The sweeper's own cost per trial (issue 14), bounded by construction instead of timed: each batch of the
sweep loop reads the study's trials once (for its report; the next turn of the loop starts from that read), so
the dead-trial watch, the budget count, the pruned count and the clean-up of a batch add no read of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_multirun

pytestmark = pytest.mark.slow


def _reads(tmp_path: Path, n_trials: int) -> int:
    """Reads of all the study's trials (``Study.get_trials``) in a whole sweep of ``n_trials`` one-job batches."""
    out = tmp_path / f"reads-{n_trials}"
    proc = run_multirun(
        tmp_path / f"sweep-{n_trials}",
        "width=choice(8,16,32)",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.heartbeat_interval_s=0",  # no heartbeat thread: nothing but the loop itself acts
        f"hydra.sweeper.n_trials={n_trials}",
        app="counted.py",
        env={"ECOPT_TEST_TRIAL_READS": str(out)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(out.read_text(encoding="utf-8"))


def test_each_batch_reads_the_studys_trials_once(tmp_path: Path) -> None:
    short, long = _reads(tmp_path, 2), _reads(tmp_path, 5)
    assert long - short <= 5 - 2  # three more one-job batches, one read each (there were six each)
