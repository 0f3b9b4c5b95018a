"""EnergyCallback in a multi-fidelity sweep, with a real Trainer and a real SQLite study: it ranks at rung
epochs, stops the Trainer when the rule says so, and its measurement does not change what training does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader
from typing_extensions import override

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.energy import EnergyMonitor
from ecopt_lightning.sweeper._schema import (
    BASELINE_ATTR,
    MULTI_FIDELITY_ATTR,
    SETTINGS_ATTR,
    ReportSettings,
    rung_attr,
)
from ecopt_lightning.sweeper.errors import JobConfigError
from ecopt_lightning.sweeper.multi_fidelity import rung_values, stopped_at
from ecopt_lightning.sweeper.successive_halving import RungSchedule
from tests.doubles.simulated_gpu import SimGpu

from .helpers import STEP_COUNTERS_CONSISTENT, make_trainer
from .models import RankRecord, RankValLoss, TinyModel, loader

OBJECTIVES = ["val_loss", "energy/inference_per_sample_J"]


class Shuffled(TinyModel):
    def train_dataloader(self) -> DataLoader:
        base = loader(64, 8, seed=0)
        return DataLoader(base.dataset, batch_size=8, shuffle=True)


def _fit(
    summary: Path,
    max_epochs: int = 3,
    trainer_kwargs: dict[str, Any] | None = None,
    monitor: EnergyMonitor | None = None,
    **bench: Any,
) -> tuple[Trainer, torch.Tensor]:
    """A 3-epoch fit of :class:`Shuffled` with ``EnergyCallback`` (inference benchmark: 2 repeats, ``bench``);
    ``trainer_kwargs``: more arguments of the Trainer; ``monitor``: the callback's (default: its own)."""
    torch.manual_seed(0)
    model = Shuffled()
    trainer = Trainer(
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
        callbacks=[
            EnergyCallback(
                cpu="estimate",
                inference_benchmark={"repeats": 2, **bench},
                proxies=False,
                summary_path=summary,
                monitor=monitor,
            )
        ],
        **(trainer_kwargs or {}),
    )
    trainer.fit(model)
    return trainer, torch.cat([p.detach().flatten() for p in model.parameters()])


def _study(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    earlier: list[list[float]],
    rung_repeats: int | None = None,
    eta: int = 2,
    baseline: bool = False,
    schedule: tuple[int, int] = (1, 3),
    objectives: list[str] = OBJECTIVES,
) -> optuna.Study:
    """A study with multi-fidelity on (rungs 1, 2 of 3 with eta 2; ``rung_repeats``; ``schedule``: min_epochs and
    max_epochs), ``earlier`` trials' values at rung 1, and a RUNNING trial for this job; the job's environment
    points at it, as the sweeper sets it. ``objectives``: the study's, both minimised."""
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["minimize", "minimize"])
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(objectives, ["minimize", "minimize"]).to_attrs())
    study.set_user_attr(
        MULTI_FIDELITY_ATTR, RungSchedule(schedule[0], eta, schedule[1], rung_repeats=rung_repeats).to_attrs()
    )
    for values in earlier:
        study.ask().set_user_attr(rung_attr(1), {"values": values, "max_epochs": 3})
    if baseline:  # as the sweeper enqueues the app's own config
        study.enqueue_trial({}, user_attrs={BASELINE_ATTR: True})
    mine = study.ask()
    for key, value in {"ECOPT_STORAGE": url, "ECOPT_STUDY": "s", "ECOPT_TRIAL_NUMBER": str(mine.number)}.items():
        monkeypatch.setenv(key, value)
    return study


def test_lone_trial_trains_exactly_as_without_multi_fidelity(tmp_path: Path, monkeypatch) -> None:
    """The benchmark at the first rung iterates a DataLoader (a draw from torch's generator): with the random
    state forked around it, the shuffled batches and so the weights are those of a run outside a sweep."""
    _, plain = _fit(tmp_path / "plain.json")
    study = _study(tmp_path, monkeypatch, earlier=[])
    trainer, ranked = _fit(tmp_path / "ranked.json")
    assert trainer.current_epoch == 3 and trainer.callbacks[0].stopped_at_rung is None
    attrs = study.trials[-1].user_attrs
    assert [e["decision"] for e in rung_values(attrs).values()] == ["continue", "continue"]
    assert torch.equal(plain, ranked)


