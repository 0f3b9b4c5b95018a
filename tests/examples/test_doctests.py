"""The examples' docstring examples run (``make test``'s ``--doctest-modules`` covers the package only)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"
WITH_EXAMPLES = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.py") if ">>>" in p.read_text())


def module_name(path: str) -> str:
    """How the examples import each other: the main job's files by their stem (``from digits import``, as
    ``examples/train.py`` does), the packages' as ``examples.<package>.<module>``."""
    parts = Path(path).with_suffix("").parts
    return parts[0] if len(parts) == 1 else ".".join(("examples", *parts))


def test_the_examples_with_examples_are_found() -> None:
    assert {"digits.py", "train.py", "cifar10/model.py", "textgen/energy.py"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("path", WITH_EXAMPLES)
def test_docstring_examples_run(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the main job's scripts import their siblings
    module = importlib.import_module(module_name(path))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, f"{path}: {result}"
