"""An idle baseline whose window was approximate is no idle power: net energy is not logged."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor, EnergyWarning
from ecopt_lightning.energy_tracker import EnergyTracker
from ecopt_lightning.ranks import RankReducer
from tests.doubles.clock import ManualClock
from tests.doubles.noisy_meter import ScriptedMeter


def _tracker(update_period_s: float) -> EnergyTracker:
    meter = ScriptedMeter(lambda n: 3.0, source="rapl")  # 3 J a read
    meter.update_period_s = update_period_s
    clock = ManualClock(tick=1.0)  # a window end reads 1 s after the one before
    return EnergyTracker(EnergyMonitor(meters=[meter], proc_root=False, clock=clock))


def test_an_idle_baseline_shorter_than_the_sensors_update_is_not_used_for_net_energy():
    """Regression (energy audit): an idle baseline of 1 s on a sensor updating every 10 s was flagged approximate
    (its value off by up to a whole update), yet its 3 W became the idle power every net value was computed from,
    logged as power/idle_W like a measurement."""
    coarse = _tracker(update_period_s=10.0)
    with pytest.warns(EnergyWarning, match=r"idle power not measured: the idle baseline's window was approximate"):
        coarse.measure_idle(0.0, RankReducer().reduce)
    assert coarse.idle_W is None
    fine = _tracker(update_period_s=0.5)
    fine.measure_idle(0.0, RankReducer().reduce)
    assert fine.idle_W == 3.0


def test_the_idle_baselines_energy_counts_in_the_total_whether_or_not_its_power_is_used():
    """Regression (tuning-cost audit, 2026-11-30): the idle baseline (``idle_baseline_s`` before every fit: each
    trial of a sweep) was measured, then counted nowhere: energy/total_J, and so the sweep's cost and payback, left
    it out. It is a counted phase now; net energy, gross less idle power x time, stays as it was."""
    fine = _tracker(update_period_s=0.5)  # 3 J a read, 1 s a window
    fine.measure_idle(0.0, RankReducer().reduce)
    fine.reduce_local()
    totals = fine.compute()
    assert totals["energy/total_J"] == 3.0 and fine.cluster["idle"].seconds == 1.0
    assert totals["energy/total_net_J"] == 0.0  # its own 3 J less 3 W x 1 s
    coarse = _tracker(update_period_s=10.0)
    with pytest.warns(EnergyWarning, match="idle power not measured"):
        coarse.measure_idle(0.0, RankReducer().reduce)
    coarse.reduce_local()
    assert coarse.compute()["energy/total_J"] == 3.0  # no idle power to use, but its energy was spent
