"""Resume from a checkpoint, a failure mid-epoch, and a DDP run with two CPU processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from typing_extensions import override

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.energy_summary import spawn_note
from ecopt_lightning.sweeper._jobinfo import degraded_reasons, read_job
from tests.callback.helpers import csv_series, make_trainer, read_summary
from tests.callback.models import (
    LoseCpuOnRank,
    OddSizes,
    PowercapOnRank,
    RaiseOnRank,
    RaplMoves,
    RecordGroupAtExit,
    RecordLaunch,
    SetUpWork,
    TinyModel,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_totals_survive_resume_from_checkpoint(tmp_path):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    first = EnergyCallback()
    make_trainer(tmp_path / "a", [first, ckpt], loggers=False, enable_checkpointing=True, limit_val_batches=0).fit(
        TinyModel()
    )
    before = first.summary()["phases"]["train"]
    assert before["steps"] == 8

    second = EnergyCallback()
    trainer = make_trainer(
        tmp_path / "b", [second], loggers=False, max_epochs=2, limit_val_batches=0, enable_checkpointing=False
    )
    trainer.fit(TinyModel(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    after = second.summary()["phases"]["train"]
    assert after["steps"] == 16 and after["samples"] == 128  # 8 restored + 8 new
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["callbacks"]["EnergyCallback"]
    saved = state["cluster"]["train"]["energy_J"]  # as of the save, in on_train_epoch_end
    assert 0 < saved <= before["energy_J"]
    # Compared with the save, not with the first run's end: what the first run spent after the save (writing
    # the checkpoint) can exceed the whole second epoch on a slow or loaded machine.
    assert after["energy_J"] > saved
    epoch_2 = float(trainer.callback_metrics["energy/train_epoch_J"])
    assert float(trainer.callback_metrics["energy/train_total_J"]) >= saved + epoch_2


def test_a_callback_that_fitted_before_resumes_from_the_checkpoint_totals_alone(tmp_path):
    """Regression (callback audit, 2026-11-29): one callback, ``fit`` for an epoch, then ``fit(ckpt_path=...)``
    from that fit's checkpoint counted the first epoch twice (24 training steps for 16): its own totals plus the
    checkpoint's, which hold them already."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    cb = EnergyCallback()
    model = TinyModel()
    make_trainer(tmp_path / "a", [cb, ckpt], loggers=False, enable_checkpointing=True, limit_val_batches=0).fit(model)
    first = cb.summary()["phases"]["train"]
    trainer = make_trainer(tmp_path / "b", [cb], loggers=False, max_epochs=2, limit_val_batches=0)
    trainer.fit(model, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    after = cb.summary()["phases"]["train"]
    assert (after["steps"], after["samples"]) == (16, 128)
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["callbacks"]["EnergyCallback"]
    epoch_2 = float(trainer.callback_metrics["energy/train_epoch_J"])
    assert after["energy_J"] == pytest.approx(saved["cluster"]["train"]["energy_J"] + epoch_2, rel=1e-9)
    assert saved["cluster"]["train"]["energy_J"] == pytest.approx(first["energy_J"], rel=1e-12)


def test_testing_or_validating_a_checkpoint_after_fit_keeps_the_energy_the_fit_counted(tmp_path):
    """Regression (H200 run, 2026-11-29): ``trainer.test(ckpt_path="best")`` after fit, examples/cifar10's pattern,
    put the callback's totals back to the checkpoint's: the inference benchmark's energy (2-7 kJ a trial there,
    most of the trial's) and the training after the checkpoint vanished from total_J and the sweep's cost. Only
    ``fit(ckpt_path=...)`` resumes a run; the other entry points load the weights alone."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=4, save_top_k=-1)
    benchmark = {"repeats": 6, "max_repeats": 6, "max_seconds": None, "min_window_s": 0.0}
    cb = EnergyCallback(inference_benchmark=benchmark, proxies=False)
    trainer = make_trainer(
        tmp_path, [cb, ckpt], loggers=False, enable_checkpointing=True, max_epochs=2, limit_val_batches=2
    )
    model = TinyModel()
    trainer.fit(model)
    fit = cb.summary()["phases"]
    assert fit["train"]["steps"] == 16 and fit["benchmark"]["energy_J"] > 0
    early = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")  # 4 training steps in its totals
    for entry, phase in ((trainer.test, "test"), (trainer.validate, "val")):
        before = cb.summary()
        entry(model, ckpt_path=early, verbose=False)
        after = cb.summary()
        for kept in ("train", "benchmark"):
            assert after["phases"][kept] == before["phases"][kept], (entry.__name__, kept)
        assert after["phases"][phase]["energy_J"] > before["phases"][phase]["energy_J"]
        assert after["total_J"] > before["total_J"]
    # a callback that did not fit: a test of a checkpoint is that test's energy, not the checkpoint's training
    fresh = EnergyCallback(proxies=False)
    make_trainer(tmp_path / "b", [fresh], loggers=False, limit_test_batches=2).test(TinyModel(), ckpt_path=early)
    phases = fresh.summary()["phases"]
    assert phases["train"]["steps"] == 0 and phases["train"]["energy_J"] == 0 and phases["test"]["energy_J"] > 0


@pytest.mark.parametrize(("val_batches", "on_epoch_end"), [(0, None), (2, False)])  # saved there / at validation end
def test_a_checkpoint_holds_the_whole_epoch_of_training(tmp_path, val_batches, on_epoch_end):
    """Regression (callback audit): a checkpoint saved in on_validation_end at an epoch's end missed the epoch's
    last step, and every checkpoint missed the 'other' energy, so a resumed run lost both."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_on_train_epoch_end=on_epoch_end)
    cb = EnergyCallback()
    trainer = make_trainer(
        tmp_path, [cb, ckpt], loggers=False, enable_checkpointing=True, limit_val_batches=val_batches,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(TinyModel())
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["callbacks"]["EnergyCallback"]
    final = cb.summary()["phases"]
    assert state["cluster"]["train"]["steps"] == 8
    assert state["cluster"]["train"]["energy_J"] == pytest.approx(final["train"]["energy_J"], rel=1e-12)
    assert 0 < state["cluster"]["other"]["energy_J"] < final["other"]["energy_J"]  # up to the save, not after


def test_a_checkpoint_saved_between_log_points_holds_the_steps_since_the_last_read(tmp_path):
    """Regression (callback audit, 2026-11-29): with ``ModelCheckpoint(every_n_train_steps=...)`` and the default
    ``log_every_n_steps=50``, a checkpoint saved mid-epoch held 0 training steps and 0 J (steps are read at log
    points) and one saved at the epoch's last batch missed that step, so a run resumed from one lost their energy."""
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=4, save_top_k=-1)
    cb = EnergyCallback()
    make_trainer(
        tmp_path, [cb, ckpt], loggers=False, enable_checkpointing=True, limit_val_batches=0, log_every_n_steps=50
    ).fit(TinyModel())
    saved = {}
    for step in (4, 8):  # mid-epoch; the epoch's last batch
        state = torch.load(tmp_path / "ckpt" / f"epoch=0-step={step}.ckpt", weights_only=False)
        saved[step] = state["callbacks"]["EnergyCallback"]["cluster"]["train"]
        assert (saved[step]["steps"], saved[step]["samples"]) == (step, 8 * step)
    assert 0 < saved[4]["energy_J"] < saved[8]["energy_J"]
    # the whole epoch's training is in the last one; writing a checkpoint is 'other', not a training step
    assert saved[8]["energy_J"] == pytest.approx(cb.summary()["phases"]["train"]["energy_J"], rel=1e-12)

    resumed, ran = EnergyCallback(), _Batches()
    make_trainer(tmp_path / "b", [resumed, ran], loggers=False, limit_val_batches=0, log_every_n_steps=50).fit(
        TinyModel(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")
    )
    # the checkpoint's 4 steps and those the resumed fit ran: 4 on Lightning 2.6; 2.2 runs a fifth
    assert ran.count in (4, 5)
    train = resumed.summary()["phases"]["train"]
    assert (train["steps"], train["samples"]) == (4 + ran.count, 8 * (4 + ran.count))


class _Batches(Callback):
    """Counts the training batches a fit runs."""

    def __init__(self) -> None:
        self.count = 0

    @override
    def on_train_batch_end(self, *args: object) -> None:
        self.count += 1


def test_exception_mid_epoch_leaves_the_summary(tmp_path):
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=0)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(TinyModel(fail_at=5))
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["status"].startswith("failed: RuntimeError: boom")
    assert summary["phases"]["train"]["steps"] == 5
    assert summary["total_J"] > 0 and summary["sources"] == {"cpu:0": "estimate"}
    assert not list(tmp_path.glob("*.tmp"))  # written atomically: no temp file left


def test_a_failed_fit_closes_the_monitor_it_opened(tmp_path, fake_powercap):
    """Regression (callback audit, 2026-11-29): Lightning calls no ``teardown`` after an exception, so the monitor
    the callback opened stayed open: its RAPL keep-alive thread (and NVML's power poller) ran on for the rest of
    the process, e.g. through every later trial of an in-process sweep."""
    cap = fake_powercap()

    def keepalives() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "ecopt-rapl-keepalive"}

    before = keepalives()
    cb = EnergyCallback()
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path, [cb, RaplMoves(cap)], loggers=False, limit_val_batches=0).fit(TinyModel(fail_at=5))
    assert read_summary(tmp_path / "energy_summary.json")["sources"]["cpu:0"] == "rapl"
    assert keepalives() <= before
    assert cb.monitor is None