def test_dominated_trial_is_stopped_after_the_first_rung(tmp_path: Path, monkeypatch) -> None:
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])  # an earlier trial better on both
    trainer, _ = _fit(tmp_path / "summary.json")
    assert trainer.current_epoch == 1 and trainer.should_stop
    attrs = study.trials[-1].user_attrs
    assert stopped_at(attrs) == 1 and rung_values(attrs)[1]["cohort"] == [0, 1]
    energy = trainer.callbacks[0]
    assert energy.summary()["status"] == "finished fit (stopped by multi-fidelity at epoch 1)"
    assert energy.stopped_at_rung == 1  # what the app asks before its trainer.test
    # the benchmark ran once, at the rung, and its values are the trial's final ones
    assert float(trainer.callback_metrics["energy/inference_per_sample_J"]) == rung_values(attrs)[1]["values"][1]


def test_a_rung_below_the_trainers_min_epochs_is_refused_before_training(tmp_path: Path, monkeypatch) -> None:
    # Lightning ignores should_stop until Trainer(min_epochs): a trial dominated at rung 1 trained on to epoch 2,
    # was ranked again at rung 2, and was told PRUNED "stopped at epoch 2" after training all 3 epochs of
    # min_epochs=3 (so it never reached the front), its saving estimated for epochs it had trained
    from ecopt_lightning.sweeper.errors import JobConfigError

    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])  # an earlier trial better on both
    message = (
        "hydra.sweeper.multi_fidelity.min_epochs=1 is not allowed with Trainer(min_epochs=2): Lightning trains at "
        "least 2 epochs whatever a rung decides; set multi_fidelity.min_epochs >= 2, or leave Trainer(min_epochs) unset"
    )
    with pytest.raises(JobConfigError) as raised:
        _fit(tmp_path / "summary.json", trainer_kwargs={"min_epochs": 2})
    assert str(raised.value) == message
    attrs = study.trials[-1].user_attrs
    assert not rung_values(attrs) and stopped_at(attrs) is None  # refused at the start of fit: nothing ranked
    trainer, _ = _fit(
        tmp_path / "summary.json", trainer_kwargs={"min_epochs": 1}
    )  # a min_epochs no rung lies below is fine
    assert trainer.current_epoch == 1 and stopped_at(study.trials[-1].user_attrs) == 1


def test_a_rung_before_the_trainers_min_steps_is_refused_there(tmp_path: Path, monkeypatch) -> None:
    # as with min_epochs: Lightning ignored the stop until step 20, so the trial went on to epoch 3, was told PRUNED
    # "stopped at epoch 2" (stopped again at rung 2) after training all its epochs
    from ecopt_lightning.sweeper.errors import JobConfigError

    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])  # an earlier trial better on both
    with pytest.raises(JobConfigError) as raised:
        _fit(tmp_path / "summary.json", trainer_kwargs={"min_steps": 20})  # 8 steps an epoch
    assert str(raised.value) == (
        "hydra.sweeper.multi_fidelity.min_epochs=1 is not allowed with Trainer(min_steps=20): the rung at epoch 1 "
        "comes after 8 steps, and Lightning trains at least 20 steps whatever a rung decides; set "
        "multi_fidelity.min_epochs to an epoch past them, or leave Trainer(min_steps) unset"
    )
    attrs = study.trials[-1].user_attrs
    assert not rung_values(attrs) and stopped_at(attrs) is None  # nothing reported
    trainer, _ = _fit(tmp_path / "summary.json", trainer_kwargs={"min_steps": 8})  # met at the rung: stopped there
    assert trainer.current_epoch == 1 and stopped_at(study.trials[-1].user_attrs) == 1


def test_a_rung_before_the_first_validation_names_check_val_every_n_epoch(tmp_path: Path, monkeypatch) -> None:
    # it blamed "rung_metrics={} is not allowed" and asked for a metric logged every epoch: val_loss is one, only
    # validation ran every other epoch
    from ecopt_lightning.sweeper.errors import JobConfigError

    study = _study(tmp_path, monkeypatch, earlier=[])
    with pytest.raises(JobConfigError) as raised:
        _fit(tmp_path / "summary.json", trainer_kwargs={"check_val_every_n_epoch": 2})
    assert str(raised.value) == (
        "hydra.sweeper.multi_fidelity.min_epochs=1 is not allowed with Trainer(check_val_every_n_epoch=2): val_loss "
        "was not logged in epoch 1, at whose end no validation runs; set multi_fidelity.min_epochs to a multiple of "
        "2, so that every rung ends with a validation"
    )
    assert rung_values(study.trials[-1].user_attrs) == {}  # nothing reported


