"""EnergyMonitor's CPU paths: RAPL through a fake powercap tree, and the labelled estimate."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pytest

from ecopt_lightning import EnergyMonitor, EnergyWarning, Measurement
from ecopt_lightning.energy.estimate import CpuTimeEstimate, watts_per_core
from ecopt_lightning.energy.meter import Reading
from tests.doubles.fake_powercap import FakePowercap
from tests.doubles.noisy_meter import ScriptedMeter

ROOT = Path(__file__).resolve().parents[2]


def busy(seconds: float) -> None:
    """Spin until this process has used ``seconds`` of CPU time (at least as long on the wall clock): by wall
    time alone, a loaded machine gave the loop too little CPU time for the estimate's 1% comparison to mean much."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_this_machine_estimates_and_says_so():
    with pytest.warns(EnergyWarning, match="ESTIMATED, not measured: cpu:0"):
        monitor = EnergyMonitor()
    before = time.perf_counter()
    with monitor.window("busy") as w:
        busy(0.5)
    elapsed = time.perf_counter() - before
    monitor.close()
    m = w.measurement
    assert m.sources == {"cpu:0": "estimate"}
    assert m.energy_J > 0
    assert m.estimated_J == m.energy_J and m.measured_J == 0
    assert 0.5 <= m.seconds <= elapsed  # the window's ends lie inside the reads around it, at any load


def test_estimate_is_cpu_time_times_watts_per_core():
    meter = CpuTimeEstimate(watts=10.0)
    c0, e0 = time.process_time(), meter.read().energy_J["cpu:0"]
    busy(0.2)
    c1, e1 = time.process_time(), meter.read().energy_J["cpu:0"]
    assert e1 - e0 == pytest.approx((c1 - c0) * 10.0, rel=0.01)


def test_tdp_table_and_default():
    assert watts_per_core("AMD EPYC 7763 64-Core Processor")[0] == pytest.approx(280 / 64)
    watts, basis = watts_per_core("Some Unknown CPU")
    assert watts == 6.0 and basis == "the default for a CPU not in the TDP table, here 'Some Unknown CPU'"


def test_rapl_microjoules_to_joules_and_no_double_counting(fake_powercap):
    cap = fake_powercap(sockets=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EnergyWarning)  # everything measured: nothing to warn about
        monitor = EnergyMonitor(gpus=[], cpu="auto")
    assert monitor.sources == {"cpu:0": "rapl", "dram:0": "rapl", "cpu:1": "rapl", "dram:1": "rapl"}
    start = monitor.snapshot()
    cap.add("cpu:0", 10.0)
    cap.add("core:0", 7.0)  # part of package 0: must not be added again
    cap.add("uncore:0", 1.0)
    cap.add("dram:0", 2.0)
    cap.add("cpu:1", 4.5)
    cap.add("psys", 50.0)  # overlaps the packages: skipped
    m = monitor.measure(start, monitor.snapshot(), "w")
    monitor.close()
    assert m.by_device == pytest.approx({"cpu:0": 10.0, "dram:0": 2.0, "cpu:1": 4.5, "dram:1": 0.0})
    assert m.energy_J == pytest.approx(16.5)


def test_rapl_wrap_around(fake_powercap):
    cap = fake_powercap(max_uj=1_000_000, psys=False)  # wraps every 1 J
    cap.set_raw("cpu:0", 900_000)
    monitor = EnergyMonitor(gpus=[], cpu="rapl")
    start = monitor.snapshot()
    cap.add("cpu:0", 0.3)
    assert cap.raw("cpu:0") == 200_000
    mid = monitor.snapshot()
    cap.add("cpu:0", 0.9)
    end = monitor.snapshot()
    monitor.close()
    assert monitor.measure(start, mid).by_device["cpu:0"] == pytest.approx(0.3)
    assert monitor.measure(start, end).by_device["cpu:0"] == pytest.approx(1.2)


