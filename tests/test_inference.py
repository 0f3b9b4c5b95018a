"""The inference benchmark on its own: repeats, median/IQR, inference mode, reduction."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

from ecopt_lightning import EnergyMonitor, Measurement
from ecopt_lightning import metrics as ecopt_metrics
from ecopt_lightning.inference import _quartiles, batch_samples, measure_inference
from ecopt_lightning.intervals import Runs, median_interval, precision_reached, repeats_interval, runs_test
from tests.callback.models import loader
from tests.doubles.clock import ManualClock
from tests.doubles.noisy_meter import ScriptedMeter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class ScriptedMonitor(EnergyMonitor):
    """Each snapshot adds the next scripted number of joules on one estimated domain."""

    def __init__(self, increments: list[float]) -> None:
        super().__init__(gpus=[], cpu="estimate")
        self.increments, self.energy, self.t = list(increments), 0.0, 0.0

    def snapshot(self, sync=None):
        from ecopt_lightning import Snapshot

        self.energy += self.increments.pop(0)
        self.t += 1.0
        return Snapshot(self.t, {"cpu:0": self.energy})


class FailingMonitor(ScriptedMonitor):
    """A :class:`ScriptedMonitor` whose snapshots number ``failed`` (0-based) cannot read ``cpu:0``."""

    def __init__(self, increments: list[float], failed: set[int]) -> None:
        super().__init__(increments)
        self.failed, self.reads = failed, 0

    def snapshot(self, sync=None):
        from ecopt_lightning import Snapshot

        snap = super().snapshot(sync)
        self.reads += 1
        if self.reads - 1 in self.failed:
            return Snapshot(snap.t, {}, {"cpu:0": "read failed"})
        return snap


def test_a_repeat_whose_reading_failed_is_left_out_not_counted_as_zero():
    """Regression (measurement audit, 2026-11-29): a repeat whose window lost a domain (its reading failed) was
    taken at the energy of the other domains, 0 J with that domain alone: one failed read at the end of the second
    of three repeats made two of them 0 J, and the median energy per sample 0.0 J, a sweep's best trial."""
    # start, warm-up, then 32 J per repeat of 32 samples; read 3 (the 2nd repeat's end) fails
    monitor = FailingMonitor([0.0, 100.0, *[32.0] * 5], failed={3})
    r = measure_inference(
        torch.nn.Linear(16, 2), loader(32, 8), repeats=3, rel_precision=None, min_window_s=0, monitor=monitor
    )
    assert r.per_repeat_J == [1.0, 1.0, 1.0] and r.per_sample_J == 1.0
    assert r.invalid_repeats == 2 and r.to_dict()["invalid_repeats"] == 2
    assert r.measurement.invalid == {"cpu:0": "read failed"}


def test_when_every_repeat_fails_to_read_it_is_an_error_not_zero():
    monitor = FailingMonitor([0.0, 100.0, *[32.0] * 4], failed={2, 3, 4, 5})
    with pytest.raises(ValueError, match=r"^inference energy not measured: a reading failed in all 4 repeats \(cpu:0"):
        measure_inference(
            torch.nn.Linear(16, 2), loader(32, 8), repeats=2, rel_precision=None, max_repeats=4, min_window_s=0,
            monitor=monitor,
        )  # fmt: skip


def test_a_domain_failing_before_the_repeats_is_absent_from_all_of_them_alike():
    """A GPU lost before the benchmark (during training) reads in none of its windows: the repeats are comparable,
    measured on the other domains (the summary's measurement_faults names the GPU), not left out."""

    class GpuLostEarly(ScriptedMonitor):
        def __init__(self, increments: list[float]) -> None:
            super().__init__(increments)
            self.sources["gpu:0"], self._period["gpu:0"] = "nvml_counter", 0.1

        def snapshot(self, sync=None):
            from ecopt_lightning import Snapshot

            snap = super().snapshot(sync)
            return Snapshot(snap.t, snap.energy_J, {"gpu:0": "NVML energy read failed"})

    r = measure_inference(
        torch.nn.Linear(16, 2), loader(32, 8), repeats=3, rel_precision=None, min_window_s=0,
        monitor=GpuLostEarly([0.0, 100.0, *[32.0] * 3]),
    )  # fmt: skip
    assert r.per_repeat_J == [1.0, 1.0, 1.0] and r.invalid_repeats == 0
    assert r.measurement.invalid == {"gpu:0": "NVML energy read failed"}