def test_a_rung_without_a_validation_after_an_earlier_one_is_refused_not_ranked_on_its_values(
    tmp_path: Path, monkeypatch
) -> None:
    # with a rung at epoch 3 and validation every 2 epochs, val_loss was epoch 2's: it was recorded as the rung's
    # value and every trial was ranked on it, as if measured at epoch 3 (multi-fidelity audit)
    from ecopt_lightning.sweeper.errors import JobConfigError

    study = _study(tmp_path, monkeypatch, earlier=[], schedule=(3, 4))  # rung 3, then the full 4
    with pytest.raises(JobConfigError) as raised:
        _fit(tmp_path / "summary.json", max_epochs=4, trainer_kwargs={"check_val_every_n_epoch": 2})
    assert str(raised.value) == (
        "hydra.sweeper.multi_fidelity.min_epochs=3 is not allowed with Trainer(check_val_every_n_epoch=2): val_loss "
        "was not logged in epoch 3, at whose end no validation runs; set multi_fidelity.min_epochs to a multiple of "
        "2, so that every rung ends with a validation"
    )
    assert rung_values(study.trials[-1].user_attrs) == {}  # nothing reported


def test_the_baseline_is_never_stopped_at_a_rung(tmp_path: Path, monkeypatch) -> None:
    # the baseline is trial 0, alone at its rungs, unless jobs run in parallel or a resume enqueued it late: then a
    # trial ahead of it at rung 1 stopped it, the payback had no complete baseline to compare with ("payback": null),
    # and each resume enqueued another baseline (a PRUNED one is not "has a baseline"), stopped again
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]], rung_repeats=1, baseline=True)  # it is dominated
    trainer, _ = _fit(tmp_path / "summary.json")
    assert trainer.current_epoch == 3
    attrs = study.trials[-1].user_attrs
    assert attrs[BASELINE_ATTR] and stopped_at(attrs) is None
    entry = rung_values(attrs)[1]
    assert entry["decision"] == "continue" and entry["cohort"] == [0, 1]
    assert entry["reason"].startswith("continue: the baseline is never stopped (the payback compares with it); by the ")
    assert entry["reason"].endswith("by the rule, stop: ranked 2 of 2 at this rung, the top 1 (1/eta=2) go on")
    # it cannot be stopped, so its benchmark measured once, in full, at the first rung (not rung_repeats=1)
    assert "first_rung" not in _summary(tmp_path / "summary.json")["inference"]


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())


def test_with_rung_repeats_a_trial_that_goes_on_completes_the_measurement_at_the_rung_with_the_full_settings(
    tmp_path: Path, monkeypatch
) -> None:
    """The first rung's benchmark runs exactly ``rung_repeats`` times (its value ranks the trial against an
    earlier one, which it dominates); the trial goes on, so the measurement is continued there with the
    callback's own settings: the short repeat counts towards them, that value is the trial's objective, and the
    energy of both parts counts."""
    study = _study(tmp_path, monkeypatch, earlier=[[1e9, 1.0]], rung_repeats=1)
    trainer, _ = _fit(tmp_path / "summary.json")
    assert trainer.current_epoch == 3
    summary = _summary(tmp_path / "summary.json")
    final, first = summary["inference"], summary["inference"]["first_rung"]
    assert first["repeats"] == 1 and first["rel_precision"] is None
    assert final["repeats"] >= 2 and final["rel_precision"] == 0.05  # the callback's repeats=2 and default target
    assert final["per_repeat_J"][:1] == first["per_repeat_J"]  # continued, not measured again
    attrs = study.trials[-1].user_attrs
    assert rung_values(attrs)[1]["values"][1] == first["per_sample_J"]
    assert float(trainer.callback_metrics["energy/inference_per_sample_J"]) == pytest.approx(final["per_sample_J"])
    assert summary["phases"]["benchmark"]["energy_J"] == pytest.approx(first["energy_J"] + final["energy_J"])


