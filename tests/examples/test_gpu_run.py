"""benchmarks/gpu_run.sh, the one command of a GPU session, dry-run on the CPU: every step runs and comes back
as at most 8 files (what the device machine returns from $OUT)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.guards import SUBPROCESS_S

ROOT = Path(__file__).resolve().parents[2]


def test_the_dry_run_leaves_each_steps_json_and_one_archive_per_step(tmp_path):
    env = {**os.environ, "DRY": "1", "PY": sys.executable, "OUT": str(tmp_path), "TRIALS": "1"}
    env["CHECK_ARGS"] = "--only environment"
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_run.sh")], env=env, capture_output=True, text=True,
        timeout=SUBPROCESS_S, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "gpu_run: gpu_check exit 0" in out, out[-3000:]
    # a sweep check's exit says whether its checks held (convergence depends on this machine's load)
    steps = {"gpu_sweep_check.json": "gpu_sweep_check", "gpu_sweep_check_mf.json": "gpu_sweep_check (multi-fidelity)"}
    for name, step in steps.items():
        passed = json.loads((tmp_path / name).read_text())["passed"]
        assert f"gpu_run: {step} exit {0 if passed else 1}" in out, out[-3000:]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "gpu-check.tar.gz", "gpu-sweep-mf.tar.gz", "gpu-sweep.tar.gz",
        "gpu_check.json", "gpu_sweep_check.json", "gpu_sweep_check_mf.json",
    ]  # fmt: skip
    assert len(files) + 1 <= 8  # and the caller's log
    assert json.loads((tmp_path / "gpu_sweep_check_mf.json").read_text())["command"].endswith("trainer.accelerator=cpu")
    assert "smoke_multi_fidelity" in json.loads((tmp_path / "gpu_sweep_check_mf.json").read_text())["command"]
    with tarfile.open(tmp_path / "gpu-sweep.tar.gz") as tar:
        assert {"gpu-sweep/gpu_sweep_check.json", "gpu-sweep/sweep.tar.gz"} <= set(tar.getnames())
