"""`ecopt confirm`: the front's models measured again in one process, and the front rebuilt from those values."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import optuna
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from ecopt_lightning.cli import main
from ecopt_lightning.confirm import why_not_reloadable
from ecopt_lightning.sweeper._pareto import non_dominated_ranks
from tests.guards import SUBPROCESS_S

ROOT = Path(__file__).resolve().parents[2]
E = "energy/inference_per_sample_J"


def test_confirm_on_a_real_4_trial_sweep_rebuilds_the_front_from_the_new_values(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, str(ROOT / "examples" / "train.py"), "-m", "hydra/sweeper=ecopt",
        "hydra.sweeper.n_trials=4", "trainer.max_epochs=1", "energy.max_repeats=6", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=SUBPROCESS_S, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    storage = f"sqlite:///{sweep / 'ecopt.db'}"
    study = optuna.load_study(study_name="train", storage=storage)
    swept = {t.number: t.values for t in study.trials}

    report = tmp_path / "confirmed"
    cmd = [sys.executable, "-m", "ecopt_lightning.cli", "confirm", "--storage", storage, "--study", "train"]
    cmd += ["--rounds", "2", "--repeats", "3", "--out", str(report)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "front from confirmed values:" in out.stdout

    confirmed = optuna.load_study(study_name="train", storage=storage).user_attrs["ecopt.confirmed"]
    assert confirmed  # the front (and the trials possibly on it) were measured again: 2 rounds x 3 repeats
    assert "0" in confirmed  # and the baseline the payback compares with, in the same rounds (first-hour audit)
    for number, c in confirmed.items():
        assert c["repeats"] == 6 and c["rounds"] == 2 and c["metric"] == E
        assert c["sweep_value"] == pytest.approx(swept[int(number)][1])
        assert c["ci_lo"] <= c["value"] <= c["ci_hi"]
        assert len(c["round_medians"]) == 2 and c["ci_lo"] <= min(c["round_medians"]) <= max(c["round_medians"])
        assert max(c["round_medians"]) <= c["ci_hi"]  # the interval holds every round

    # the front, rebuilt from the confirmed values (the sweep's for the others), by hand
    values = {n: [v[0], confirmed[str(n)]["value"] if str(n) in confirmed else v[1]] for n, v in swept.items()}
    numbers = sorted(values)
    ranks = non_dominated_ranks([(-values[n][0], values[n][1]) for n in numbers])
    expected_front = [n for n, rank in zip(numbers, ranks, strict=True) if rank == 0]
    front = json.loads((report / "pareto_front.json").read_text())["trials"]
    assert [row["trial"] for row in front] == expected_front
    for row in front:  # both sets of numbers are kept
        assert row["objectives"][E] == pytest.approx(values[row["trial"]][1])
        assert row["sweep_objectives"][E] == pytest.approx(swept[row["trial"]][1])
        assert row["confirmed"] is True
    with open(report / "trials.csv") as f:
        rows = {int(r["trial"]): r for r in csv.DictReader(f)}
    for number, c in confirmed.items():
        assert float(rows[int(number)][f"{E}_sweep"]) == pytest.approx(c["sweep_value"])
        assert rows[int(number)]["confirmed"] == "True"
    summary = json.loads((report / "summary.json").read_text())
    assert set(summary["confirmed"]) == set(confirmed)
    # the chosen model's line gives the spread of the values it shows (regression, artifacts audit 2026-11-29: the
    # confirmed median and interval stood beside the sweep's IQR, convergence and contention)
    chosen = summary["impact"]["chosen_trial"]
    line = next(x for x in (report / "energy_report.md").read_text().splitlines() if x.startswith("- Inference energy"))
    assert str(chosen) in confirmed and f"{confirmed[str(chosen)]['value']:.4g} J per sample" in line, line
    assert "over `ecopt confirm`'s 6 repeats in 2 round(s)" in line, line
    assert f"IQR {study.trials[chosen].user_attrs[f'{E}_iqr']:.4g} J;" not in line, line

    # --clear drops them: the report is the sweep's own again
    cmd = [sys.executable, "-m", "ecopt_lightning.cli", "confirm", "--storage", storage, "--study", "train", "--clear"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert out.returncode == 0 and f"cleared the confirmed values of {len(confirmed)} trial(s)" in out.stdout, out
    assert main(["report", "--storage", storage, "--study", "train", "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert not again["confirmed"]
    front = json.loads((tmp_path / "again" / "pareto_front.json").read_text())["trials"]
    assert all(row["objectives"][E] == pytest.approx(swept[row["trial"]][1]) for row in front)


def test_a_round_that_reads_differently_widens_the_confirmed_interval():
    # the noise benchmark saw the VM drift 10-25% between rounds minutes apart, while the repeats of one round
    # agreed: pooled as if independent, 4 rounds of 6 give an interval that excludes the fourth round entirely
    from ecopt_lightning.intervals import median_interval
    from ecopt_lightning.sweeper._confirm import confirmed_interval, measure_rounds

    class Run:
        def __init__(self) -> None:
            self.per_repeat_J, self.round_medians, self.contention, self.source = [], [], None, ""

    class Result:
        def __init__(self, value: float) -> None:
            self.per_repeat_J, self.contention, self.source = [value] * 6, None, "estimate"

    readings = iter([1.0, 1.0, 1.0, 1.3])
    run = Run()
    measure_rounds([run], 4, lambda r: Result(next(readings)))
    assert run.round_medians == [1.0, 1.0, 1.0, 1.3]
    assert median_interval(sorted(run.per_repeat_J)) == (1.0, 1.0)  # what the confirmed interval was before
    assert confirmed_interval(run.per_repeat_J, run.round_medians) == (1.0, 1.3)


def test_an_app_without_the_pattern_gets_a_one_line_reason(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    job = tmp_path / "job0"
    job.mkdir()
    attrs = {"val_acc": 0.9, E: 0.01, "ecopt.job_dir": str(job)}
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.01], user_attrs=attrs))
    assert main(["confirm", "--storage", storage, "--study", "s", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ecopt confirm: no trial of the front can be measured again: trial 0: no ")
    assert f"ecopt_confirm/candidate.json under {job}" in err and "keep_for_confirm" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "1", "--repeats", "1"], "ecopt confirm: rounds=1, repeats_per_round=1 are not allowed: give"),
        (["--out", "AFILE"], "ecopt confirm: --out "),
    ],
)
def test_confirm_refuses_too_few_repeats_and_a_bad_out_before_it_touches_the_study(tmp_path, capsys, args, message):
    """Regression (first-hour audit, 2026-11-28): one repeat gave a confirmed value with no interval that replaced
    the sweep's measured one; an --out that cannot be a folder failed with a traceback after the study was
    already changed."""
    from ecopt_lightning.sweeper._schema import CONFIRMED_ATTR

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.01], user_attrs={"val_acc": 0.9, E: 0.01}))
    (tmp_path / "AFILE").write_text("")
    args = [str(tmp_path / "AFILE") if a == "AFILE" else a for a in args]
    assert main(["confirm", "--storage", storage, "--study", "s", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert CONFIRMED_ATTR not in optuna.load_study(study_name="s", storage=storage).user_attrs


@pytest.mark.parametrize("command", ["confirm", "report"])
@pytest.mark.parametrize("out", [None, "a/b"])
def test_a_refused_command_leaves_no_empty_folder_behind(tmp_path, capsys, monkeypatch, command, out):
    # a mistyped study name left ./ecopt-confirm-<name> (or every folder of --out a/b) behind, empty
    storage = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    work = tmp_path / "work"
    (work / "kept").mkdir(parents=True)
    monkeypatch.chdir(work)
    where = [] if out is None else ["--out", out]
    assert main([command, "--storage", storage, "--study", "no_such_study", *where]) == 2
    assert capsys.readouterr().err.startswith(f"ecopt {command}: ")
    assert [p.name for p in work.iterdir()] == ["kept"]
    if command == "confirm":  # refused later: the study has no trial to measure
        assert main(["confirm", "--storage", storage, "--study", "s", "--out", "kept/new"]) == 2
        assert "has nothing to confirm: no feasible complete trial" in capsys.readouterr().err
        assert [p.name for p in work.iterdir()] == ["kept"] and not any((work / "kept").iterdir())


def test_report_refuses_an_out_that_cannot_be_a_folder_in_one_line(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.01], user_attrs={"val_acc": 0.9, E: 0.01}))
    (tmp_path / "AFILE").write_text("")
    assert main(["report", "--storage", storage, "--study", "s", "--out", str(tmp_path / "AFILE")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ecopt report: --out {str(tmp_path / 'AFILE')!r} is not allowed: ") and err.count("\n") == 1


class NoHparams(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = torch.nn.Linear(width, 2)


def test_a_model_that_cannot_be_rebuilt_is_named_with_the_reason():
    assert "save_hyperparameters" in why_not_reloadable(NoHparams(3))
    main_class = type("Script", (torch.nn.Module,), {"__module__": "__main__"})
    assert "__main__" in why_not_reloadable(main_class())


class ThreadProbe(LightningModule):
    """A tiny classifier that records the torch threads each forward pass runs on (class-level, read by tests)."""

    seen: ClassVar[list[int]] = []

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(width, 2)

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ThreadProbe.seen.append(torch.get_num_threads())
        return self.net(x)

    @override
    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    @override
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

    @override
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class FailsInConfirm(ThreadProbe):
    """ThreadProbe whose forward pass raises at its ``fail_at``-th call from when a test sets it (an event)."""

    fail_at: ClassVar[int | None] = None
    calls: ClassVar[int] = 0

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        FailsInConfirm.calls += 1
        if FailsInConfirm.fail_at is not None and FailsInConfirm.calls >= FailsInConfirm.fail_at:
            raise RuntimeError("injected: the model failed mid-confirm")
        return super().forward(x)


def _kept_candidate(job: Path, model: type[ThreadProbe] = ThreadProbe) -> None:
    """A real fit whose EnergyCallback keeps the model for ``ecopt confirm`` under ``job``, its benchmark on 1
    torch thread (the default)."""
    from torch.utils.data import DataLoader, TensorDataset

    from ecopt_lightning import EnergyCallback

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 8, generator=g)
    data = DataLoader(TensorDataset(x, (x.sum(dim=1) > 0).long()), batch_size=8)
    bench = {"repeats": 2, "keep_for_confirm": True}
    callback = EnergyCallback(cpu="estimate", proxies=False, inference_benchmark=bench, summary_path=job / "s.json")
    trainer = Trainer(
        max_epochs=1, default_root_dir=job, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu", callbacks=[callback],
    )  # fmt: skip
    trainer.fit(model(), data, data)


def test_confirm_measures_on_the_sweeps_threads_with_the_sweeps_values_and_hardware(tmp_path, monkeypatch):
    """Regression (first-hour audit, 2026-11-28): ``ecopt confirm`` measured on the process's own torch threads,
    not the benchmark's 1, and read 200-800x the sweep's J/sample on a busy 2-core machine; a trial that joined
    the front through an earlier confirm's value showed that value as its sweep value; the report said the
    hardware was not recorded; and `ecopt report` replaced summary.json's confirmed entries with a note."""
    from ecopt_lightning.sweeper._confirm import confirm, confirm_lines
    from ecopt_lightning.sweeper._energy_report import render
    from ecopt_lightning.sweeper._schema import CONFIRMED_ATTR, HARDWARE_ATTR, JOB_DIR_ATTR

    _kept_candidate(tmp_path / "job0")
    shutil.copytree(tmp_path / "job0", tmp_path / "job1")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(["val_acc", E])
    study.set_user_attr(HARDWARE_ATTR, {"cpu": "probe CPU"})
    for n, (acc, j) in enumerate([(0.9, 0.01), (0.8, 0.02)]):  # trial 1 is dominated in the sweep
        attrs = {"val_acc": acc, E: j, JOB_DIR_ATTR: str(tmp_path / f"job{n}")}
        study.add_trial(optuna.trial.create_trial(values=[acc, j], user_attrs=attrs))
    # an earlier confirm read trial 1 far cheaper, so the rebuilt front takes it in and this run measures it too
    earlier = {"metric": E, "value": 1e-12, "ci_lo": 1e-12, "ci_hi": 1e-12, "rounds": 1, "sweep_value": 0.02}
    study.set_user_attr(CONFIRMED_ATTR, {"1": earlier})

    monkeypatch.setattr(ThreadProbe, "seen", [])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = confirm(storage, "s", rounds=2, repeats_per_round=3)
    finally:
        torch.set_num_threads(threads)
    assert ThreadProbe.seen and set(ThreadProbe.seen) == {1}  # the candidate's threads, not the process's 2
    assert result.measured == {0, 1}
    entries = optuna.load_study(study_name="s", storage=storage).user_attrs[CONFIRMED_ATTR]
    assert entries["0"]["sweep_value"] == 0.01 and entries["1"]["sweep_value"] == 0.02
    lines = confirm_lines(result)
    assert [line.split()[0] for line in lines[1:3]] == ["0", "1"] and "0.02 " in lines[2]
    assert result.after.notes["hardware"] == {"cpu": "probe CPU"}
    assert "- cpu: probe CPU" in render(result.after) and "not recorded" not in render(result.after)
    # the confirmed values were measured here, not on the sweep's machine, and the report says so (it gave only
    # the sweep's hardware for values it had measured elsewhere)
    from ecopt_lightning.sweeper._energy_report import hardware_info

    here = hardware_info()
    assert entries["0"]["hardware"] == entries["1"]["hardware"] == here
    assert (
        f"- `ecopt confirm` measured the energy per sample of trials 0, 1 again on another machine: cpu: {here['cpu']};"
        in render(result.after)
    )
    # and `ecopt report` afterwards keeps the entries in summary.json (its note used to overwrite them)
    from ecopt_lightning.sweeper._rebuild import rebuild

    rebuild(storage, "s", tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert set(summary["confirmed"]) == {"0", "1"} and summary["confirmed"]["1"]["sweep_value"] == 0.02
    assert "ecopt confirm" in summary["confirmed_note"]


def test_a_confirmed_value_that_is_an_estimate_is_labelled_so():
    """Without sensors the re-measurement is CPU time x watts: its line read like a measurement (only the log's
    first line, on stderr, said what was estimated)."""
    from ecopt_lightning.sweeper._confirm import Confirmation, confirm_lines
    from ecopt_lightning.sweeper._schema import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, j in [(0.9, 0.01), (0.8, 0.005)]:
        study.add_trial(optuna.trial.create_trial(values=[acc, j], user_attrs={"val_acc": acc, E: j}))
    settings = ReportSettings(["val_acc", E], ["maximize", "minimize"])
    entry = {"metric": E, "value": 0.009, "ci_lo": 0.008, "ci_hi": 0.01, "sweep_value": 0.01, "contended": False}
    confirmed = {
        "0": {**entry, "source": "estimate"},
        "1": {**entry, "value": 0.004, "ci_lo": 0.003, "ci_hi": 0.005, "source": "rapl"},
    }
    before = build_report("s", study.get_trials(), settings)
    after = build_report("s", study.get_trials(), settings, confirmed=confirmed)
    lines = confirm_lines(Confirmation(before, after, {}, {0, 1}))
    assert "->  0.009 [0.008, 0.01] (ESTIMATED from CPU time)  |" in lines[1]
    assert "->  0.004 [0.003, 0.005]  |" in lines[2] and "ESTIMATED" not in lines[2]


def test_a_confirmed_value_replaces_samples_per_joule_too_where_that_is_the_objective():
    """Objectives val_acc and efficiency/samples_per_J (maximised): the confirmed J per sample changed nothing,
    while `ecopt confirm` printed 'front from confirmed values'."""
    from ecopt_lightning.sweeper._schema import ReportSettings
    from ecopt_lightning.sweeper._sweep_report import build_report

    eff = "efficiency/samples_per_J"
    study = optuna.create_study(directions=["maximize", "maximize"])
    for acc, j in [(0.9, 0.01), (0.8, 0.005)]:
        attrs = {"val_acc": acc, E: j, eff: 1 / j}
        study.add_trial(optuna.trial.create_trial(values=[acc, 1 / j], user_attrs=attrs))
    settings = ReportSettings(["val_acc", eff], ["maximize", "maximize"], [f"{eff} >= 60"])
    # trial 1 measured again: 4x dearer than the sweep said, now dominated by trial 0
    confirmed = {"1": {"metric": E, "value": 0.02, "ci_lo": 0.016, "ci_hi": 0.025}}
    report = build_report("s", study.get_trials(), settings, confirmed=confirmed)
    (one,) = [r for r in report.records if r.number == 1]
    assert one.values == pytest.approx([0.8, 50.0]) and one.sweep_values == pytest.approx([0.8, 200.0])
    assert one.intervals[eff] == pytest.approx((40.0, 62.5))
    assert one.constraints[f"{eff} >= 60"] == pytest.approx(10.0) and not one.feasible  # met by the sweep's 200
    assert [r.number for r in report.front] == [0]


def test_confirm_on_a_meter_that_reads_nothing_confirms_nothing(tmp_path, monkeypatch):
    """Regression (stop 37's artifacts audit): on RAPL files whose counter never moves, every round read 0 J, and
    0 J per sample replaced the sweep's value as the confirmed one: the cheapest model of the rebuilt front. Now
    ``ecopt confirm`` stops with one line and stores nothing."""
    from ecopt_lightning.sweeper._confirm import ConfirmError, confirm
    from ecopt_lightning.sweeper._schema import CONFIRMED_ATTR, JOB_DIR_ATTR
    from tests.doubles.fake_powercap import FakePowercap

    _kept_candidate(tmp_path / "job0")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(["val_acc", E])
    attrs = {"val_acc": 0.9, E: 0.01, JOB_DIR_ATTR: str(tmp_path / "job0")}
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.01], user_attrs=attrs))
    monkeypatch.setenv("ECOPT_POWERCAP_ROOT", str(FakePowercap(tmp_path / "powercap", psys=False).root))  # frozen
    with pytest.raises(
        ConfirmError, match=r"^trial 0's measurement read 0 J in every repeat on rapl: nothing measured"
    ):
        confirm(storage, "s", rounds=2, repeats_per_round=3)
    assert CONFIRMED_ATTR not in optuna.load_study(study_name="s", storage=storage).user_attrs