def test_after_a_failed_fit_the_next_fits_epoch_holds_only_its_own_steps(tmp_path):
    """Regression (callback audit, 2026-11-29): a fit that failed mid-epoch left its epoch open in the callback,
    so the next fit on the same callback logged the failed epoch's 5 steps inside its own first epoch
    (``energy/train_epoch_J`` and ``energy/train_per_sample_J`` over 104 samples for 64)."""
    cb = EnergyCallback()
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path / "a", [cb], loggers=False, limit_val_batches=0).fit(TinyModel(fail_at=5))
    failed = cb.summary()["phases"]["train"]
    assert failed["steps"] == 5
    trainer = make_trainer(tmp_path / "b", [cb], loggers=False, limit_val_batches=0)
    trainer.fit(TinyModel())
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert cb.summary()["phases"]["train"]["steps"] == 13  # the callback's totals run on across fits
    epoch = metrics["energy/train_total_J"] - failed["energy_J"]
    assert metrics["energy/train_epoch_J"] == pytest.approx(epoch, rel=1e-9)
    assert metrics["energy/train_per_sample_J"] == pytest.approx(epoch / 64, rel=1e-9)


class _FailsInValidation(TinyModel):
    @override
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        if not self.trainer.sanity_checking:
            raise RuntimeError("boom in validation")


