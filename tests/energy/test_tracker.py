"""The accounting behind EnergyCallback, with no Trainer: windows, epochs, ranks, restored totals, metrics.

Energies come from the fake powercap tree, so every window is known exactly (J); times are wall-clock and
only checked to add up, never against a duration.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ecopt_lightning import EnergyMonitor, EnergyWarning, Measurement
from ecopt_lightning.energy.meter import Reading
from ecopt_lightning.energy_tracker import (
    COUNTED,
    EnergyTracker,
    Totals,
    carbon_and_cost,
    epoch_metrics,
    merge_totals,
    step_metrics,
    total_metrics,
)
from ecopt_lightning.ranks import RankReducer
from tests.doubles.clock import ManualClock


@pytest.fixture
def rapl(fake_powercap):
    cap = fake_powercap(psys=False)
    monitor = EnergyMonitor(gpus=[], cpu="rapl")
    yield cap, monitor
    monitor.close()


def test_windows_share_reads_and_add_up_to_the_epoch(rapl):
    cap, monitor = rapl
    tracker = EnergyTracker(monitor)
    tracker.start("train")
    cap.add("cpu:0", 3.0)
    first = tracker.step("train", samples=8)
    cap.add("cpu:0", 5.0)
    assert tracker.step("train", samples=8, read=False) is None  # counted, read with the next step
    cap.add("cpu:0", 2.0)
    cap.add("dram:0", 0.5)
    second = tracker.step("train", samples=8, items=100)
    cap.add("cpu:0", 1.0)  # after the last step: the epoch's tail
    since_log = tracker.take_since_log("train")[None]
    epoch = tracker.end_epoch("train")

    assert first.energy_J == pytest.approx(3.0)
    assert second.energy_J == pytest.approx(7.5)
    assert (since_log.energy_J, since_log.steps, since_log.samples) == (pytest.approx(10.5), 3, 24)
    assert (epoch.energy_J, epoch.steps, epoch.samples, epoch.items) == (pytest.approx(11.5), 3, 24, 100)
    assert epoch.by_device == pytest.approx({"cpu:0": 11.0, "dram:0": 0.5})
    assert epoch.source == "rapl"
    assert tracker.total("train").energy_J == pytest.approx(11.5)
    assert epoch.seconds >= first.seconds + second.seconds
    assert tracker.end_epoch("train").steps == 0  # the next epoch starts empty


def test_a_paused_clock_counts_nothing_and_the_next_phase_starts_at_its_snapshot(rapl):
    cap, monitor = rapl
    tracker = EnergyTracker(monitor)
    tracker.start("train")
    cap.add("cpu:0", 2.0)
    at = tracker.pause("train")  # validation starts
    tracker.start("val", at=at)
    cap.add("cpu:0", 100.0)
    val = tracker.step("val", samples=4, key=1)
    tracker.start("train", at=tracker.pause("val"))
    cap.add("cpu:0", 3.0)
    train = tracker.step("train", samples=8)

    assert val.energy_J == pytest.approx(100.0)
    assert train.energy_J == pytest.approx(5.0)  # 2 J before the pause + 3 J after: not validation's 100 J
    assert tracker.epoch_by_key("val")[1].samples == 4


def test_work_inside_paused_is_not_counted_and_the_clock_resumes_after(rapl):
    cap, monitor = rapl
    tracker = EnergyTracker(monitor)
    tracker.start("train")
    cap.add("cpu:0", 2.0)
    with tracker.paused("train"):
        assert not tracker.running("train")
        cap.add("cpu:0", 50.0)  # an extra forward pass, a benchmark
    assert tracker.running("train")
    cap.add("cpu:0", 3.0)
    assert tracker.step("train", samples=8).energy_J == pytest.approx(5.0)
    with tracker.paused("val"):  # a clock that does not run stays stopped
        pass
    assert not tracker.running("val")


def test_step_epoch_and_total_metrics_by_hand():
    steps = {0: Totals(energy_J=6.0, seconds=3.0, steps=2), 1: Totals(energy_J=1.0, seconds=0.5, steps=1)}
    assert step_metrics("val", steps, per_dataloader=True) == {
        "energy/val_batch_J/dataloader_idx_0": 3.0,
        "power/val_W/dataloader_idx_0": 2.0,
        "energy/val_batch_J/dataloader_idx_1": 1.0,
        "power/val_W/dataloader_idx_1": 2.0,
    }
    assert step_metrics("train", {None: Totals(energy_J=9.0, seconds=3.0, steps=3)}) == {
        "energy/train_step_J": 3.0,
        "power/train_W": 3.0,
    }

    epoch = Totals(energy_J=12.0, seconds=4.0, samples=6, items=24)
    assert epoch_metrics("train", epoch, items=True, idle_W=0.5) == {
        "energy/train_epoch_J": 12.0,
        "energy/train_per_sample_J": 2.0,
        "energy/train_per_item_J": 0.5,
        "energy/train_epoch_net_J": 10.0,  # 12 J - 0.5 W x 4 s
    }
    loop = epoch_metrics("test", epoch, {1: Totals(energy_J=3.0, samples=2)}, idle_W=0.5)
    assert loop == {"energy/test_epoch_J": 12.0, "energy/test_per_sample_J": 2.0,
                    "energy/test_per_sample_J/dataloader_idx_1": 1.5}  # fmt: skip
    assert math.isnan(epoch_metrics("val", Totals(energy_J=1.0))["energy/val_per_sample_J"])

    cluster = {
        "sanity": Totals(energy_J=20.0, estimated_J=5.0, seconds=5.0, steps=2),  # measured apart from val, counted
        "train": Totals(energy_J=30.0, estimated_J=6.0, seconds=10.0, steps=5),
        "val": Totals(energy_J=10.0, seconds=2.0, steps=2),
        "test": Totals(),  # no steps, no energy: no test total
        "benchmark": Totals(energy_J=20.0, estimated_J=9.0, seconds=3.0),
    }
    assert total_metrics(cluster, idle_W=1.0) == {
        "energy/total_J": 80.0,
        "energy/estimated_fraction": 0.25,  # (5 + 6 + 9) / 80
        "energy/interpolated_fraction": 0.0,
        "energy/train_total_J": 30.0,
        "energy/val_total_J": 10.0,
        "energy/total_net_J": 60.0,  # 80 J - 1 W x 20 s
        "energy/train_total_net_J": 20.0,
    }
    assert "energy/total_net_J" not in total_metrics(cluster)


def test_carbon_and_cost_are_computed_from_the_totals():
    totals = total_metrics({"train": Totals(energy_J=3.6e6, steps=1), "benchmark": Totals(energy_J=3.6e6)})
    assert carbon_and_cost(totals, carbon_intensity_g_per_kWh=None, price_per_kWh=None, currency="EUR", pue=1) == {}
    out = carbon_and_cost(totals, carbon_intensity_g_per_kWh=400.0, price_per_kWh=0.3, currency="EUR", pue=1.5)
    # 2 kWh x 1.5 PUE x 400 g/kWh; the training half alone; 2 kWh x 1.5 x 0.3 EUR/kWh
    assert out == pytest.approx({"carbon/total_gCO2e": 1200.0, "carbon/train_total_gCO2e": 600.0,
                                 "cost/total_EUR": 0.9})  # fmt: skip


class TwoRanks:
    """An injected all_gather for rank 0 of two: rank 1's row is what rank 1's own tracker sent."""

    def __init__(self) -> None:
        self.rows: list[torch.Tensor] = []

    def capture(self, local: torch.Tensor) -> torch.Tensor:  # rank 1: keep its row
        self.rows.append(local.clone())
        return torch.cat([local, local])

    def gather(self, local: torch.Tensor) -> torch.Tensor:  # rank 0: its row, then rank 1's
        return torch.cat([local, self.rows.pop(0)])


def _ran(monitor, cap, joules: float, steps: int, samples: int) -> EnergyTracker:
    tracker = EnergyTracker(monitor)
    tracker.start("train")
    for _ in range(steps):
        cap.add("cpu:0", joules / steps)
        tracker.step("train", samples=samples)
    return tracker


def test_ddp_reduction_sums_energy_and_takes_the_longest_time(rapl):
    cap, monitor = rapl
    ranks = TwoRanks()
    rank1 = _ran(monitor, cap, joules=8.0, steps=2, samples=16)
    epoch1 = rank1.end_epoch("train")
    rank0 = _ran(monitor, cap, joules=4.0, steps=2, samples=16)
    epoch0 = rank0.end_epoch("train")
    rank1.reduce(RankReducer(2, gather=ranks.capture), {"epoch": epoch1})
    reduced = rank0.reduce(RankReducer(2, gather=ranks.gather), {"epoch": epoch0})["epoch"]

    assert reduced.energy_J == pytest.approx(epoch0.energy_J + epoch1.energy_J)
    assert reduced.energy_J == pytest.approx(12.0, abs=1e-6)
    assert reduced.samples == 64 and reduced.steps == 2  # steps happen on every rank: not summed
    assert reduced.seconds == max(epoch0.seconds, epoch1.seconds)
    assert reduced.by_device == {}  # per-domain energy stays each rank's own
    assert set(rank0.cluster) == {*COUNTED}
    assert rank0.cluster["train"].energy_J == pytest.approx(12.0, abs=1e-6)
    assert rank0.compute()["energy/total_J"] == pytest.approx(12.0, abs=1e-6)


def test_reduce_totals_applies_each_fields_op_and_keeps_the_keys():
    ranks = TwoRanks()
    other = {"a": Totals(energy_J=1.0, seconds=5.0, samples=3, steps=2), None: Totals(estimated_J=2.0, items=7)}
    mine = {"a": Totals(energy_J=2.0, seconds=1.0, samples=1, steps=4), None: Totals(estimated_J=1.0, items=1)}
    RankReducer(2, gather=ranks.capture).reduce_totals(other)
    out = RankReducer(2, gather=ranks.gather).reduce_totals(mine)
    assert list(out) == ["a", None]
    assert out["a"].counts() == {"energy_J": 3.0, "seconds": 5.0, "estimated_J": 0.0, "samples": 4, "items": 0,
                                 "steps": 4, "proc_s": 0.0, "foreign_core_s": 0.0, "contended_s": 0.0,
                                 "failed_windows": 0, "interpolated_windows": 0, "interpolated_J": 0.0}  # fmt: skip
    assert (out[None].estimated_J, out[None].items) == (3.0, 8)
    assert RankReducer().reduce_totals(mine)["a"].counts() == mine["a"].counts()  # one process: as is


def test_restored_totals_are_added_to_this_runs_once(rapl):
    cap, monitor = rapl
    tracker = _ran(monitor, cap, joules=6.0, steps=3, samples=8)
    tracker.end_epoch("train")
    saved = {"train": {"energy_J": 100.0, "seconds": 10.0, "estimated_J": 0.0, "samples": 50, "items": 0,
                       "steps": 5}, "val": {"energy_J": 7.0, "seconds": 1.0, "steps": 1}}  # fmt: skip
    tracker.restore(saved)
    assert tracker.cluster["train"].energy_J == 100.0  # restored only, until the next reduction

    tracker.reduce(RankReducer())
    train = tracker.cluster["train"]
    assert train.energy_J == pytest.approx(106.0)
    assert (train.samples, train.steps) == (74, 8)
    assert tracker.compute()["energy/total_J"] == pytest.approx(113.0)
    tracker.reduce(RankReducer())  # reducing again does not add the restored totals twice
    assert tracker.cluster["train"].energy_J == pytest.approx(106.0)

    tracker.reduce_local()  # one process, no collective: the same totals
    assert tracker.cluster["train"].counts() == train.counts()
    resumed = EnergyTracker(None)  # a checkpoint round trip
    resumed.restore({p: t.counts() for p, t in tracker.cluster.items()})
    assert {p: t.counts() for p, t in resumed.cluster.items()} == {p: t.counts() for p, t in tracker.cluster.items()}


def test_merge_totals_adds_per_phase_without_changing_its_inputs():
    a = {"train": Totals(energy_J=1.0, samples=2, by_device={"cpu:0": 1.0}, sources={"cpu:0": "rapl"})}
    b = {"train": Totals(energy_J=2.0, samples=3, by_device={"cpu:0": 2.0}), "val": Totals(steps=1)}
    merged = merge_totals(a, b)
    assert (merged["train"].energy_J, merged["train"].samples, merged["val"].steps) == (3.0, 5, 1)
    assert merged["train"].by_device == {"cpu:0": 3.0} and merged["train"].source == "rapl"
    assert a["train"].energy_J == 1.0 and merged["val"] is not b["val"]


def test_every_counted_field_says_how_it_combines_over_ranks():
    # adding a counted field to Totals: declare it with its op and increment it in add(); nothing else
    numeric = [f.name for f in dataclasses.fields(Totals) if f.type in ("int", "float")]
    assert list(Totals.reduce_ops()) == numeric
    t = Totals()
    t.add(Measurement("w", 2.0, {"cpu:0": 4.0}, {"cpu:0": "estimate"}), samples=3, items=5, steps=1)
    assert t.counts() == {"energy_J": 4.0, "seconds": 2.0, "estimated_J": 4.0, "samples": 3, "items": 5, "steps": 1,
                          "proc_s": 0.0, "foreign_core_s": 0.0, "contended_s": 0.0, "failed_windows": 0,
                          "interpolated_windows": 0, "interpolated_J": 0.0}  # fmt: skip


class _FailsFromRead:
    """The CPU estimate, whose reads fail from the ``n``-th on (1-based): a sensor lost at a given read."""

    update_period_s = 0.0

    def __init__(self, n: int) -> None:
        self.sources = {"cpu:0": "estimate"}
        self.n, self.reads = n, 0

    def read(self) -> Reading:
        self.reads += 1
        if self.reads >= self.n:
            return Reading(errors={"cpu:0": "injected: sensor lost"})
        return Reading({"cpu:0": float(self.reads)})

    def close(self) -> None: ...


def test_an_idle_baseline_whose_reading_failed_is_not_used_for_net_energy():
    """Regression (energy audit, 2026-11-29): a reading failing during the idle baseline gave the idle power of the
    domains still read (0 W here), and net energy was then the gross energy less too little, presented as net."""
    clock = ManualClock(tick=1.0)  # a window end reads 1 s after the one before
    ok = EnergyTracker(EnergyMonitor(meters=[_FailsFromRead(n=3)], proc_root=False, clock=clock))
    ok.measure_idle(0.0, RankReducer().reduce)
    assert ok.idle_W == 1.0  # reads 1 and 2: 1 J in 1 s
    lost = EnergyTracker(EnergyMonitor(meters=[_FailsFromRead(n=2)], proc_root=False, clock=clock))
    with pytest.warns(EnergyWarning, match=r"idle power not measured: .*cpu:0: injected: sensor lost"):
        lost.measure_idle(0.0, RankReducer().reduce)
    assert lost.idle_W is None
    assert "energy/total_net_J" not in total_metrics({"train": Totals(energy_J=5.0, seconds=1.0)}, lost.idle_W)