def test_the_energy_confirm_spends_is_reported_and_counted_in_what_tuning_cost(tmp_path):
    """Regression (tuning-cost audit, 2026-11-30): ``ecopt confirm`` measured the front again and spent energy that
    no report counted: summary.json, energy_report.md and the payback gave the trials' energy alone as what tuning
    cost. Each run's energy is now stored on the study, shown on its own line and added to the payback's."""
    from ecopt_lightning.sweeper._confirm import clear, confirm, confirm_lines
    from ecopt_lightning.sweeper._rebuild import rebuild
    from ecopt_lightning.sweeper._records import estimated_share
    from ecopt_lightning.sweeper._schema import CONFIRM_ENERGY_ATTR, JOB_DIR_ATTR

    _kept_candidate(tmp_path / "job0")
    shutil.copytree(tmp_path / "job0", tmp_path / "job1")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(["val_acc", E])
    for n, (acc, j) in enumerate([(0.9, 0.02), (0.8, 0.01)]):  # both on the front
        attrs = {"val_acc": acc, E: j, "energy/total_J": 100.0 * (n + 1), JOB_DIR_ATTR: str(tmp_path / f"job{n}")}
        study.add_trial(optuna.trial.create_trial(values=[acc, j], user_attrs=attrs))

    result = confirm(storage, "s", rounds=2, repeats_per_round=3)
    runs = optuna.load_study(study_name="s", storage=storage).user_attrs[CONFIRM_ENERGY_ATTR]
    assert len(runs) == 1 and runs[0]["energy_J"] > 0 and runs[0]["seconds"] > 0
    spent = runs[0]["energy_J"]
    share = estimated_share(None, runs[0]["sources"].values())  # every figure keeps its source
    assert share is not None and runs[0]["estimated_J"] == pytest.approx(share * spent)
    assert result.after.impact["tuning_energy_J"] == pytest.approx(300.0 + spent)  # what the payback divides
    said = confirm_lines(result)[-1]
    assert said.startswith(f"this confirm used {spent:.4g} J (") and f"tuning cost {300.0 + spent:.4g} J" in said

    rebuild(storage, "s", tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    energy = summary["sweep_energy"]
    assert energy["total_J"] == 300.0  # the trials' alone, as before
    assert energy["confirm"] == {
        "energy_J": pytest.approx(spent),
        "estimated_J": pytest.approx(share * spent),
        "runs": 1,
    }
    assert energy["tuning_total_J"] == summary["impact"]["tuning_energy_J"] == pytest.approx(300.0 + spent)
    report = (tmp_path / "report" / "energy_report.md").read_text()
    assert f"- `ecopt confirm` used {spent:.4g} J measuring the front again (1 run(s); " in report
    total = f"- What tuning cost (the payback's): {300.0 + spent:.6g} J (the trials' 300 J and ecopt confirm's "
    line = next(x for x in report.splitlines() if x.startswith(total))
    assert f"confirm's {spent:.6g} J; " in line and "% of it ESTIMATED, not measured" in line, line  # its share

    # a second run adds its own; --clear drops the confirmed values, not the energy they cost
    confirm(storage, "s", rounds=2, repeats_per_round=3)
    assert clear(storage, "s") == 2
    runs = optuna.load_study(study_name="s", storage=storage).user_attrs[CONFIRM_ENERGY_ATTR]
    rebuild(storage, "s", tmp_path / "again")
    energy = json.loads((tmp_path / "again" / "summary.json").read_text())["sweep_energy"]
    assert len(runs) == 2 and energy["confirm"]["runs"] == 2
    assert energy["tuning_total_J"] == pytest.approx(300.0 + runs[0]["energy_J"] + runs[1]["energy_J"])


def test_a_confirm_that_stops_midway_still_counts_the_energy_it_spent(tmp_path, monkeypatch):
    """A confirm run stopped before its end (Ctrl-C, a model that raised) confirms nothing, and the energy it had
    spent measuring was counted nowhere either (its one window was read only at the end)."""
    from ecopt_lightning.sweeper._confirm import confirm
    from ecopt_lightning.sweeper._rebuild import rebuild
    from ecopt_lightning.sweeper._schema import CONFIRM_ENERGY_ATTR, CONFIRMED_ATTR, JOB_DIR_ATTR

    _kept_candidate(tmp_path / "job0", FailsInConfirm)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(["val_acc", E])
    attrs = {"val_acc": 0.9, E: 0.02, "energy/total_J": 100.0, JOB_DIR_ATTR: str(tmp_path / "job0")}
    study.add_trial(optuna.trial.create_trial(values=[0.9, 0.02], user_attrs=attrs))

    monkeypatch.setattr(FailsInConfirm, "calls", 0)
    monkeypatch.setattr(FailsInConfirm, "fail_at", 20)  # mid-measuring: warm-ups and repeats ran before
    with pytest.raises(RuntimeError, match="injected"):
        confirm(storage, "s", rounds=2, repeats_per_round=3)
    stored = optuna.load_study(study_name="s", storage=storage).user_attrs
    assert CONFIRMED_ATTR not in stored  # nothing confirmed
    (run,) = stored[CONFIRM_ENERGY_ATTR]
    assert run["stopped"] is True and run["energy_J"] > 0
    rebuild(storage, "s", tmp_path / "report")
    energy = json.loads((tmp_path / "report" / "summary.json").read_text())["sweep_energy"]
    assert energy["tuning_total_J"] == pytest.approx(100.0 + run["energy_J"])
