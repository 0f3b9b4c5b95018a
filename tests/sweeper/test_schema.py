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


def test_stored_report_settings_round_trip_through_a_real_storage(tmp_path: Path) -> None:
    import optuna

    from ecopt_lightning.sweeper.config import validate

    settings = validate(
        {
            "objectives": [
                {"name": "loss", "direction": "minimize"},
                {"name": "energy/total_J", "direction": "minimize"},
            ],
            "constraints": ["energy/inference_per_sample_J <= 0.002"],
            "energy_metric": "energy/train_J",
        }
    ).for_report()
    url = f"sqlite:///{tmp_path / 'ecopt.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["minimize", "minimize"])
    study.set_user_attr(_schema.SETTINGS_ATTR, settings.to_attrs())
    again = optuna.load_study(study_name="s", storage=url)
    read = _schema.ReportSettings.from_attrs(again.user_attrs, again.metric_names, ["minimize", "minimize"])
    assert read == settings
    assert (read.objective_names, read.constraints, read.energy_metric) == (
        ["loss", "energy/total_J"],
        ["energy/inference_per_sample_J <= 0.002"],
        "energy/train_J",
    )


def test_a_study_made_elsewhere_gets_names_from_its_metrics_or_positions() -> None:
    read = _schema.ReportSettings.from_attrs({}, ["acc", "J"], ["maximize", "minimize"])
    assert read == _schema.ReportSettings(["acc", "J"], ["maximize", "minimize"])
    assert _schema.ReportSettings.from_attrs({}, None, ["minimize"]).objective_names == ["objective_0"]
