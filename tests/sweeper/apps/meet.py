"""Make several worker processes meet before they go on, so that each surely runs a trial (whatever their speed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

#: a safety net for a broken test (s), not a timing condition: the processes meet by event (files appearing)
DEADLINE_S = 300.0


def meet(folder: str, n: int) -> None:
    """Record this process in ``folder`` (a file named by its pid); wait until ``n`` processes have."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / str(os.getpid())).touch()
    deadline = time.monotonic() + DEADLINE_S
    while len(list(Path(folder).iterdir())) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(list(Path(folder).iterdir()))} of {n} processes met in {folder}")
        time.sleep(0.05)
