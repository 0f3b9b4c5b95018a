"""The doc blocks' shell (:func:`tests.processes.shell_group`) ends with the test process, background jobs too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.guards import EVENT_S, wait_for
from tests.processes import process_running, shell_group

ROOT = Path(__file__).resolve().parents[2]


def _started(pidfile: Path) -> bool:
    return pidfile.exists() and pidfile.read_text().endswith("\n")


def test_a_killed_test_process_takes_the_blocks_background_processes_with_it(tmp_path: Path) -> None:
    """Regression: what a doc block starts in the background (docs/distributed.md's gRPC proxy, which the block's
    own ``trap`` stops) ran on, adopted by pid 1, after pytest was SIGKILLed: PR_SET_PDEATHSIG reaches the shell
    the test starts, not what the shell starts."""
    pidfile = tmp_path / "pid"
    test_process = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.processes import shell_group
with shell_group("sleep 600 & echo $! > {pidfile}; wait") as proc:
    proc.wait()
"""
    parent = subprocess.Popen([sys.executable, "-c", test_process])
    background = None
    try:
        wait_for(lambda: _started(pidfile), what="the block's background process")
        background = int(pidfile.read_text())
        assert process_running(background)
        parent.kill()
        parent.wait()
        wait_for(lambda: not process_running(background), what=f"pid {background} ending with the test process")
    finally:
        parent.kill()
        parent.wait()
        if background is not None and process_running(background):  # the orphan the test found
            os.kill(background, signal.SIGKILL)


def test_a_test_process_killed_before_the_guard_is_ready_leaves_nothing_of_the_block_running(tmp_path: Path) -> None:
    """Regression: killed between starting the shell and its guard being ready (1 in 7 CI runs, 100 in 100 when
    killed as soon as the block's background pid was known), the test process left the block running, adopted by
    pid 1, since nothing yet guarded its group. The block now waits at a gate that only a ready guard opens."""
    pidfile, shellfile = tmp_path / "pid", tmp_path / "shell"
    test_process = f"""
import os, signal, subprocess, sys
sys.path.insert(0, {str(ROOT)!r})
from tests.processes import shell_group

class DiesAfterStartingTheShell(subprocess.Popen):
    def __init__(self, args, *more, **kwargs):
        super().__init__(args, *more, **kwargs)
        if args[0] == "bash":
            open({str(shellfile)!r}, "w").write(f"{{self.pid}}\\n")
            os.kill(os.getpid(), signal.SIGKILL)

subprocess.Popen = DiesAfterStartingTheShell
with shell_group("sleep 600 & echo $! > {pidfile}; wait") as proc:
    proc.wait()
"""
    parent = subprocess.Popen([sys.executable, "-c", test_process])
    assert parent.wait(timeout=EVENT_S) == -signal.SIGKILL
    shell = int(shellfile.read_text())
    try:
        wait_for(lambda: not process_running(shell), what=f"the block's shell (pid {shell}) ending at its gate")
        assert not pidfile.exists(), "the block ran with no guard"
    finally:
        if process_running(shell):
            os.killpg(shell, signal.SIGKILL)
        if _started(pidfile) and process_running(background := int(pidfile.read_text())):
            os.kill(background, signal.SIGKILL)


def test_the_block_and_its_background_processes_end_with_the_block(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with shell_group(f"sleep 600 & echo $! > {pidfile}") as proc:
        assert proc.wait(timeout=300) == 0
        background = int(pidfile.read_text())
    wait_for(lambda: not process_running(background), what=f"pid {background} ending with its block")
