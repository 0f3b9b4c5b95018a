"""Checks of user settings: each raises a one-line ``ValueError`` that names the bad value and what is allowed,
at construction, before anything is measured.

Example:
    >>> finite("pue", 1.2, 1.0)
    1.2
    >>> finite("idle_baseline_s", True, 0.0)
    Traceback (most recent call last):
    ...
    ValueError: idle_baseline_s=True is not allowed: give a finite number >= 0
    >>> function("batch_size_fn", 4, "(batch) -> int")
    Traceback (most recent call last):
    ...
    ValueError: batch_size_fn=4 is not allowed: give a function (batch) -> int, or None
"""

from __future__ import annotations

import math
from typing import Any


def finite(name: str, value: Any, minimum: float, strict: bool = False) -> float:
    """``value`` as a float when it is a finite number (not a bool, not a string) ``>= minimum`` (``> minimum``
    when ``strict``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{name}={value!r} is not allowed: give a finite number {bound}")
    return float(value)


def flag(name: str, value: Any) -> bool:
    """``value`` when it is ``True`` or ``False`` (a string such as ``'no'`` would read as true)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not allowed: give True or False")
    return value


def function(name: str, value: Any, signature: str) -> Any:
    """``value`` when it is callable or ``None``."""
    if value is not None and not callable(value):
        raise ValueError(f"{name}={value!r} is not allowed: give a function {signature}, or None")
    return value


def count(name: str, value: Any, source: str) -> int:
    """A per-batch count (samples, items) as an int >= 0 (an int, or a whole number such as a 0-d tensor or
    ``8.0``; not a bool or a string); ``source`` names what returned it."""
    try:
        n = int(value)
        whole = not isinstance(value, bool | str | bytes) and float(value) == n
    except (TypeError, ValueError, OverflowError):
        n, whole = -1, False
    if n < 0 or not whole:
        raise ValueError(f"{source} returned {value!r} for a batch: give the number of {name} (an int >= 0)")
    return n


__all__ = ["count", "finite", "flag", "function"]
