"""Multi-fidelity in real Hydra multiruns of a Lightning app that has only ``EnergyCallback``."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ecopt_lightning.metrics import on_log_scale
from ecopt_lightning.sweeper._records import to_record
from ecopt_lightning.sweeper._rung_report import rung_lines
from ecopt_lightning.sweeper._schema import ReportSettings
from ecopt_lightning.sweeper._storage import open_storage
from ecopt_lightning.sweeper.multi_fidelity import rung_values, stopped_at
from ecopt_lightning.sweeper.successive_halving import decide

from .conftest import isolated_env, load_study, run_multirun

pytestmark = pytest.mark.slow
DIRECTIONS = ["maximize", "minimize"]  # apps/conf/rungs.yaml: val_acc, model/params
# as the sweeper ranks: model/params is energy-like, on log10 inside a front (on_log_scale)
LOG_AXES = [on_log_scale(name) for name in ("val_acc", "model/params")]
MF = "+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2}"  # epochs=3: rungs 1, 2, then the full 3
PLAN = "hydra.sweeper.custom_search_space=spaces.rung_plan"


def _replays(trials: list[optuna.trial.FrozenTrial], keep_front: bool = True) -> None:
    """Every stored decision is the rule applied to the stored values of the cohort it names; at each rung,
    of any two trials at least one saw the other (write before read)."""
    values = {t.number: {e: r["values"] for e, r in rung_values(t.user_attrs).items()} for t in trials}
    by_rung: dict[int, dict[int, list[int]]] = {}
    for t in trials:
        for epoch, entry in rung_values(t.user_attrs).items():
            cohort = {k: values[k][epoch] for k in entry["cohort"]}
            assert entry["decision"] == (
                "continue"
                if decide(t.number, cohort, DIRECTIONS, 2, log_axes=LOG_AXES, keep_front=keep_front).go_on
                else "stop"
            )
            by_rung.setdefault(epoch, {})[t.number] = entry["cohort"]
        stops = [e for e, r in rung_values(t.user_attrs).items() if r["decision"] == "stop"]
        assert stopped_at(t.user_attrs) == (stops[0] if stops else None)
        assert (t.state == TrialState.PRUNED) == bool(stops)
    for cohorts in by_rung.values():
        for a, b in combinations(cohorts, 2):
            assert a in cohorts[b] or b in cohorts[a], (a, b, cohorts)


Run = tuple[Path, subprocess.CompletedProcess[str]]


def _shared_run(tmp_path_factory: pytest.TempPathFactory, name: str, *overrides: str) -> Run:
    """One multirun of rungs.py into its own folder, for a module-scoped fixture that several tests read (or copy
    and resume): each such run is a Python start, the Lightning import and its trials. Its environment is a test's
    (tests/conftest.py): no host /proc or powercap, which function-scoped fixtures would only set after it."""
    root = tmp_path_factory.mktemp(name)
    proc = run_multirun(root / "sweep", *overrides, app="rungs.py", env=isolated_env(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "sweep", proc


@pytest.fixture(scope="module")
def lone(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """PLAN with n_trials=1 under MF: trial 0 alone at rungs 1 and 2, complete."""
    return _shared_run(tmp_path_factory, "lone", PLAN, "hydra.sweeper.n_trials=1", MF)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """PLAN with n_trials=2 under MF: trial 0 complete, trial 1 (wide, inverted labels) stopped at rung 1."""
    return _shared_run(tmp_path_factory, "two", PLAN, "hydra.sweeper.n_trials=2", MF)


def _resumable(run: Run, tmp_path: Path) -> None:
    """A copy of a shared run's sweep folder in ``tmp_path/sweep`` (the ``multirun`` fixture's), to resume there."""
    shutil.copytree(run[0], tmp_path / "sweep")


@pytest.mark.parametrize("keep_front", [True, False])
def test_dominated_trials_stop_at_the_first_rung(multirun, tmp_path: Path, keep_front: bool) -> None:
    sweep = tmp_path / "sweep"
    mf = MF if keep_front else MF.replace("eta: 2}", "eta: 2, keep_front: false}")
    proc = multirun(PLAN, "hydra.sweeper.n_trials=4", mf, app="rungs.py")
    study = load_study(sweep, "rungs")
    trials = {t.number: t for t in study.get_trials()}
    assert len(trials) == 4  # a stopped trial counts towards n_trials
    # trial 0 was alone at every rung: it never waited and was never stopped
    assert trials[0].state == TrialState.COMPLETE and trials[0].user_attrs["epochs_trained"] == 3
    assert [r["cohort"] for r in rung_values(trials[0].user_attrs).values()] == [[0], [0]]
    # 1 and 3 (wide, inverted labels) are dominated by 0 at epoch 1: stopped there, after one epoch
    for n in (1, 3):
        assert trials[n].state == TrialState.PRUNED and stopped_at(trials[n].user_attrs) == 1
        assert trials[n].user_attrs["epochs_trained"] == 1 and list(rung_values(trials[n].user_attrs)) == [1]
    out = proc.stderr + proc.stdout
    # one progress line per trial, counting stopped trials towards n_trials (first-hour audit: "(3 of 12
    # complete)" beside "12 complete ... of n_trials=12", and a second line per stopped trial)
    line = r"trial 1 \((\d) of 4: (\d) complete, (\d) stopped at a rung\): stopped at rung 1 \(epoch 1\): ranked \d of "
    found = re.search(line, out)
    assert found and int(found[1]) == int(found[2]) + int(found[3]), out[-3000:]
    assert len(re.findall(r"ecopt: trial 1\b", out)) == 1 and "told PRUNED" not in out
    # trial 2 (width 8) is never dominated by 0 (width 4, fewer parameters): with keep_front (the default) it is on
    # every rung's front and trains to the end. Without, at rung 1 it may rank first or second of {0, 2} by
    # hypervolume (its accuracy decides); at rung 2 the two of them add the same hypervolume (two points span the
    # reference's box) and the earlier, 0, goes on: 2 stops at rung 1 or 2
    stopped = (1, 3) if keep_front else (1, 2, 3)
    assert f"multi-fidelity stopped {len(stopped)} trial(s)" in proc.stderr + proc.stdout
    if keep_front:
        assert trials[2].state == TrialState.COMPLETE and trials[2].user_attrs["epochs_trained"] == 3
    else:
        assert stopped_at(trials[2].user_attrs) in (1, 2)
    _replays(list(trials.values()), keep_front)

    # nothing stopped reaches the front
    front = {r["trial"] for r in json.loads((sweep / "pareto_front.json").read_text())["trials"]}
    assert front and all(trials[n].state == TrialState.COMPLETE for n in front)
    # the stopped trials' energy is in the sweep's total
    summary = json.loads((sweep / "summary.json").read_text())
    energies = [t.user_attrs["energy/total_J"] for t in trials.values()]
    assert all(e > 0 for e in energies)
    assert summary["sweep_energy"]["total_J"] == pytest.approx(sum(energies))
    # trials.csv: the rung each trial stopped at, its rung values
    rows = {int(r["trial"]): r for r in csv.DictReader((sweep / "trials.csv").open())}
    assert rows[1]["stopped_at_epoch"] == "1" and rows[0]["stopped_at_epoch"] == ""
    assert float(rows[1]["rung1:val_acc"]) == rung_values(trials[1].user_attrs)[1]["values"][0]
    assert rows[1]["rung2:val_acc"] == "" and rows[0]["rung2:val_acc"] != ""
    saved = summary["multi_fidelity"]
    stopped_J = sum(trials[n].user_attrs["energy/total_J"] for n in stopped)
    assert saved["stopped_energy_J"] == pytest.approx(stopped_J)
    # the end-of-sweep line says how much of that energy is ESTIMATED, as energy_report.md does (it read as all
    # measured); on this machine's CPU the share is whatever the trials' sources made it, read back from the study
    estimated = sum(
        trials[n].user_attrs["energy/total_J"] * trials[n].user_attrs["energy/estimated_fraction"] for n in stopped
    )
    share = f"{estimated / stopped_J:.0%}" if stopped_J > 0 else "none"
    assert (
        f"multi-fidelity stopped {len(stopped)} trial(s), which used {stopped_J:.4g} J ({share} of it ESTIMATED, "
        "not measured); training them"
    ) in out, out[-3000:]
    full = 0.0
    for n in stopped:  # training and validation x 3 epochs / epochs trained, the rest (benchmark, start) once
        attrs = trials[n].user_attrs
        per_epoch = attrs["energy/train_total_J"] + attrs["energy/val_total_J"]
        full += attrs["energy/total_J"] - per_epoch + per_epoch * 3 / stopped_at(attrs)
    assert saved["full_training_estimate_J"] == pytest.approx(full) and saved["whole_energy_scaled"] == 0
    assert saved["note"].startswith("ESTIMATE") and (sweep / "rungs.png").read_bytes()[:4] == b"\x89PNG"


def test_lone_trial_runs_to_the_end(lone: Run) -> None:
    """A single trial with eta=2 is ranked at every rung alone: never blocked, never stopped."""
    sweep, proc = lone
    (t,) = load_study(sweep, "rungs").get_trials()
    assert t.state == TrialState.COMPLETE and t.user_attrs["epochs_trained"] == 3
    assert [r["decision"] for r in rung_values(t.user_attrs).values()] == ["continue", "continue"]
    # nothing stopped, nothing saved: it read "stopped 0 trial(s), which used unknown energy (none of them reported
    # any; not zero)", and in energy_report.md "is not in the total above" (multi-fidelity audit)
    out = proc.stderr + proc.stdout
    assert "ecopt: multi-fidelity stopped no trial at a rung: no energy saved by stopping" in out, out[-3000:]
    assert "unknown energy" not in out
    report = (sweep / "energy_report.md").read_text()
    assert "- Multi-fidelity stopped no trial at a rung: no energy saved by stopping." in report
    assert "Multi-fidelity stopped 0" not in report
    saved = json.loads((sweep / "summary.json").read_text())["multi_fidelity"]
    assert saved["trials_stopped"] == 0 and saved["saved_estimate_J"] == 0


def test_ecopt_report_says_the_states_and_what_stopping_saved_as_the_sweep_did(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, two: Run
) -> None:
    """Regression (artifacts audit, 2026-11-29): on a sweep that stopped trials at a rung, ``ecopt report`` printed
    '2 trials, 1 on the Pareto front, ...' with neither the stopped trial nor the energy stopping saved, both in the
    sweep's closing lines, its summary.json and its energy_report.md."""
    from ecopt_lightning.cli import main as ecopt

    sweep, proc = two
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    assert ecopt(["report", "--storage", storage, "--study", "rungs", "--out", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 trials (COMPLETE: 1, PRUNED: 1), 1 on the Pareto front "), lines[0]
    (said,) = [line for line in (proc.stderr + proc.stdout).splitlines() if "ecopt: multi-fidelity stopped" in line]
    assert said.split("ecopt: ", 1)[1] == lines[1]  # the sweep's own line, word for word
    assert lines[1].startswith("multi-fidelity stopped 1 trial(s), which used "), lines[1]


def test_a_trial_whose_objective_is_nan_at_a_rung_is_stopped_there_and_failed(multirun, tmp_path: Path) -> None:
    """Regression (stop 32's open list): a NaN objective at a rung let the trial go on; it trained its whole budget,
    then failed on its NaN. NaN never ranks: the trial stops at that rung and is FAIL with the rung's reason."""
    proc = multirun("width=choice(4,8)", "nan=true", "hydra.sweeper.n_trials=2", MF, app="rungs.py", expect_fail=True)
    assert "max_failures=2 reached" in proc.stderr and "last error: stopped at rung 1 (epoch 1)" in proc.stderr
    trials = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 2, proc.stderr[-3000:]
    for t in trials:  # the baseline (trial 0, width 4) too: a NaN cannot be the payback's reference
        assert t.user_attrs["epochs_trained"] == 1 and list(rung_values(t.user_attrs)) == [1]
        (rung,) = rung_values(t.user_attrs).values()
        assert rung["decision"] == "stop" and rung["values"] is None and rung["cohort"] == []
        assert t.user_attrs["ecopt.error"].startswith("stopped at rung 1 (epoch 1): not every objective is finite")
        assert "(val_acc=nan)" in t.user_attrs["ecopt.error"]
    assert "multi-fidelity stopped" not in proc.stderr + proc.stdout  # failed, not counted as stopped


def test_a_trial_that_raises_after_a_rung_is_drawn_and_counted_as_failed_not_as_run_to_the_end(
    multirun, tmp_path: Path
) -> None:
    """Regression (multi-fidelity audit): rungs.png drew every trial not stopped at a rung with the "o: ran to the
    end" marker, a trial that failed after its rung (or was still running) included."""
    sweep = tmp_path / "sweep"
    multirun(PLAN, "hydra.sweeper.n_trials=1", "raise_at_epoch=1", MF, app="rungs.py", expect_fail=True)
    study = load_study(sweep, "rungs")
    (t,) = study.get_trials()
    assert t.state == TrialState.FAIL and "raised at epoch 1" in t.user_attrs["ecopt.error"]
    (rung,) = rung_values(t.user_attrs).values()  # it went on at rung 1, then raised in its second epoch
    assert rung["decision"] == "continue" and stopped_at(t.user_attrs) is None
    row = next(csv.DictReader((sweep / "trials.csv").open()))
    assert row["state"] == "FAIL" and row["stopped_at_epoch"] == ""
    assert float(row["rung1:val_acc"]) == rung["values"][0]
    assert json.loads((sweep / "summary.json").read_text())["multi_fidelity"]["trials_stopped"] == 0
    settings = ReportSettings.from_attrs(study.user_attrs, study.metric_names, DIRECTIONS)
    assert rung_lines([to_record(t, settings)], settings.objective_names) == [(0, [(1, rung["values"][0])], "failed")]


def test_off_by_default_nothing_is_ranked(multirun, tmp_path: Path) -> None:
    multirun(PLAN, "hydra.sweeper.n_trials=2", app="rungs.py")
    trials = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(not rung_values(t.user_attrs) and t.user_attrs["epochs_trained"] == 3 for t in trials)


def test_two_workers_on_one_storage_promote_consistently(tmp_path: Path) -> None:
    """Two sweeper processes share one Optuna journal file (the documented storage for several workers without a
    database server; SQLite is for one writer: two processes creating its tables at once collide); whatever their
    interleaving, every decision replays from the stored values and no two trials at a rung missed each other."""
    url = f"journal:///{tmp_path / 'shared' / 'study.log'}"
    common = (PLAN, "hydra.sweeper.n_trials=6", MF, f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=mf")
    for i in range(2):
        (tmp_path / f"w{i}").mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run_multirun, tmp_path / f"w{i}" / "sweep", *common, app="rungs.py") for i in range(2)]
        results = [f.result() for f in futures]
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    study = optuna.load_study(study_name="mf", storage=open_storage(url, heartbeat_interval_s=0))
    trials = study.get_trials()
    assert len(trials) >= 6  # the shared budget (a worker may ask while the other's last trial is told)
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    _replays(trials)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2, max_epochs: 5}"],
            "hydra.sweeper.multi_fidelity.max_epochs=5 is not allowed with Trainer(max_epochs=3): make them equal",
        ),
        (  # an endless Trainer used to be accepted, and trained past the budget for ever
            ["+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2, max_epochs: 3}", "epochs=-1"],
            "hydra.sweeper.multi_fidelity.max_epochs=3 is not allowed with Trainer(max_epochs=-1)",
        ),
        (  # a misspelt stand-in: every trial went on at every rung, with a warning in each job's log
            ["+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2, rung_metrics: {val_acc: val_acx}}"],
            "hydra.sweeper.multi_fidelity.rung_metrics={val_acc: 'val_acx'} is not allowed: val_acx was not "
            "logged by the end of epoch 1; logged: ",
        ),
    ],
)
def test_settings_a_job_refuses_stop_the_sweep_after_its_first_job(
    multirun, tmp_path: Path, overrides: list[str], message: str
) -> None:
    proc = multirun(PLAN, "hydra.sweeper.n_trials=4", *overrides, app="rungs.py", expect_fail=True)
    out = proc.stdout + proc.stderr
    assert message in out and "Traceback" not in out, out[-3000:]
    (line,) = [x for x in out.splitlines() if "the sweep stopped after its first such job" in x]  # its last word
    assert message in line
    (trial,) = load_study(tmp_path / "sweep", "rungs").get_trials()  # nothing launched after it
    assert trial.state == TrialState.FAIL
    assert "ecopt.job_failed" not in trial.user_attrs  # a config mistake says nothing of the trial's region