def test_the_model_kept_for_confirm_is_the_trained_one_when_the_benchmark_ran_at_a_rung(
    tmp_path: Path, monkeypatch
) -> None:
    from ecopt_lightning.confirm import CANDIDATE_DIR

    _study(tmp_path, monkeypatch, earlier=[[1e9, 1.0]], rung_repeats=1)
    trainer, _ = _fit(tmp_path / "s.json", keep_for_confirm=True)
    model = trainer.lightning_module
    assert _summary(tmp_path / "s.json")["inference"]["first_rung"]["repeats"] == 1  # measured at the rung
    kept = torch.load(tmp_path / CANDIDATE_DIR / "model.ckpt", weights_only=True)
    assert kept["epoch"] == trainer.current_epoch == 3  # saved after fit (at the rung it read 0)
    for name, value in model.state_dict().items():
        assert torch.equal(kept["state_dict"][name], value)


def test_with_rung_repeats_a_stopped_trial_is_measured_once_at_the_rung(tmp_path: Path, monkeypatch) -> None:
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]], rung_repeats=1)
    trainer, _ = _fit(tmp_path / "summary.json")
    assert trainer.current_epoch == 1 and trainer.should_stop
    summary = _summary(tmp_path / "summary.json")
    entry = summary["inference"]
    assert (entry["measured_at"], entry["repeats"], "first_rung" in entry) == ("first_rung", 1, False)
    assert summary["phases"]["benchmark"]["energy_J"] == pytest.approx(entry["energy_J"])
    value = rung_values(study.trials[-1].user_attrs)[1]["values"][1]
    assert float(trainer.callback_metrics["energy/inference_per_sample_J"]) == pytest.approx(value)


def test_a_trial_that_cannot_be_stopped_at_the_first_rung_measures_once_in_full_there(
    tmp_path: Path, monkeypatch
) -> None:
    """Alone at the rung (eta 2 needs one other trial to rank against), it goes on whatever it measures: the
    short measurement would be spent for nothing, so the full one is made at the rung, once."""
    study = _study(tmp_path, monkeypatch, earlier=[], rung_repeats=1)
    trainer, _ = _fit(tmp_path / "summary.json")
    assert trainer.current_epoch == 3
    entry = _summary(tmp_path / "summary.json")["inference"]
    assert "first_rung" not in entry and "measured_at" not in entry and entry["rel_precision"] == 0.05
    assert rung_values(study.trials[-1].user_attrs)[1]["values"][1] == entry["per_sample_J"]


def test_second_at_a_rung_below_eta_and_dominated_measures_short_and_stops(tmp_path: Path, monkeypatch) -> None:
    """eta 3 and one earlier trial at the rung: no place is open (floor(2/3) = 0), but with keep_front (the
    default) a dominated trial stops there, so the short measurement is worth making."""
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]], rung_repeats=1, eta=3)
    trainer, _ = _fit(tmp_path / "summary.json")
    assert trainer.current_epoch == 1 and trainer.should_stop
    entry = _summary(tmp_path / "summary.json")["inference"]
    assert (entry["measured_at"], entry["repeats"]) == ("first_rung", 1)
    reason = rung_values(study.trials[-1].user_attrs)[1]["reason"]
    assert reason.startswith("stop: dominated at this rung, where 2 trial(s), fewer than eta=3, have arrived")


