"""The sweeper through hydra-submitit-launcher's ``submitit_local`` executor (the same pickling, job folders and
result files as ``submitit_slurm``): a batch of ``n_jobs`` Lightning trials in separate job processes, one of
them SIGKILLed as a cluster kills a job; it becomes a FAIL trial with its energy kept, and is run again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.doubles.fake_powercap import FakePowercap
from tests.guards import wait_for
from tests.sweeper.conftest import APPS, ROOT, load_study, run_multirun

from .conftest import check_artifacts, finish, ok, run, sweep_cmd, sweep_env

SKIP = "hydra-submitit-launcher is not installed (pip install -e .[cluster])"
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason=SKIP)
pytestmark = pytest.mark.slow
OBJECTIVES = (
    "hydra.sweeper.objectives=[{name: val_acc, direction: maximize},{name: energy/total_J, direction: minimize}]"
)


def cluster_env(tmp_path: Path, gpus: list[dict]) -> dict[str, str]:
    """Simulated GPUs and RAPL for the job processes; the app's folder on the path, since submitit's job
    process unpickles the task function by module (as on a real cluster)."""
    cap = FakePowercap(tmp_path / "powercap")
    shim = ROOT / "tests" / "doubles" / "pynvml_shim"
    return {
        "PYTHONPATH": f"{shim}:{ROOT}:{APPS}",
        "ECOPT_POWERCAP_ROOT": str(cap.root),
        "ECOPT_SIM_NVML": json.dumps({"gpus": gpus}),
    }


def test_a_submitit_batch_with_a_job_killed_by_the_cluster(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    ok(
        run(
            sweep,
            "hydra/launcher=submitit_local",
            "hydra.launcher.gpus_per_node=1",  # the job sees CUDA_VISIBLE_DEVICES=0, as under SLURM
            "width=choice(4,8,16,32)",
            "lr=tag(log, interval(1e-3, 1e-1))",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_jobs=2",
            OBJECTIVES,
            f"kill_marker={tmp_path / 'killed'}",
            app="cluster_job.py",
            env=cluster_env(tmp_path, [{"uuid": "GPU-11111111-sim", "power_W": 80}]),
        )
    )
    study = optuna.load_study(study_name="cluster_job", storage=f"sqlite:///{sweep / 'ecopt.db'}")
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 2
    (dead,) = [t for t in trials if t.state == TrialState.FAIL]
    assert dead.number in (0, 1) and len(trials) == 3  # one batch of 2, then the retry alone

    # the killed job: FAIL, its energy (written by its EnergyCallback after fit) kept, then run again
    assert dead.user_attrs["ecopt.error"].startswith("JobDied: job died after it started, without a result")
    assert "UncompletedJobError" in dead.user_attrs["ecopt.error"]
    assert "ecopt.job_failed" not in dead.user_attrs  # not a failing region for the samplers: it was killed
    assert dead.user_attrs["ecopt.energy_J"] > 0
    assert dead.user_attrs["ecopt.energy_source"] == "energy_summary.json (finished fit)"
    # with that summary's estimated share, as a finished job's (regression, artifacts audit 2026-11-29: trials.csv
    # left it empty)
    kept = json.loads((Path(dead.user_attrs["ecopt.job_dir"]) / "energy_summary.json").read_text())
    assert dead.user_attrs["energy/estimated_fraction"] == kept["estimated_fraction"]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params

    # every job in its own process (not the sweeper's), each trial's metrics and energy summary back
    sweeper_pid = dead.user_attrs["ecopt.worker"]["pid"]
    pids = set()
    for t in trials:
        job_dir = Path(t.user_attrs["ecopt.job_dir"])
        pids.add(json.loads((job_dir / ".ecopt_job.json").read_text())["pid"])
        summary = json.loads((job_dir / "energy_summary.json").read_text())
        assert summary["sources"]["gpu:0"] == "nvml_counter" and summary["total_J"] > 0
        if t.state == TrialState.COMPLETE:
            assert t.user_attrs["energy/total_J"] == pytest.approx(summary["total_J"])
            assert 0.0 <= t.user_attrs["val_acc"] <= 1.0
            assert t.values == [t.user_attrs["val_acc"], t.user_attrs["energy/total_J"]]
    assert len(pids) == 3 and sweeper_pid not in pids
    assert len([p for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]) == 3  # one submitit job each

    # the front and the summary: the complete trials only, the dead job's energy in the sweep's cost
    summary = check_artifacts(sweep)
    assert summary["states"] == {"COMPLETE": 2, "FAIL": 1}
    front = json.loads((sweep / "pareto_front.json").read_text())["trials"]
    assert {r["trial"] for r in front} == {t.number for t in study.best_trials}
    assert dead.number not in {r["trial"] for r in front}
    assert summary["sweep_energy"]["total_J"] == pytest.approx(sum(t.user_attrs["ecopt.energy_J"] for t in trials))


def _sigint_ignored_as_in_a_script() -> None:
    """SIGINT ignored, as bash leaves it for a command a script starts with ``&`` (the workers of
    docs/distributed.md): a Ctrl-C of that script still reaches the group, and the jobs note it (TrackedTask)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_that_reaches_the_jobs_stops_a_submitit_sweep_as_it_stops_any_other(tmp_path: Path) -> None:
    # the sweeper ignores SIGINT, its submitit jobs note it (TrackedTask) and end "interrupted": submitit reported
    # them as failed jobs, the sweeper failed their trials as failing configs (learnt by the sampler, not retried)
    # and went on with the next batch; as under the basic launcher, the sweep now stops there (exit 130)
    sweep, met = tmp_path / "sweep", tmp_path / "met"
    overrides = ("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "width=choice(8,16,32,64)")
    overrides += ("hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2")
    overrides += (f"meet_dir={met}", "meet_n=3")  # each job waits for a third process: the test, after Ctrl-C
    with open(f"{sweep}.log", "w") as log:
        proc = subprocess.Popen(
            sweep_cmd(sweep, *overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=sweep_env({"PYTHONPATH": f"{ROOT}:{APPS}"}),
            start_new_session=True,  # a process group of its own, as the script's
            preexec_fn=_sigint_ignored_as_in_a_script,
        )
    wait_for(lambda: met.exists() and len(list(met.iterdir())) == 2, what="both jobs of the batch running")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C of the script: every process of the group
    (met / "test").touch()
    assert finish(proc, sweep) == 130, Path(f"{sweep}.log").read_text()
    trials = optuna.load_study(study_name="toy", storage=f"sqlite:///{sweep / 'ecopt.db'}").trials
    assert len(trials) == 2 and all(t.state == TrialState.FAIL for t in trials)
    for t in trials:
        assert t.user_attrs["ecopt.error"] == "interrupted (Ctrl-C) while it ran: no result"
        assert "ecopt.job_failed" not in t.user_attrs  # not a config that fails
    assert json.loads((sweep / "summary.json").read_text())["stopped"] == "interrupted (Ctrl-C)"


@pytest.mark.skipif(shutil.which("srun") is not None, reason="SLURM is here: the launcher would submit real jobs")
def test_a_launcher_that_fails_before_any_job_runs_says_so_in_one_line(tmp_path: Path) -> None:
    """submitit's SLURM launcher where there is no SLURM raises before any job starts: the sweep ended with Hydra's
    37-line traceback and the trial read 'stopped while it ran: RuntimeError'. Now one line names the launcher and
    what it said, and the trial is failed as not run, with that reason."""
    sweep = tmp_path / "sweep"
    proc = run_multirun(
        sweep, "width=choice(8,16)", "hydra.sweeper.n_trials=2", "hydra.sweeper.baseline=false",
        "hydra/launcher=submitit_slurm",
    )  # fmt: skip
    assert proc.returncode == 1
    said = 'RuntimeError: Could not detect "srun", are you indeed on a slurm cluster?'
    assert proc.stderr.splitlines()[0] == (
        f"the launcher SlurmLauncher failed before any job of trial 0 ran: {said}; failed (not run): fix the "
        "launcher or its settings (hydra/launcher, hydra.launcher.*) and run the same command to go on; artifacts "
        f"in {sweep}"
    )
    assert "Traceback" not in proc.stderr
    (trial,) = load_study(sweep).get_trials(deepcopy=False)
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["ecopt.error"] == f"not run: the launcher failed: {said}"
