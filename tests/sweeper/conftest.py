"""Helpers for the sweeper tests: run the toy task app as a real Hydra multirun in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.guards import SUBPROCESS_S

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).parents[2]


def run_multirun(
    sweep_dir: Path,
    *overrides: str,
    app: str = "toy.py",
    env: dict[str, str] | None = None,
    timeout: float = SUBPROCESS_S,
) -> subprocess.CompletedProcess[str]:
    """``python <app> -m hydra/sweeper=ecopt hydra.sweep.dir=<sweep_dir> <overrides>``; output captured."""
    full_env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "HYDRA_FULL_ERROR": "0",
        **(env or {}),
    }
    cmd = [
        sys.executable,
        str(APPS / app),
        "-m",
        "hydra/sweeper=ecopt",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.seed=0",
        *overrides,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=sweep_dir.parent, env=full_env, timeout=timeout)


def isolated_env(folder: Path) -> dict[str, str]:
    """The environment tests/conftest.py gives each test (empty /proc and powercap roots, made under ``folder``),
    for a sweep that a module-scoped fixture runs before any test's own fixtures apply."""
    env = {"ECOPT_PROC_ROOT": str(folder / "no-proc"), "ECOPT_POWERCAP_ROOT": str(folder / "no-powercap")}
    for empty in env.values():
        Path(empty).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
def multirun(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a multirun into ``tmp_path/sweep``; fail the test with its output when it exits non-zero, unless
    ``expect_fail=True``."""

    def run(*overrides: str, expect_fail: bool = False, **kwargs) -> subprocess.CompletedProcess[str]:
        proc = run_multirun(tmp_path / "sweep", *overrides, **kwargs)
        if (proc.returncode != 0) != expect_fail:
            pytest.fail(f"multirun exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    return run


def killed_at(point: str, code: str, *args: str) -> None:
    """Run ``code`` (with ``args`` as ``sys.argv[1:]``) in a fresh Python that SIGKILLs itself at the crash point
    ``point`` (``name:n``, :mod:`ecopt_lightning.sweeper._crashpoints`); fail the test unless it was killed there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ECOPT_CRASH_AT": point}
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, timeout=SUBPROCESS_S)
    assert proc.returncode == -9, proc.stderr


def load_study(sweep_dir: Path, name: str = "toy"):
    """The study the sweeper wrote to its default SQLite storage."""
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / 'ecopt.db'}")