def test_median_and_iqr_over_repeats_warmup_excluded():
    # start, after warm-up (+100 J, not a repeat), then 4 repeats of 32 samples
    monitor = ScriptedMonitor([0.0, 100.0, 32.0, 64.0, 96.0, 320.0])
    r = measure_inference(
        torch.nn.Linear(16, 2), loader(32, 8), repeats=4, rel_precision=None, min_window_s=0, monitor=monitor
    )
    assert r.per_repeat_J == [1.0, 2.0, 3.0, 10.0]
    assert r.per_sample_J == 2.5 and r.iqr_J == pytest.approx(_quartiles([1, 2, 3, 10])[2] - 1.75)
    assert r.samples == 32 and r.samples_per_J == pytest.approx(0.4)
    assert r.measurement.energy_J == pytest.approx(100 + 32 + 64 + 96 + 320)
    assert isinstance(r.measurement, Measurement) and r.source == "estimate"
    assert r.repeats == 4 and r.interval_J is None and not r.converged and r.stop_reason == "fixed repeats"


def test_a_continued_measurement_counts_the_prior_repeats_and_only_its_own_energy():
    """A multi-fidelity rung's short measurement (2 repeats) continued to 4: the prior repeats are the first two
    of the result, its median is over all four, and the energy and samples are this call's (warm-up included):
    the prior's were counted when it ran."""
    first = measure_inference(
        torch.nn.Linear(16, 2),
        loader(32, 8),
        repeats=2,
        rel_precision=None,
        min_window_s=0,
        monitor=ScriptedMonitor([0.0, 100.0, 32.0, 64.0]),
    )
    assert first.per_repeat_J == [1.0, 2.0]
    more = measure_inference(
        torch.nn.Linear(16, 2),
        loader(32, 8),
        repeats=4,
        rel_precision=None,
        min_window_s=0,
        monitor=ScriptedMonitor([0.0, 50.0, 96.0, 320.0]),
        prior=first,
    )
    assert more.per_repeat_J == [1.0, 2.0, 3.0, 10.0] and more.per_sample_J == 2.5 and more.repeats == 4
    assert more.measurement.energy_J == pytest.approx(50 + 96 + 320) and more.samples_total == 64
    assert more.batches_per_repeat == first.batches_per_repeat


def _noisy_benchmark(meter: ScriptedMeter, **kwargs):
    monitor = EnergyMonitor(meters=[meter])
    return measure_inference(
        torch.nn.Linear(16, 2), loader(32, 8), warmup_batches=0, min_window_s=0, monitor=monitor, **kwargs
    )


def test_a_quiet_meter_converges_at_the_first_repeat_with_a_95_percent_interval():
    r = _noisy_benchmark(ScriptedMeter.quiet(joules=3.2), max_repeats=12, max_seconds=None)
    assert r.repeats == 6 and r.converged and r.stop_reason == "converged"
    assert r.per_sample_J == pytest.approx(0.1) and r.interval_J == pytest.approx((0.1, 0.1))
    assert r.metrics()["energy/inference_converged"] == 1.0 and r.metrics()["energy/inference_repeats"] == 6


def test_a_noisy_meter_repeats_more_and_reports_not_converged_at_the_cap():
    r = _noisy_benchmark(ScriptedMeter.noisy(seed=3), max_repeats=12, max_seconds=None)
    assert r.repeats == 12 and not r.converged and r.stop_reason == "max_repeats"
    lo, hi = r.interval_J
    assert lo <= r.per_sample_J <= hi and r.rel_halfwidth > 0.05
    assert (lo, hi) == median_interval(r.per_repeat_J)  # the reported interval is the stopping rule's
    d = r.to_dict()
    assert d["converged"] is False and d["repeats"] == 12 and d["interval_J"] == [lo, hi]
    m = r.metrics()
    assert m["energy/inference_per_sample_J_ci_lo"] == lo and m["energy/inference_per_sample_J_ci_hi"] == hi
    assert m["energy/inference_converged"] == 0.0


