"""The storage schema has one home: every ``ecopt.*`` study and trial attribute key is spelled in
``sweeper/_schema.py`` only."""

from __future__ import annotations

import ast
from pathlib import Path

from ecopt_lightning.sweeper import _schema

PACKAGE = Path(__file__).parents[2] / "ecopt_lightning"
#: strings that start like a key but name a file
NOT_KEYS = {"ecopt.db"}


def _key_literals(path: Path) -> list[str]:
    """``file:line: 'ecopt.…'`` for each string literal (f-string parts included) that starts like a key."""
    return [
        f"{path}:{node.lineno}: {node.value!r}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(_schema.PREFIX)
        and node.value not in NOT_KEYS
    ]


def test_no_module_but_the_schema_spells_an_ecopt_key() -> None:
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "_schema.py"]
    assert len(files) > 20
    assert [hit for p in files for hit in _key_literals(p)] == []


def test_the_scan_sees_keys_and_improvised_ones(tmp_path: Path) -> None:
    assert len(_key_literals(PACKAGE / "sweeper" / "_schema.py")) >= 15
    sample = tmp_path / "sample.py"
    sample.write_text('def f(trial, metric):\n    trial.set_user_attr(f"ecopt.pre_training.{metric}", 1)\n')
    assert len(_key_literals(sample)) == 1


def test_every_key_is_distinct_and_prefixed() -> None:
    keys = [v for k, v in vars(_schema).items() if k.endswith("_ATTR")]
    assert len(keys) == len(set(keys)) >= 15
    assert all(k.startswith(_schema.PREFIX) for k in keys)
    assert _schema.pre_training_attr("m").startswith(_schema.PREFIX)
