"""A total says how much of it was interpolated across gaps in polled power; a short window's error it keeps."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.energy_tracker import EnergyTracker, Totals, merge_totals, total_metrics
from tests.doubles.noisy_meter import GappyMeter, ScriptedMeter


def test_a_phase_total_carries_the_energy_of_its_interpolated_windows(manual_clock):
    """Regression (energy audit): a window interpolated across a gap in polled power said so, but the phase
    totals, energy/total_J's metrics and the summary dropped the flag: a total holding interpolated energy read as
    a measurement."""
    clock = manual_clock()
    meter = GappyMeter(lambda n: 2.0 * n, gap=lambda n: n == 2)  # reads add 0, 2, 4, 6 ... J; a gap at read 2
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        tracker = EnergyTracker(monitor)
        tracker.start("train")  # read 0
        clock.advance(1.0)
        plain = tracker.step("train")  # read 1
        clock.advance(1.0)
        gapped = tracker.step("train")  # read 2: across the gap
        epoch = tracker.end_epoch("train", read=False)
    assert plain is not None and gapped is not None
    assert (plain.interpolated, gapped.interpolated) == ([], ["cpu:0"]) and gapped.approximate
    assert gapped.approximate_why == {"cpu:0": GappyMeter.REASON}
    assert (plain.energy_J, gapped.energy_J) == (2.0, 4.0)
    assert (epoch.interpolated_windows, epoch.interpolated_J, epoch.energy_J) == (1, 4.0, 6.0)
    total = tracker.total("train")
    assert (total.interpolated_windows, total.interpolated_J) == (1, 4.0)
    assert total.counts()["interpolated_J"] == 4.0  # kept in a checkpoint and reduced over ranks (summed)
    assert Totals.reduce_ops()["interpolated_J"] == "sum" and Totals.reduce_ops()["interpolated_windows"] == "sum"
    assert (total + total).interpolated_J == 8.0
    assert merge_totals({"train": total}, {"train": total})["train"].interpolated_windows == 2
    assert total_metrics({"train": total})["energy/interpolated_fraction"] == pytest.approx(4.0 / 6.0)
    assert total_metrics({"train": Totals(energy_J=6.0, steps=2)})["energy/interpolated_fraction"] == 0.0


def test_windows_shorter_than_the_sensors_update_are_approximate_alone_not_in_their_total(manual_clock):
    """A GPU's training steps are shorter than the NVML counter's 100 ms update: each step window is approximate,
    but consecutive windows share their snapshots, so what one misses the next holds and their total is the
    counter's own difference. Counting them as approximate in the total marked every GPU trial degraded."""
    clock = manual_clock()
    meter = ScriptedMeter(lambda n: 2.0 * n, source="rapl")
    meter.update_period_s = 0.5
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor:
        tracker = EnergyTracker(monitor)
        tracker.start("train")
        steps = []
        for _ in range(3):
            clock.advance(0.1)
            steps.append(tracker.step("train"))
        epoch = tracker.end_epoch("train", read=False)
    assert all(s is not None and s.approximate and not s.interpolated for s in steps)
    assert epoch.energy_J == sum(s.energy_J for s in steps if s is not None) == 2.0 + 4.0 + 6.0
    assert (epoch.interpolated_windows, epoch.interpolated_J) == (0, 0.0)
    assert total_metrics({"train": tracker.total("train")})["energy/interpolated_fraction"] == 0.0