def test_each_repeat_runs_whole_batches_until_its_window_reaches_the_floor():
    # the monitor's clock moves 1 s per snapshot: every window is 1 s, under a 1.5 s floor, so later repeats
    # get more batches (never a sleep), and the short windows are counted
    monitor = ScriptedMonitor([0.0, 0.0] + [8.0] * 6)
    r = measure_inference(
        torch.nn.Linear(16, 2), loader(32, 8), warmup_batches=0, repeats=3, rel_precision=None,
        min_window_s=1.5, monitor=monitor,
    )  # fmt: skip
    assert r.short_windows == 3 and r.min_window_s == 1.5
    assert r.batches_per_repeat > 4  # one pass is 4 batches


class CountingLoader:
    """Batches of 8 x 16 floats (512 bytes each); counts how often it is iterated and how many batches it gave."""

    def __init__(self, batches: int) -> None:
        self.batches, self.iterations, self.given = batches, 0, 0

    def __iter__(self):
        self.iterations += 1
        for _ in range(self.batches):
            self.given += 1
            yield (torch.randn(8, 16),)


def test_the_dataloader_is_read_once_and_the_windows_reuse_its_batches_on_the_device():
    # found on an H200: batches loaded inside the windows made J per sample the GPU's idle power while FakeData
    # loaded (0.105 J, +-14% after 30 s); the windows now run on batches read once, before the first one
    seen: list[int] = []

    def forward(module, batch, i):
        seen.append(id(batch[0]))
        return module(batch[0])

    data = CountingLoader(batches=4)
    r = measure_inference(
        torch.nn.Linear(16, 2), data, warmup_batches=2, repeats=3, rel_precision=None, min_window_s=0,
        max_batches=3, forward_fn=forward, monitor=ScriptedMonitor([0.0] * 5),
    )  # fmt: skip
    assert data.iterations == 1 and data.given == 3  # max_batches of them, once
    assert r.repeats == 3 and len(set(seen)) == 3 and len(seen) == 2 + 3 * 3  # warm-up + 3 passes of 3
    # cache_bytes bounds what stays on the device: 1100 bytes hold two 512-byte batches, 0 still keeps one
    for cache_bytes, per_pass in ((1100, 2), (0, 1)):
        data = CountingLoader(batches=4)
        r = measure_inference(
            torch.nn.Linear(16, 2), data, warmup_batches=0, repeats=2, rel_precision=None, min_window_s=0,
            cache_bytes=cache_bytes, monitor=ScriptedMonitor([0.0] * 4),
        )  # fmt: skip
        assert data.iterations == 1 and r.batches_per_repeat == per_pass
    with pytest.raises(ValueError, match=r"cache_bytes=-1 is not allowed"):
        measure_inference(torch.nn.Linear(16, 2), loader(16, 8), cache_bytes=-1, monitor=ScriptedMonitor([0.0]))
    with pytest.raises(ValueError, match="no samples"):
        measure_inference(torch.nn.Linear(16, 2), [], monitor=ScriptedMonitor([0.0]))


def test_the_warm_up_lasts_warmup_s_and_at_least_warmup_batches():
    # the first window after too short a warm-up reads high (cold caches; on a GPU, clocks still ramping up from
    # idle): the warm-up runs until warmup_s has passed on the monitor's clock. A manual clock moves 0.25 s per
    # read, so the count of warm-up batches is exact, whatever the machine's speed.
    def warmup_count(**kwargs) -> int:
        calls = []
        monitor = EnergyMonitor(gpus=[], cpu="estimate", clock=ManualClock(tick=0.25))
        measure_inference(
            torch.nn.Linear(16, 2), loader(32, 8), repeats=1, rel_precision=None, min_window_s=0, monitor=monitor,
            forward_fn=lambda m, b, i: calls.append(i) or m(b[0]), **kwargs,
        )  # fmt: skip
        return len(calls) - 4  # the one repeat is one pass of 4 batches

    assert warmup_count(warmup_batches=2, warmup_s=0) == 2
    # the start snapshot reads 1000.0, the deadline 1000.25 + 1.0; from batch 2 on each batch reads the clock
    assert warmup_count(warmup_batches=2, warmup_s=1.0) == 5  # 1000.5, 1000.75, 1001.0, then 1001.25: done
    assert warmup_count(warmup_batches=0, warmup_s=1.0) == 0  # no warm-up asked for
    with pytest.raises(ValueError, match=r"warmup_s=-1 is not allowed"):
        warmup_count(warmup_s=-1)


