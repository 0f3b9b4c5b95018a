"""Pruning before training (``hydra.sweeper.prune_before_training``): a real multirun whose task measures the
untrained model and prunes wide ones against an inference-energy constraint; units of the helper."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

from ecopt_lightning.sweeper.config import validate
from ecopt_lightning.sweeper.errors import SweeperConfigError
from ecopt_lightning.sweeper.pruning import ENV_TRIAL, TrialRef, check_before_training, job_overrides

from .conftest import isolated_env, load_study, run_multirun

APP = """
import os
import hydra
from omegaconf import DictConfig
from ecopt_lightning import measure_inference
from ecopt_lightning.sweeper.pruning import check_before_training
from tests.doubles.fake_powercap import FakePowercap
from tests.sweeper.apps.hydra_compat import MAIN_KWARGS

@hydra.main(**MAIN_KWARGS, config_path=".", config_name="prune")
def main(cfg: DictConfig) -> dict:
    import torch  # in the job: a run the sweeper refuses stops before it is imported (seconds a run)

    batches = [(torch.rand(32, 64, generator=torch.Generator().manual_seed(0)), torch.zeros(32))] * 4
    w = int(cfg.width)
    model = torch.nn.Sequential(torch.nn.Linear(64, w), torch.nn.ReLU(), torch.nn.Linear(w, w), torch.nn.Linear(w, w),
                                torch.nn.Linear(w, w), torch.nn.Linear(w, 10))
    # the simulated meter: the fake RAPL package counts J_PER_SAMPLE_PER_UNIT * width per sample forwarded, so
    # a model's energy per sample is its width's by construction, whatever the machine's speed
    cap = FakePowercap(os.environ["ECOPT_POWERCAP_ROOT"], psys=False)
    model.register_forward_hook(lambda m, args, out: cap.add("cpu:0", {per_unit} * w * args[0].shape[0]))
    # windows as short as they come: the simulated meter counts each sample, so no window needs a floor
    check_before_training(model, batches, min_window_s=0.0, device="cpu")  # where the trainer will run it
    r = measure_inference(model, batches, warmup_batches=1, repeats=2, max_batches=3, rel_precision=None,
                          min_window_s=0.0)  # "after training"
    return {"val_acc": 1.0 - 1.0 / w - abs(cfg.lr - 0.01), "energy/inference_per_sample_J": r.per_sample_J,
            "energy/total_J": r.measurement.energy_J + 5.0}

if __name__ == "__main__":
    main()
