"""A RAPL counter that goes back without wrapping (a reset) breaks the window; it is never read as a wrap's energy."""

from __future__ import annotations

import pytest

from ecopt_lightning import EnergyMonitor


@pytest.mark.parametrize("max_uj", [262_143_328_850, 0], ids=["range known", "range unreadable"])
def test_a_rapl_counter_reset_is_a_broken_window_not_a_wraps_worth_of_joules(fake_powercap, manual_clock, max_uj):
    """Regression (energy audit): a package counter reset (a driver reload, a CPU hot-plug) from 5001 J to 2 J was
    read as a wrap at max_energy_range_uj: the window measured 257 kJ in 1 s, as a measurement; with the range
    unreadable, it was read as a restart from 0 and the 5 J before the reset were lost, unflagged."""
    clock = manual_clock()
    cap = fake_powercap(psys=False, max_uj=262_143_328_850)
    if max_uj == 0:
        for zone in cap.paths.values():
            (zone / "max_energy_range_uj").unlink()
    with EnergyMonitor(gpus=[], cpu="rapl", proc_root=False) as monitor:
        first = monitor.snapshot()
        cap.add("cpu:0", 5000.0)
        clock.advance(1.0)
        before = monitor.snapshot()
        cap.add("cpu:0", 5.0)
        cap.set_raw("cpu:0", 2_000_000)  # reset: back to 2 J, far from the range's end (last read at 5001 J)
        clock.advance(1.0)
        after = monitor.snapshot()
        cap.add("cpu:0", 3.0)
        clock.advance(1.0)
        last = monitor.snapshot()
    assert monitor.measure(first, before).by_device["cpu:0"] == pytest.approx(5000.0)
    for start, end in ((before, after), (first, last), (first, after), (before, last)):
        m = monitor.measure(start, end, "spans the reset")
        assert "cpu:0" not in m.by_device, m.by_device
        assert m.invalid["cpu:0"].startswith("RAPL counter went back from 5001.000000 J to 2.000000 J"), m.invalid
        assert m.by_device["dram:0"] == 0.0  # the other zone is read on
    assert monitor.measure(after, last).by_device["cpu:0"] == pytest.approx(3.0)  # read on from the reset


def test_a_rapl_wrap_between_reads_is_still_read_as_a_wrap(fake_powercap, manual_clock):
    """The counter wrapped at max_energy_range_uj between two reads a second apart: 300 J, read as such."""
    clock = manual_clock()
    cap = fake_powercap(psys=False, max_uj=1_000_000_000)  # wraps every 1 kJ
    cap.set_raw("cpu:0", 900_000_000)
    with EnergyMonitor(gpus=[], cpu="rapl", proc_root=False) as monitor:
        start = monitor.snapshot()
        cap.add("cpu:0", 300.0)
        clock.advance(1.0)
        end = monitor.snapshot()
    m = monitor.measure(start, end)
    assert m.invalid == {} and m.by_device["cpu:0"] == pytest.approx(300.0)