def test_a_fit_failing_in_validation_keeps_the_training_steps_before_it(tmp_path):
    """Regression (callback audit, 2026-11-29): a fit that failed in its mid-epoch validation left 0 training steps
    and 0 J in the summary: the 4 steps since the last log point waited, with the training clock paused, for a
    step that never came, and only running clocks were flushed."""
    cb = EnergyCallback()
    trainer = make_trainer(tmp_path, [cb], loggers=False, val_check_interval=0.5, log_every_n_steps=50)
    with pytest.raises(RuntimeError, match="boom in validation"):
        trainer.fit(_FailsInValidation())
    train = read_summary(tmp_path / "energy_summary.json")["phases"]["train"]
    assert (train["steps"], train["samples"]) == (4, 32)
    assert train["energy_J"] > 0


class _Interrupted(TinyModel):
    @override
    def training_step(self, batch, batch_idx):
        if batch_idx == 3:
            raise KeyboardInterrupt
        return super().training_step(batch, batch_idx)


def test_an_interrupted_fit_says_so_in_one_clean_line(tmp_path):
    """Regression (callback audit, 2026-11-29): Ctrl+C (Lightning's graceful shutdown) left the status
    'failed: KeyboardInterrupt: ', with a dangling colon; a message of several lines made a status of several."""
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores SIGINT from then on; the suite keeps it
    trainer = make_trainer(tmp_path, [EnergyCallback()], loggers=False, limit_val_batches=0)
    try:
        with contextlib.suppress(SystemExit):  # Lightning 2.6 exits after its graceful shutdown; 2.2 returns
            trainer.fit(_Interrupted())
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert trainer.interrupted
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["status"] == "failed: KeyboardInterrupt" and summary["phases"]["train"]["steps"] == 3
    with pytest.raises(RuntimeError):
        make_trainer(tmp_path / "b", [EnergyCallback()], loggers=False, limit_val_batches=0).fit(
            TinyModel(fail_at=2, message="CUDA error: device-side assert\nCompile with TORCH_USE_CUDA_DSA")
        )
    status = read_summary(tmp_path / "b" / "energy_summary.json")["status"]
    assert status == "failed: RuntimeError: CUDA error: device-side assert Compile with TORCH_USE_CUDA_DSA"


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One ``ddp_spawn`` fit of two CPU processes, shared by the tests that read it (each DDP fit costs two
    processes' start): the inference benchmark runs one pass of the 2 validation batches per repeat (no shortest
    window), 16 samples per rank, 32 per repeat. Returns the folder and the launching process's Trainer."""
    folder = tmp_path_factory.mktemp("two_ranks")
    benchmark = {"repeats": 2, "rel_precision": None, "min_window_s": 0.0}
    callbacks = [
        RecordGroupAtExit(str(folder)),
        EnergyCallback(inference_benchmark=benchmark),
        RecordLaunch(str(folder)),
    ]
    trainer = make_trainer(
        folder, callbacks, strategy="ddp_spawn", devices=2, limit_val_batches=2, num_sanity_val_steps=0
    )
    trainer.fit(TinyModel())
    return folder, trainer


