"""Command-line spellings of ``hydra.sweeper.constraints`` that Hydra's override grammar rejects or misreads.

Hydra's lexer stops at a bare ``<`` or ``>`` with ``LexerNoViableAltException`` and a caret, before any sweeper
code runs; the plugin shim, which Hydra imports first, checks the command line and names the quoting instead.
Pure Python, no Hydra import (the shim is imported at every application start).

Example:
    >>> print(constraint_quoting_error(["hydra.sweeper.constraints=[energy/total_J <= 60]"]).split("; ")[-1])
    quote each constraint: "hydra.sweeper.constraints=['energy/total_J <= 60']"
    >>> constraint_quoting_error(["hydra.sweeper.constraints=['energy/total_J <= 60']"]) is None
    True
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


def constraint_quoting_error(args: Sequence[str]) -> str | None:
    """One line naming the quoting, for a ``hydra.sweeper.constraints=`` argument Hydra cannot take; else None."""
    for arg in args:
        match = _KEY.match(arg)
        if match is None:
            continue
        value = match["value"].strip()
        bracketed = value.startswith("[") and value.endswith("]")
        items = _split_items(value[1:-1]) if bracketed else [value]
        bare = any(("<" in item or ">" in item) and _unquoted(item) == item for item in items)
        if bracketed and not bare:
            continue
        if not bare and not any("<" in item or ">" in item for item in items):
            continue  # not a constraint spelling we know; the sweeper's own validation speaks
        quoted = ", ".join(f"'{_unquoted(item)}'" for item in items)
        right = f'"{match["key"]}=[{quoted}]"'
        why = (
            "Hydra's override grammar does not allow a bare '<' or '>'"
            if bare
            else "give a list, even of one constraint"
        )
        return f"{arg}: {why}; quote each constraint: {right}"
    return None
