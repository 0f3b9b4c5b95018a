"""``kill -9`` of a sweep during a trial, before and right after a tell, and while an artifact is being written;
the same command again continues the study: completed trials stay, artifacts are valid files at every point."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.guards import wait_for

from .conftest import check_artifacts, finish, ok, run, start

pytestmark = pytest.mark.slow
COMMAND = ("width=choice(8,16,32,64)", "lr=interval(0.001, 0.1)", "hydra.sweeper.sampler=random")
COMMAND += ("hydra.sweeper.n_trials=4", "hydra.sweeper.seed=0")


@pytest.mark.parametrize(
    ("where", "env", "extra"),
    [
        ("during a trial", {}, ("die_marker=died.txt",)),  # the task SIGKILLs the sweep (basic launcher)
        ("right after a tell", {"ECOPT_CRASH_AT": "after_tell:2"}, ()),
        ("before a tell", {"ECOPT_CRASH_AT": "before_tell:2"}, ()),  # trial 1's job finished, its result saved
        ("during artifact writing", {"ECOPT_CRASH_AT": "artifact_write:9"}, ()),
    ],
)
def test_kill_9_then_same_command_continues(tmp_path: Path, where: str, env: dict, extra: tuple) -> None:
    sweep = tmp_path / "sweep"
    first = run(sweep, *COMMAND, *(e.replace("died.txt", str(tmp_path / "died.txt")) for e in extra), env=env)
    assert first.returncode == -signal.SIGKILL, (where, first.returncode, first.stderr)
    check_artifacts(sweep)  # whatever exists after the kill parses
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    before = {
        t.number: t.params
        for t in optuna.load_study(study_name="toy", storage=storage).trials
        if t.state == TrialState.COMPLETE
    }

    again = ok(run(sweep, *COMMAND, *(e.replace("died.txt", str(tmp_path / "died.txt")) for e in extra)))
    trials = optuna.load_study(study_name="toy", storage=storage).trials
    complete = {t.number: t.params for t in trials if t.state == TrialState.COMPLETE}
    assert len(complete) == 4, again.stderr
    assert before.items() <= complete.items()  # nothing completed before the kill was lost or rerun
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    summary = check_artifacts(sweep)
    assert summary["states"].get("COMPLETE") == 4
    assert not [p for p in sweep.iterdir() if p.name.startswith(".") and p.is_file()]  # no temp file left
    if where == "during a trial":  # the dead run's trial is failed at once (its pid is gone) and run again
        dead = [t for t in trials if t.state == TrialState.FAIL]
        assert len(dead) == 1 and "worker died: its worker (pid" in dead[0].user_attrs["ecopt.error"]
        retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead[0].number]
        assert retried and retried[0].params == dead[0].params
    if where == "before a tell":  # the result its job saved is stored: not failed, not trained again
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4, [t.user_attrs.get("ecopt.error") for t in trials]
        said = again.stdout + again.stderr
        assert "trial 1: its worker died (its worker (pid" in said and "its result is stored" in said, said
        assert trials[1].user_attrs["val_acc"] == trials[1].values[0] and "ecopt.job_dir" in trials[1].user_attrs


def _trials(sweep: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="toy", storage=f"sqlite:///{sweep / 'ecopt.db'}").trials


def test_a_resumed_sweep_with_a_fixed_seed_proposes_no_config_twice(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    space = ("width=choice(8,16,32,64)", "lr=interval(0.001, 0.1)", "hydra.sweeper.sampler=random")
    ok(run(sweep, *space, "hydra.sweeper.n_trials=3", "hydra.sweeper.seed=0"))
    ok(run(sweep, *space, "hydra.sweeper.n_trials=6", "hydra.sweeper.seed=0"))  # the same seed goes on
    params = [tuple(sorted(t.params.items())) for t in _trials(sweep)]
    assert len(params) == 6 and len(set(params)) == 6, params


def test_ctrl_c_inside_tell_keeps_the_stored_result_and_shows_no_other_error(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    env = {"ECOPT_CRASH_AT": "in_tell:1", "ECOPT_CRASH_SIGNAL": "INT"}  # SIGINT after the commit, inside tell
    first = run(sweep, *COMMAND, env=env)
    assert first.returncode in (-signal.SIGINT, 130), (first.returncode, first.stderr[-3000:])
    assert "UpdateFinishedTrialError" not in first.stderr, first.stderr[-3000:]
    assert [t.state for t in _trials(sweep)] == [TrialState.COMPLETE]


def test_the_baseline_interrupted_by_ctrl_c_is_said_so_and_run_again_by_the_rerun(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = (*COMMAND, "hydra.sweeper.baseline=true", f"die_marker={tmp_path / 'died.txt'}", "die_signal=INT")
    first = run(sweep, *args)
    assert first.returncode != 0
    (baseline,) = _trials(sweep)
    assert baseline.state == TrialState.FAIL and baseline.user_attrs["ecopt.baseline"]
    assert baseline.user_attrs["ecopt.error"] == "interrupted (Ctrl-C) while it ran: no result"
    ok(run(sweep, *args))
    done = [t for t in _trials(sweep) if t.state == TrialState.COMPLETE]
    assert [t.user_attrs.get("ecopt.baseline") for t in done].count(True) == 1
    assert len(done) == 4


def test_an_emptied_database_does_not_start_afresh_over_the_old_results(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    ok(run(sweep, *COMMAND[:3], "hydra.sweeper.n_trials=2"))
    old = (sweep / "trials.csv").read_text()
    (sweep / "ecopt.db").write_bytes(b"")  # emptied (or replaced by an empty file)
    again = run(sweep, *COMMAND[:3], "hydra.sweeper.n_trials=2")
    assert again.returncode != 0
    error = [line for line in again.stderr.splitlines() if "is not allowed" in line]
    assert len(error) == 1 and "summary.json (2 trial(s))" in error[0], again.stderr[-2000:]
    assert "Traceback" not in again.stderr
    assert (sweep / "trials.csv").read_text() == old  # the last copy of the old results is kept


def test_a_search_key_missing_from_the_app_config_stops_with_nothing_written(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run(sweep, "nosuch=choice(1,2)", "width=choice(8,16)", "hydra.sweeper.n_trials=2")
    assert proc.returncode != 0
    assert "the command-line override 'nosuch=choice(1,2)' is not allowed: a key of the app's config" in proc.stderr
    assert not sweep.exists()  # no study, no FAIL trial, no artifact


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_sys_exit_in_the_app_fails_its_trial_and_the_sweep_goes_on(tmp_path: Path, launcher: str) -> None:
    sweep = tmp_path / "sweep"
    extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"] if launcher == "joblib" else []
    marker = f"die_marker={tmp_path / 'exited.txt'}"  # the first job calls sys.exit(3)
    proc = run(sweep, "width=choice(8,16,32,64)", marker, "die_signal=EXIT", "hydra.sweeper.n_trials=3", *extra)
    trials = optuna.load_study(study_name="toy", storage=f"sqlite:///{sweep / 'ecopt.db'}").trials
    assert trials[0].state == TrialState.FAIL, proc.stderr[-2000:]
    assert trials[0].user_attrs["ecopt.error"] == "TaskExited: the task called sys.exit(3)"
    assert "trial 0 failed: TaskExited: the task called sys.exit(3)" in proc.stderr + proc.stdout
    assert proc.returncode == 0 and sum(t.state == TrialState.COMPLETE for t in trials) == 3


def test_a_sweep_dir_that_cannot_be_created_gives_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path / "sweep", *COMMAND[:3], "hydra.sweep.dir=/sys/ecopt-cannot-write/sweep")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "hydra.sweep.dir='/sys/ecopt-cannot-write/sweep' cannot be created: " in proc.stderr


def test_an_unusable_default_sqlite_file_is_named_as_such(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    (sweep / "ecopt.db").mkdir(parents=True)  # a folder where the file should be: SQLite cannot open it
    proc = run(sweep, *COMMAND[:3])
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "cannot be used" in line]
    assert len(lines) == 1 and f"the study's SQLite file {sweep / 'ecopt.db'}" in lines[0], proc.stderr[-2000:]
    assert "hydra.sweeper.storage=" not in lines[0].replace("hydra.sweeper.storage=null", "")
    assert "Traceback" not in proc.stderr


def test_ctrl_c_in_a_lightning_job_stops_the_sweep_and_the_rerun_completes_it(tmp_path: Path) -> None:
    # Lightning catches the KeyboardInterrupt, ignores SIGINT from then on and calls sys.exit(1): the sweep
    # took it for a failed task and ran the other trials (fault audit, 2026-11-28)
    sweep = tmp_path / "sweep"
    args = ("width=choice(8,16,32)", "hydra.sweeper.n_trials=3", f"ctrl_c_marker={tmp_path / 'pressed.txt'}")
    first = run(sweep, *args, app="lit.py")
    # as a shell reports Ctrl-C, with one line and no traceback (it ended in 40 lines of one)
    assert first.returncode == 130 and "Traceback" not in first.stderr + first.stdout, first.stderr[-2000:]
    assert "ecopt: interrupted (Ctrl-C): a trial that was running is FAIL" in first.stderr + first.stdout
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    (interrupted,) = optuna.load_study(study_name="lit", storage=storage).trials  # nothing ran after it
    assert interrupted.state == TrialState.FAIL
    assert interrupted.user_attrs["ecopt.error"] == "interrupted (Ctrl-C) while it ran: no result"
    # the energy its job measured until Ctrl-C stays on the trial, in the sweep's energy (it was dropped)
    assert interrupted.user_attrs["ecopt.energy_J"] > 0
    assert interrupted.user_attrs["ecopt.measurement_sources"] == {"cpu:0": "estimate"}  # and what that energy is
    assert interrupted.user_attrs["energy/estimated_fraction"] == 1.0  # all of it (the artifacts left it unsaid)
    # the artifacts say so at once (they said "n_trials reached" and left the trial out until the next run)
    assert json.loads((sweep / "summary.json").read_text())["stopped"] == "interrupted (Ctrl-C)"
    with open(sweep / "trials.csv", newline="") as f:
        assert [(r["trial"], r["state"]) for r in csv.DictReader(f)] == [("0", "FAIL")]
    ok(run(sweep, *args, app="lit.py"))
    trials = optuna.load_study(study_name="lit", storage=storage).trials
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3
    assert json.loads((sweep / "summary.json").read_text())["stopped"] == "n_trials reached"


def test_a_job_killed_while_the_study_decides_at_a_rung_keeps_its_energy(tmp_path: Path) -> None:
    # a kill during the rung decision (a storage that hangs, a cluster's time limit) lost the epoch's and the rung
    # benchmark's energy: the callback wrote its summary only after the decision (multi-fidelity audit)
    sweep = tmp_path / "sweep"
    args = ("hydra.sweeper.custom_search_space=spaces.rung_plan", "hydra.sweeper.n_trials=1", "hydra.job.chdir=true")
    args += ("+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2}",)  # rungs.yaml: 3 epochs, rungs 1 and 2
    first = run(sweep, *args, app="rungs.py", env={"ECOPT_CRASH_AT": "rung_decide:1"})  # SIGKILL at the 1st rung
    assert first.returncode == -signal.SIGKILL, (first.returncode, first.stderr[-3000:])
    on_disk = json.loads((sweep / "0" / "energy_summary.json").read_text())  # what the kill left
    assert on_disk["partial"] is True and on_disk["progress"]["epochs"] == 1
    assert on_disk["inference"]["energy_J"] > 0  # the benchmark at the rung, run before the decision
    ok(run(sweep, *args, app="rungs.py"))  # the same command: the dead trial is failed with that energy
    dead, *_ = optuna.load_study(study_name="rungs", storage=f"sqlite:///{sweep / 'ecopt.db'}").trials
    assert dead.state == TrialState.FAIL and dead.user_attrs["ecopt.error"].startswith("worker died: ")
    assert dead.user_attrs["ecopt.energy_J"] == pytest.approx(on_disk["total_J"])
    with open(sweep / "trials.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert float(row["energy_J"]) == pytest.approx(on_disk["total_J"])
    # and its estimated share, from the same summary (regression, artifacts audit 2026-11-29: the column was empty)
    assert row["energy_estimated_fraction"] == str(on_disk["estimated_fraction"])
    total = json.loads((sweep / "summary.json").read_text())["sweep_energy"]["total_J"]
    assert total > on_disk["total_J"] * (1 - 1e-9)  # counted in the sweep's energy, beside the rerun's trial


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        (
            "width=choice(8,16)",
            "'width=choice(8,16)' is not allowed: the search space of the existing study 'toy', "
            "whose trials have width: one of 8, 16, 32, 64: give the same",
        ),
        ("lr=tag(log, interval(0.001, 0.1))", "whose trials have lr: float in [0.001, 0.1]: give the same"),
    ],
)
def test_a_resume_with_a_search_space_the_study_cannot_hold_is_one_line_and_writes_nothing(
    tmp_path: Path, changed: str, said: str
) -> None:
    # Optuna refused it only at the first ask: a traceback, and a trial left RUNNING in the study
    sweep = tmp_path / "sweep"
    ok(run(sweep, *COMMAND[:2], "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=2"))
    space = [changed if a.split("=")[0] == changed.split("=")[0] else a for a in COMMAND[:2]]
    again = run(sweep, *space, "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=4")
    assert again.returncode == 1 and said in again.stderr and "Traceback" not in again.stderr, again.stderr
    assert [t.state for t in _trials(sweep)] == [TrialState.COMPLETE] * 2


def test_jobs_that_outlive_their_killed_sweep_are_waited_for_not_run_again(tmp_path: Path) -> None:
    """joblib's loky workers (as submitit's local jobs) are not children that die with the sweep: after ``kill -9``
    of the sweep they run their jobs on. The same command again waits for them and stores what they return; it
    used to fail their trials at once (the sweep's pid is gone) and run both configurations a second time beside
    them."""
    sweep, met = tmp_path / "sweep", tmp_path / "met"
    command = (*COMMAND[:3], "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "hydra/launcher=joblib")
    command += ("hydra.launcher.n_jobs=2", f"meet_dir={met}", "meet_n=3")  # each job waits for a third process
    first = start(sweep, *command)
    wait_for(lambda: met.exists() and len(list(met.iterdir())) == 2, what="both jobs running")
    jobs = [int(p.name) for p in met.iterdir()]
    try:
        first.send_signal(signal.SIGKILL)
        assert finish(first, sweep) == -signal.SIGKILL
        again = start(sweep, *command)
        log = Path(f"{sweep}.log")
        # the rerun has read the study, or (as it used to) started two jobs of its own: four processes met
        wait_for(lambda: "runs on" in log.read_text() or len(list(met.iterdir())) > 2, what="the rerun deciding")
        (met / "go").touch()
        assert finish(again, sweep) == 0, log.read_text()[-3000:]
    finally:
        for pid in jobs:  # the first sweep's loky workers, idle once their job is done
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    trials = _trials(sweep)
    assert [(t.number, t.state) for t in trials] == [(0, TrialState.COMPLETE), (1, TrialState.COMPLETE)], [
        t.user_attrs.get("ecopt.error") for t in trials
    ]
    ran_in = [json.loads((Path(t.user_attrs["ecopt.job_dir"]) / ".ecopt_job.json").read_text())["pid"] for t in trials]
    assert sorted(ran_in) == sorted(jobs)  # the first sweep's jobs, none run again
    said = "runs on: its result is stored when it ends (end that process to have the trial failed and run again)"
    assert log.read_text().count(said) == 2, log.read_text()