"""
#: simulated energy per sample and unit of width (J): width 8 costs 8e-4 J/sample, width 512 0.051 (the meter
#: decides, not the model's size: a small "wide" model keeps each trial cheap)
J_PER_SAMPLE_PER_UNIT = 1e-4
WIDE = 512
CONF = "width: 8\nlr: 0.01\nhydra:\n  job:\n    chdir: true\n"
CONSTRAINT = "hydra.sweeper.constraints=['energy/inference_per_sample_J <= 0.012']"
SPACE = (f"width=choice(8,{WIDE})", "lr=interval(0.001,0.1)")


def _write_app(folder: Path) -> str:
    (folder / "prune_app.py").write_text(textwrap.dedent(APP).replace("{per_unit}", repr(J_PER_SAMPLE_PER_UNIT)))
    (folder / "prune.yaml").write_text(CONF)
    return str(folder / "prune_app.py")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(tmp_path / "powercap"))  # the jobs' simulated meter (see APP)
    return _write_app(tmp_path)


def _shared_sweep(tmp_path_factory: pytest.TempPathFactory, *overrides: str) -> subprocess.CompletedProcess[str]:
    """A sweep of 3 trials of the app (random sampling, no baseline) in a new folder's ``sweep``, for fixtures
    that share it (tests read it and resume copies of it). The environment is a test's own (the app's simulated
    meter, an empty /proc root)."""
    folder = tmp_path_factory.mktemp("prune")
    env = {**isolated_env(folder), "ECOPT_POWERCAP_ROOT": str(folder / "powercap")}  # the app's simulated meter
    common = (*SPACE, CONSTRAINT, "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler=random")
    proc = run_multirun(
        folder / "sweep", *common, "hydra.sweeper.baseline=false", *overrides, app=_write_app(folder), env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def sweep_with_the_flag(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """3 trials with ``prune_before_training=true``: the wide ones pruned."""
    return _shared_sweep(tmp_path_factory, "hydra.sweeper.prune_before_training=true")


@pytest.fixture(scope="module")
def sweep_without_the_flag(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """3 trials with the flag left at its default (off): the wide ones train."""
    return _shared_sweep(tmp_path_factory)


def _sweep_dir(proc: subprocess.CompletedProcess[str]) -> Path:
    """The ``hydra.sweep.dir`` of a sweep :func:`run_multirun` ran."""
    (arg,) = [a for a in proc.args if a.startswith("hydra.sweep.dir=")]
    return Path(arg.split("=", 1)[1])


@pytest.mark.slow
def test_wide_models_are_pruned_before_training_and_not_counted(
    sweep_with_the_flag: subprocess.CompletedProcess[str],
) -> None:
    proc = sweep_with_the_flag
    sweep = _sweep_dir(proc)
    study = load_study(sweep, "prune_app")
    states = {t.number: t.state for t in study.trials}
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(complete) == 3, (states, proc.stderr[-2000:])
    assert pruned, "random sampling over 2 widths should draw the wide one at least once with seed 0"
    assert all(t.params["width"] == 8 for t in complete)
    for t in pruned:
        assert t.params["width"] == WIDE
        assert "pruned before training" in t.user_attrs["ecopt.pruned"]
        assert t.user_attrs["energy/inference_per_sample_J"] == pytest.approx(J_PER_SAMPLE_PER_UNIT * WIDE)
        assert t.user_attrs["ecopt.energy_J"] > 0  # the check's own energy counts in the sweep's
        assert not (Path(t.user_attrs["ecopt.job_dir"]) / "never").exists()
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)  # no FAIL
    assert "trained without the pre-training check" not in proc.stdout + proc.stderr
    with open(sweep / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["state"] for r in rows} == {"COMPLETE", "PRUNED"}
    # a pruned trial's energy, the check's, carries its estimated share: none, on the fake RAPL tree (regression,
    # artifacts audit 2026-11-29: the column was empty for pruned trials, as if unknown)
    assert {r["energy_estimated_fraction"] for r in rows if r["state"] == "PRUNED"} == {"0.0"}
    summary = json.loads((sweep / "summary.json").read_text())
    # the check's sources (the fake RAPL tree: measured) say what a pruned trial's energy is; only the trained
    # trials, whose app returns energy/total_J without EnergyCallback's metrics, "did not say"
    assert all(t.user_attrs["ecopt.measurement_sources"] == {"cpu:0": "rapl", "dram:0": "rapl"} for t in pruned)
    assert summary["sweep_energy"]["trials_without_source"] == len(complete)
    checks = [t.user_attrs["ecopt.pre_training.energy_J"] for t in complete]  # trained trials were checked too
    assert all(j > 0 for j in checks)
    checked = [t.user_attrs["ecopt.pre_training.energy/inference_per_sample_J"] for t in complete]
    assert checked == pytest.approx([J_PER_SAMPLE_PER_UNIT * 8] * len(complete))
    energies = [t.user_attrs["energy/total_J"] for t in complete] + [t.user_attrs["ecopt.energy_J"] for t in pruned]
    assert summary["sweep_energy"]["total_J"] == pytest.approx(sum(energies) + sum(checks))
    assert set(summary["sweep_energy"]["sources"]) == {
        "energy/total_J + pre-training check (rapl)",  # the trained trials: run and check, with the check's meter
        "pre_training_check:rapl",  # the pruned ones: the check alone
    }


@pytest.mark.slow
def test_an_app_that_never_checks_is_told_nothing_can_be_pruned(multirun, app: str, tmp_path: Path) -> None:
    """Regression: with the flag on, an app that never called ``check_before_training`` (the CIFAR-10 example
    did not) trained every trial in full, the wide ones too, and nothing said that no trial could be pruned."""
    source = Path(app).read_text()
    line = (
        '    check_before_training(model, batches, min_window_s=0.0, device="cpu")  # where the trainer will run it\n'
    )
    assert line in source
    Path(app).write_text(source.replace(line, ""))
    proc = multirun(
        *SPACE,
        CONSTRAINT,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.prune_before_training=true",
        "hydra.sweeper.baseline=false",
        app=app,
    )
    log = proc.stdout + proc.stderr
    assert log.count("prune_before_training is on, but trial 0 trained without the pre-training check") == 1, log


@pytest.mark.slow
@pytest.mark.parametrize(
    "more",
    [
        (),
        # multi-fidelity hands the jobs their trial as the flag does: the check measured every trial and pruned the
        # wide ones, which the sweeper, without the flag, told FAIL as job failures
        ("+hydra.sweeper.multi_fidelity={min_epochs: 1, eta: 2}",),
    ],
)
def test_without_the_flag_the_check_is_a_no_op_and_wide_models_train(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, more: tuple[str, ...]
) -> None:
    # the plain sweep is the module's (a refused resume starts from it too); multi-fidelity's is this test's own
    proc = _shared_sweep(tmp_path_factory, *more) if more else request.getfixturevalue("sweep_without_the_flag")
    study = load_study(_sweep_dir(proc), "prune_app")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert any(t.params["width"] == WIDE for t in study.trials)  # seed 0 draws the wide one
    assert not any(k.startswith("ecopt.pre_training.") for t in study.trials for k in t.user_attrs)  # nothing measured


@pytest.mark.slow
def test_a_baseline_pruned_before_training_is_not_enqueued_again_on_resume(multirun, app: str, tmp_path: Path) -> None:
    # the app's own config is wide: its baseline is pruned; each resume enqueued it again, to be pruned again
    (tmp_path / "prune.yaml").write_text(CONF.replace("width: 8", f"width: {WIDE}"))
    common = (*SPACE, CONSTRAINT, "hydra.sweeper.sampler=random", "hydra.sweeper.prune_before_training=true")
    multirun(*common, "hydra.sweeper.n_trials=1", app=app)
    proc = multirun(*common, "hydra.sweeper.n_trials=2", app=app)  # the same sweep resumed, one trial more
    trials = load_study(tmp_path / "sweep", "prune_app").trials
    baselines = [t for t in trials if t.user_attrs.get("ecopt.baseline")]
    assert [(t.number, t.state) for t in baselines] == [(0, TrialState.PRUNED)], trials
    assert "is the baseline" not in proc.stderr + proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("first", "then"), [("true", "false"), ("false", "true")])
def test_a_resume_or_worker_with_another_prune_before_training_is_refused_before_it_runs_anything(
    multirun, app: str, tmp_path: Path, request: pytest.FixtureRequest, first: str, then: str
) -> None:
    """Regression (stop 32's open list): a run with another prune_before_training stored its setting over the
    study's: the other worker's jobs then checked (or skipped the check) under it, and a pruned job of a worker
    with the flag off was told FAIL, not PRUNED."""
    # the first run: the module's sweep of 3 trials with the flag on (first "true") or off ("false"), copied
    shared = request.getfixturevalue("sweep_with_the_flag" if first == "true" else "sweep_without_the_flag")
    shutil.copytree(_sweep_dir(shared), tmp_path / "sweep")
    common = (*SPACE, CONSTRAINT, "hydra.sweeper.sampler=random", "hydra.sweeper.baseline=false")
    before = load_study(tmp_path / "sweep", "prune_app").trials
    assert len(before) >= 3
    proc = multirun(
        *common, "hydra.sweeper.n_trials=4", f"hydra.sweeper.prune_before_training={then}", app=app, expect_fail=True
    )
    out = proc.stdout + proc.stderr
    (line,) = [x for x in out.splitlines() if "is not allowed" in x]
    assert line.startswith(f"hydra.sweeper.prune_before_training={then} is not allowed: "), line
    assert f"the setting of the existing study 'prune_app', {first}, under which its trials ran" in line
    assert "use the same settings in every worker and on resume" in line and "Traceback" not in out
    study = load_study(tmp_path / "sweep", "prune_app")
    assert len(study.trials) == len(before)  # nothing launched
    assert study.user_attrs["ecopt.prune_before_training"] is (first == "true")  # and the setting kept


def test_helper_outside_a_sweep_measures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRIAL, raising=False)
    assert TrialRef.from_env() is None
    assert check_before_training(object(), []) is None  # would fail if it measured


def test_job_overrides_quote_the_url() -> None:
    lines = job_overrides("sqlite:////tmp/it's/ecopt.db", "train", 7)
    assert lines[0] == "++hydra.job.env_set.ECOPT_STORAGE='sqlite:////tmp/it\\'s/ecopt.db'"
    assert lines[1:] == ["++hydra.job.env_set.ECOPT_STUDY='train'", "++hydra.job.env_set.ECOPT_TRIAL_NUMBER='7'"]


def test_flag_is_validated() -> None:
    with_constraint = {"constraints": ["energy/inference_per_sample_J <= 0.001"]}
    assert validate({"prune_before_training": True, **with_constraint}).prune_before_training is True
    assert validate({}).prune_before_training is False
    with pytest.raises(SweeperConfigError, match="prune_before_training"):
        validate({"prune_before_training": "yes"})
    # without a constraint the check could never prune: it measured every trial for nothing, silently
    with pytest.raises(SweeperConfigError) as err:
        validate({"prune_before_training": True})
    assert str(err.value) == (
        "hydra.sweeper.prune_before_training=true is not allowed: false, unless hydra.sweeper.constraints holds one "
        "on the metric the check measures (e.g. ['energy/inference_per_sample_J <= 0.001']): without one no trial "
        "can be pruned"
    )


def test_a_storage_password_never_goes_into_job_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecopt_lightning.sweeper.pruning import ENV_STORAGE

    monkeypatch.delenv(ENV_STORAGE, raising=False)
    url = "postgresql://ecopt:s3cret_pw@127.0.0.1:5432/db"
    overrides = job_overrides(url, "train", 7)
    assert not any("s3cret_pw" in o for o in overrides)  # Hydra prints and saves overrides
    assert os.environ[ENV_STORAGE] == url  # launched jobs inherit it instead
    assert "++hydra.job.env_set.ECOPT_TRIAL_NUMBER='7'" in overrides


def test_the_job_opens_a_journal_storage_like_the_sweeper(tmp_path: Path) -> None:
    import optuna

    from ecopt_lightning.sweeper._storage import open_storage
    from ecopt_lightning.sweeper.pruning import _open_trial

    url = f"journal:///{tmp_path / 'study.log'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url, 0), directions=["minimize", "minimize"])
    asked = study.ask()
    _, trial = _open_trial(TrialRef(url, "s", asked.number))
    assert trial.number == asked.number


class _WriteFails(Exception):
    """The storage failure injected at one attribute write."""


@pytest.mark.parametrize("limit", [0.012, 1.0], ids=["pruned", "passes"])
def test_a_check_stopped_at_any_attribute_write_leaves_no_energy_without_its_source_nor_a_prune_without_its_energy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: float
) -> None:
    """Regression (stop 32's open list): the check wrote its attributes one at a time in an order where a job killed
    between two writes left a trial marked pruned (told PRUNED by the sweeper) without the check's energy. On a
    journal file every attribute is its own write: a failure is injected at the Nth, for every N."""
    import optuna
    import torch

    from ecopt_lightning.sweeper._schema import (
        CHECK_ENERGY_ATTR,
        CHECK_SOURCE_ATTR,
        ENERGY_ATTR,
        ENERGY_SOURCE_ATTR,
        PRUNE_BEFORE_TRAINING_ATTR,
        PRUNED_ATTR,
        SETTINGS_ATTR,
        SOURCES_ATTR,
    )
    from ecopt_lightning.sweeper._storage import open_storage
    from tests.doubles.fake_powercap import FakePowercap

    cap = FakePowercap(tmp_path / "powercap", psys=False)
    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(tmp_path / "powercap"))
    model = torch.nn.Linear(64, 10)
    model.register_forward_hook(lambda m, args, out: cap.add("cpu:0", 0.05 * args[0].shape[0]))  # 0.05 J/sample
    batches = [(torch.zeros(32, 64), torch.zeros(32))] * 4
    constraint = f"energy/inference_per_sample_J <= {limit}"
    settings = validate({"objectives": [{"name": "val_acc", "direction": "maximize"}], "constraints": [constraint]})
    writes = {"n": 0, "fail_at": 0}
    real = optuna.storages.JournalStorage.set_trial_user_attr

    def counted(self, trial_id: int, key: str, value: object) -> None:
        writes["n"] += 1
        if writes["n"] == writes["fail_at"]:
            raise _WriteFails(key)
        real(self, trial_id, key, value)

    monkeypatch.setattr(optuna.storages.JournalStorage, "set_trial_user_attr", counted)
    fail_at = 1
    while True:
        url = f"journal:///{tmp_path / f'study{fail_at}.log'}"
        study = optuna.create_study(study_name="s", storage=open_storage(url, 0), directions=["maximize"])
        study.set_user_attr(SETTINGS_ATTR, settings.for_report().to_attrs())
        study.set_user_attr(PRUNE_BEFORE_TRAINING_ATTR, True)
        number = study.ask().number
        writes.update(n=0, fail_at=fail_at)
        try:
            check_before_training(model, batches, ref=TrialRef(url, "s", number), min_window_s=0.0, device="cpu")
        except _WriteFails:
            pass
        except Exception as exc:
            assert limit < 1.0 and "pruned before training" in str(exc), exc
        attrs = study.trials[number].user_attrs
        if PRUNED_ATTR in attrs:  # the sweeper tells it PRUNED: its energy counts, with its source
            assert {ENERGY_ATTR, ENERGY_SOURCE_ATTR, SOURCES_ATTR} <= set(attrs), (fail_at, sorted(attrs))
        if ENERGY_ATTR in attrs:
            assert ENERGY_SOURCE_ATTR in attrs, (fail_at, sorted(attrs))
        if CHECK_ENERGY_ATTR in attrs:
            assert CHECK_SOURCE_ATTR in attrs, (fail_at, sorted(attrs))
        if writes["n"] < fail_at:  # the check wrote fewer attributes than N: every prefix was tried
            break
        fail_at += 1
    assert fail_at > 2


@pytest.mark.slow
def test_a_worker_whose_prune_before_training_another_stored_over_at_the_start_refuses_before_asking(
    tmp_path: Path,
) -> None:
    # two workers opening a new study at once (no trial yet) both pass the check at open; the later one's setting
    # is the study's, which worker A's jobs would have read
    import signal

    import optuna

    from ecopt_lightning.sweeper._storage import open_storage
    from tests.distributed.conftest import finish, run, start
    from tests.guards import wait_for

    url = f"journal:///{tmp_path / 'shared' / 'study.log'}"
    (tmp_path / "shared").mkdir()
    common = ("width=choice(8,16)", f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=pb")
    # A stores prune_before_training=true and is paused before its first ask; B stores false and runs 2 trials
    pause = {"ECOPT_CRASH_AT": "before_ask:1", "ECOPT_CRASH_SIGNAL": "STOP"}
    on = ("hydra.sweeper.prune_before_training=true", "hydra.sweeper.constraints=['energy/total_J <= 100']")
    a = start(tmp_path / "a", *common, "hydra.sweeper.n_trials=4", *on, env=pause)
    try:
        stat = Path(f"/proc/{a.pid}/stat")
        wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", what="worker A paused before asking")
        b = run(tmp_path / "b", *common, "hydra.sweeper.n_trials=2")
        assert b.returncode == 0, b.stderr[-3000:]
    finally:
        a.send_signal(signal.SIGCONT)
    assert finish(a, tmp_path / "a") != 0
    out = Path(f"{tmp_path / 'a'}.log").read_text()
    (line,) = [x for x in out.splitlines() if "hydra.sweeper.prune_before_training=true is not allowed" in x]
    assert "the existing study 'pb', false, under which its trials ran" in line and "Traceback" not in out, out[-3000:]
    study = optuna.load_study(study_name="pb", storage=open_storage(url, heartbeat_interval_s=0))
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2  # B's; A asked nothing


def test_telling_a_job_that_pruned_its_trial_reads_that_trial_not_the_whole_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in the stop-32 audit: each failed job of a prune_before_training sweep read every trial of the study
    twice (to find whether it had pruned itself): two full reads per failed trial, growing with the study."""
    import optuna
    from hydra.core.utils import JobReturn, JobStatus

    from ecopt_lightning.sweeper._optuna_compat import storage
    from ecopt_lightning.sweeper._results import tell_result
    from ecopt_lightning.sweeper._schema import PRUNED_ATTR
    from ecopt_lightning.sweeper.pruning import PrunedBeforeTraining

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize"])
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(values=[1.0]))
    trial = study.ask()
    reason = "pruned before training: untrained model's energy/inference_per_sample_J=0.05 violates ..."
    trial.set_user_attr(PRUNED_ATTR, reason)
    settings = validate(
        {
            "objectives": [{"name": "val_acc", "direction": "maximize"}],
            "constraints": ["energy/inference_per_sample_J <= 0.012"],
            "prune_before_training": True,
        }
    )
    ret = JobReturn(status=JobStatus.FAILED, _return_value=PrunedBeforeTraining(reason))
    reads = []
    kind = type(storage(study))  # the study's storage as the sweeper reaches it (a cache over the database)
    real = kind.get_all_trials
    monkeypatch.setattr(kind, "get_all_trials", lambda self, *a, **k: reads.append(1) or real(self, *a, **k))
    assert tell_result(study, trial, ret, settings) == (None, None)
    assert reads == []
    assert study.trials[3].state == optuna.trial.TrialState.PRUNED


def test_the_check_measures_on_the_benchmarks_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (artifacts audit, 2026-11-29): the check ran on the process's torch threads, EnergyCallback's
    benchmark on one (``InferenceBenchmark.threads``). On a loaded 2-core machine two threads spin, and the CPU
    estimate counts the spin: the digits app's untrained width-8 model read 2.9e-3 J/sample against the 1.2e-6 its
    benchmark measured after training, so a constraint set from the sweep's values (<= 3e-6) pruned all 30 trials."""
    import torch

    from tests.doubles.fake_powercap import FakePowercap

    cap = FakePowercap(tmp_path / "powercap", psys=False)
    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(tmp_path / "powercap"))
    threads_seen: set[int] = set()

    def forward(m: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        threads_seen.add(torch.get_num_threads())
        cap.add("cpu:0", 0.05 * args[0].shape[0])  # 0.05 J/sample

    model = torch.nn.Linear(64, 10)
    model.register_forward_hook(forward)
    ref = _checked_trial(tmp_path, "energy/inference_per_sample_J <= 1.0")
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the process's own, as torch picks on a 2-core machine
    try:
        batches = [(torch.zeros(32, 64), torch.zeros(32))] * 4
        assert check_before_training(model, batches, ref=ref, min_window_s=0.0, device="cpu") == pytest.approx(0.05)
        assert threads_seen == {1} and torch.get_num_threads() == 2  # the benchmark's threads, the process's after
        threads_seen.clear()
        check_before_training(model, batches, ref=ref, min_window_s=0.0, device="cpu", threads=None)
        assert threads_seen == {2}  # None: the process's own, as InferenceBenchmark(threads=None)
    finally:
        torch.set_num_threads(before)


def test_a_check_that_measured_nothing_prunes_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (stop 37's artifacts audit): on RAPL files whose counter never moves, the check read 0 J per sample,
    which passes every limit and was stored as the trial's pre-training value. It now stores nothing, prunes
    nothing, and warns that the trial trains unchecked."""
    import warnings

    import optuna
    import torch

    from tests.doubles.fake_powercap import FakePowercap

    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(FakePowercap(tmp_path / "powercap", psys=False).root))  # frozen
    ref = _checked_trial(tmp_path, "energy/inference_per_sample_J <= 1e-3")
    url = ref.storage
    batches = [(torch.zeros(8, 4), torch.zeros(8))] * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check_before_training(torch.nn.Linear(4, 2), batches, ref=ref, min_window_s=0.0, device="cpu") is None
    said = [str(w.message) for w in caught if "measured nothing" in str(w.message)]
    assert said == ["ecopt: trial 0's pre-training check measured nothing (every repeat read 0 J on rapl): the trial "
                    "trains unchecked"]  # fmt: skip
    assert optuna.load_study(study_name="s", storage=url).trials[0].user_attrs == {}


def _checked_trial(tmp_path: Path, limit: str) -> TrialRef:
    """A trial of a one-objective SQLite study with ``prune_before_training`` and the constraint ``limit``."""
    import optuna

    from ecopt_lightning.sweeper._schema import PRUNE_BEFORE_TRAINING_ATTR, SETTINGS_ATTR
    from ecopt_lightning.sweeper._storage import open_storage

    settings = validate({"objectives": [{"name": "val_acc", "direction": "maximize"}], "constraints": [limit]})
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url, 0), directions=["maximize"])
    study.set_user_attr(SETTINGS_ATTR, settings.for_report().to_attrs())
    study.set_user_attr(PRUNE_BEFORE_TRAINING_ATTR, True)
    return TrialRef(url, "s", study.ask().number)