def test_without_rung_repeats_the_benchmark_runs_once_at_the_first_rung(tmp_path: Path, monkeypatch) -> None:
    _study(tmp_path, monkeypatch, earlier=[[1e9, 1.0]], rung_repeats=None)
    _fit(tmp_path / "summary.json")
    summary = _summary(tmp_path / "summary.json")
    assert "first_rung" not in summary["inference"] and "measured_at" not in summary["inference"]
    assert summary["phases"]["benchmark"]["energy_J"] == pytest.approx(summary["inference"]["energy_J"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ddp_rank_zero_decides_and_every_rank_stops_at_the_same_rung(tmp_path: Path, monkeypatch) -> None:
    """Two CPU processes (ddp_spawn, gloo). Rank 0 logs val_loss 0.5, which an earlier trial (0.3, same
    parameter count) dominates: stop. Rank 1 logs 0.0, which would dominate that trial: alone it would go on.
    Both stop after the first rung's epoch, and the study holds rank 0's values only."""
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["minimize", "minimize"])
    names = ["val_loss", "model/params"]
    study.set_user_attr(SETTINGS_ATTR, ReportSettings(names, ["minimize", "minimize"]).to_attrs())
    study.set_user_attr(MULTI_FIDELITY_ATTR, RungSchedule(1, 2, 3).to_attrs())
    params = float(sum(p.numel() for p in TinyModel().parameters()))
    study.ask().set_user_attr(rung_attr(1), {"values": [0.3, params], "max_epochs": 3})
    mine = study.ask()
    for key, value in {"ECOPT_STORAGE": url, "ECOPT_STUDY": "s", "ECOPT_TRIAL_NUMBER": str(mine.number)}.items():
        monkeypatch.setenv(key, value)  # ddp_spawn's processes inherit the environment, as a sweep's job's do
    trainer = Trainer(
        max_epochs=3,
        strategy="ddp_spawn",
        devices=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[
            EnergyCallback(cpu="estimate", summary_path=tmp_path / "summary.json"),
            RankRecord(str(tmp_path)),
        ],
    )
    trainer.fit(RankValLoss((0.5, 0.0)))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    steps_per_epoch = 64 // 8 // 2  # TinyModel's 64 samples in batches of 8, split over 2 ranks
    for record in ranks:
        assert (record["epochs"], record["steps"], record["should_stop"]) == (1, steps_per_epoch, True)
        assert record["rung_status"] == ["finished fit (stopped by multi-fidelity at epoch 1)"]
    attrs = optuna.load_study(study_name="s", storage=url).trials[mine.number].user_attrs
    entry = rung_values(attrs)[1]
    assert entry["values"] == [0.5, params] and entry["decision"] == "stop" and entry["cohort"] == [0, 1]
    assert stopped_at(attrs) == 1


def test_the_summary_on_disk_holds_the_epoch_and_the_rung_benchmark_while_the_study_decides(
    tmp_path: Path, monkeypatch
) -> None:
    # a job killed during the decision (a storage that hangs, a cluster's time limit) runs no hook after: the
    # energy of its epoch and of the benchmark at the rung were lost, written only after the decision
    from ecopt_lightning.sweeper.multi_fidelity import StudyRungs

    _study(tmp_path, monkeypatch, earlier=[])
    path = tmp_path / "summary.json"
    on_disk: list[dict] = []
    decide = StudyRungs.decide

    def read_then_decide(self: StudyRungs, epoch: int, values: Any, *rest: Any) -> Any:
        on_disk.append(json.loads(path.read_text()))  # what a kill at this moment leaves
        return decide(self, epoch, values, *rest)

    monkeypatch.setattr(StudyRungs, "decide", read_then_decide)
    _fit(path)
    first = on_disk[0]
    assert first["partial"] is True and first["progress"] == {"epochs": 1, "steps": 8}
    assert first["phases"]["train"]["steps"] == 8
    benchmark, train = first["inference"]["energy_J"], first["phases"]["train"]["energy_J"]
    assert benchmark > 0 and first["total_J"] >= benchmark + train  # the rung's benchmark, measured before


def _fit_on_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulated_gpu, earlier: dict, lost: bool
) -> tuple[Trainer, optuna.Study]:
    """A 3-epoch fit measured on a simulated 80 W GPU (lost mid-training when ``lost``) and the CPU estimate, in a
    study whose ``earlier`` trials recorded ``values -> (measured, unmeasured)`` domains at rung 1 (eta 2)."""
    simulated_gpu([SimGpu("GPU-AAAA", power_W=80.0, fail_at_call=10 if lost else None)])
    study = _study(tmp_path, monkeypatch, earlier=[])  # this job's trial is trial 0, the earlier ones 1, 2
    for values, (measured, unmeasured) in earlier.items():
        entry = {"values": list(values), "max_epochs": 3, "domains": measured, "unmeasured": unmeasured}
        study.ask().set_user_attr(rung_attr(1), entry)
    with EnergyMonitor(gpus=[0], cpu="estimate") as monitor:
        trainer, _ = _fit(tmp_path / "summary.json", monitor=monitor)
    return trainer, study


