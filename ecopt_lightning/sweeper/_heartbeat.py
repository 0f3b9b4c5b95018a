"""Heartbeats for trials run through ask/tell (Optuna records them only inside ``Study.optimize``).

With an RDB storage created with ``heartbeat_interval``, a worker that dies leaves RUNNING trials whose
heartbeat stops; ``optuna.storages.fail_stale_trials`` marks them FAIL after the grace period (2x interval),
so a rerun counts them as missing instead of in progress.

Example:
    >>> import optuna
    >>> with Heartbeat(optuna.storages.InMemoryStorage(), [0], interval_s=1):  # no heartbeat support: no-op
    ...     pass
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any


class Heartbeat:
    """Record a heartbeat for ``trial_ids`` every ``interval_s`` seconds while the ``with`` block runs."""

    def __init__(self, storage: Any, trial_ids: Sequence[int], interval_s: float) -> None:
        self._storage = storage
        self._ids = list(trial_ids)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _enabled(self) -> bool:
        check = getattr(self._storage, "get_heartbeat_interval", None)
        return self._interval > 0 and callable(check) and check() is not None

    def _beat(self) -> None:
        while True:
            for trial_id in self._ids:
                self._storage.record_heartbeat(trial_id)
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> Heartbeat:
        if self._enabled():
            self._thread = threading.Thread(target=self._beat, name="ecopt-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
