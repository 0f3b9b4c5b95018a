"""A manual clock to put in place of ``time.perf_counter``: time moves only when the test says so.

The monitor stamps its snapshots with ``time.perf_counter`` and :class:`~tests.doubles.simulated_gpu.SimGpu`
integrates its power over the same clock, so with this clock installed (the ``manual_clock`` fixture in
``tests/conftest.py``) a window's seconds and energy are exact, whatever the machine's speed or load: a test
calls :meth:`ManualClock.advance` where it would otherwise sleep. ``tick`` (s) also moves it on every read, for
code that the test does not drive step by step (a real Trainer), so every window has a duration.

Example:
    >>> clock = ManualClock(tick=0.0)
    >>> t0 = clock(); clock.advance(0.25); clock() - t0
    0.25
"""

from __future__ import annotations

import threading


class ManualClock:
    """Seconds (float) that advance by :meth:`advance` and by ``tick`` on every read."""

    def __init__(self, start: float = 1000.0, tick: float = 0.0) -> None:
        self._t = start
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self._t
            self._t += self.tick
            return now

    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` (s), as a sleep of that long would."""
        with self._lock:
            self._t += seconds
