"""Helpers for sweeps run by several worker processes, crashes and faults: real Hydra multiruns in subprocesses.

``ECOPT_TEST_POSTGRES_URL`` (set by ``.ci/run`` through ``scripts/postgres.sh``) enables the ``postgres`` tests.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.guards import SUBPROCESS_S
from tests.processes import ends_with_this_process
from tests.sweeper.conftest import APPS, ROOT

POSTGRES_URL = os.environ.get("ECOPT_TEST_POSTGRES_URL")


def sweep_cmd(sweep_dir: Path, *overrides: str, app: str = "toy.py") -> list[str]:
    """The multirun command line of a test app (seed 0 unless an override sets another)."""
    return [
        sys.executable,
        str(APPS / app),
        "-m",
        "hydra/sweeper=ecopt",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.baseline=false",
        *overrides,
    ]


def sweep_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "HYDRA_FULL_ERROR": "0",
        "PYTHONFAULTHANDLER": "1",  # a sweep that hangs dumps every thread's stack on SIGABRT (see finish)
        **(extra or {}),
    }


def start(sweep_dir: Path, *overrides: str, env: dict[str, str] | None = None, app: str = "toy.py"):
    """Start a sweep in the background; its output goes to ``<sweep_dir>.log``."""
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    log = open(f"{sweep_dir}.log", "w")  # noqa: SIM115 - closed by the caller through the process
    return subprocess.Popen(
        sweep_cmd(sweep_dir, *overrides, app=app),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=sweep_dir.parent,
        env=sweep_env(env),
        text=True,
        preexec_fn=ends_with_this_process(),
    )


def finish(proc: subprocess.Popen, sweep_dir: Path, timeout: float = SUBPROCESS_S) -> int:
    """The exit code of a sweep begun by :func:`start`. One that has not ended within ``timeout`` is sent SIGABRT,
    which makes Python dump every thread's stack into its log (``PYTHONFAULTHANDLER``), and the test fails with
    the end of that log: a hang leaves its evidence."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        tail = Path(f"{sweep_dir}.log").read_text()[-6000:]
        why = f"sweep {sweep_dir.name} still running after {timeout:g} s; its log ends:\n{tail}"
        raise AssertionError(why) from None


def run(sweep_dir: Path, *overrides: str, env: dict[str, str] | None = None, app: str = "toy.py", timeout=SUBPROCESS_S):
    """Run a sweep to its end; returns the CompletedProcess (output captured)."""
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        sweep_cmd(sweep_dir, *overrides, app=app),
        capture_output=True,
        text=True,
        cwd=sweep_dir.parent,
        env=sweep_env(env),
        timeout=timeout,
        preexec_fn=ends_with_this_process(),
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc


def check_artifacts(sweep_dir: Path) -> dict:
    """Every artifact that exists parses; returns summary.json (or {})."""
    out: dict = {}
    for name in ("pareto_front.json", "summary.json"):
        if (sweep_dir / name).exists():
            out[name] = json.loads((sweep_dir / name).read_text())
    for name in ("pareto_front.csv", "trials.csv"):
        if (sweep_dir / name).exists():
            with open(sweep_dir / name, newline="") as f:
                list(csv.DictReader(f))
    if (sweep_dir / "pareto_front.png").exists():
        assert (sweep_dir / "pareto_front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if (sweep_dir / "pareto_front.html").exists():
        assert (sweep_dir / "pareto_front.html").read_text().rstrip().endswith("</html>")
    return out.get("summary.json", {})


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL; the test is skipped when ``ECOPT_TEST_POSTGRES_URL`` is unset."""
    if not POSTGRES_URL:
        pytest.skip("ECOPT_TEST_POSTGRES_URL is unset: run `bash scripts/postgres.sh` or .ci/run (CI sets it)")
    return POSTGRES_URL


@pytest.fixture
def study_name() -> str:
    """A fresh study name per test, so tests sharing one database do not meet."""
    return f"t_{uuid.uuid4().hex[:12]}"