def test_the_interval_of_the_median_is_the_order_statistic_one():
    assert median_interval([float(v) for v in range(1, 6)]) is None  # 5 values: 93.75% < 95%
    assert median_interval([3.0, 1.0, 2.0, 6.0, 5.0, 4.0]) == (1.0, 6.0)
    # n = 20: P(B <= 5) = 0.0207 -> (x_(6), x_(15)) covers 95.9%; (x_(7), x_(14)) only 88.5%
    assert median_interval([float(v) for v in range(1, 21)]) == (6.0, 15.0)
    assert precision_reached(1.0, (0.95, 1.05), 0.05) and not precision_reached(1.0, (0.9, 1.0), 0.05)


def test_runs_in_inference_mode_in_eval_and_restores_mode():
    seen = []
    model = torch.nn.Sequential(torch.nn.Linear(16, 2), torch.nn.Dropout(0.5))
    model.train()

    def forward(module, batch, i):
        seen.append((torch.is_inference_mode_enabled(), module.training))
        return module(batch[0])

    measure_inference(
        model, loader(16, 8), warmup_batches=1, repeats=2, max_batches=1, forward_fn=forward,
        monitor=EnergyMonitor(gpus=[], cpu="estimate"), rel_precision=None, min_window_s=0,
    )  # fmt: skip
    assert seen == [(True, False)] * 3  # 1 warm-up + 2 repeats x 1 batch
    assert model.training


def test_reduce_combines_ranks_and_bad_arguments_fail():
    monitor = EnergyMonitor(gpus=[], cpu="estimate")

    def two_ranks(values):
        return {"energy_J": 2 * values["energy_J"], "seconds": values["seconds"], "samples": 2 * values["samples"]}

    r = measure_inference(
        torch.nn.Linear(16, 2), loader(16, 8), repeats=2, rel_precision=None, min_window_s=0, monitor=monitor,
        reduce=two_ranks,
    )  # fmt: skip
    assert r.samples == 32
    with pytest.raises(ValueError, match="repeats"):
        measure_inference(torch.nn.Linear(16, 2), loader(16, 8), repeats=0, monitor=monitor)
    with pytest.raises(ValueError, match=r"rel_precision=1\.5"):
        measure_inference(torch.nn.Linear(16, 2), loader(16, 8), rel_precision=1.5, monitor=monitor)
    with pytest.raises(ValueError, match="max_repeats=3"):
        measure_inference(torch.nn.Linear(16, 2), loader(16, 8), max_repeats=3, monitor=monitor)
    assert batch_samples({"x": torch.zeros(5, 2)}) == 5 and batch_samples([1, 2], lambda b: 7) == 7


def test_a_real_trainer_run_reports_repeats_the_interval_and_convergence(tmp_path):
    import json

    from ecopt_lightning import EnergyCallback
    from tests.callback.helpers import make_trainer
    from tests.callback.models import TinyModel

    benchmark = {"repeats": 6, "max_repeats": 8, "max_seconds": None, "min_window_s": 0.05}
    cb = EnergyCallback(inference_benchmark=benchmark, proxies=False)
    trainer = make_trainer(tmp_path, [cb], loggers=False)
    trainer.fit(TinyModel())
    m = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert 6 <= m["energy/inference_repeats"] <= 8
    assert m["energy/inference_converged"] in (0.0, 1.0)
    lo, mid, hi = (m[f"energy/inference_per_sample_J{s}"] for s in ("_ci_lo", "", "_ci_hi"))
    assert 0 < lo <= mid <= hi
    s = json.loads((tmp_path / "energy_summary.json").read_text())["inference"]
    assert s["repeats"] == m["energy/inference_repeats"] and s["interval_J"] == [lo, hi]
    assert s["converged"] == (m["energy/inference_converged"] == 1.0)
    assert s["stop_reason"] == ("converged" if s["converged"] else "max_repeats")
    assert s["threads"] == 1  # InferenceBenchmark.threads' default, recorded with the result
    assert s["min_window_s"] == 0.05 and s["rel_precision"] == 0.05


