"""A fit resumed from a checkpoint against the same fit uninterrupted: what reaches the CSV logger and the summary.

Each case fits 2 epochs of 8 steps with a checkpoint (run A, which goes on to the end: the uninterrupted fit),
then fits again from that checkpoint (run B). The resumed timeline is what A logged before the save, then B."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint
from typing_extensions import override

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.energy_tracker import COUNTED
from ecopt_lightning.sweeper._jobinfo import degraded_reasons
from tests.callback.helpers import (
    STEP_COUNTERS_CONSISTENT,
    csv_series,
    make_trainer,
    read_summary,
    resume_estimated_run_on_rapl,
)
from tests.callback.models import TinyModel

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EPOCH_J, TOTAL_J, PER_SAMPLE_J = "energy/train_epoch_J", "energy/train_total_J", "energy/train_per_sample_J"


class _SaveProbe(Callback):
    """Records, at each checkpoint save, the global step and how many training epochs had ended (their values
    logged) before it; ModelCheckpoint runs after every other callback, so this one's epoch end comes first."""

    def __init__(self) -> None:
        self.ended = 0
        self.saves: dict[int, int] = {}  # global step -> epochs ended

    @override
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.ended += 1

    @override
    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.saves[trainer.global_step] = self.ended


@dataclass
class _Resumed:
    uninterrupted: dict[str, list[tuple[int, float]]]  # A's CSV
    before_save: int  # A's training epochs whose values were logged before the save
    saved: dict  # the callback's state in the checkpoint
    resumed: dict[str, list[tuple[int, float]]]  # B's CSV
    summary: dict  # B's energy_summary.json


def _fit_and_resume(tmp_path, step: int, checkpoint: dict, edit=None, **options) -> _Resumed:
    """Run A, then B from A's checkpoint at global step ``step`` (``edit``: applied to the callback's state first)."""
    probe = _SaveProbe()
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{step}", save_top_k=-1, **checkpoint)
    run = {"max_epochs": 2, "log_every_n_steps": 3, "num_sanity_val_steps": 0, **options}
    make_trainer(tmp_path / "a", [EnergyCallback(), probe, ckpt], enable_checkpointing=True, **run).fit(TinyModel())
    path = tmp_path / "ckpt" / f"step={step}.ckpt"
    if edit is not None:
        whole = torch.load(path, weights_only=False)
        edit(whole["callbacks"]["EnergyCallback"])
        path = path.with_name("edited.ckpt")
        torch.save(whole, path)
    saved = torch.load(path, weights_only=False)["callbacks"]["EnergyCallback"]
    make_trainer(tmp_path / "b", [EnergyCallback()], **run).fit(TinyModel(), ckpt_path=str(path))
    return _Resumed(
        csv_series(tmp_path / "a"),
        probe.saves[step],
        saved,
        csv_series(tmp_path / "b"),
        read_summary(tmp_path / "b" / "tb" / "version_0" / "energy_summary.json"),
    )


CHECKPOINTS = {
    # saved in mid-epoch, between log points (4 of the epoch's 8 steps)
    "mid-epoch": (4, {"every_n_train_steps": 4}, {"limit_val_batches": 0}),
    # saved at the epoch's last step, before its end: the resumed fit goes on with the next epoch
    "at the last step": (8, {"every_n_train_steps": 8}, {"limit_val_batches": 0}),
    # saved at the epoch's validation end, before the epoch's end
    "at validation end": (8, {"save_on_train_epoch_end": False}, {"limit_val_batches": 2}),
    # saved at the epoch's end (ModelCheckpoint's default), after the epoch's values were logged
    "at epoch end": (8, {}, {"limit_val_batches": 2}),
}


@pytest.fixture(scope="module", params=CHECKPOINTS)
def resumed(request, tmp_path_factory) -> tuple[int, _Resumed]:
    """Each kind of checkpoint, fitted and resumed once for the tests below."""
    step, checkpoint, options = CHECKPOINTS[request.param]
    return step, _fit_and_resume(tmp_path_factory.mktemp("resume"), step, checkpoint, **options)