@pytest.mark.slow
def test_each_rank_closes_its_process_group_before_its_interpreter_finalizes(two_ranks):
    """Regression (the DDP resume test's SIGABRT, 2026-11-30): a spawned rank that returned right after the
    callback's last reductions aborted in about 1 run in 10 ("terminate called without an active exception"): a
    gloo worker thread freed the collective's tensors while the interpreter finalized (core dump: the thread in
    ``~AsyncAllgatherWork`` -> ``take_gil`` -> ``pthread_exit``). Lightning leaves a gloo group open; the callback
    now closes it at exit, before finalization, on every rank."""
    folder, _ = two_ranks
    assert [(folder / f"exit_rank{rank}.txt").read_text() for rank in (0, 1)] == ["closed", "closed"]


@pytest.mark.slow
def test_ddp_two_cpu_processes(two_ranks):
    tmp_path, trainer = two_ranks
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["world_size"] == 2
    # the CPU estimate counts each process's own CPU time, so both ranks count their cpu:0
    assert set(summary["sources"]) == {"rank0/cpu:0", "rank1/cpu:0"}
    train = summary["phases"]["train"]
    assert train["samples"] == 64  # 32 per rank (DistributedSampler), summed over ranks
    assert train["steps"] == 4  # steps are a maximum over ranks, not a sum
    assert summary["phases"]["val"]["samples"] == 2 * 2 * 8
    series = csv_series(tmp_path)
    steps = series["energy/train_step_J"]
    assert len(steps) == 4
    assert sum(v for _, v in steps) == pytest.approx(series["energy/train_epoch_J"][0][1], rel=0.01)
    # callback_metrics come back to the launching process
    assert float(trainer.callback_metrics["energy/total_J"]) == pytest.approx(summary["total_J"])
    for rank in (0, 1):  # the private attribute and the public fallback agree: both ranks were spawned
        assert json.loads((tmp_path / f"launch_rank{rank}.json").read_text()) == {"private": True, "public": True}


@pytest.mark.slow
def test_ddp_a_fault_on_rank_1_is_in_the_summary_rank_0_writes(tmp_path):
    """Regression (reports audit, 2026-11-29): the summary's ``measurement_faults`` were rank 0's alone, so rank 1's
    CPU reads failing for a few steps (its energy there not counted) left a summary that looked fully measured,
    and the sweeper took the trial as such."""
    cb = EnergyCallback(cpu="estimate")
    callbacks = [cb, LoseCpuOnRank(rank=1, start=1, stop=2)]
    trainer = make_trainer(
        tmp_path, callbacks, strategy="ddp_spawn", devices=2, limit_val_batches=0, num_sanity_val_steps=0
    )
    trainer.fit(TinyModel())
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["status"] == "finished fit"
    assert summary["measurement_faults"] == {
        "rank1/cpu:0": "invalid in train windows (not counted there): injected: sensor lost"
    }
    assert "rank1/cpu:0: invalid in train windows (not counted there): injected: sensor lost" in degraded_reasons(
        summary
    )


