"""Contention from /proc: the figures and the verdict, on a fake /proc tree and on hand-made samples."""

from __future__ import annotations

from ecopt_lightning.energy.contention import Contention, ProcSample
from tests.doubles.fake_proc import FakeProc


def sample(busy: int, own: int, threads: int = 4, cores: int = 4) -> ProcSample:
    return ProcSample(system_busy=busy, system_total=10_000, own=own, threads=threads, cores=cores, hz=100)


def test_foreign_load_is_system_busy_time_minus_this_process():
    c = Contention.between(sample(0, 0), sample(300, 100), seconds=2.0, compute_threads=1)
    assert (c.foreign_cores, c.own_cores, c.free_cores) == (1.0, 0.5, 3.0)
    assert c.contended and not c.oversubscribed


def test_a_quiet_window_is_not_contended_and_a_short_one_is_not_judged():
    quiet = Contention.between(sample(0, 0), sample(140, 100), seconds=2.0, compute_threads=1)
    assert quiet.foreign_cores == 0.2 and not quiet.contended
    short = Contention.between(sample(0, 0), sample(20, 0), seconds=0.05, compute_threads=1)  # 5 ticks
    assert short.foreign_cores == 4.0 and not short.judged and not short.contended


def test_more_compute_threads_than_free_cores_is_contended_and_says_spin():
    c = Contention.between(sample(0, 0), sample(80, 0), seconds=2.0, compute_threads=4)  # 0.4 foreign cores
    assert c.foreign_cores < 0.5 and c.oversubscribed and c.contended
    assert "spin" in c.describe()


def test_windows_add_up_and_the_fake_tree_is_read_as_the_real_one(tmp_path):
    proc = FakeProc(tmp_path, cores=2, threads=7)
    a = ProcSample.read(tmp_path)
    proc.run(own=30, foreign=50, idle=120)
    b = ProcSample.read(tmp_path)
    assert a is not None and b is not None and (b.cores, b.threads) == (2, 7)
    c = Contention.between(a, b, seconds=1.0, compute_threads=1) + Contention.between(b, b, 1.0, 1)
    assert c.seconds == 2.0 and c.foreign_ticks == 50 and c.own_ticks == 30
    assert ProcSample.read(tmp_path / "missing") is None