@STEP_COUNTERS_CONSISTENT
def test_a_resumed_fit_logs_each_epoch_whole_and_its_totals_are_the_sum_of_what_was_logged(resumed):
    """Regression (resume audit, 2026-11-30): after ``fit(ckpt_path=...)`` from a checkpoint saved in mid-epoch, the
    resumed epoch's ``energy/train_epoch_J`` (and ``train_per_sample_J``) covered only its steps after the checkpoint,
    so the logged epochs summed to less than ``energy/train_total_J``; from one saved after the epoch's last step but
    before its end (``every_n_train_steps`` at the last batch, ``ModelCheckpoint`` at validation end) that epoch's
    values were logged by no run of the resumed timeline. The checkpoint now carries the open epoch."""
    step, r = resumed
    before = r.uninterrupted[EPOCH_J][: r.before_save]  # the epochs A logged before the save
    epochs = before + r.resumed[EPOCH_J]
    # each epoch logged once, at the step the uninterrupted fit logged it at
    assert [s for s, _ in epochs] == [s for s, _ in r.uninterrupted[EPOCH_J]] == [7, 15]
    train = r.summary["phases"]["train"]
    assert (train["steps"], train["samples"]) == (16, 128)
    assert r.summary["progress"] == {"epochs": 2, "steps": 16}
    assert sum(v for _, v in epochs) == pytest.approx(train["energy_J"], rel=1e-9)
    assert r.resumed[TOTAL_J][-1][1] == pytest.approx(train["energy_J"], rel=1e-9)
    per_sample = dict(r.uninterrupted[PER_SAMPLE_J][: r.before_save] + r.resumed[PER_SAMPLE_J])
    for s, epoch_J in epochs:  # 64 samples in every epoch
        assert per_sample[s] * 64 == pytest.approx(epoch_J, rel=1e-9)
    # the step values (means since the last log point, every 3 steps and at the epoch's end) add up to the epoch:
    # A's logged before the save (an epoch's last step is logged at its end), then B's
    ended = 8 * r.before_save
    steps = [(s, v) for s, v in r.uninterrupted["energy/train_step_J"] if s < ended or (s < step and s % 8 != 7)]
    steps += r.resumed["energy/train_step_J"]
    assert [s for s, _ in steps] == [s for s, _ in r.uninterrupted["energy/train_step_J"]]
    for e, (_, epoch_J) in enumerate(epochs):
        rows = [(s, v) for s, v in steps if 8 * e <= s < 8 * (e + 1)]
        starts = [8 * e - 1] + [s for s, _ in rows[:-1]]  # a row covers the steps since the one before
        assert sum(v * (s - a) for (s, v), a in zip(rows, starts, strict=True)) == pytest.approx(epoch_J, rel=1e-9)


def test_a_resumed_fits_running_totals_never_go_down_and_end_as_the_summarys(resumed):
    """Over the resumed timeline (what A logged before the save, the checkpoint, what B logged) every running total
    only grows, and B's summary holds the totals B logged last. What A logged after the save (the save's own write
    included) is in no checkpoint: a resumed run's totals can be below those."""
    _, r = resumed
    cluster = r.saved["cluster"]
    for name, saved in (
        *((f"energy/{p}_total_J", cluster.get(p, {}).get("energy_J", 0.0)) for p in ("train", "val", "other")),
        ("energy/total_J", sum(cluster.get(p, {}).get("energy_J", 0.0) for p in COUNTED)),
    ):
        before = [v for s, v in r.uninterrupted.get(name, []) if s < 8 * r.before_save]  # logged before the save
        timeline = [*before, saved, *(v for _, v in r.resumed.get(name, []))]
        assert timeline == sorted(timeline), name
    assert r.summary["total_J"] == pytest.approx(r.resumed["energy/total_J"][-1][1], rel=1e-9)
    for phase in ("train", "val", "other"):
        logged = r.resumed.get(f"energy/{phase}_total_J", [(0, 0.0)])[-1][1]
        assert r.summary["phases"][phase]["energy_J"] == pytest.approx(logged, rel=1e-9), phase


