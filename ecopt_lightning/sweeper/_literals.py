"""Values written as Hydra reads them back: the one writer of override values, for overrides and messages alike.

Imports neither Optuna nor torch: the plugin's config (and so Hydra's plugin discovery) uses it.

Example:
    >>> hydra_literal({"min_epochs": 1, "max_epochs": None, "keep_front": True, "rank": "nds_hv"})
    "{min_epochs: 1, max_epochs: null, keep_front: true, rank: 'nds_hv'}"
    >>> hydra_literal(["a > 1", 2.5, "it's"])
    "['a > 1', 2.5, 'it\\\\'s']"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


def escaped(text: str, mark: str = "'") -> str:
    """``text`` as written inside a Hydra string quoted with ``mark``: the mark, and the backslashes before it,
    escaped (Hydra reads ``\\'`` as a quote and doubles backslashes only before a quote or at the string's end).

    Example:
        >>> print(escaped("it's"), escaped('a "b"', '"'))
        it\\'s a \\"b\\"
    """
    return re.sub(rf"\\+(?={mark})", lambda m: m.group(0) * 2, text).replace(mark, "\\" + mark)


def quote(text: str) -> str:
    """``text`` as a single-quoted Hydra override value that parses back to the same string (:func:`escaped`, and
    the backslashes at its end doubled: the closing quote follows them)."""
    return "'" + escaped(re.sub(r"\\+$", lambda m: m.group(0) * 2, text)) + "'"


def override_key(override: str) -> str:
    """The key an override sets, without Hydra's ``+``/``++``/``~`` prefixes.

    Example:
        >>> override_key("++hydra.sweeper.storage=sqlite:///x.db"), override_key("~db")
        ('hydra.sweeper.storage', 'db')
    """
    return override.split("=", 1)[0].strip().lstrip("+~")


def hydra_literal(value: Any) -> str:
    """``value`` as a user writes it in a Hydra override or YAML, and as Hydra parses it back: ``null``,
    ``true``/``false``, strings quoted (so ``'a b'``, ``'c,d'``, ``'true'`` and ``'1e3'`` stay strings), unquoted
    mapping keys, lists and mappings written the same way inside (``str()`` wrote ``None`` and ``{'lr': 0.1}``,
    which Hydra reads as the string 'None' or refuses)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {hydra_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return "[" + ", ".join(hydra_literal(item) for item in value) + "]"
    return str(value)
