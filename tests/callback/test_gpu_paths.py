"""The callback's GPU paths below the Trainer, on the simulated GPU: device mapping, de-duplication, reduction."""

from __future__ import annotations

import pytest
from lightning.pytorch import Callback
from typing_extensions import override

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.energy_tracker import EnergyTracker
from ecopt_lightning.inference import measure_inference
from ecopt_lightning.ranks import RankReducer, device_keys, duplicate_domains, open_rank_monitor, reduce_rows
from ecopt_lightning.sweeper._jobinfo import degraded_reasons
from tests.callback.helpers import csv_series, make_trainer, read_summary
from tests.callback.models import TinyModel, loader
from tests.doubles.simulated_gpu import NVML_ERROR_GPU_IS_LOST, SimGpu

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class FakeRanks(RankReducer):
    """Rank ``rank`` of a cluster whose other ranks' device lists are given."""

    def __init__(self, others: dict[int, tuple[dict, dict]], rank: int) -> None:
        super().__init__(world_size=len(others) + 1)
        self.others, self.rank = others, rank

    @override
    def gather_objects(self, obj):
        return [obj if r == self.rank else self.others[r] for r in range(self.world_size)]


def test_keys_follow_the_physical_gpu_through_cuda_visible_devices(simulated_gpu, monkeypatch):
    simulated_gpu([SimGpu("GPU-AAAA"), SimGpu("GPU-BBBB")])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-BBBB")  # this rank's cuda:0 is the second GPU
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        assert device_keys(monitor) == {"gpu:0": "gpu:bbbb"}


def test_two_ranks_on_one_gpu_count_it_once(simulated_gpu, monkeypatch):
    simulated_gpu([SimGpu("GPU-AAAA", power_W=100.0)])
    rank0_keys = {"gpu:0": "gpu:aaaa", "cpu:0": "node:cpu:0"}
    rank0 = (rank0_keys, {"gpu:0": "nvml_counter", "cpu:0": "rapl"})
    monitor, devices = open_rank_monitor([0], "estimate", FakeRanks({0: rank0}, rank=1), rank=1)
    try:
        assert "gpu:0" not in monitor.sources  # rank 0 already counts that GPU
        assert monitor.sources == {"cpu:0": "estimate"}  # the estimate is per process: kept
        assert devices[0] == {d: {"key": rank0_keys[d], "source": rank0[1][d]} for d in rank0_keys}
        assert list(devices[1]) == ["cpu:0"]
    finally:
        monitor.close()


def test_duplicate_rapl_zones_are_dropped_on_later_ranks():
    keys = [
        {"cpu:0": "n1:cpu:0", "dram:0": "n1:dram:0"},
        {"cpu:0": "n1:cpu:0", "dram:0": "n1:dram:0"},
        {"cpu:0": "n2:cpu:0"},
    ]
    assert duplicate_domains(keys) == [set(), {"cpu:0", "dram:0"}, set()]


def test_reduction_sums_energy_and_maximises_time():
    rows = {0: [10.0, 1.0, 4.0], 1: [30.0, 1.5, 4.0]}
    gathered = RankReducer(2, gather=lambda t: __import__("torch").tensor([rows[0], rows[1]], dtype=t.dtype))
    out = gathered.reduce({"e|energy_J": 10.0, "e|seconds": 1.0, "e|steps": 4.0}, {"e|steps": "max"})
    assert out == {"e|energy_J": 40.0, "e|seconds": 1.5, "e|steps": 4.0}
    assert reduce_rows([[1.0], [2.0]], ["max"]) == [2.0]


def test_tracker_on_a_100_W_gpu(simulated_gpu, manual_clock):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-AAAA", power_W=100.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        tracker = EnergyTracker(monitor)
        tracker.start("train")
        steps = []
        for _ in range(3):
            clock.advance(0.05)
            steps.append(tracker.step("train", samples=10))
        epoch = tracker.end_epoch("train", read=False)
    assert epoch.energy_J == pytest.approx(sum(m.energy_J for m in steps), rel=1e-12)
    assert epoch.power_W == pytest.approx(100.0, rel=0.02)
    assert epoch.sources == {"gpu:0": "nvml_counter"} and epoch.per_sample_J == pytest.approx(epoch.energy_J / 30)