@pytest.fixture(scope="module")
def rank_1_raised_in_epoch_1(tmp_path_factory):
    """One ``ddp_spawn`` fit, shared: rank 1 raises in its third batch of epoch 1, after rank 0's summary of epoch
    0; TensorBoardLogger counts its version (the launching process's logger would count one more than rank 0's).
    Returns the folder."""
    folder = tmp_path_factory.mktemp("rank_1_raised")
    callbacks = [EnergyCallback(cpu="estimate", proxies=False)]
    trainer = make_trainer(
        folder, callbacks, loggers=[TensorBoardLogger(folder, name="tb")], strategy="ddp_spawn", devices=2,
        max_epochs=2, limit_val_batches=0, num_sanity_val_steps=0,
    )  # fmt: skip
    with pytest.raises(Exception, match="boom: injected failure"):
        trainer.fit(RaiseOnRank(rank=1, epoch=1, batch_idx=2))
    return folder


@pytest.mark.slow
def test_ddp_spawn_a_rank_that_raises_leaves_rank_0_s_summary_saying_so(rank_1_raised_in_epoch_1):
    """Regression (DDP audit, 2026-11-29): under ``ddp_spawn`` no hook runs on the ranks after one raises; the
    launching process's callback, which counted nothing, wrote its own summary over rank 0's: the first epoch's
    64 samples and energy gone, ``total_J`` null as 'nothing is measured on any rank (no meter found)'."""
    summary = read_summary(rank_1_raised_in_epoch_1 / "tb" / "version_0" / "energy_summary.json")
    assert summary["status"] == "failed: rank 1: RuntimeError: boom: injected failure"
    assert summary["partial"] is False and summary["progress"] == {"epochs": 1, "steps": 4}
    assert summary["phases"]["train"]["samples"] == 64 and summary["total_J"] > 0  # the first epoch, both ranks


@pytest.mark.slow
def test_ddp_spawn_a_rank_that_raises_marks_rank_0_s_summary_in_its_own_logger_version(rank_1_raised_in_epoch_1):
    """Regression (DDP audit, 2026-11-29): with a logger whose version is counted (TensorBoardLogger's default), the
    launching process's logger counted one more than rank 0's (rank 0 had made version_0): it wrote a second summary
    in version_1, and version_0's said 'running fit' for a fit that had failed."""
    tmp_path = rank_1_raised_in_epoch_1
    assert sorted(p.parent.name for p in tmp_path.glob("tb/*/energy_summary.json")) == ["version_0"]
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["status"] == "failed: rank 1: RuntimeError: boom: injected failure"
    assert summary["progress"] == {"epochs": 1, "steps": 4}
    assert not os.path.exists(spawn_note(os.getpid()))  # read and removed


@pytest.mark.slow
def test_ddp_spawn_a_rank_that_raises_before_any_summary_says_its_energy_is_lost(tmp_path):
    """Regression (DDP audit, 2026-11-29): a rank raising in the first epoch, before rank 0's first summary, left
    the launching process's own, whose ``no_energy`` said 'nothing is measured on any rank (no meter found)': the
    ranks measured, and their energy was lost with them."""
    callbacks = [EnergyCallback(cpu="estimate", proxies=False)]
    trainer = make_trainer(
        tmp_path, callbacks, strategy="ddp_spawn", devices=2, limit_val_batches=0, num_sanity_val_steps=0
    )
    with pytest.raises(Exception, match="boom: injected failure"):
        trainer.fit(RaiseOnRank(rank=1, epoch=0, batch_idx=2))
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["status"] == "failed: rank 1: RuntimeError: boom: injected failure"
    assert summary["total_J"] is None
    assert summary["no_energy"] == "rank 1 failed before rank 0 wrote a summary (ddp_spawn: only the ranks measure)"