def test_a_trial_measured_in_full_is_not_stopped_at_a_rung_by_one_that_lost_its_gpu(
    tmp_path: Path, monkeypatch, simulated_gpu
) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): a trial that lost its GPU read cheap at the rung (its energy
    covered the CPU alone) and dominated the trials measured in full, which were stopped for it; the final front
    leaves such a trial out (``_domains.py``), and so does the rung now."""
    full, lost_gpu = (["cpu:0", "gpu:0"], []), (["cpu:0"], ["gpu:0"])
    earlier = {(0.0, 1e-12): lost_gpu, (1e9, 1e9): full}  # the first dominates everything, the second nothing
    trainer, study = _fit_on_gpu(tmp_path, monkeypatch, simulated_gpu, earlier, lost=False)
    record = rung_values(study.trials[0].user_attrs)[1]
    assert record["decision"] == "continue", record["reason"]
    assert record["cohort"] == [0, 2] and list(record["not_comparable"]) == ["1"]
    assert record["domains"] == ["cpu:0", "gpu:0"] and record["unmeasured"] == []
    assert record["not_comparable"]["1"].startswith("measured on cpu:0 only, without gpu")
    assert trainer.current_epoch == 3 and trainer.callbacks[0].stopped_at_rung is None


def test_a_trial_that_lost_its_gpu_before_a_rung_stops_there_as_not_comparable(
    tmp_path: Path, monkeypatch, simulated_gpu
) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): a trial whose GPU was lost before the rung ranked on its CPU
    energy alone, dominated trials measured in full and went on, to end left out of the front anyway."""
    full = (["cpu:0", "gpu:0"], [])
    trainer, study = _fit_on_gpu(tmp_path, monkeypatch, simulated_gpu, {(1e9, 1e9): full, (2e9, 1e9): full}, lost=True)
    attrs = study.trials[0].user_attrs
    record = rung_values(attrs)[1]
    assert record["decision"] == "stop" and stopped_at(attrs) == 1
    assert record["unmeasured"] == ["gpu:0"]
    assert record["reason"].startswith("stop: not comparable with the trials at this rung (measured on cpu:0 only")
    assert record["cohort"] == [1, 2]
    assert trainer.current_epoch == 1 and trainer.callbacks[0].stopped_at_rung == 1


class _CrashAtEpochEnd(Callback):
    """Raises at the first epoch's end, before ``EnergyCallback``'s (listed after it): a job killed there."""

    @override
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        raise RuntimeError("killed before the epoch's end")


def _killed_and_resumed(tmp_path: Path, save: dict[str, Any], **run: Any) -> tuple[Trainer, Trainer, EnergyCallback]:
    """A fit killed at the first epoch's end, after a ``ModelCheckpoint(**save)`` saved at step 8 (the epoch's last
    step or its validation's end), then resumed from that checkpoint; both with ``EnergyCallback`` in the study."""
    run = {"max_epochs": 3, "num_sanity_val_steps": 0, "log_every_n_steps": 1, **run}
    bench = {"repeats": 2}
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{step}", save_top_k=-1, **save)
    energy = EnergyCallback(cpu="estimate", inference_benchmark=bench, proxies=False)
    killed = make_trainer(tmp_path / "a", [_CrashAtEpochEnd(), energy, ckpt], False, enable_checkpointing=True, **run)
    with pytest.raises(RuntimeError, match="killed before"):
        killed.fit(TinyModel())
    energy = EnergyCallback(cpu="estimate", inference_benchmark=bench, proxies=False)
    resumed = make_trainer(tmp_path / "b", [energy], loggers=False, **run)
    resumed.fit(TinyModel(), ckpt_path=str(tmp_path / "ckpt" / "step=8.ckpt"))
    return killed, resumed, energy


@STEP_COUNTERS_CONSISTENT
def test_a_fit_resumed_from_a_checkpoint_at_a_rungs_validation_end_ranks_on_that_validation(
    tmp_path: Path, monkeypatch
) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): resumed from a checkpoint saved at a rung epoch's validation
    end (``ModelCheckpoint``'s default when validation runs), Lightning ends that epoch with no logged metric (it
    restores none), and the rung failed the job, and so the sweep, with a false config error
    (``rung_metrics={} is not allowed: val_loss was not logged by the end of epoch 1``). The checkpoint now holds
    the epoch's values, and the rung ranks on them."""
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])
    killed, resumed, energy = _killed_and_resumed(tmp_path, {"save_on_train_epoch_end": False}, limit_val_batches=2)
    attrs = study.trials[-1].user_attrs
    assert stopped_at(attrs) == 1 and energy.stopped_at_rung == 1 and resumed.global_step == 8
    record = rung_values(attrs)[1]
    assert record["decision"] == "stop" and record["cohort"] == [0, 1]
    assert record["values"][0] == pytest.approx(float(killed.callback_metrics["val_loss"]))