def test_a_batch_of_jobs_refusing_the_settings_stops_with_the_jobs_own_line(multirun, tmp_path: Path) -> None:
    """With n_jobs=2 the first batch's two jobs raise the same JobConfigError: the job's own one line (what to set)
    is said, not the generic line of trials failing the same way, which holds for errors the sweeper cannot read."""
    mf = "+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2, max_epochs: 5}"
    proc = multirun(PLAN, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", mf, app="rungs.py", expect_fail=True)
    out = proc.stdout + proc.stderr
    (line,) = [x for x in out.splitlines() if "the sweep stopped after its first such job" in x]
    assert "multi_fidelity.max_epochs=5 is not allowed with Trainer(max_epochs=3)" in line
    assert "failed the same way" not in out, out[-3000:]


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        (
            ["+hydra.sweeper.multi_fidelity={min_epochs: 3, eta: 2}"],
            "has no rung below its budget (Trainer(max_epochs=3))",
        ),
        ([MF, "callback=false"], "recorded no rung: its Trainer has no EnergyCallback"),
    ],
)
def test_a_sweep_where_no_trial_can_stop_says_why_once(
    multirun, tmp_path: Path, overrides: list[str], warning: str
) -> None:
    proc = multirun(PLAN, "hydra.sweeper.n_trials=2", *overrides, app="rungs.py")
    out = proc.stdout + proc.stderr
    assert out.count(warning) == 1, out[-3000:]
    trials = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2