@pytest.mark.slow
def test_ddp_the_benchmark_counts_every_rank_s_samples_and_energy_once(two_ranks):
    """Regression (DDP audit, 2026-11-29): each rank added the benchmark's samples over all ranks to its
    ``benchmark`` phase, and the phase's reduction summed them again: 128 samples for 64 measured, and the phase's
    J per sample half the benchmark's. And the ``inference`` entry's ``energy_J`` was rank 0's alone, beside a J
    per sample and sources over both ranks."""
    tmp_path, _ = two_ranks  # one pass of the 2 validation batches per repeat: 16 samples per rank, 32 per repeat
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    assert summary["inference"]["samples_per_repeat"] == 32 and summary["inference"]["repeats"] == 2
    assert summary["phases"]["benchmark"]["samples"] == 64
    entry, phase = summary["inference"], summary["phases"]["benchmark"]
    assert set(entry["sources"]) == {"rank0/cpu:0", "rank1/cpu:0"}
    assert entry["energy_J"] == pytest.approx(phase["energy_J"], rel=1e-9)  # both ranks', as the phase's


@pytest.mark.slow
def test_ddp_samples_are_those_the_ranks_processed_padding_included(tmp_path):
    """As docs/callback.md says (DDP audit, 2026-11-29, where it said nothing): the DistributedSampler's padding
    counts (61 training samples on 2 ranks are 62, 31 each), predict's unpadded sampler gives the samples as they
    are (25: 13 and 12)."""
    model = OddSizes()
    fit = make_trainer(
        tmp_path / "fit", [EnergyCallback(cpu="estimate", proxies=False)], loggers=False,
        strategy="ddp_spawn", devices=2, limit_val_batches=0, num_sanity_val_steps=0,
    )  # fmt: skip
    fit.fit(model)
    assert read_summary(tmp_path / "fit" / "energy_summary.json")["phases"]["train"]["samples"] == 62
    predict = make_trainer(
        tmp_path / "predict", [EnergyCallback(cpu="estimate", proxies=False)], loggers=False,
        strategy="ddp_spawn", devices=2,
    )  # fmt: skip
    predict.predict(model)
    phase = read_summary(tmp_path / "predict" / "energy_summary.json")["phases"]["predict"]
    assert phase["samples"] == 25 and phase["steps"] == 3  # rank 0's 3 batches (6, 6, 1), rank 1's 2


@pytest.mark.slow
@pytest.mark.parametrize("rapl_rank", [0, 1])
def test_ddp_a_phase_names_every_rank_s_source(tmp_path, rapl_rank):
    """Regression (stop 33's note): each phase's ``source`` and ``sources`` were rank 0's alone while its energy is
    summed over every rank, so with RAPL on rank 0 and the estimate on rank 1 (two nodes, one without readable RAPL)
    the phase read ``rapl``: an estimate presented as a measurement."""
    cap = PowercapOnRank(rank=rapl_rank, folder=str(tmp_path / "cap"))
    # two repeats of one pass each: the sources, not a precise J per sample (the default target ran ~20 s)
    benchmark = {"repeats": 2, "rel_precision": None, "min_window_s": 0.0}
    callbacks = [cap, EnergyCallback(inference_benchmark=benchmark)]
    trainer = make_trainer(
        tmp_path, callbacks, strategy="ddp_spawn", devices=2, limit_val_batches=2, num_sanity_val_steps=0
    )
    trainer.fit(TinyModel())
    summary = read_summary(tmp_path / "tb" / "version_0" / "energy_summary.json")
    other = 1 - rapl_rank
    expected = {f"rank{rapl_rank}/cpu:0": "rapl", f"rank{rapl_rank}/dram:0": "rapl", f"rank{other}/cpu:0": "estimate"}
    assert summary["sources"] == expected
    for name in ("train", "val"):
        phase = summary["phases"][name]
        assert phase["sources"] == expected, name
        assert phase["source"] == "mixed(estimate,rapl)", name
    benchmark = summary["inference"]  # its J per sample ranks the trial: summed over ranks, named so
    assert benchmark["sources"] == expected and benchmark["source"] == "mixed(estimate,rapl)"


