"""Test hook: kill the sweep with SIGKILL at a named point, to prove a crash there loses nothing.

Off unless ``$ECOPT_CRASH_AT`` is set, to ``<point>`` or ``<point>:<n>`` (the n-th time it is reached, 1-based).
Points: ``before_ask`` (the budget counted, nothing asked), ``before_claim`` (trials asked, no worker
recorded on them), ``after_ask`` (trials asked and claimed, nothing launched), ``before_tell`` (a job finished
and saved its result in its job dir, not yet stored), ``after_tell`` (a result just stored),
``artifact_write`` (a temp artifact written, not yet moved into place), ``artifact_attach`` (the same, in the
study's artifact store), ``in_tell`` (a result committed, the
tell not yet returned), ``rung_decide`` (in a multi-fidelity job, at a rung, before it reports to the study).
``$ECOPT_CRASH_SIGNAL`` is the signal: ``KILL`` by default, ``INT`` for a Ctrl-C, or ``STOP`` to pause the sweep
there until a test sends ``SIGCONT``.

Example:
    >>> reached("after_tell")  # $ECOPT_CRASH_AT unset: returns at once
"""

from __future__ import annotations

import os
import signal

ENV, SIGNAL_ENV = "ECOPT_CRASH_AT", "ECOPT_CRASH_SIGNAL"
_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Signal (SIGKILL) this process if ``$ECOPT_CRASH_AT`` names ``point`` and this is the chosen occurrence."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, "SIG" + os.environ.get(SIGNAL_ENV, "KILL").upper()))