@pytest.mark.parametrize(
    ("again", "said"),
    [
        (
            (),
            "hydra.sweeper.multi_fidelity=null is not allowed: the schedule of the existing study 'rungs', "
            "{min_epochs: 1",
        ),
        (
            ("+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 3}",),
            "hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 3,",
        ),
    ],
)
def test_a_resume_or_worker_with_another_schedule_is_refused_before_it_runs_anything(
    multirun, tmp_path: Path, two: Run, again: tuple[str, ...], said: str
) -> None:
    # it used to overwrite the study's schedule: the first worker's later trials were no longer stopped, and the
    # trials stopped at a rung no longer counted towards n_trials
    _resumable(two, tmp_path)  # PLAN, n_trials=2, MF
    # it also names another energy metric: a refused run writes nothing on the study (it wrote its settings)
    other = "hydra.sweeper.energy_metric=energy/other_J"
    proc = multirun(PLAN, "hydra.sweeper.n_trials=4", other, *again, app="rungs.py", expect_fail=True)
    out = proc.stdout + proc.stderr
    (line,) = [x for x in out.splitlines() if said in x]
    assert "use the same settings in every worker and on resume" in line and "Traceback" not in out, out[-3000:]
    study = load_study(tmp_path / "sweep", "rungs")
    assert len(study.trials) == 2  # nothing launched
    assert study.user_attrs["ecopt.multi_fidelity"]["eta"] == 2  # and the schedule kept
    assert study.user_attrs["ecopt.settings"]["energy_metric"] == "energy/total_J"
    multirun(PLAN, "hydra.sweeper.n_trials=3", MF, app="rungs.py")  # the same settings resume it
    assert len(load_study(tmp_path / "sweep", "rungs").trials) == 3


