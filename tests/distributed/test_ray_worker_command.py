"""The command each Ray task runs (``ray_workers.worker_command``), run here without Ray: Ray only places it.

The storage URL, study name and sweep dir come from ``ray_workers``' flags as plain strings; a URL query
(``?sslmode=disable&application_name=...``), a comma or a quote in a path must reach the sweeper unchanged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper._urls import password
from ecopt_lightning.sweeper.ray_workers import SEED, run_worker, worker_command, worker_env
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
        str(APPS / "toy.py"), ["hydra.sweeper.n_trials=2", "width=choice(8,16)"], study, sweep_dir, 0
    )
    env = sweep_env(worker_env(storage))
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=SUBPROCESS_S)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    store = open_storage(storage, heartbeat_interval_s=0)
    trials = store.get_all_trials(store.get_study_id_from_name(study))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert (sweep_dir / "pareto_front.json").is_file()
    hidden = password(storage)  # the test server's, or none
    assert hidden is None or not [p for p in tmp_path.rglob("*") if p.is_file() and hidden.encode() in p.read_bytes()]


def test_a_seed_given_to_all_workers_becomes_one_seed_each(tmp_path: Path) -> None:
    """``hydra.sweeper.seed=7`` among the overrides came after each worker's own seed and won: every worker had
    seed 7, and a seeded sampler proposed the same points in each."""
    overrides = ["hydra.sweeper.n_trials=4", "hydra.sweeper.seed=7"]
    seeds = [[o for o in worker_command("app.py", overrides, "s", tmp_path, i) if o.startswith(SEED)] for i in range(3)]
    assert seeds == [["hydra.sweeper.seed=7"], ["hydra.sweeper.seed=8"], ["hydra.sweeper.seed=9"]]
    unseeded = worker_command("app.py", ["hydra.sweeper.seed=null"], "s", tmp_path, 1)
    assert [o for o in unseeded if o.startswith(SEED)] == ["hydra.sweeper.seed=null"]


OWN = "is not allowed: ray_workers gives each worker its own"


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("hydra.sweep.dir=/tmp/one", f"hydra.sweep.dir=... {OWN} (set it with --sweep-root)"),
        ("hydra.sweeper.storage=postgresql://u:Zq8pw@h/db", f"hydra.sweeper.storage=... {OWN} (set it with --storage)"),
        (
            "hydra.sweeper.seed=abc",
            "hydra.sweeper.seed=abc is not allowed: an integer (worker i gets that seed + i) or null",
        ),
    ],
)
def test_an_override_every_worker_cannot_share_is_one_line(override: str, said: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ecopt_lightning.sweeper.ray_workers", "--workers", "2", "--study", "s"]
    command += ["--storage", "journal:///nonexistent-dir/study.log", "--sweep-root", str(tmp_path / "ray")]
    proc = subprocess.run(
        [*command, "--", str(APPS / "toy.py"), override], capture_output=True, text=True, env=sweep_env(), timeout=300
    )
    assert proc.returncode == 2 and proc.stderr.splitlines() == [said], proc.stderr
    assert not (tmp_path / "ray").exists()  # no Ray started, no worker


def test_a_relative_journal_file_is_the_drivers_wherever_the_task_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ray task runs in the driver's folder only on a node that has it; elsewhere a relative journal path named
    another file, and that worker swept a study of its own."""
    driver, node = tmp_path / "driver", tmp_path / "node"
    driver.mkdir(), node.mkdir()
    monkeypatch.chdir(driver)
    overrides = ["hydra.sweeper.n_trials=1", "width=choice(8,16)"]
    env = worker_env("journal:shared/study.log")  # made absolute in the driver's folder
    command = worker_command(str(APPS / "toy.py"), overrides, "s", tmp_path / "w0", 0)
    out = subprocess.run(command, capture_output=True, text=True, env=sweep_env(env), cwd=node, timeout=SUBPROCESS_S)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (driver / "shared" / "study.log").is_file() and not (node / "shared").exists()


def test_a_workers_log_keeps_what_the_run_before_said(tmp_path: Path) -> None:
    """``run_worker`` (the body of each Ray task, run here without Ray): the same command run again to resume a
    sweep wrote its log anew, and the reason the first run stopped was lost with it."""
    log = tmp_path / "ray" / "w0.log"
    for said in ("first run: storage stopped answering", "second run: resumed"):
        result = run_worker([sys.executable, "-c", f"print({said!r})"], str(log), sweep_env(), str(tmp_path))
        assert result["returncode"] == 0
    assert log.read_text().splitlines() == ["first run: storage stopped answering", "second run: resumed"]