def test_callback_with_a_gpu_monitor_in_a_real_trainer(simulated_gpu, manual_clock, tmp_path):
    manual_clock(tick=1e-3)  # every read moves time on: windows last what the code does, not the machine's speed
    simulated_gpu([SimGpu("GPU-AAAA", power_W=250.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        cb = EnergyCallback(monitor=monitor, inference_benchmark={"repeats": 2, "rel_precision": None})
        trainer = make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2)
        trainer.fit(TinyModel())
        summary = cb.summary()
    assert summary["sources"] == {"gpu:0": "nvml_counter"}
    assert summary["estimated_fraction"] == 0.0
    train = summary["phases"]["train"]
    assert train["power_W"] == pytest.approx(250.0, rel=0.02)
    assert summary["inference"]["source"] == "nvml_counter"


class _LoseGpuBriefly(Callback):
    """The GPU fails at the start of training batch 3 and is back at batch 5: two windows lose it."""

    def __init__(self, gpu: SimGpu) -> None:
        self.gpu = gpu

    @override
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 3:
            self.gpu.fail(NVML_ERROR_GPU_IS_LOST)
        elif batch_idx == 5:
            self.gpu.recover()


def test_a_gpu_lost_for_a_few_windows_is_a_measurement_fault_in_the_summary(simulated_gpu, manual_clock, tmp_path):
    """Regression (callback audit, 2026-11-29): a GPU whose reads failed for a few steps and then recovered left
    those windows without its energy (``energy/total_J`` too low), and the summary said nothing: its
    ``measurement_faults`` only held faults still there at its writing, so the sweeper took the trial as fully
    measured."""
    manual_clock(tick=1e-3)
    gpu = SimGpu("GPU-AAAA", power_W=250.0)
    simulated_gpu([gpu])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        cb = EnergyCallback(monitor=monitor, cuda_sync="step")
        make_trainer(tmp_path, [cb, _LoseGpuBriefly(gpu)], loggers=False, limit_val_batches=0).fit(TinyModel())
        summary = cb.summary()
        assert monitor.snapshot().errors == {}  # back by the end
    fault = summary["measurement_faults"]["gpu:0"]
    assert fault.startswith("invalid in train windows (not counted there): NVML energy read failed")
    assert f"gpu:0: {fault}" in degraded_reasons(summary)  # the sweeper marks the trial degraded
    assert summary["phases"]["train"]["power_W"] < 250.0 * 0.95  # what those windows lost


def test_the_summary_after_the_users_monitor_is_closed_reports_no_fault(simulated_gpu, manual_clock, tmp_path):
    """Regression (callback audit, 2026-11-29): ``summary()`` read the monitor to report faults, so after the user's
    ``with EnergyMonitor(...)`` block had closed it, it said ``gpu:0: NVML energy read failed: Uninitialized``, a
    fault no window had."""
    manual_clock(tick=1e-3)
    simulated_gpu([SimGpu("GPU-AAAA", power_W=250.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        cb = EnergyCallback(monitor=monitor)
        make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=0).fit(TinyModel())
    assert cb.summary()["measurement_faults"] == {}
    assert read_summary(tmp_path / "energy_summary.json")["measurement_faults"] == {}


def test_measure_inference_on_the_gpu_double(simulated_gpu, manual_clock):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-AAAA", power_W=80.0)])
    import torch

    def slow_forward(module, batch, i):
        clock.advance(0.01)
        return module(batch[0])

    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        assert monitor.min_window_s == pytest.approx(1.0)  # 10 updates of the ~100 ms counter
        result = measure_inference(
            torch.nn.Linear(16, 2), loader(32, 8), repeats=3, rel_precision=None, min_window_s=0.0,
            monitor=monitor, forward_fn=slow_forward,
        )  # fmt: skip
    assert result.source == "nvml_counter"
    # 4 batches x 10 ms at 80 W over 32 samples: about 0.1 J per sample
    assert result.per_sample_J == pytest.approx(80.0 * result.seconds / 32, rel=0.05)


def test_unread_steps_share_the_next_window(simulated_gpu, manual_clock):
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-AAAA", power_W=100.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        tracker = EnergyTracker(monitor)
        tracker.start("train")
        for _ in range(4):
            clock.advance(0.03)
            assert tracker.step("train", samples=10, read=False) is None  # counted, not read
        window = tracker.step("train", samples=10)  # one read for all five
        tracker.step("val", samples=5, key=0, read=False)
        tracker.step("val", samples=5, key=1, read=False)  # another key: key 0's step is closed first
        clock.advance(0.03)
        tracker.step("train", samples=10, read=False)
        epoch = tracker.end_epoch("train")  # closes the unread last step
        since_log = tracker.take_since_log("train")[None]
        by_key = tracker.epoch_by_key("val")
        tracker.end_epoch("val")
    assert window.seconds == pytest.approx(0.12) and window.energy_J == pytest.approx(12.0, abs=0.002)
    assert (epoch.steps, epoch.samples) == (6, 60) and since_log.steps == 6
    assert epoch.energy_J == pytest.approx(window.energy_J + 100.0 * 0.03, abs=0.002)
    assert (by_key[0].steps, by_key[0].samples) == (1, 5) and 1 not in by_key  # key 1 was still unread then


class CountingMonitor(EnergyMonitor):
    reads = 0

    @override
    def snapshot(self, sync=None):
        CountingMonitor.reads += 1
        return super().snapshot(sync)


@pytest.mark.parametrize(("cuda_sync", "at_most"), [("log", 26), ("step", 10**6)])
def test_meters_are_read_at_log_points_not_every_step(tmp_path, cuda_sync, at_most):
    CountingMonitor.reads = 0
    with CountingMonitor(gpus=[], cpu="estimate") as monitor:
        cb = EnergyCallback(monitor=monitor, cuda_sync=cuda_sync)
        trainer = make_trainer(
            tmp_path, [cb], loggers=False, log_every_n_steps=10, max_epochs=5, limit_val_batches=0
        )  # 8 batches an epoch: 40 steps
        trainer.fit(TinyModel())
    train = cb.summary()["phases"]["train"]
    assert train["steps"] == 40 and train["energy_J"] > 0
    assert CountingMonitor.reads <= at_most  # start, 4 log points, 5 epoch starts and ends, fit end (and set-up)
    assert CountingMonitor.reads >= (40 if cuda_sync == "step" else 4)


class _LoopSeconds(Callback):
    """Listed before ours: each evaluation batch takes 0.1 s of the manual clock, and this callback's own epoch end
    1 s (events, not the machine's speed): the loop's tail after its last batch ends."""

    def __init__(self, clock) -> None:
        self.clock = clock

    def _batch(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self.clock.advance(0.1)

    def _epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.clock.advance(1.0)

    on_validation_batch_start = on_test_batch_start = _batch
    on_validation_epoch_end = on_test_epoch_end = _epoch_end


@pytest.mark.parametrize("cuda_sync", ["log", "step"])
@pytest.mark.parametrize("entry", ["fit", "test"])
def test_an_eval_loops_batches_take_its_tail_with_every_cuda_sync(
    simulated_gpu, manual_clock, tmp_path, entry, cuda_sync
):
    """Regression (callback audit): with ``cuda_sync="step"`` each evaluation batch was its own window, ended at our
    batch end, so the loop's tail after its last batch (other callbacks' epoch-end work before ours, the loader's
    end) was in ``energy/{val,test}_epoch_J`` but in no batch: on a 100 W GPU the logged mean batch times 3 read 30 J
    beside a 130 J loop, as ``cuda_sync="log"`` did before its loops' batches were one window up to their end."""
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-AAAA", power_W=100.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        cb = EnergyCallback(monitor=monitor, cuda_sync=cuda_sync, proxies=False)
        trainer = make_trainer(tmp_path, [_LoopSeconds(clock), cb], num_sanity_val_steps=0, limit_val_batches=3)
        getattr(trainer, entry)(TinyModel())
    series = csv_series(tmp_path)
    phase = "val" if entry == "fit" else "test"
    [(_, batch_J)] = series[f"energy/{phase}_batch_J"]
    [(_, loop_J)] = series[f"energy/{phase}_epoch_J"]
    assert loop_J == pytest.approx(130.0, abs=0.01) and batch_J * 3 == pytest.approx(loop_J, abs=0.01)


class _LastOfFirstLoaderEndsLate(TinyModel):
    """Two validation sets; each validation step takes 0.1 s of the manual clock, and the module's own batch end
    (after every callback's) 1 s at the first set's last batch (events): work of that set's batches."""

    def __init__(self, clock) -> None:
        super().__init__(val_loaders=2)
        self.clock = clock

    @override
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        if not self.trainer.sanity_checking:
            self.clock.advance(0.1)
        return super().validation_step(batch, batch_idx, dataloader_idx)

    @override
    def on_validation_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.trainer.sanity_checking and (dataloader_idx, batch_idx) == (0, 1):
            self.clock.advance(1.0)


@pytest.mark.parametrize("cuda_sync", ["log", "step"])
def test_a_dataloaders_batches_end_where_the_next_ones_begin_with_every_cuda_sync(
    simulated_gpu, manual_clock, tmp_path, cuda_sync
):
    """Regression (callback audit): with ``cuda_sync="step"`` the first validation set's work after our last batch
    end (the module's own ``on_validation_batch_end``) went to the second set's first batch, where
    ``cuda_sync="log"`` gives it to the first set: per dataloader the mean batch read 10 J and 60 J, not 60 J and
    10 J, on a 100 W GPU."""
    clock = manual_clock()
    simulated_gpu([SimGpu("GPU-AAAA", power_W=100.0)])
    with EnergyMonitor(gpus=[0], cpu=False) as monitor:
        cb = EnergyCallback(monitor=monitor, cuda_sync=cuda_sync, proxies=False)
        trainer = make_trainer(tmp_path, [cb], num_sanity_val_steps=0, limit_val_batches=2)
        trainer.fit(_LastOfFirstLoaderEndsLate(clock))
    series = csv_series(tmp_path)
    means = [series[f"energy/val_batch_J/dataloader_idx_{i}"][-1][1] for i in (0, 1)]
    assert means[0] == pytest.approx(60.0, abs=0.01) and means[1] == pytest.approx(10.0, abs=0.01), means
