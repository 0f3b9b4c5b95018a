"""JSON that every reader takes: Python's ``json`` writes a non-finite float as a bare ``NaN`` or ``Infinity``,
which is not JSON (browsers' ``JSON.parse``, ``jq`` and most readers refuse the whole file). Every JSON file the
package writes goes through :func:`dumps`: such a value becomes ``null``, beside the field that says why where the
file has one.

Example:
    >>> dumps({"flops_per_sample": float("nan"), "interval": (0.5, float("inf")), "n": 3})
    '{"flops_per_sample": null, "interval": [0.5, null], "n": 3}'
"""

from __future__ import annotations

import json
import math
from typing import Any


def strict(value: Any) -> Any:
    """``value`` with every non-finite float (in dicts, lists and tuples too) replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`strict` ``(value)``, refusing any non-finite number left (``allow_nan=False``)."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)
