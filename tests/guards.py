"""Hang guards of the tests (s): how long a test waits for a subprocess, or for an event another process makes
happen, before it calls that process hung. Never a timing condition: a healthy run ends far sooner on any
machine; they are set for a machine ten times slower than an idle 2-core one (a loaded CI runner), so that only
a real hang reaches them. pytest-timeout's per-test limit (pyproject.toml) is above them."""

from __future__ import annotations

import time
from collections.abc import Callable

#: one sweep or app run in a subprocess (toy sweeps take seconds; Lightning sweeps about a minute at the most)
SUBPROCESS_S = 600.0
#: one event of another process: a file appearing, a trial claimed, a worker paused
EVENT_S = 300.0


def wait_for(
    condition: Callable[[], bool], timeout: float = EVENT_S, what: str = "condition", poll_s: float = 0.1
) -> None:
    """Wait until ``condition()`` holds: an event another process or thread makes happen; ``timeout`` (s) only
    calls it hung."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")
