"""Say each thing about measurement once per process, in one line: a log line on the ``ecopt_lightning`` logger.

The same text is also issued as an :class:`EnergyNotice` (an :class:`EnergyWarning`), so code can catch or
turn it into an error; it is not displayed by default, since the log line already says it (show it with
``warnings.simplefilter("default", EnergyNotice)``; ``pytest.warns`` sees it as it is).

Example:
    >>> say_once("doctest:notices", "ecopt energy: said once")  # logged, and issued as a hidden EnergyNotice
    True
    >>> say_once("doctest:notices", "ecopt energy: said once")  # the same key again: nothing said
    False
"""

from __future__ import annotations

import logging
import threading
import warnings

log = logging.getLogger("ecopt_lightning")

_said: set[str] = set()
_lock = threading.Lock()


class EnergyWarning(UserWarning):
    """Something about energy measurement the user should know: an estimate, a fallback, a fault."""


class EnergyNotice(EnergyWarning):
    """An :class:`EnergyWarning` that was also logged: hidden by default so that it is read once."""


# appended: the user's own filters and -W options come first and win
warnings.filterwarnings("ignore", category=EnergyNotice, append=True)


def say_once(key: str, message: str) -> bool:
    """Log ``message`` (and issue it as an :class:`EnergyNotice`) the first time ``key`` is seen in this process;
    return whether it was said."""
    with _lock:
        if key in _said:
            return False
        _said.add(key)
    log.warning(message)
    warnings.warn(message, EnergyNotice, stacklevel=3)
    return True


def forget_all() -> None:
    """Reset what was said (for tests that check a notice appears)."""
    with _lock:
        _said.clear()