def test_the_work_before_the_first_batch_is_in_the_fits_other_energy(tmp_path, fake_powercap):
    """Regression (callback audit): the fit's 'other' clock started at on_train_start, so the LightningModule's
    setup, configure_model and on_fit_start (and the callback's own set-up after it opened its meters) were in no
    phase: energy/total_J fell short of what the meters read between the callback's opening and closing them."""
    cap = fake_powercap(psys=False)
    model = SetUpWork(cap)
    cb = EnergyCallback(cpu="rapl", proxies=False)
    make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(model)
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["sources"]["cpu:0"] == "rapl" and model.added["sanity"] == 2.0  # 2 batches, measured apart
    spent = model.added  # the sanity check's too: its energy was spent (a sweep's cost left it out)
    assert summary["total_J"] == pytest.approx(sum(spent.values()), abs=1e-5)
    phases = summary["phases"]
    assert phases["other"]["energy_J"] == pytest.approx(100.0, abs=1e-5)  # setup + configure_model + on_fit_start
    assert phases["train"]["energy_J"] == pytest.approx(spent["train"], abs=1e-5)
    assert phases["val"]["energy_J"] == pytest.approx(spent["val"], abs=1e-5)
    assert phases["sanity"]["energy_J"] == pytest.approx(2.0, abs=1e-5)


class _FailsBeforeItsFirstBatch(SetUpWork):
    """Spends its set-up's known energy (:class:`SetUpWork`), then raises in ``hook`` after spending there."""

    def __init__(self, cap, hook: str) -> None:
        super().__init__(cap)
        self.hook = hook

    @override
    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.hook == "setup":
            raise RuntimeError("boom in setup")

    @override
    def configure_optimizers(self):
        if self.hook == "configure_optimizers":
            self._spend("configure_optimizers", 5.0)
            raise RuntimeError("boom in configure_optimizers")
        return super().configure_optimizers()

    @override
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        out = super().validation_step(batch, batch_idx, dataloader_idx)
        if self.hook == "sanity" and batch_idx == 1:
            raise RuntimeError("boom in the sanity check")
        return out


@pytest.mark.parametrize("hook", ["setup", "configure_optimizers", "sanity"])
def test_a_fit_failing_before_its_first_batch_counts_the_energy_it_spent(tmp_path, fake_powercap, hook):
    """Regression (tuning-cost audit, 2026-11-30): a fit that raised in the module's setup, configure_optimizers or
    the sanity check wrote ``total_J: null`` ('no counted window measured yet'): the energy its set-up, sanity check
    and idle baseline had spent was in no total, so a sweep's tuning cost and payback left the failed trial out."""
    cap = fake_powercap(psys=False)
    model = _FailsBeforeItsFirstBatch(cap, hook)
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path, [EnergyCallback(cpu="rapl", proxies=False)], loggers=False).fit(model)
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["status"].startswith("failed: RuntimeError: boom")
    assert summary["total_J"] == pytest.approx(sum(model.added.values()), abs=1e-5) and summary["total_J"] >= 20.0
    assert summary["no_energy"] is None and summary["sources"]["cpu:0"] == "rapl"
    assert summary["carbon"]["total_gCO2e"] > 0


def test_a_fit_failing_in_its_set_up_that_measured_nothing_says_so_not_0_J(tmp_path, fake_powercap):
    """The same failure with nothing to measure (``cpu=False``, no GPU): no total, and why, never 0 J."""
    model = _FailsBeforeItsFirstBatch(fake_powercap(psys=False), "setup")
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path, [EnergyCallback(cpu=False, proxies=False)], loggers=False).fit(model)
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["total_J"] is None and summary["no_energy"].startswith("nothing is measured on any rank")


def test_the_sweeper_says_why_a_failed_trial_has_no_energy(tmp_path, fake_powercap):
    """Regression (tuning-cost audit, 2026-11-30): a job whose summary had no total (nothing measured) gave its
    trial no energy and no word why: trials.csv's energy was blank with an empty ``degraded``, beside trials whose
    energy is in the sweep's total. The summary's ``no_energy`` is now among the trial's degraded reasons."""
    model = _FailsBeforeItsFirstBatch(fake_powercap(psys=False), "setup")
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path, [EnergyCallback(cpu=False, proxies=False)], loggers=False).fit(model)
    info = read_job(str(tmp_path))
    assert info.energy_J is None and info.status == "failed: RuntimeError: boom in setup"
    assert info.degraded == ["no energy: nothing is measured on any rank (cpu=False and no GPU)"]


