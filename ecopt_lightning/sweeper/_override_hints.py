"""Spellings of ``hydra.sweeper.constraints``: the ones Hydra's override grammar rejects, and the string forms.

Hydra's lexer stops at a bare ``<`` or ``>`` with ``LexerNoViableAltException`` and a caret, before any sweeper
code runs; the plugin shim, which Hydra imports first, checks the command line and names the quoting instead.
What the grammar lets through (a list of quoted constraints, or one quoted string holding one constraint or
several separated by commas, brackets optional) is split by :func:`constraint_items`.
Pure Python, no Hydra import (the shim is imported at every application start).

Example:
    >>> print(constraint_quoting_error(["hydra.sweeper.constraints=[energy/total_J <= 60]"]).split("; ")[-1])
    quote each constraint: "hydra.sweeper.constraints=['energy/total_J <= 60']"
    >>> constraint_quoting_error(["hydra.sweeper.constraints='energy/total_J <= 60'"]) is None
    True
    >>> constraint_items("[energy/total_J <= 60, 'val_acc >= 0.9']")
    ['energy/total_J <= 60', 'val_acc >= 0.9']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_KEY = re.compile(r"^(?P<key>\+{0,2}hydra\.sweeper\.constraints)=(?P<value>.*)$", re.DOTALL)


def _split_items(body: str) -> list[str]:
    """The comma-separated items of a list body, commas inside quotes kept."""
    items, current, quote = [], "", ""
    for char in body:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            items.append(current)
            current = ""
            continue
        current += char
    items.append(current)
    return [item.strip() for item in items if item.strip()]


def _unquoted(item: str) -> str:
    return item[1:-1] if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"" else item


def constraint_items(text: str) -> list[str]:
    """The constraints in one string: ``'a <= 1'``, ``'a <= 1, b >= 2'`` or ``'[a <= 1, "b >= 2"]'``."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    return [_unquoted(item) for item in _split_items(body)]


def constraint_quoting_error(args: Sequence[str]) -> str | None:
    """One line naming the quoting, for a ``hydra.sweeper.constraints=`` argument Hydra cannot take; else None."""
    for arg in args:
        match = _KEY.match(arg)
        if match is None:
            continue
        value = match["value"].strip()
        bracketed = value.startswith("[") and value.endswith("]")
        items = _split_items(value[1:-1] if bracketed else value)
        if not any(("<" in item or ">" in item) and _unquoted(item) == item for item in items):
            continue  # the grammar takes it; the sweeper's own validation checks each constraint
        quoted = ", ".join(f"'{_unquoted(item)}'" for item in items)
        right = f'"{match["key"]}=[{quoted}]"'
        return f"{arg}: Hydra's override grammar does not allow a bare '<' or '>'; quote each constraint: {right}"
    return None
