"""Bad configuration gives one line naming the field, the bad value and what is allowed."""

from __future__ import annotations

import pytest

from ecopt_lightning.sweeper import SweeperConfigError
from ecopt_lightning.sweeper._space import parse_space
from ecopt_lightning.sweeper.config import validate


@pytest.mark.parametrize(
    ("raw", "field", "allowed"),
    [
        ({"sampler": "cmaes"}, "sampler", "one of auto, tpe, nsga2, nsga3, gp, random, qmc"),
        ({"objectives": [{"name": "acc", "direction": "up"}]}, "objectives[0].direction", "maximize or minimize"),
        ({"objectives": []}, "objectives", "non-empty list"),
        ({"objectives": [{"name": "a"}, {"name": "a"}]}, "objectives[1].name", "not used by another"),
        ({"constraints": ["energy/total_J == 3"]}, "constraints[0]", "'<metric> <= <number>'"),
        ({"n_trials": 0}, "n_trials", "an integer >= 1"),
        ({"n_jobs": "2"}, "n_jobs", "an integer >= 1"),
        ({"energy_budget_J": -1}, "energy_budget_J", "a positive number (J)"),
        ({"loggers": ["neptune"]}, "loggers", "tensorboard, wandb, mlflow"),
        ({"storage": "not a url"}, "storage", "Optuna storage URL"),
        ({"custom_search_space": "no.such.module.fn"}, "custom_search_space", "importable dotted path"),
        ({"n_trails": 3}, "n_trails", "not a field"),
    ],
)
def test_bad_field_is_one_line_naming_field_value_and_allowed(raw: dict, field: str, allowed: str) -> None:
    with pytest.raises(SweeperConfigError) as info:
        validate(raw)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"hydra.sweeper.{field}=")
    assert allowed in message
    assert info.value.field == field


@pytest.mark.parametrize("expr", ["range(1,", "interval(5,1)", "range(3,1)", "tag(log, interval(0.1"])
def test_malformed_search_expression_names_the_param(expr: str) -> None:
    with pytest.raises(SweeperConfigError) as info:
        parse_space({"model.width": expr})
    assert str(info.value).startswith(f"hydra.sweeper.params.model.width={expr!r} is not allowed: choice(")
    assert "\n" not in str(info.value)


def test_defaults_are_the_energy_trade_off() -> None:
    s = validate({})
    assert list(zip(s.objective_names, s.directions, strict=True)) == [
        ("val_acc", "maximize"),
        ("energy/inference_per_sample_J", "minimize"),
    ]
    assert (s.sampler, s.n_jobs, s.energy_metric, s.max_failures) == ("auto", 1, "energy/total_J", s.n_trials)


def test_omegaconf_containers_are_accepted_as_hydra_1_3_and_1_4_pass_them() -> None:
    from omegaconf import OmegaConf

    raw = OmegaConf.create({"objectives": [{"name": "loss", "direction": "MINIMIZE"}], "sampler_kwargs": {"a": 1}})
    s = validate(raw)
    assert (s.objective_names, s.directions, s.sampler_kwargs) == (["loss"], ["minimize"], {"a": 1})
    assert validate(dict(raw)).directions == ["minimize"]  # 1.4: top level a dict, nested still DictConfig
