"""Spellings Hydra's override grammar rejects before any sweeper code runs, and the string forms of constraints.

Hydra's lexer stops at a bare ``<`` or ``>`` in ``hydra.sweeper.constraints`` with ``LexerNoViableAltException``
and a caret, and Hydra refuses an unquoted search expression in ``hydra.sweeper.params.<key>`` ("Sweeping over
Hydra's configuration is not supported"); the plugin shim, which Hydra imports first, checks the command line
and names the quoting instead (:func:`quoting_error`). What the grammar lets through for constraints (a list of
quoted constraints, or one quoted string holding one constraint or several separated by commas, brackets
optional) is split by :func:`constraint_items`.
Pure Python, no Hydra import (the shim is imported at every application start).

Example:
    >>> print(constraint_quoting_error(["hydra.sweeper.constraints=[energy/total_J <= 60]"]).split("; ")[-1])
    quote each constraint: "hydra.sweeper.constraints=['energy/total_J <= 60']"
    >>> constraint_quoting_error(["hydra.sweeper.constraints='energy/total_J <= 60'"]) is None
    True
    >>> print(params_quoting_error(["hydra.sweeper.params.x=choice(1,2)"]).split("; ")[-1])
    quote it: "hydra.sweeper.params.x='choice(1,2)'", or give it as 'x=choice(1,2)'
    >>> constraint_items("[energy/total_J <= 60, 'val_acc >= 0.9']")
    ['energy/total_J <= 60', 'val_acc >= 0.9']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_KEY = re.compile(r"^(?P<key>\+{0,2}hydra\.sweeper\.constraints)=(?P<value>.*)$", re.DOTALL)
_PARAM = re.compile(r"^(?P<prefix>\+{0,2})hydra\.sweeper\.params\.(?P<key>[^=]+)=(?P<value>.*)$", re.DOTALL)
#: a sweep of Hydra's grammar, also inside casts (``int(interval(1, 5))``)
_SWEEP_CALL = re.compile(r"^(?:(?:int|float|str|bool)\s*\(\s*)*(?:choice|range|interval|tag|shuffle)\s*\(")


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


def _top_level_comma(value: str) -> bool:
    """Whether ``value`` has a comma outside quotes and brackets: Hydra's ``a,b,c`` sweep."""
    depth, quote = 0, ""
    for char in value:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            return True
    return False


def params_quoting_error(args: Sequence[str]) -> str | None:
    """One line naming the quoting, for a ``hydra.sweeper.params.<key>=`` argument whose search expression is
    unquoted (Hydra refuses a sweep of its own config); else None."""
    for arg in args:
        match = _PARAM.match(arg)
        if match is None:
            continue
        value = match["value"].strip()
        if not (_SWEEP_CALL.match(value) or _top_level_comma(value)):
            continue
        key = f"{match['prefix']}hydra.sweeper.params.{match['key']}"
        if "'" not in value:
            right = f"{key}='{value}'"
        elif '"' not in value:
            right = f'{key}="{value}"'
        else:
            continue  # no quoting to show in one line: Hydra's own message stands
        return (
            f"{arg}: Hydra does not allow a sweep in its own config, and a search expression in "
            f"hydra.sweeper.params is a string; quote it: {_shell(right)}, or give it as "
            f"{_shell(match['key'] + '=' + value)}"
        )
    return None


def _shell(text: str) -> str:
    """``text`` quoted for a POSIX shell, as a user types it."""
    if "'" not in text:
        return f"'{text}'"
    return '"' + re.sub(r'(["\\$`])', r"\\\1", text) + '"'


def quoting_error(args: Sequence[str]) -> str | None:
    """The first of :func:`constraint_quoting_error` and :func:`params_quoting_error` that finds a mistake."""
    return constraint_quoting_error(args) or params_quoting_error(args)