def test_a_retry_does_not_keep_its_dead_runs_rung_values(multirun, tmp_path: Path, two: Run) -> None:
    # Optuna's retry copies every user attribute of the failed trial: a retry stopped at rung 1 kept the dead run's
    # values at rung 2, so it showed as having reached rung 2 and later trials were ranked there against them
    from ecopt_lightning.sweeper._storage import retry_callback
    from ecopt_lightning.sweeper.multi_fidelity import StudyRungs

    _resumable(two, tmp_path)  # PLAN, n_trials=2, MF: 0 complete, 1 stopped at rung 1
    study = load_study(tmp_path / "sweep", "rungs")
    dead = study.ask()  # trial 2: its job reached rungs 1 and 2 (the best values yet), then its worker died
    rungs = StudyRungs.of(study, dead)
    assert rungs is not None and rungs.decision_epochs(3) == [1, 2]
    for epoch in (1, 2):
        assert rungs.report(epoch, {"val_acc": 1.0, "model/params": 1.0}, 3).go_on
    study.tell(dead, state=TrialState.FAIL)
    retry_callback(1)(study, study.trials[2])  # as the sweeper does for a job the cluster killed
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.number == 3 and not rung_values(waiting.user_attrs)  # not inherited (_storage.RETRY_KEEPS)

    multirun(PLAN, "hydra.sweeper.n_trials=4", MF, app="rungs.py")  # runs the retry (3), then 4
    trials = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert trials[3].state == TrialState.PRUNED and stopped_at(trials[3].user_attrs) == 1  # wide, inverted labels
    assert list(rung_values(trials[3].user_attrs)) == [1]  # its own rung only
    assert rung_values(trials[3].user_attrs)[1]["cohort"] == [0, 1, 3]  # not the dead run (FAIL) either
    assert trials[3].user_attrs["epochs_trained"] == 1
    for t in trials[4:]:  # nor is a later trial ranked against the dead run's values, its own or the retry's
        for epoch, entry in rung_values(t.user_attrs).items():
            assert 2 not in entry["cohort"] and (epoch == 1 or 3 not in entry["cohort"]), (t.number, epoch, entry)
    _replays([t for t in trials if t.number != 2])