def test_the_benchmark_after_fit_runs_the_model_on_the_trainers_device_not_where_teardown_parked_it(tmp_path):
    # found on an H200: Lightning's teardown moves the module to the CPU before on_fit_end, and the benchmark
    # measured a CPU forward pass against the idle GPU's counter (0.11 J per sample). Here teardown's `cpu()`
    # parks the module, and only a move back to the trainer's root device un-parks it.
    from ecopt_lightning import EnergyCallback
    from tests.callback.helpers import make_trainer
    from tests.callback.models import TinyModel

    class Parked(TinyModel):
        parked = False

        def __init__(self) -> None:
            super().__init__()
            self.seen_parked: list[bool] = []

        def cpu(self):
            self.parked = True
            return super().cpu()

        def to(self, *args, **kwargs):
            self.parked = False
            return super().to(*args, **kwargs)

    def forward(module, batch, i):
        module.seen_parked.append(module.parked)
        return module(batch[0])

    benchmark = {"repeats": 2, "rel_precision": None, "min_window_s": 0, "forward_fn": forward}
    model = Parked()
    trainer = make_trainer(tmp_path, [EnergyCallback(inference_benchmark=benchmark, proxies=False)], loggers=False)
    trainer.fit(model)
    assert model.seen_parked and not any(model.seen_parked)
    assert model.device == torch.device("cpu")  # where teardown left it, afterwards