def test_a_dead_jobs_trial_says_why_it_has_no_energy(tmp_path, fake_powercap):
    """Regression (tuning-cost audit, 2026-11-30): a trial whose worker died kept its job's energy from the job's
    summary, but kept nothing when that summary had no total: the trial was failed with no energy and no word why
    (nothing measured), unlike a finished job's trial."""
    from ecopt_lightning.sweeper._lost_jobs import dead_job_energy
    from ecopt_lightning.sweeper._schema import DEGRADED_ATTR

    model = _FailsBeforeItsFirstBatch(fake_powercap(psys=False), "setup")
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path, [EnergyCallback(cpu=False, proxies=False)], loggers=False).fit(model)
    assert dead_job_energy(str(tmp_path)) == {
        DEGRADED_ATTR: ["no energy: nothing is measured on any rank (cpu=False and no GPU)"]
    }


class _CostlyForward(SetUpWork):
    """:class:`SetUpWork` whose every forward pass puts 3 J on the fake counter (the proxies' extra pass too)."""

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._spend("forward", 3.0)
        return super().forward(x)


def test_the_flops_forward_pass_is_in_other_and_in_the_total(tmp_path, fake_powercap):
    """Regression (tuning-cost audit, 2026-11-30): the proxies' extra forward pass (``model/flops_per_sample``) ran
    with the training clock paused and no other running: its energy was in no phase and not in ``total_J``, so a
    sweep's cost left it out. It is OTHER's now, and the total holds every joule the meters read."""
    model = _CostlyForward(fake_powercap(psys=False))
    cb = EnergyCallback(cpu="rapl")  # proxies on: one extra forward pass on the first training batch
    make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(model)
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["model"]["flops_per_sample"] > 0
    batches = 8 + 2 + 2  # training, sanity and validation: one forward pass each, and the FLOPs pass
    assert model.added["forward"] == 3.0 * (batches + 1)
    assert summary["total_J"] == pytest.approx(sum(model.added.values()), abs=1e-5)
    extra = 3.0 + model.added["predict"]  # the FLOPs pass runs the model's predict_step: its 1 J, and forward's 3 J
    assert summary["phases"]["other"]["energy_J"] == pytest.approx(100.0 + extra, abs=1e-5)  # set-up and the pass
    assert summary["phases"]["train"]["energy_J"] == pytest.approx(model.added["train"] + 3.0 * 8, abs=1e-5)


def test_a_fit_that_runs_no_training_batch_counts_the_energy_it_spent(tmp_path, fake_powercap):
    """Regression (tuning-cost follow-up, 2026-11-30): a fit with ``limit_train_batches=0`` wrote ``total_J: null``
    ('no batch run'), so a trial configured so spent its set-up's, sanity check's and idle baseline's energy in no
    sweep total, while a fit failing before its first batch counts those phases. It counts them too now, and still
    says that no batch ran."""
    model = SetUpWork(fake_powercap(psys=False))
    trainer = make_trainer(tmp_path, [EnergyCallback(cpu="rapl", proxies=False)], loggers=False, limit_train_batches=0)
    trainer.fit(model)
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["status"] == "finished fit (no batch run: limit_train_batches=0)"
    assert "train" not in model.added and model.added["sanity"] == 2.0
    assert summary["total_J"] == pytest.approx(sum(model.added.values()), abs=1e-5)
    assert summary["no_energy"] is None and summary["sources"]["cpu:0"] == "rapl"
    assert float(trainer.callback_metrics["energy/total_J"]) == pytest.approx(summary["total_J"])
    assert summary["carbon"]["total_gCO2e"] > 0


def test_a_fit_that_runs_no_training_batch_and_measured_nothing_says_so_not_0_J(tmp_path, fake_powercap):
    """The same fit with nothing to measure (``cpu=False``, no GPU): no total, and why, never 0 J."""
    model = SetUpWork(fake_powercap(psys=False))
    trainer = make_trainer(tmp_path, [EnergyCallback(cpu=False, proxies=False)], loggers=False, limit_train_batches=0)
    trainer.fit(model)
    summary = read_summary(tmp_path / "energy_summary.json")
    assert summary["total_J"] is None and summary["no_energy"].startswith("nothing is measured on any rank")
    assert "energy/total_J" not in trainer.callback_metrics