@STEP_COUNTERS_CONSISTENT
def test_a_fit_resumed_from_a_checkpoint_at_a_rungs_last_step_checks_that_rung(tmp_path: Path, monkeypatch) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): resumed from a checkpoint saved at a rung epoch's last step,
    Lightning goes on with the next epoch and runs no end of that one, so its rung was never checked: a trial
    dominated there trained to the end. The resumed fit now checks it before the next epoch trains, on the values
    the checkpoint held."""
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]], objectives=["train_loss", OBJECTIVES[1]])
    killed, resumed, energy = _killed_and_resumed(tmp_path, {"every_n_train_steps": 8}, limit_val_batches=0)
    attrs = study.trials[-1].user_attrs
    assert stopped_at(attrs) == 1 and energy.stopped_at_rung == 1
    assert resumed.global_step == 8  # stopped before the next epoch trained
    record = rung_values(attrs)[1]
    assert record["decision"] == "stop" and record["cohort"] == [0, 1]
    assert record["values"][0] == pytest.approx(float(killed.callback_metrics["train_loss"]))


@STEP_COUNTERS_CONSISTENT
def test_a_fit_resumed_past_a_rung_whose_validation_never_ran_says_which_checkpoint_to_resume_from(
    tmp_path: Path, monkeypatch
) -> None:
    """Resumed from a checkpoint saved at a rung epoch's last step, before its validation, Lightning skips that
    validation: the rung has no val_loss to rank, and the job says why in one line, not that rung_metrics is
    wrong."""
    _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])
    with pytest.raises(JobConfigError) as raised:
        _killed_and_resumed(tmp_path, {"every_n_train_steps": 8}, limit_val_batches=2)
    message = str(raised.value)
    assert message.startswith("Trainer.fit(ckpt_path=...) is not allowed from this checkpoint in a multi-fidelity")
    assert "saved in epoch 1, a rung, before val_loss was logged" in message and "\n" not in message


def test_a_fit_resumed_past_a_rung_from_another_runs_checkpoint_names_its_stop_by_the_rungs_epoch(
    tmp_path: Path, monkeypatch
) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): resumed from an epoch-end checkpoint its own earlier run did
    not make (no rung values in it: Lightning restores no logged metric), rung 1 has nothing to rank and is not
    checked; the stop at rung 2 then read 'stopped at rung 1 (epoch 2)', the rung counted from the trial's rung
    records. The rung number now comes from the trial's rung epochs."""
    from ecopt_lightning.sweeper._optuna_compat import storage, trial_id_by_number
    from ecopt_lightning.sweeper._progress import progress_line
    from ecopt_lightning.sweeper._results import stopped_at as stopped_phrase_of
    from ecopt_lightning.sweeper._sweep_report import build_report

    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{epoch}")  # at the epoch's end (no validation)
    other = make_trainer(tmp_path / "a", [ckpt], False, enable_checkpointing=True, limit_val_batches=0)
    other.fit(TinyModel())  # a run outside the sweep: 1 epoch
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])
    better = {"values": [0.0, 1e-12], "max_epochs": 3}  # the earlier trial, better on both at rung 2 too
    storage(study).set_trial_user_attr(trial_id_by_number(study, 0), rung_attr(2), better)
    energy = EnergyCallback(cpu="estimate", inference_benchmark={"repeats": 2}, proxies=False)
    resumed = make_trainer(tmp_path / "b", [energy], False, max_epochs=3, limit_val_batches=2, num_sanity_val_steps=0)
    resumed.fit(TinyModel(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0.ckpt"))
    mine = study.trials[-1]
    assert (
        stopped_at(mine.user_attrs) == 2 and energy.stopped_at_rung == 2 and list(rung_values(mine.user_attrs)) == [2]
    )
    phrase, _ = stopped_phrase_of(study, mine)
    assert phrase is not None and phrase.startswith("stopped at rung 2 (epoch 2): ")  # 'rung 1' before
    study.tell(mine.number, state=optuna.trial.TrialState.PRUNED)
    report = build_report("s", study.get_trials(), ReportSettings(OBJECTIVES, ["minimize", "minimize"]))
    assert "stopped at rung 2 (epoch 2): " in (progress_line(report, mine.number, 2) or "")
