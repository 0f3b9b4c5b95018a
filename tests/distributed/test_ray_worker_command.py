"""The command each Ray task runs (``ray_workers.worker_command``), run here without Ray: Ray only places it.

The storage URL, study name and sweep dir come from ``ray_workers``' flags as plain strings; a URL query
(``?sslmode=disable&application_name=...``), a comma or a quote in a path must reach the sweeper unchanged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._urls import password
from ecopt_lightning.sweeper.ray_workers import worker_command
from tests.guards import SUBPROCESS_S
from tests.sweeper.conftest import APPS

from .conftest import sweep_env


@pytest.fixture(params=["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request, tmp_path: Path) -> str:
    if request.param == "journal":
        return "journal://" + str(tmp_path / "shared, [v2]" / "it's study.log")
    return request.getfixturevalue("postgres_url") + "?sslmode=disable&application_name=ecopt,ray"


def test_a_worker_gets_its_storage_study_and_sweep_dir_as_given(tmp_path: Path, storage: str, study_name: str) -> None:
    study, sweep_dir = f"{study_name},v2", tmp_path / "sweeps, [v2]" / "w0"
    command = worker_command(
        str(APPS / "toy.py"), ["hydra.sweeper.n_trials=2", "width=choice(8,16)"], storage, study, sweep_dir, 0
    )
    out = subprocess.run(command, capture_output=True, text=True, env=sweep_env(), cwd=tmp_path, timeout=SUBPROCESS_S)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    store = open_storage(storage, heartbeat_interval_s=0)
    trials = store.get_all_trials(store.get_study_id_from_name(study))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert (sweep_dir / "pareto_front.json").is_file()
    hidden = password(storage)  # the test server's, or none
    assert hidden is None or not [p for p in tmp_path.rglob("*") if p.is_file() and hidden.encode() in p.read_bytes()]
