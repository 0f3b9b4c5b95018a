"""The package's modules import each other in one direction: no cycle, counting imports inside functions and
under ``TYPE_CHECKING`` too (a cycle hidden there still ties two modules into one)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "ecopt_lightning"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports (``from . import mod`` counts as ``mod``)."""
    files = {_module_name(p, package.parent): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from pkg import mod` depends on pkg.mod; `from pkg import name` on pkg itself
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in files else module for a in node.names]
            for target in targets:
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path per cycle found by a depth-first walk (each cycle reported once, from its first module)."""
    found: list[list[str]] = []
    seen: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            if not any(set(cycle) == set(c) for c in found):
                found.append(cycle)
            return
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt, stack)
        stack.pop()
        seen.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert graph.get("ecopt_lightning.sweeper._sweeper")
    assert cycles(graph) == []


def test_the_walk_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "ecopt_lightning"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .b import g\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    assert cycles(import_graph(package)) == [["ecopt_lightning.a", "ecopt_lightning.b", "ecopt_lightning.a"]]
