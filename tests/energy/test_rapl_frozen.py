"""RAPL files that are there and readable but never updated (as some VMs expose them): every window reads 0 J, which
is no reading. The monitor says so once no RAPL counter has moved over its last 5 reads and 100 updates or more
(since it started, or after it moved: a counter that stops mid-run); a DRAM zone that alone reads 0 J, or a few reads
between two updates, is a reading. Decided by the fake tree's advances, the reads, and the manual clock's moves,
never by the machine's speed."""

from __future__ import annotations

import itertools

import pytest

from ecopt_lightning import EnergyMonitor
from ecopt_lightning.energy import EnergyWarning
from ecopt_lightning.energy.measurement import FROZEN_RAPL


def _frozen_windows(monitor: EnergyMonitor, clock, step_s: float, reads: int) -> list[bool]:
    snaps = [monitor.snapshot()]
    for _ in range(reads - 1):
        clock.advance(step_s)
        snaps.append(monitor.snapshot())
    return [bool(monitor.measure(a, b).frozen) for a, b in itertools.pairwise(snaps)]


def test_rapl_counters_that_never_moved_are_no_reading_and_it_says_which(fake_powercap, manual_clock):
    """Regression (honest-sources audit, 2026-11-30): RAPL files whose counters never advanced gave 0 J windows that
    read as measured by RAPL: the callback logged 0 J steps, epochs and a 0 J total with source rapl."""
    clock = manual_clock()
    fake_powercap(psys=False)  # never advanced
    with EnergyMonitor(gpus=[], cpu="rapl", proc_root=False) as monitor:
        snaps = [monitor.snapshot()]
        for _ in range(4):
            clock.advance(1.0)  # 1000 updates of a RAPL counter
            snaps.append(monitor.snapshot())
        with pytest.warns(EnergyWarning, match=r"cpu:0, dram:0 not measured from window 'train' on: no RAPL counter"):
            m = monitor.measure(snaps[0], snaps[-1], "train")
    assert m.frozen == {"cpu:0": FROZEN_RAPL, "dram:0": FROZEN_RAPL}
    assert m.by_device == {"cpu:0": 0.0, "dram:0": 0.0} and m.invalid == {}  # the inference benchmark's own rule


def test_it_takes_five_reads_and_a_hundred_updates_of_counters_that_never_moved(fake_powercap, manual_clock):
    """Reads 1 s apart: the fifth read decides. Reads 1/64 s apart (exact in binary): the eighth read is the first to
    span 100 updates (7/64 s >= 0.1 s); 1/256 s apart, the 27th. A window is judged by what the counters did since
    they started, not by its own length."""
    clock = manual_clock()
    fake_powercap(psys=False)
    for step_s, first in ((1.0, 4), (1 / 64, 7), (1 / 256, 26)):
        with EnergyMonitor(gpus=[], cpu="rapl", proc_root=False) as monitor:
            frozen = _frozen_windows(monitor, clock, step_s, reads=30)
        assert frozen == [False] * (first - 1) + [True] * (30 - first), step_s


def test_a_counter_that_moved_then_stopped_is_no_reading_from_its_fifth_still_read(fake_powercap, manual_clock):
    """Regression (honest-sources audit follow-up, 2026-11-30): the rule covered only counters that never moved since
    the meter started; one that moved once, then froze mid-run, read 0 J measured by RAPL in every window after. It is
    judged on the reads since it last moved: frozen from the fifth still read on (1 s apart), read again when it moves;
    a window the move falls in is a reading."""
    clock = manual_clock()
    cap = fake_powercap(psys=False)
    with EnergyMonitor(gpus=[], cpu="rapl", proc_root=False) as monitor:
        first = monitor.snapshot()
        cap.add("cpu:0", 2.0)  # the package moved once, then never again
        with pytest.warns(EnergyWarning, match=r"cpu:0, dram:0 not measured from window '' on: no RAPL counter"):
            assert _frozen_windows(monitor, clock, 1.0, reads=10) == [False] * 3 + [True] * 6
        cap.add("cpu:0", 2.0)  # moving again: read again, its reads counted afresh
        assert _frozen_windows(monitor, clock, 1.0, reads=6) == [False] * 3 + [True] * 2
        clock.advance(1.0)
        whole = monitor.measure(first, monitor.snapshot())  # the moves fall in it: a reading, though it ends still
        assert whole.frozen == {} and whole.by_device == {"cpu:0": 4.0, "dram:0": 0.0}


def test_a_dram_zone_alone_at_zero_is_a_reading(fake_powercap, manual_clock):
    clock = manual_clock()
    cap = fake_powercap(psys=False)
    with EnergyMonitor(gpus=[], cpu="rapl", proc_root=False) as monitor:
        snaps = [monitor.snapshot()]
        for _ in range(10):
            cap.add("cpu:0", 1.0)
            clock.advance(1.0)
            snaps.append(monitor.snapshot())
        windows = [monitor.measure(a, b) for a, b in itertools.pairwise(snaps)]
    assert not any(m.frozen for m in windows)
    assert [m.by_device for m in windows] == [{"cpu:0": 1.0, "dram:0": 0.0}] * 10
