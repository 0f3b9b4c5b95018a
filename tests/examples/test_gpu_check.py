"""benchmarks/gpu_check.py in dry-run mode (CPU, simulated GPU): every section runs and is recorded."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture
def gpu_check(monkeypatch):
    # the dry run installs the simulated GPU as pynvml: undo that after the test
    monkeypatch.setitem(sys.modules, "pynvml", sys.modules.get("pynvml"))
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_every_section(gpu_check, tmp_path):
    rc = gpu_check.main([str(tmp_path), "--dry-run"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] is True and report["mode"] == "dry"
    assert list(report["sections"]) == list(gpu_check.SECTIONS)
    errors = {n: e.get("error") for n, e in report["sections"].items() if e["status"] != "ok"}
    assert rc == 0 and errors == {}

    s = {name: entry["result"] for name, entry in report["sections"].items()}
    assert s["environment"]["supported"]["total_energy_counter_mJ"]["value"] > 0
    assert s["environment"]["monitor"]["sources"]["gpu:0"] == "nvml_counter"
    costs = s["environment"]["read_cost_us"]
    assert set(costs) == {"nvml_total_energy", "snapshot_gpu", "snapshot_gpu_cpu_estimate"}
    assert all(v > 0 for v in costs.values())
    # the simulated GPU idles at 70 W and draws 300 +- 20 W under load; its counter moves in 100 ms steps, so
    # over these sub-second dry-run windows only the polled figures are close to the truth
    assert s["idle"]["polled_W"] == pytest.approx(70.0, rel=0.02)
    assert s["load"]["polled_W"] == pytest.approx(300.0, rel=0.1)
    assert s["load"]["counter_W"] > 2 * s["idle"]["counter_W"] > 0
    tele = s["telescoping"]
    # a window shorter than the 100 ms counter update is approximate; how many are depends on the machine's speed
    # (183 of 200 on a loaded 2-core machine), so only the bound is checked here (the flag itself: tests/energy)
    assert tele["windows"] == 200 and 0 <= tele["approximate_windows"] <= 200
    # windows with their own snapshots can only lose energy (a counter step between two windows), never gain it;
    # on a loaded 2-core CI machine that happens, so the 0.5 % goal is for the GPU run, not for this dry run
    assert tele["inner_sum_J"] <= tele["outer_J"] + 1e-9
    # shared snapshots add up exactly (also to 0 J, where the simulated counter did not step during the chain)
    assert tele["chained_sum_J"] == pytest.approx(tele["chained_outer_J"], rel=1e-9, abs=1e-12)
    assert {"no_sync", "sync", "no_sync_over_sync"} <= set(s["sync"])
    light = s["lightning"]
    assert light["step_time_ratio"] > 0 and light["J_per_inference_sample"] > 0
    assert [e["diff_pct"] for e in light["epochs"]] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert set(s["textgen"]["J_per_token"]) == {"1", "8", "64"}
    for name in ("load_power.png", "telescoping.png", "textgen_j_per_token.png", "load_trace.csv"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_the_telescoping_plot_is_drawn_when_the_outer_window_read_nothing(gpu_check, tmp_path, monkeypatch):
    """Regression (CI, 2026-11-29): on a loaded machine the dry run's outer window ended before the simulated counter
    stepped, so it read 0 J, the comparison had no percentage, the plot's title raised, and telescoping.png was
    missing (the dry-run test above failed on it)."""
    simulated = gpu_check.install_simulated_gpu

    def frozen() -> object:
        gpu = simulated()
        gpu.counter_period_s = 1e9  # the counter does not step again during the run
        return gpu

    monkeypatch.setattr(gpu_check, "install_simulated_gpu", frozen)
    assert gpu_check.main([str(tmp_path), "--dry-run", "--only", "telescoping"]) == 0
    tele = json.loads((tmp_path / "gpu_check.json").read_text())["sections"]["telescoping"]["result"]
    assert tele["outer_J"] == 0 and tele["inner_vs_outer_pct"] is None and tele["plot"] == "telescoping.png"
    assert (tmp_path / "telescoping.png").stat().st_size > 0


def test_a_failing_step_is_recorded_and_the_rest_still_run(gpu_check, tmp_path, monkeypatch):
    def broken(ctx):
        raise RuntimeError("no such sensor")

    monkeypatch.setitem(gpu_check.STEPS, "idle", broken)
    rc = gpu_check.main([str(tmp_path), "--dry-run", "--only", "environment", "idle", "sync"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert rc == 1 and report["failed"] == ["idle"]
    assert report["sections"]["idle"]["error"] == "RuntimeError: no such sensor"
    assert report["sections"]["sync"]["status"] == "ok"


def test_without_nvml_the_json_says_why(gpu_check, tmp_path, monkeypatch):
    from ecopt_lightning.energy import nvml
    from ecopt_lightning.energy.nvml import NvmlUnavailable

    def no_nvml():
        raise NvmlUnavailable("NVML did not start (NVMLError_DriverNotLoaded)")

    monkeypatch.setattr(nvml, "load_nvml", no_nvml)
    assert gpu_check.main([str(tmp_path), "--dry-run"]) == 2
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["fatal"] == "NvmlUnavailable: NVML did not start (NVMLError_DriverNotLoaded)"
    assert report["sections"] == {}


def test_the_gpu_plan_is_what_issue_8_asks(gpu_check):
    full, quick = gpu_check.Plan.make("full"), gpu_check.Plan.make("quick")
    assert (full.idle_s, full.load_s, full.windows, full.window_s) == (5.0, 10.0, 200, 0.05)
    assert full.textgen_preset == "gpt2" and full.textgen_batches == (1, 8, 64)
    assert full.lightning_steps >= 200 and full.matmul_n == 8192
    assert quick.windows == 200 and quick.load_s < full.load_s