def test_rapl_permission_denied_falls_back_to_labelled_estimate():
    """When we are root, the child drops to an unprivileged user after its imports, so the kernel really
    refuses the read."""
    root = Path(tempfile.mkdtemp(prefix="ecopt-powercap-"))
    try:
        os.chmod(root, 0o755)
        cap = FakePowercap(root / "powercap")
        for path in cap.root.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o444)
        for f in cap.energy_files():
            os.chmod(f, 0o400)  # root-only, as since CVE-2020-8694
        code = (
            "import json, warnings\n"
            "warnings.simplefilter('always')\n"
            "import os\n"
            "from ecopt_lightning import EnergyMonitor\n"
            "if os.geteuid() == 0:\n"
            "    os.setgid(65534); os.setuid(65534)\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    m = EnergyMonitor(gpus=[], cpu='auto')\n"
            "print(json.dumps({'sources': m.sources, 'warnings': [str(w.message) for w in caught]}))\n"
        )
        env = {**os.environ, "ECOPT_POWERCAP_ROOT": str(cap.root), "HOME": str(root)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    assert result["sources"] == {"cpu:0": "estimate"}
    said = " ".join(result["warnings"])
    assert "CVE-2020-8694" in said and "chmod" in said
    assert "ESTIMATED" in said


def test_cpu_rapl_required_but_absent_is_a_clear_error():
    with pytest.raises(ValueError, match="cpu='rapl' is not possible here: no RAPL zones"):
        EnergyMonitor(gpus=[], cpu="rapl")


def test_nested_and_overlapping_windows(fake_powercap):
    cap = fake_powercap(psys=False)
    monitor = EnergyMonitor(gpus=[], cpu="rapl")
    monitor.begin("outer")
    cap.add("cpu:0", 1.0)
    with monitor.window("inner") as inner:
        cap.add("cpu:0", 2.0)
        monitor.begin("overlap")
        cap.add("cpu:0", 4.0)
    cap.add("cpu:0", 8.0)
    overlap = monitor.end("overlap")
    outer = monitor.end("outer")
    monitor.close()
    assert inner.measurement.by_device["cpu:0"] == pytest.approx(6.0)
    assert overlap.by_device["cpu:0"] == pytest.approx(12.0)
    assert outer.by_device["cpu:0"] == pytest.approx(15.0)
    assert outer.seconds >= inner.measurement.seconds


def test_windows_telescope_exactly():
    monitor = EnergyMonitor(gpus=[], cpu="estimate")
    snaps = [monitor.snapshot()]
    for _ in range(20):
        busy(0.005)
        snaps.append(monitor.snapshot())
    parts = [monitor.measure(a, b) for a, b in itertools.pairwise(snaps)]
    total = sum(parts[1:], parts[0])
    whole = monitor.measure(snaps[0], snaps[-1])
    assert total.energy_J == pytest.approx(whole.energy_J, rel=1e-12)
    assert total.seconds == pytest.approx(whole.seconds, rel=1e-9)


def test_window_misuse_gives_clear_errors():
    monitor = EnergyMonitor(gpus=[], cpu="estimate")
    monitor.begin("a")
    with pytest.raises(ValueError, match="window 'a' is already open"):
        monitor.begin("a")
    with pytest.raises(ValueError, match=r"window 'b' is not open \(open windows: \['a'\]\)"):
        monitor.end("b")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gpus": "all"}, "gpus='all' is not allowed"),
        ({"gpus": [0, -1]}, "integers >= 0"),
        ({"gpus": [0, 0]}, "listed once"),
        ({"cpu": "yes"}, "cpu='yes' is not allowed"),
        ({"cpu_watts_per_core": 0.0}, "cpu_watts_per_core=0.0 is not allowed"),
        ({"keepalive_s": -1}, "keepalive_s=-1 is not allowed"),
        # regressions (callback audit, 2026-11-28): raw TypeErrors, or accepted and ignored
        ({"gpus": 5}, "gpus=5 is not allowed"),
        ({"gpus": None}, "gpus=None is not allowed"),
        ({"keepalive_s": "30"}, "keepalive_s='30' is not allowed"),
        ({"poll_period_s": 0}, "poll_period_s=0 is not allowed"),
        ({"cpu_watts_per_core": "6"}, "cpu_watts_per_core='6' is not allowed"),
        ({"sync": "no"}, "sync='no' is not allowed"),
        ({"clock": 5}, "clock=5 is not allowed"),
        ({"meters": [1]}, r"meters=\[1, ...\] is not allowed"),
        # regressions (energy audit, 2026-11-29): a folder given by hand that does not exist was ignored without a
        # word: the CPU then estimated, or no window judged contention
        ({"rapl_root": "/no/such/powercap"}, r"rapl_root='/no/such/powercap' is not allowed: no such folder"),
        ({"proc_root": "/no/such/proc"}, r"proc_root='/no/such/proc' is not allowed: it has no readable stat file"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        EnergyMonitor(**{"cpu": "estimate", **kwargs})
    assert "\n" not in str(info.value)


def test_measurement_dict_and_sum_keep_sources():
    a = Measurement("a", 1.0, {"cpu:0": 2.0}, {"cpu:0": "rapl"})
    b = Measurement("b", 3.0, {"cpu:0": 1.0, "gpu:0": 4.0}, {"cpu:0": "rapl", "gpu:0": "nvml_counter"})
    s = a + b
    assert s.by_device == {"cpu:0": 3.0, "gpu:0": 4.0}
    assert s.source == "mixed(nvml_counter,rapl)"
    d = s.to_dict()
    assert d["energy_J"] == 7.0 and d["power_W"] == pytest.approx(7.0 / 4.0)
    assert d["sources"] == {"cpu:0": "rapl", "gpu:0": "nvml_counter"}


def test_a_window_read_while_open_says_so_and_holds_its_measurement_after():
    monitor = EnergyMonitor(gpus=[], cpu="estimate")
    with monitor.window("open") as w, pytest.raises(RuntimeError, match="window 'open' is still open"):
        _ = w.measurement
    monitor.close()
    assert isinstance(w.measurement, Measurement) and w.measurement.sources == {"cpu:0": "estimate"}


def test_rapl_on_a_multi_die_cpu_counts_every_die(fake_powercap):
    """With more than one die per package the kernel names each die's zone ``package-S-die-D``: both dies of
    package 0 were read as ``cpu:0``, and the second die's reading replaced the first's."""
    cap = fake_powercap(sockets=1, dies=2, psys=False)
    monitor = EnergyMonitor(gpus=[], cpu="rapl")
    assert monitor.sources == dict.fromkeys(["cpu:0-die-0", "dram:0-die-0", "cpu:0-die-1", "dram:0-die-1"], "rapl")
    start = monitor.snapshot()
    cap.add("cpu:0-die-0", 10.0)
    cap.add("cpu:0-die-1", 4.0)
    cap.add("dram:0-die-1", 1.0)
    m = monitor.measure(start, monitor.snapshot(), "w")
    monitor.close()
    assert m.energy_J == pytest.approx(15.0)
    assert m.by_device["cpu:0-die-1"] == pytest.approx(4.0)


def test_a_closed_monitor_refuses_to_read_rather_than_miss_a_wrap(fake_powercap):
    """Regression: after close() there is no keep-alive read, so a window opened then read 1.8 J of RAPL work
    across two wraps as 0.8 J, as a measurement."""
    cap = fake_powercap(max_uj=1_000_000, psys=False)  # wraps every 1 J
    monitor = EnergyMonitor(gpus=[], cpu="rapl", keepalive_s=1e-3)
    monitor.begin("spans the close")
    monitor.close()
    monitor.close()  # idempotent
    for _ in range(3):
        cap.add("cpu:0", 0.6)
    for read in (monitor.snapshot, lambda: monitor.begin("after"), lambda: monitor.end("spans the close")):
        with pytest.raises(RuntimeError, match=r"this EnergyMonitor is closed: .* open a new EnergyMonitor") as info:
            read()
        assert "\n" not in str(info.value)
    with pytest.raises(RuntimeError, match="closed"), monitor.window("after"):
        pass


def _meter(source: str = "estimate", period: object = 0.0) -> ScriptedMeter:
    meter = ScriptedMeter(lambda n: 1.0, source=source)
    meter.update_period_s = period  # type: ignore[assignment]
    return meter


@pytest.mark.parametrize(
    ("meter", "message"),
    [
        # was counted in measured_J: any label but "estimate" read as a sensor's
        (_meter(source="estimated"), r"its source 'estimated' for 'cpu:0' is not one of nvml_counter, .*, estimate$"),
        (_meter(source="my_wattmeter"), "its source 'my_wattmeter'"),
        (_meter(period=-1.0), r"its update_period_s=-1.0 is not a finite number of seconds >= 0"),  # was accepted
        (_meter(period=None), r"its update_period_s=None"),  # a raw TypeError at the first window
    ],
)
def test_a_meter_with_an_unknown_source_label_or_update_period_is_a_one_line_error(meter, message):
    with pytest.raises(ValueError, match=message) as info:
        EnergyMonitor(meters=[meter])
    assert str(info.value).startswith("meters=[") and "\n" not in str(info.value)


def test_a_meter_labelled_with_a_known_source_and_qualifier_is_accepted():
    meter = _meter(source="nvml_counter:whole-GPU")
    with EnergyMonitor(meters=[meter], proc_root=False) as monitor, monitor.window() as w:
        pass
    assert w.measurement.measured_J == 1.0 and w.measurement.estimated_J == 0.0


class _RaisesAtRead:
    """A third-party meter that breaks the Meter contract: its ``fail_at``-th read (1-based) and later raise."""

    update_period_s = 0.0

    def __init__(self, fail_at: int) -> None:
        self.sources = {"dram:0": "rapl"}
        self.fail_at = fail_at
        self.reads = 0

    def read(self) -> Reading:
        self.reads += 1
        if self.reads >= self.fail_at:
            raise OSError("sensor bus timeout")
        return Reading({"dram:0": float(self.reads)})

    def close(self) -> None: ...


def test_a_meter_raising_mid_window_marks_its_domains_invalid_and_the_others_are_measured():
    """Regression: the exception escaped snapshot(), so a custom meter's fault crashed the user's loop (from inside
    EnergyCallback's hooks) instead of marking its domain invalid in the window."""
    faulty = _RaisesAtRead(fail_at=2)  # the window's start read works, its end read raises
    monitor = EnergyMonitor(meters=[faulty, _meter()], proc_root=False)
    with (
        pytest.warns(EnergyWarning, match="dram:0 invalid .*raised OSError: sensor bus timeout"),
        monitor.window() as w,
    ):
        pass
    monitor.close()
    assert w.measurement.by_device == {"cpu:0": 1.0}
    assert w.measurement.invalid == {"dram:0": "the meter's read raised OSError: sensor bus timeout"}


def test_a_rapl_zone_unreadable_at_start_is_reported_missing_not_dropped_silently(fake_powercap):
    """Regression: a zone whose counter failed to read at start for another reason than a permission (an I/O
    error, text that is not a number) was skipped without a word: DRAM simply vanished from the totals."""
    cap = fake_powercap(psys=False)
    (cap.paths["dram:0"] / "energy_uj").write_text("not a number\n")
    with pytest.warns(EnergyWarning, match=r"not measured at all: dram:0: its RAPL counter .*energy_uj could not"):
        monitor = EnergyMonitor(gpus=[], cpu="auto")
    monitor.close()
    assert monitor.sources == {"cpu:0": "rapl"}
    assert "ValueError" in monitor.missing["dram:0"]
    (cap.paths["cpu:0"] / "energy_uj").write_text("not a number\n")  # now no zone reads: the estimate, saying why
    with pytest.warns(EnergyWarning, match=r"ESTIMATED.*RAPL not readable: cpu:0: its RAPL counter"):
        EnergyMonitor(gpus=[], cpu="auto").close()
    with pytest.raises(ValueError, match=r"cpu='rapl' is not possible here: cpu:0: its RAPL counter .* could not"):
        EnergyMonitor(gpus=[], cpu="rapl")


class _ReadsMeetInPairs:
    """A meter whose first two reads wait for each other: two threads are then both inside a snapshot at once."""

    update_period_s = 0.0

    def __init__(self) -> None:
        self.sources = {"cpu:0": "estimate"}
        self.meet = threading.Barrier(2, timeout=60)
        self.reads = 0

    def read(self) -> Reading:
        self.reads += 1
        if self.reads <= 2:
            self.meet.wait()
        return Reading({"cpu:0": float(self.reads)})

    def close(self) -> None: ...


def test_two_threads_opening_the_same_window_at_once_get_an_error_not_one_window_lost():
    """Regression: begin() checked the name before reading the meters and stored the window after, so two threads
    opening 'step' together both passed the check, and the second silently replaced the first's start."""
    monitor = EnergyMonitor(meters=[_ReadsMeetInPairs()], proc_root=False)
    errors: list[Exception] = []

    def open_step() -> None:
        try:
            monitor.begin("step")
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_step) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monitor.close()
    assert [str(e) for e in errors] == ["window 'step' is already open: end it first or use another name"]
