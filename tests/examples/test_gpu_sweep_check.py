"""benchmarks/gpu_sweep_check.py in dry-run mode: a real ecopt multirun of examples/cifar10 on FakeData (CPU),
read back and checked as on the GPU machine."""

from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_sweep_check.py"


@pytest.fixture
def sweep_check(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_sweep_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_sweep_check", module)
    spec.loader.exec_module(module)
    return module


def test_the_dry_run_sweeps_reads_back_and_checks_every_item(sweep_check, tmp_path):
    rc = sweep_check.main([str(tmp_path), "--dry-run", "--trials", "2"])
    result = json.loads((tmp_path / "gpu_sweep_check.json").read_text())
    assert result["returncode"] == 0 and "trainer.accelerator=cpu" in result["command"]
    assert set(result["checks"]) == {
        "all_trials_finished",
        "inference_sources_labelled",  # on the GPU machine: inference_gpu_source, _on_the_gpu, gpu_not_degraded
        "benchmark_energy_counted",
        "no_interpolated_windows",
        "inference_converged",
        "front_has_knee_and_intervals",
        "report_names_source",
    }
    assert [t["state"] for t in result["trials"]] == ["COMPLETE", "COMPLETE"]
    assert all(t["sources"] == {"cpu:0": "estimate"} and t["repeats"] >= 6 for t in result["trials"])
    # convergence depends on this machine's load: the outcome is recorded either way, and decides the exit code
    assert rc == (0 if result["passed"] else 1)
    assert result["passed"] == all(c["ok"] for c in result["checks"].values())
    with tarfile.open(tmp_path / "sweep.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"sweep/sweep.log", "sweep/pareto_front.json", "sweep/energy_report.md", "sweep/trials.csv"} <= names
    assert not any("checkpoints" in n for n in names)


def test_a_missing_gpu_source_or_unconverged_trial_fails_its_check(sweep_check, tmp_path):
    trials = [
        {"trial": 0, "state": "COMPLETE", "sources": {"gpu:0": "nvml_power"}, "converged": False,
         "rel_halfwidth": 0.12, "rel_precision": 0.05, "stop_reason": "max_seconds", "stopped_at_epoch": None,
         "J_per_sample": 0.12, "degraded": "gpu:0: power polled and integrated (no energy counter)",
         "interpolated_fraction": 0.3, "benchmark_phase_J": 0.0, "inference_energy_J": 50.0},
    ]  # fmt: skip
    checks = sweep_check.evaluate(tmp_path, trials, 2, "nvml_counter")
    assert not checks["all_trials_finished"]["ok"]
    assert not checks["inference_gpu_source"]["ok"] and checks["inference_gpu_source"]["detail"] == {0: "nvml_power"}
    assert not checks["inference_converged"]["ok"]
    assert not checks["inference_on_the_gpu"]["ok"]  # 0.12 J: an idle GPU beside a CPU forward pass
    assert not checks["gpu_not_degraded"]["ok"] and not checks["no_interpolated_windows"]["ok"]
    assert not checks["benchmark_energy_counted"]["ok"]  # its 50 J not in the trial's total
    assert not checks["report_names_source"]["ok"]  # no sweep files in tmp_path


def test_the_gpu_trace_samples_while_its_block_runs_and_stops_after(sweep_check, tmp_path, monkeypatch):
    from tests.doubles.simulated_gpu import SimGpu, SimulatedNvml

    monkeypatch.setitem(sys.modules, "pynvml", SimulatedNvml([SimGpu("GPU-0", power_W=70.0)]))
    with sweep_check.GpuTrace.running(tmp_path / "trace.csv") as trace:
        trace.sample()  # by event; the thread's own samples come every 0.2 s besides
    assert trace.stop.is_set()
    header, *rows = (tmp_path / "trace.csv").read_text().splitlines()
    assert header == ",".join(sweep_check.TRACE_COLUMNS) and rows and all(r.split(",")[1] == "70.0" for r in rows)