def test_the_benchmark_runs_on_its_threads_says_so_and_puts_the_process_setting_back(caplog):
    import logging

    from ecopt_lightning.inference import InferenceBenchmark, benchmark_threads

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with caplog.at_level(logging.INFO, logger="ecopt_lightning"):
            with benchmark_threads(InferenceBenchmark().threads):
                r = measure_inference(
                    torch.nn.Linear(16, 2), loader(16, 8), repeats=2, rel_precision=None, min_window_s=0,
                    monitor=EnergyMonitor(gpus=[], cpu="estimate"),
                )  # fmt: skip
            assert torch.get_num_threads() == 3 and r.threads == 1 and r.to_dict()["threads"] == 1
            with benchmark_threads(None):  # None: the process's own setting
                assert torch.get_num_threads() == 3
        said = [rec.getMessage() for rec in caplog.records if "torch thread" in rec.getMessage()]
        assert said == ["ecopt: the inference benchmark runs on 1 torch thread(s), the process on 3 "
                        "(InferenceBenchmark.threads; None keeps the process's setting)"]  # fmt: skip
    finally:
        torch.set_num_threads(before)
    for bad in (0, 1.5, "2"):
        with pytest.raises(ValueError, match=f"threads={bad!r} is not allowed: an int >= 1, or None"):
            InferenceBenchmark(threads=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("foreign_per_batch", [0, 40])
def test_a_fake_proc_load_flags_the_benchmark_contended(tmp_path, foreign_per_batch):
    import os

    from tests.doubles.fake_proc import FakeProc

    hz = os.sysconf("SC_CLK_TCK")
    proc = FakeProc(tmp_path / "proc", cores=torch.get_num_threads() + 1)
    clock = ManualClock(tick=1.0)  # 1 s per read: every window between two snapshots is exactly 1 s
    monitor = EnergyMonitor(meters=[ScriptedMeter.quiet()], proc_root=proc.root, clock=clock)

    def forward(module, batch, i):  # each batch: this process 10 ticks, other processes foreign_per_batch
        proc.run(own=hz // 10, foreign=foreign_per_batch * hz // 100)
        return module(batch[0])

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        r = measure_inference(
            torch.nn.Linear(16, 2), loader(32, 8), warmup_batches=0, repeats=6, rel_precision=None, min_window_s=0,
            monitor=monitor, forward_fn=forward,
        )  # fmt: skip
    remedy = [w for w in said if "contended" in str(w.message) and "OMP_NUM_THREADS" in str(w.message)]
    assert len(remedy) == (1 if foreign_per_batch else 0)  # the remedy, said once for 6 contended windows
    c = r.contention
    assert c is not None and c.seconds == 6.0
    assert c.own_cores == pytest.approx(0.4)  # 4 batches x 0.1 s of CPU per 1 s window
    assert c.foreign_cores == pytest.approx(4 * foreign_per_batch / 100)
    assert r.contended is (foreign_per_batch > 0) and r.contended_repeats == (6 if foreign_per_batch else 0)
    assert r.metrics()["energy/inference_contended"] == float(r.contended)
    assert r.to_dict()["contention"]["foreign_cores"] == pytest.approx(c.foreign_cores)


def test_with_nothing_measured_the_benchmark_stops_at_its_repeats():
    """H6's audit: with no meter (cpu=False, no GPU) every repeat reads 0 J, so the precision target could never
    be reached and the benchmark ran all max_repeats (50). It now stops at its minimum repeats, saying why."""
    r = measure_inference(
        torch.nn.Linear(16, 2), loader(16, 8), repeats=3, rel_precision=0.05, max_repeats=50, min_window_s=0,
        monitor=EnergyMonitor(gpus=[], cpu=False),
    )  # fmt: skip
    assert (r.repeats, r.stop_reason, r.converged) == (3, "nothing measured", False)


def test_with_nothing_measured_the_efficiency_is_unknown_not_infinite_and_the_result_is_strict_json():
    """Regression (energy audit, 2026-11-29): samples_per_J was 1 / 0 J = inf, written to energy_summary.json as
    ``Infinity``, which is not JSON (strict parsers refuse the file) and claims an infinite efficiency."""
    r = measure_inference(
        torch.nn.Linear(16, 2), loader(16, 8), repeats=2, rel_precision=None, min_window_s=0,
        monitor=EnergyMonitor(gpus=[], cpu=False),
    )  # fmt: skip
    assert math.isnan(r.per_sample_J) and math.isnan(r.samples_per_J)
    # and says so with a fixed number of repeats too (artifacts audit, 2026-11-29: it said 'fixed repeats')
    assert r.stop_reason == "nothing measured"
    entry = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert entry["samples_per_J"] is None


def test_a_counter_that_never_moves_gives_no_value_not_0_j_per_sample(fake_powercap, manual_clock):
    """Regression (stop 37's artifacts audit): a meter that is there but reads 0 J in every window (RAPL files whose
    counter never moves, as some VMs expose them) gave 0.0 J per sample, which a sweep ranks as the cheapest model
    of all; a step or epoch that measured nothing is not logged either. Now: no value, and the reason. The manual
    clock moves 1 s a read: the monitor also finds the counters frozen (monitor.py), as it would over real time."""
    manual_clock(tick=1.0)
    fake_powercap(psys=False)  # never advanced
    monitor = EnergyMonitor(gpus=[])
    try:
        assert set(monitor.sources.values()) == {"rapl"}
        r = measure_inference(torch.nn.Linear(16, 2), loader(16, 8), repeats=3, rel_precision=0.05, monitor=monitor)
    finally:
        monitor.close()
    assert (r.repeats, r.stop_reason, r.converged) == (3, "nothing measured", False)
    assert math.isnan(r.per_sample_J) and math.isnan(r.iqr_J) and r.interval_J is None
    metrics = r.metrics()
    assert all(math.isnan(metrics[name]) for name in ecopt_metrics.INFERENCE_ENERGY_METRICS)
    entry = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert entry["per_sample_J"] is None and entry["iqr_J"] is None and entry["source"] == "rapl"


#: J per inference sample (mJ) of one benchmark's 26 repeats, in the order measured: a small CNN of the smoke sweep
#: of examples/cifar10 on an NVIDIA H200 (nvml_counter, 1 s windows, 2026-11-29; benchmarks/results/gpu/README.md).
#: Launch-bound, the GPU's J per sample held a level for 3-7 s and moved by up to 80% between levels.
H200_REPEATS_MJ = [
    1.5640626, 1.5632537, 1.5594276, 1.7004914, 1.71535, 1.6986555, 1.3156318, 1.2437408, 1.2732378, 1.2635748,
    1.3364117, 1.2835407, 1.1994996, 1.3742311, 1.1951774, 1.7778704, 1.7810427, 1.8795344, 1.7791478, 1.7748428,
    1.7027296, 1.1110284, 1.0290027, 1.0654686, 1.1439876, 1.0625297,
]  # fmt: skip


def test_repeats_that_shifted_in_level_on_a_gpu_get_their_range_not_an_interval_that_assumes_independence():
    interval, runs = repeats_interval(H200_REPEATS_MJ)
    # the order-statistic interval (x_(8), x_(19)) as the H200 run reported it, [1.244, 1.700], leaves out the
    # levels the GPU spent 11 of 26 repeats at; 6 runs about the median where independent repeats give 14
    assert median_interval(H200_REPEATS_MJ) == (1.2437408, 1.7004914)
    assert (
        runs is not None
        and runs.level_shifts
        and (runs.runs, round(runs.expected)) == (6, 14)
        and round(runs.p, 4) == 0.001
    )
    assert interval == (min(H200_REPEATS_MJ), max(H200_REPEATS_MJ))
    # the same values in an order without stretches: independent as far as the test can tell, the usual interval
    alternating = [
        v for pair in zip(sorted(H200_REPEATS_MJ)[:13], sorted(H200_REPEATS_MJ)[13:], strict=True) for v in pair
    ]
    interval, runs = repeats_interval(alternating)
    assert runs is not None and not runs.level_shifts and interval == median_interval(alternating)


def _stretches(n: int) -> float:
    """Joules of read n: stretches of 6 reads at 1.0 and at 1.5 J, each read a little off its level."""
    return (1.0 if (n // 6) % 2 == 0 else 1.5) * (1 + 0.01 * ((n * 7) % 5 - 2))


def test_a_benchmark_whose_repeats_shift_in_level_says_so_in_its_result_warning_and_the_trials_reasons(tmp_path):
    from ecopt_lightning import EnergyCallback
    from ecopt_lightning.sweeper._jobinfo import read_job
    from tests.callback.helpers import make_trainer, read_summary
    from tests.callback.models import TinyModel

    benchmark = {"repeats": 6, "max_repeats": 24, "max_seconds": None, "min_window_s": 0.0}
    with EnergyMonitor(meters=[ScriptedMeter(_stretches)], proc_root=False) as monitor:
        cb = EnergyCallback(monitor=monitor, inference_benchmark=benchmark, proxies=False)
        with pytest.warns(UserWarning, match="shifted in level") as caught:
            make_trainer(tmp_path, [cb], loggers=False, limit_val_batches=2).fit(TinyModel())
    d = read_summary(tmp_path / "energy_summary.json")["inference"]
    assert d["level_shifts"] is True and d["converged"] is False and d["runs_test"]["p"] < 0.01
    assert d["interval_J"] == [min(d["per_repeat_J"]), max(d["per_repeat_J"])]
    # stopped as soon as the shift showed: the range, 1.0 to 1.5 J a read, only widens with more repeats
    assert d["stop_reason"] == "level shifts" and 10 <= d["repeats"] < 24
    assert (
        Runs.from_dict(d["runs_test"]) == runs_test(d["per_repeat_J"]) and runs_test(d["per_repeat_J"][:-1]).p >= 0.01
    )
    runs = Runs(**d["runs_test"])
    (line,) = [str(w.message) for w in caught if "known only to" in str(w.message)]
    assert runs.describe() and runs.describe() in line and "more repeats cannot narrow a range" in line
    assert "raise max_seconds" not in line  # they stopped because more would not help
    (reason,) = [r for r in read_job(str(tmp_path)).degraded if r.startswith("imprecise")]
    assert reason.startswith("imprecise: inference energy per sample known to +-") and reason.endswith(
        f"; {runs.describe()}"
    )


def test_measuring_a_plain_torch_model_does_not_import_lightning():
    """Regression: measure_inference on a plain torch model imported Lightning (about 5 s) to move and count its
    batches and to look for a ``predict_step``."""
    import subprocess
    import sys

    code = """
import sys, torch
from ecopt_lightning import EnergyMonitor
from ecopt_lightning.inference import measure_inference
class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
    def forward(self, batch):
        return self.lin(batch["x"])
data = [{"x": torch.zeros(8, 4)}, {"x": torch.zeros(8, 4)}]
r = measure_inference(Model(), data, warmup_batches=1, repeats=2, rel_precision=None, min_window_s=0,
                      monitor=EnergyMonitor(gpus=[], cpu="estimate"))
print(r.samples, r.repeats, sorted(m for m in sys.modules if m.split(".")[0] in ("lightning", "pytorch_lightning")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["16", "2", "[]"], out.stdout + out.stderr


def test_cached_batches_move_anything_with_a_to_method_and_keep_the_rest():
    from ecopt_lightning.inference import cache_batches

    class Graph:  # a batch object with its own ``to`` (a graph library's, say)
        def __init__(self, device=None):
            self.device = device

        def to(self, device):
            return Graph(device)

    class InPlace:  # a ``to`` that moves in place and returns None
        device = None

        def to(self, device):
            self.device = device

    batch = {"graph": Graph(), "in_place": InPlace(), "y": [torch.zeros(3)], "name": "a"}
    (cached,) = cache_batches([batch], torch.device("meta"), None, 1 << 20)
    assert cached["graph"].device == torch.device("meta") and cached["in_place"].device == torch.device("meta")
    assert cached["y"][0].device == torch.device("meta") and cached["name"] == "a"