def test_a_worker_whose_schedule_another_stored_over_at_the_start_refuses_before_asking(tmp_path: Path) -> None:
    # two workers opening a new study at once (no trial yet) both pass the check at open; the later one's schedule
    # is the study's. The other's jobs read it from the study: worker A, with multi-fidelity on, ran its trials
    # under B's "off", and none was stopped
    import signal

    from tests.distributed.conftest import finish, run, start
    from tests.guards import wait_for

    url = f"journal:///{tmp_path / 'shared' / 'study.log'}"
    (tmp_path / "shared").mkdir()
    common = (PLAN, f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=mf")
    # A stores its schedule and is paused before its first ask; B stores "off" and runs 2 trials
    pause = {"ECOPT_CRASH_AT": "before_ask:1", "ECOPT_CRASH_SIGNAL": "STOP"}
    a = start(tmp_path / "a", *common, "hydra.sweeper.n_trials=4", MF, env=pause, app="rungs.py")
    try:
        stat = Path(f"/proc/{a.pid}/stat")
        wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", what="worker A paused before asking")
        b = run(tmp_path / "b", *common, "hydra.sweeper.n_trials=2", app="rungs.py")
        assert b.returncode == 0, b.stderr[-3000:]
    finally:
        a.send_signal(signal.SIGCONT)
    assert finish(a, tmp_path / "a") != 0
    out = Path(f"{tmp_path / 'a'}.log").read_text()
    said = "hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2,"
    (line,) = [x for x in out.splitlines() if said in x]
    assert "'mf', off (null), under which" in line and "Traceback" not in out, out[-3000:]
    study = optuna.load_study(study_name="mf", storage=open_storage(url, heartbeat_interval_s=0))
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2  # B's; A asked nothing


def test_a_baseline_stopped_at_a_rung_before_it_was_left_alone_runs_again_on_resume(multirun, tmp_path: Path) -> None:
    # a baseline that multi-fidelity stopped (as it could before it left the baseline alone) counted as "the study
    # has a baseline" once a PRUNED baseline did (one pruned before training must not run again): the payback
    # stayed without a complete baseline for good
    from optuna.distributions import CategoricalDistribution

    from ecopt_lightning.sweeper._schema import BASELINE_ATTR, STOPPED_AT_ATTR

    space = "width=choice(4,64)"
    multirun(space, "hydra.sweeper.n_trials=1", "hydra.sweeper.baseline=false", MF, app="rungs.py")
    study = load_study(tmp_path / "sweep", "rungs")
    study.enqueue_trial({"width": 4}, user_attrs={BASELINE_ATTR: True})  # the app's own config
    stopped = study.ask({"width": CategoricalDistribution((4, 64))})
    stopped.set_user_attr(STOPPED_AT_ATTR, 1)
    study.tell(stopped, state=TrialState.PRUNED)
    proc = multirun(space, "hydra.sweeper.n_trials=3", MF, app="rungs.py")
    assert "ecopt: trial 2 is the baseline, the app's own config: {'width': 4}" in proc.stderr + proc.stdout
    again = load_study(tmp_path / "sweep", "rungs").trials[2]
    assert again.user_attrs[BASELINE_ATTR] and again.state == TrialState.COMPLETE
    assert again.user_attrs["epochs_trained"] == 3


def test_a_complete_trial_that_broke_a_constraint_stops_no_one_at_a_rung(multirun, tmp_path: Path) -> None:
    # trial 0 (width 4, 46 parameters) breaks the constraint, so it can never be on the front; at rung 1 it still
    # dominated trial 1 (wide, inverted labels, feasible), which was stopped though no feasible trial beat it
    multirun(PLAN, "hydra.sweeper.n_trials=2", MF, "hydra.sweeper.constraints=['model/params >= 50']", app="rungs.py")
    first, second = load_study(tmp_path / "sweep", "rungs").get_trials()
    assert first.state == TrialState.COMPLETE and first.user_attrs["ecopt.constraints"]["model/params >= 50"] > 0
    assert second.state == TrialState.COMPLETE and second.user_attrs["epochs_trained"] == 3
    assert [r["cohort"] for r in rung_values(second.user_attrs).values()] == [[1], [1]]


def test_a_complete_trial_that_breaks_a_constraint_added_on_resume_stops_no_one_at_a_rung(
    multirun, tmp_path: Path, lone: Run
) -> None:
    # the rung cohort judged a complete trial by the constraints stored when it ran: trial 0 (46 parameters), run
    # before 'model/params >= 50' was added, is infeasible in the report and off the front, yet at rung 1 it still
    # dominated trial 1 (wide, inverted labels, feasible) and stopped it (multi-fidelity audit)
    sweep = tmp_path / "sweep"
    _resumable(lone, tmp_path)  # PLAN, n_trials=1, MF
    multirun(PLAN, "hydra.sweeper.n_trials=2", MF, "hydra.sweeper.constraints=['model/params >= 50']", app="rungs.py")
    first, second = load_study(sweep, "rungs").get_trials()
    assert first.state == TrialState.COMPLETE and first.user_attrs["ecopt.constraints"] == {}  # ran without it
    rows = {int(r["trial"]): r for r in csv.DictReader((sweep / "trials.csv").open())}
    assert rows[0]["feasible"] == "False"  # the report judges it by the constraint added since
    assert second.state == TrialState.COMPLETE and second.user_attrs["epochs_trained"] == 3
    assert [r["cohort"] for r in rung_values(second.user_attrs).values()] == [[1], [1]]
