"""joblib's one private the sweeper reads, behind one function, with a public-API fallback.

``tests/sweeper/test_compat.py`` checks that the private still exists in the installed joblib.

Example:
    >>> from joblib.externals.loky import get_reusable_executor
    >>> executor = get_reusable_executor(max_workers=1)  # as the joblib launcher starts it (no worker yet)
    >>> loky_executor() is executor
    True
    >>> kill_loky_workers()
    >>> get_reusable_executor(max_workers=1) is executor  # the next batch gets a new executor, new workers
    False
    >>> kill_loky_workers()
"""

from __future__ import annotations

from typing import Any

#: The privates this module reads: ``(module path, attribute)``; ``test_compat`` checks each.
PRIVATES: tuple[tuple[str, str], ...] = (("joblib.externals.loky.reusable_executor", "_executor"),)


def loky_executor() -> Any | None:
    """The joblib launcher's running loky executor, or None when none was started.

    Reads ``reusable_executor._executor`` (the module keeps it there; reading it starts nothing). Fallback where
    that attribute is gone: ``get_reusable_executor(reuse=True)``, which returns the running one unchanged (and
    starts an idle one when none runs)."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover - joblib ships loky
        return None
    if hasattr(reusable_executor, "_executor"):
        return reusable_executor._executor
    return reusable_executor.get_reusable_executor(reuse=True)  # pragma: no cover - test_compat checks the private


def kill_loky_workers() -> None:
    """Shut the loky executor down (its worker processes killed), so the next batch gets new processes."""
    executor = loky_executor()
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)
