"""A total built from windows flagged approximate says how much of it they hold."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.energy_tracker import EnergyTracker, Totals, merge_totals, total_metrics
from tests.doubles.noisy_meter import ScriptedMeter


def test_a_phase_total_carries_the_energy_of_its_approximate_windows(manual_clock):
    """Regression (energy audit): each window said it was approximate (shorter than the sensor's update), but the
    phase totals, energy/total_J's metrics and the summary dropped the flag: a total of approximate windows read
    as exact."""
    clock = manual_clock()
    meter = ScriptedMeter(lambda n: 2.0 * n, source="rapl")  # reads add 0, 2, 4, 6 ... J
    meter.update_period_s = 0.5
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        tracker = EnergyTracker(monitor)
        tracker.start("train")
        clock.advance(1.0)
        long = tracker.step("train")  # 1 s: longer than the update period
        clock.advance(0.1)
        short = tracker.step("train")  # 0.1 s: approximate
        epoch = tracker.end_epoch("train", read=False)
    assert long is not None and short is not None
    assert (long.approximate, short.approximate) == (False, True)
    assert (long.energy_J, short.energy_J) == (2.0, 4.0)
    assert (epoch.approximate_windows, epoch.approximate_J, epoch.energy_J) == (1, 4.0, 6.0)
    total = tracker.total("train")
    assert (total.approximate_windows, total.approximate_J) == (1, 4.0)
    assert total.counts()["approximate_J"] == 4.0  # kept in a checkpoint and reduced over ranks (summed)
    assert Totals.reduce_ops()["approximate_J"] == "sum" and Totals.reduce_ops()["approximate_windows"] == "sum"
    assert (total + total).approximate_J == 8.0
    assert merge_totals({"train": total}, {"train": total})["train"].approximate_windows == 2
    assert total_metrics({"train": total})["energy/approximate_fraction"] == pytest.approx(4.0 / 6.0)
    assert total_metrics({"train": Totals(energy_J=6.0, steps=2)})["energy/approximate_fraction"] == 0.0
