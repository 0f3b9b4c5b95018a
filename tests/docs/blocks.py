"""Fenced code blocks of the Markdown docs: the shell commands and Python snippets a user copies.

A block is run as written. The only marker a doc may carry is an HTML comment (invisible on GitHub, not part
of what a user copies) on the line right above the fence, naming why a block cannot run here:

    <!-- doc-test: skip: needs a PostgreSQL server reachable as db-host -->

Example:
    >>> [b.lang for b in parse("text\\n```bash\\nls\\n```\\n", "x.md")]
    ['shell']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: fence languages that are run; others (output listings, diagrams) are not code to copy
RUN_LANGS = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python"}

_SKIP = re.compile(r"<!--\s*doc-test:\s*skip:\s*(?P<reason>.+?)\s*-->")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language and its text; ``skip`` says why it is not run."""

    path: str
    line: int
    lang: str
    text: str
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def parse(markdown: str, path: str) -> list[Block]:
    """Every ``bash``/``sh``/``python`` fenced block of ``markdown``, in order."""
    lines = markdown.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match or not match["lang"]:
            i += 1
            continue
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        lang = match["lang"].lower()
        if lang not in RUN_LANGS:
            continue
        skip = _SKIP.search(lines[start - 1]) if start > 0 else None
        blocks.append(Block(path, start + 1, RUN_LANGS[lang], "\n".join(body) + "\n", skip and skip["reason"]))
    return blocks


def doc_blocks(root: Path, docs: list[str]) -> list[Block]:
    """The blocks of the given Markdown files (paths relative to ``root``)."""
    out = []
    for doc in docs:
        out += parse((root / doc).read_text(encoding="utf-8"), doc)
    return out