@STEP_COUNTERS_CONSISTENT
def test_a_checkpoint_without_the_open_epoch_still_resumes_its_epoch_from_the_checkpoint(tmp_path):
    """A checkpoint of version 1 (an earlier release: totals, no open epoch) loads as it did: the totals go on from
    it, and the epoch it resumes in starts at the checkpoint."""

    def version_1(state: dict) -> None:
        del state["open"]
        state["version"] = 1

    r = _fit_and_resume(tmp_path, 4, {"every_n_train_steps": 4}, edit=version_1, limit_val_batches=0)
    train = r.summary["phases"]["train"]
    assert (train["steps"], train["samples"]) == (16, 128)
    saved_J = r.saved["cluster"]["train"]["energy_J"]
    (s0, epoch_0), (s1, epoch_1) = r.resumed[EPOCH_J]
    assert (s0, s1) == (7, 15)
    assert saved_J + epoch_0 + epoch_1 == pytest.approx(train["energy_J"], rel=1e-9)
    assert dict(r.resumed[PER_SAMPLE_J])[7] * 32 == pytest.approx(epoch_0, rel=1e-9)  # 4 steps of 8


def test_a_validate_before_a_resume_from_another_runs_checkpoint_keeps_its_energy(tmp_path):
    """Regression (resume audit, 2026-11-30): ``trainer.validate(ckpt_path=...)`` of a checkpoint, then
    ``trainer.fit(ckpt_path=...)`` from it, with one callback: the resume put the callback's totals in place of the
    checkpoint's, so the validation's energy (its loop and set-up: val and other) left every total, and the logged
    ``energy/val_total_J``, ``other_total_J`` and ``total_J`` could go down. Only a checkpoint the callback saved itself
    holds what it counted; beside another's, its own totals are kept."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{step}", every_n_train_steps=4, save_top_k=-1)
    run = {"max_epochs": 2, "limit_val_batches": 2, "num_sanity_val_steps": 0}
    make_trainer(tmp_path / "a", [EnergyCallback(), ckpt], loggers=False, enable_checkpointing=True, **run).fit(
        TinyModel()
    )
    path = str(tmp_path / "ckpt" / "step=4.ckpt")
    saved = torch.load(path, weights_only=False)["callbacks"]["EnergyCallback"]["cluster"]
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path / "b", [cb], **run)
    model = TinyModel()
    trainer.validate(model, ckpt_path=path, verbose=False)
    validated = cb.summary()
    trainer.fit(model, ckpt_path=path)
    after = cb.summary()
    series = csv_series(tmp_path / "b")
    fit_val = [v for s, v in series["energy/val_epoch_J"]][1:]  # the fit's two validations, after validate's
    assert len(fit_val) == 2
    kept_val = validated["phases"]["val"]["energy_J"] + saved.get("val", {}).get("energy_J", 0.0)
    assert after["phases"]["val"]["energy_J"] == pytest.approx(kept_val + sum(fit_val), rel=1e-9)
    for phase in ("other", "train"):
        held = validated["phases"][phase]["energy_J"] + saved[phase]["energy_J"]
        assert after["phases"][phase]["energy_J"] >= held, phase
    for name in ("energy/val_total_J", "energy/other_total_J", "energy/total_J"):
        values = [v for _, v in series[name]]
        assert values == sorted(values), name


def test_a_fit_resumed_on_other_meters_says_where_the_checkpoints_energy_came_from(tmp_path, fake_powercap):
    """Regression (resume audit, 2026-11-30): a fit resumed with RAPL from a checkpoint of a run whose CPU was
    estimated gave its totals RAPL's name alone (``source: rapl``, ``sources: {cpu:0: rapl, ...}``), though all of the
    checkpoint's energy was a CPU-time estimate, and the sweeper, which reads the summary's sources, did not call the
    trial's energy estimated. The checkpoint now carries each phase's sources; the summary names the restored ones
    ``checkpoint/<domain>`` where this run's meters differ."""
    cb = resume_estimated_run_on_rapl(tmp_path, fake_powercap, loggers=False)
    summary = cb.summary()
    assert summary["sources"]["cpu:0"] == "rapl" and summary["sources"]["checkpoint/cpu:0"] == "estimate"
    assert summary["source"] == summary["phases"]["train"]["source"] == "mixed(estimate,rapl)"
    assert summary["phases"]["train"]["sources"]["checkpoint/cpu:0"] == "estimate"
    assert any(r.startswith("checkpoint/cpu:0: estimated from CPU time") for r in degraded_reasons(summary))


