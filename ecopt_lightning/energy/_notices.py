"""Say each thing about measurement once per process, clearly, through ``warnings`` and logging."""

from __future__ import annotations

import logging
import threading
import warnings

log = logging.getLogger("ecopt_lightning")

_said: set[str] = set()
_lock = threading.Lock()


class EnergyWarning(UserWarning):
    """Something about energy measurement the user should know: an estimate, a fallback, a fault."""


def say_once(key: str, message: str) -> bool:
    """Warn with ``message`` the first time ``key`` is seen in this process; return whether it was said."""
    with _lock:
        if key in _said:
            return False
        _said.add(key)
    log.warning(message)
    warnings.warn(message, EnergyWarning, stacklevel=3)
    return True


def forget_all() -> None:
    """Reset what was said (for tests that check a notice appears)."""
    with _lock:
        _said.clear()
