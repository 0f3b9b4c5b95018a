"""The benchmark scripts' docstring examples run (the suite's ``--doctest-modules`` covers the package only)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
WITH_EXAMPLES = sorted(p.stem for p in BENCHMARKS.glob("*.py") if ">>>" in p.read_text())


def test_the_scripts_with_examples_are_found() -> None:
    assert {"multi_fidelity", "multi_fidelity_replay", "_sweep_runs"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their siblings
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result}"