class _ReadSummaryAtFirstBatch(Callback):
    """Reads the summary file at the end of the fit's first training batch (``None``: none there yet)."""

    def __init__(self, path) -> None:
        self.path = path
        self.read: dict | None = None
        self.done = False

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.done:
            self.done = True
            self.read = read_summary(self.path) if self.path.exists() else None


@STEP_COUNTERS_CONSISTENT
def test_the_epoch_a_resume_goes_past_is_in_the_summary_before_the_next_epoch_ends(tmp_path):
    """Resumed from a checkpoint saved at an epoch's last step, Lightning runs no end of that epoch; its values are
    logged at the first batch, and the summary (written at every epoch end, so that a job killed in the next epoch
    keeps what it measured) is written there too: ``running fit``, 1 epoch and 8 steps completed, the checkpoint's
    training in it."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{step}", every_n_train_steps=8, save_top_k=-1)
    run = {"max_epochs": 2, "limit_val_batches": 0, "num_sanity_val_steps": 0}
    make_trainer(tmp_path / "a", [EnergyCallback(), ckpt], loggers=False, enable_checkpointing=True, **run).fit(
        TinyModel()
    )
    path = tmp_path / "b" / "energy_summary.json"
    probe = _ReadSummaryAtFirstBatch(path)
    make_trainer(tmp_path / "b", [EnergyCallback(summary_path=path), probe], loggers=False, **run).fit(
        TinyModel(), ckpt_path=str(tmp_path / "ckpt" / "step=8.ckpt")
    )
    assert probe.read is not None
    assert probe.read["status"] == "running fit" and probe.read["progress"] == {"epochs": 1, "steps": 8}
    assert (probe.read["phases"]["train"]["steps"], probe.read["phases"]["train"]["samples"]) == (8, 64)


def test_under_ddp_the_resumed_epoch_holds_the_steps_every_rank_ran_before_the_checkpoint(tmp_path):
    """Regression (resume audit, 2026-11-30), under DDP (two CPU processes, ``ddp_spawn``): checkpoints hold the
    totals as of the last reduction; the open epoch is reduced with them (at a validation in mid-epoch) and continued
    on rank 0 alone, so the resumed epoch's values cover both ranks' steps before the checkpoint, once."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="{step}", save_top_k=-1)  # at each validation's end
    run = {
        "strategy": "ddp_spawn", "devices": 2, "max_epochs": 1, "val_check_interval": 0.5, "limit_val_batches": 2,
        "num_sanity_val_steps": 0,
    }  # fmt: skip
    make_trainer(tmp_path / "a", [EnergyCallback(), ckpt], loggers=False, enable_checkpointing=True, **run).fit(
        TinyModel()
    )
    make_trainer(tmp_path / "b", [EnergyCallback()], **run).fit(
        TinyModel(), ckpt_path=str(tmp_path / "ckpt" / "step=2.ckpt")
    )
    series = csv_series(tmp_path / "b")
    summary = read_summary(tmp_path / "b" / "tb" / "version_0" / "energy_summary.json")
    train = summary["phases"]["train"]
    assert (train["steps"], train["samples"]) == (4, 64)  # 4 steps a rank, 32 samples each
    [(step, epoch_J)] = series[EPOCH_J]
    assert step == 3 and epoch_J == pytest.approx(train["energy_J"], rel=1e-9)
    assert dict(series[PER_SAMPLE_J])[3] * 64 == pytest.approx(epoch_J, rel=1e-9)
