"""Processes a test starts that must end with the test process, however it ends (pytest-timeout's SIGKILL,
Ctrl-C twice): Linux's ``PR_SET_PDEATHSIG``, and a guard for a shell's whole process group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

#: Linux's prctl option: the signal a process gets when the thread that started it ends
_PR_SET_PDEATHSIG = 1

#: kills the process group given as its argument when it gets SIGTERM (``_group_guard``'s end)
_GUARD = """
import os, signal, sys

def end(*_):
    try:
        os.killpg(int(sys.argv[1]), signal.SIGKILL)
    except ProcessLookupError:
        pass
    os._exit(0)

signal.signal(signal.SIGTERM, end)
print("ready", flush=True)
while True:
    signal.pause()
"""


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT back to its default in the child, so that Python raises KeyboardInterrupt on it as in a terminal:
    a suite started in the background (``cmd &``, nohup, some CI runners) hands its children SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ends_with_this_process(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for a child of the test process (a sweep, the gRPC proxy): SIGINT at its default
    (:func:`_ctrl_c_as_in_a_terminal`), and ``sig`` from the kernel when the test process ends, however it ends,
    so that nothing it started is left running. Linux's ``PR_SET_PDEATHSIG``, which watches the thread that
    starts the child: start it from the test's own thread. It reaches the child only, not what the child starts
    (see :func:`shell_group`)."""
    parent = os.getpid()

    def preexec() -> None:
        _ctrl_c_as_in_a_terminal()
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the test process ended before the child asked
            os.kill(os.getpid(), sig)

    return preexec


def process_running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by whoever adopted it, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def shell_group(script: str, **popen: object) -> Iterator[subprocess.Popen[str]]:
    """``bash -euo pipefail -c script`` in a process group of its own, killed whole when the block ends and when
    the test process ends, however it ends: what the script starts in the background (``cmd &``) is outside
    ``PR_SET_PDEATHSIG``'s reach, so a guard process that has it kills the group. The script waits at a gate
    until the guard is ready, so that nothing it starts outlives a test process killed before then."""
    gate, open_gate = os.pipe()
    unclosed = {gate, open_gate}

    def close(fd: int) -> None:
        unclosed.discard(fd)
        os.close(fd)

    try:
        held = f'IFS= read -r go <&{gate} && [ "$go" = go ] || exit 1; exec {gate}<&-; exec bash -euo pipefail -c "$1"'
        proc = subprocess.Popen(  # type: ignore[call-overload]
            ["bash", "-c", held, "bash", script], start_new_session=True, text=True, pass_fds=(gate,), **popen
        )
        close(gate)
        guard = subprocess.Popen(
            [sys.executable, "-c", _GUARD, str(proc.pid)],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=ends_with_this_process(signal.SIGTERM),
        )
        try:
            ready = guard.stdout.readline() if guard.stdout else ""
            assert ready == "ready\n", "the process-group guard did not start"
            os.write(open_gate, b"go\n")
            close(open_gate)
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            guard.terminate()
            guard.wait()
    finally:
        for fd in list(unclosed):
            close(fd)
