"""Bad configuration gives one line naming the field, the bad value and what is allowed."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

from ecopt_lightning.sweeper import SweeperConfigError
from ecopt_lightning.sweeper._space import parse_space
from ecopt_lightning.sweeper.config import validate


@pytest.mark.parametrize(
    ("raw", "field", "allowed"),
    [
        ({"sampler": "anneal"}, "sampler", "one of auto, tpe, random, cmaes, nsga2, nsga3, gp, qmc, grid"),
        ({"sampler": "motpe"}, "sampler", "sampler was removed in Optuna 4.0. Use 'hydra/sweeper/sampler=tpe' instead"),
        ({"sampler": {"_target_": "optuna.samplers.MOTPESampler"}}, "sampler", "sampler was removed in Optuna 4.0"),
        ({"sampler": {"_target_": "optuna.samplers.TPESampler", "seed": -1}}, "sampler.seed", "an integer >= 0"),
        ({"sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 1}, "seed": 2}, "seed", "the same as"),
        ({"direction": "up"}, "direction", "maximize or minimize"),
        ({"sampler": "cmaes"}, "sampler", "cmaes handles one objective"),
        ({"direction": ["minimize", "down"]}, "direction[1]", "maximize or minimize"),
        ({"direction": []}, "direction", "non-empty list"),
        ({"direction": "minimize", "objectives": [{"name": "a"}]}, "direction", "null when objectives are set"),
        ({"max_failure_rate": 1.5}, "max_failure_rate", "a number from 0 to 1"),
        ({"search_space": {"x": {"type": "normal"}}}, "search_space.x", "deprecated: use params"),
        ({"objectives": [{"name": "acc", "direction": "up"}]}, "objectives[0].direction", "maximize or minimize"),
        ({"objectives": []}, "objectives", "non-empty list"),
        ({"objectives": [{"name": "a"}, {"name": "a"}]}, "objectives[1].name", "not used by another"),
        ({"constraints": ["energy/total_J == 3"]}, "constraints[0]", "'<metric> <= <number>'"),
        ({"constraints": "val_acc >= 0.5, energy/total_J =< 3"}, "constraints[1]", "'<metric> <= <number>'"),
        ({"constraints": 5}, "constraints", "a list of '<metric> <= <number>' (or <, >=, >) strings, or one such"),
        ({"study_name": ["a", "b"]}, "study_name", "a non-empty name or null"),
        ({"study_name": True}, "study_name", "a non-empty name or null"),
        ({"params": []}, "params", "a mapping of override key to search expression"),
        ({"sampler_kwargs": ""}, "sampler_kwargs", "a mapping of the sampler's keyword arguments"),
        ({"logger_kwargs": []}, "logger_kwargs", "a mapping from tensorboard|wandb|mlflow to kwargs"),
        ({"n_trials": -1}, "n_trials", "an integer >= 0"),
        ({"n_jobs": "two"}, "n_jobs", "an integer >= 1"),
        ({"n_trials": "2.0"}, "n_trials", "an integer >= 0"),
        ({"energy_budget_J": -1}, "energy_budget_J", "a positive number (J)"),
        ({"loggers": ["neptune"]}, "loggers", "tensorboard, wandb, mlflow"),
        ({"loggers": "neptune"}, "loggers", "a list of any of tensorboard, wandb, mlflow, or one of them"),
        ({"loggers": 5}, "loggers", "a list of any of tensorboard, wandb, mlflow, or one of them"),
        ({"logger_kwargs": {"wandb": "offline"}}, "logger_kwargs.wandb", "a mapping of wandb's keyword arguments"),
        # these were ignored: the front went to the default folder, run or experiment, with nothing said
        (
            {"logger_kwargs": {"tensorboard": {"logdir": "x"}}},
            "logger_kwargs.tensorboard",
            "keys among log_dir (logdir",
        ),
        (
            {"logger_kwargs": {"mlflow": {"tracking_uri": "http://u:pw@h", "experiment": "e"}}},
            "logger_kwargs.mlflow",
            "keys among tracking_uri, experiment_name, run_name (experiment is not one)",
        ),
        ({"storage": "not a url"}, "storage", "Optuna storage URL"),
        ({"custom_search_space": "no.such.module.fn"}, "custom_search_space", "importable dotted path"),
        ({"n_trails": 3}, "n_trails", "not a field"),
        ({"multi_fidelity": {"rank": "nds"}}, "multi_fidelity.rank", "one of nds_hv, nds_crowding"),
        ({"multi_fidelity": {"eta": 1}}, "multi_fidelity.eta", "an integer >= 2"),
        # it said ">= min_epochs=5" here, and refused max_epochs=5 next with "> min_epochs=5"
        (
            {"multi_fidelity": {"min_epochs": 5, "max_epochs": 3}},
            "multi_fidelity.max_epochs",
            "an integer > min_epochs=5",
        ),
        (
            {"multi_fidelity": {"min_epochs": 5, "max_epochs": 5}},
            "multi_fidelity.max_epochs",
            "an integer > min_epochs=5",
        ),
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


def test_multi_fidelity_ranks_by_hypervolume_unless_told_crowding() -> None:
    assert validate({"multi_fidelity": {"eta": 3}}).multi_fidelity.rank == "nds_hv"
    assert validate({"multi_fidelity": {"rank": "nds_crowding"}}).multi_fidelity.rank == "nds_crowding"
    assert validate({}).multi_fidelity is None  # off by default


@pytest.mark.parametrize(
    "raw",
    [
        ["energy/total_J <= 60", "val_acc >= 0.5"],
        "energy/total_J <= 60, val_acc >= 0.5",
        "[energy/total_J <= 60, 'val_acc >= 0.5']",
    ],
)
def test_constraints_as_a_list_or_one_string_of_them(raw: object) -> None:
    parsed = validate({"constraints": raw}).constraints
    assert [(c.metric, c.op, c.bound) for c in parsed] == [("energy/total_J", "<=", 60.0), ("val_acc", ">=", 0.5)]


def test_defaults_are_the_energy_trade_off() -> None:
    s = validate({})
    assert list(zip(s.objective_names, s.directions, strict=True)) == [
        ("val_acc", "maximize"),
        ("energy/inference_per_sample_J", "minimize"),
    ]
    assert (s.sampler, s.n_jobs, s.energy_metric, s.max_failures) == ("auto", 1, "energy/total_J", s.n_trials)
    assert (s.max_failure_rate, s.unnamed_returns, s.warnings) == (None, False, [])


def test_defaults_are_declared_once_in_the_structured_config() -> None:
    from dataclasses import fields

    from ecopt_lightning.sweeper.config import EcoptSweeperConf

    s, conf = validate({}), EcoptSweeperConf()
    for f in fields(conf):
        if f.name in ("n_jobs", "n_trials", "heartbeat_interval_s", "max_retry", "baseline", "energy_metric"):
            assert getattr(s, f.name) == getattr(conf, f.name), f.name


def test_direction_names_unnamed_returns_as_the_official_sweeper_takes_them() -> None:
    one, two = validate({"direction": "MINIMIZE"}), validate({"direction": ["minimize", "maximize"]})
    assert (one.objective_names, one.directions, one.unnamed_returns) == (["value"], ["minimize"], True)
    assert (two.objective_names, two.directions) == (["value_0", "value_1"], ["minimize", "maximize"])


@pytest.mark.parametrize(
    ("sampler", "name", "kwargs", "seed"),
    [
        ("nsgaii", "nsga2", {}, None),  # the official group's name for our nsga2
        ("nsga2", "nsga2", {}, None),
        ({"_target_": "ecopt_lightning.sweeper.config.auto_sampler", "seed": None}, "auto", {}, None),
        (
            {"_target_": "optuna.samplers.TPESampler", "seed": 123, "n_startup_trials": 5},
            "tpe",
            {"n_startup_trials": 5},
            123,
        ),
        ({"_target_": "optuna.samplers.GridSampler", "_partial_": True}, "grid", {}, None),
        ({"_target_": "my.pkg.Sampler", "seed": 4, "x": 1}, "custom", {"x": 1}, 4),
    ],
)
def test_sampler_is_a_name_or_a_target_config(sampler, name: str, kwargs: dict, seed) -> None:
    s = validate({"sampler": sampler})
    assert (s.sampler, s.sampler_kwargs, s.seed) == (name, kwargs, seed)
    assert s.sampler_target == ("my.pkg.Sampler" if name == "custom" else None)


def test_max_failure_rate_alone_lifts_the_max_failures_default() -> None:
    assert validate({"max_failure_rate": 1.0}).max_failures is None
    assert validate({"max_failure_rate": 0.5, "max_failures": 3}).max_failures == 3


def test_search_space_is_accepted_with_a_deprecation_note() -> None:
    s = validate({"search_space": {"x": {"type": "float", "low": -5.5, "high": 5.5, "step": 0.5}}})
    assert s.legacy_space == {"x": {"type": "float", "low": -5.5, "high": 5.5, "step": 0.5}}
    assert s.warnings and "deprecated" in s.warnings[0]


def test_omegaconf_containers_are_accepted_as_hydra_1_3_and_1_4_pass_them() -> None:
    from omegaconf import OmegaConf

    raw = OmegaConf.create({"objectives": [{"name": "loss", "direction": "MINIMIZE"}], "sampler_kwargs": {"a": 1}})
    s = validate(raw)
    assert (s.objective_names, s.directions, s.sampler_kwargs) == (["loss"], ["minimize"], {"a": 1})
    assert validate(dict(raw)).directions == ["minimize"]  # 1.4: top level a dict, nested still DictConfig


def test_a_sampler_name_in_a_config_file_is_not_overridden_by_a_group_default(tmp_path) -> None:
    """The group has no default entry: `sampler: tpe` in a `@package hydra.sweeper` file stays tpe."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[2]
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "s.yaml").write_text("# @package hydra.sweeper\nsampler: tpe\n")
    (tmp_path / "app.py").write_text(
        "import hydra\n@hydra.main(version_base=None, config_path='.', config_name=None)\ndef main(cfg):\n    pass\n"
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "app.py", "hydra/sweeper=ecopt", "+search=s", "--cfg", "hydra", "-p", "hydra.sweeper.sampler"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "tpe"


def test_one_logger_may_be_named_alone() -> None:
    """``hydra.sweeper.loggers=tensorboard`` was read letter by letter: "loggers='t' is not allowed"."""
    assert validate({"loggers": "tensorboard"}).loggers == ["tensorboard"]
    assert validate({"loggers": ["TensorBoard", "mlflow"]}).loggers == ["tensorboard", "mlflow"]


def test_a_null_or_boolean_in_params_reaches_the_app_as_that_value() -> None:
    """``params: {x: null}`` in YAML was passed as ``x=None``, which Hydra reads as the string 'None'."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    settings = validate({"params": {"x": None, "flag": False, "w": "choice(1,2)"}})
    space = parse_space(settings.params)
    assert space.fixed == ["x=null", "flag=false"]
    values = [o.value() for o in OverridesParser.create().parse_overrides(space.fixed)]
    assert values == [None, False]


def test_errors_show_the_objectives_as_the_config_writes_them() -> None:
    """An error on the objectives named them as 'val_acc:maximize', a spelling no config accepts, and named
    objectives also when the config had set direction."""
    from ecopt_lightning.sweeper._literals import hydra_literal

    field, value = validate({"objectives": [{"name": "acc", "direction": "maximize"}]}).objectives_as_given()
    assert (
        f"hydra.sweeper.{field}={hydra_literal(value)}"
        == "hydra.sweeper.objectives=[{name: 'acc', direction: 'maximize'}]"
    )
    assert validate({"direction": "minimize"}).objectives_as_given() == ("direction", "minimize")
    assert validate({"direction": ["minimize", "maximize"]}).objectives_as_given() == (
        "direction",
        ["minimize", "maximize"],
    )


def test_a_number_is_a_study_name() -> None:
    assert validate({"study_name": 2024}).study_name == "2024"


def test_nested_params_are_dotted_keys() -> None:
    """``+hydra.sweeper.params.model.width='choice(8,16)'`` gives a nested mapping; it was passed on as
    ``model={'width': 'choice(8,16)'}``, which Hydra's grammar refuses."""
    params = validate({"params": {"model": {"width": "choice(8,16)", "opt": {"name": "adam"}}, "lr": 0.1}}).params
    assert params == {"model.width": "choice(8,16)", "model.opt.name": "adam", "lr": "0.1"}


def test_a_custom_search_space_that_cannot_be_imported_says_why(tmp_path, monkeypatch) -> None:
    """A module that imports a missing package gave the same line as a misspelt path, without the reason."""
    (tmp_path / "myspace.py").write_text("import no_such_package_xyz\n\ndef fn(cfg, trial):\n    return None\n")
    (tmp_path / "notfn.py").write_text("fn = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SweeperConfigError) as info:
        validate({"custom_search_space": "myspace.fn"})
    assert str(info.value) == (
        "hydra.sweeper.custom_search_space='myspace.fn' is not allowed: an importable dotted path to a function "
        "(cfg, trial) -> dict | None (ModuleNotFoundError: No module named 'no_such_package_xyz')"
    )
    with pytest.raises(SweeperConfigError, match=r"-> dict \| None \(it is a int\)$"):
        validate({"custom_search_space": "notfn.fn"})


def test_search_space_and_params_are_both_kept_params_winning() -> None:
    """docs/sweeper.md's table of differences: hydra-optuna-sweeper ignores search_space when params is set."""
    s = validate(
        {
            "params": {"y": "choice(1,2)"},
            "search_space": {"x": {"type": "int", "low": 1, "high": 3}, "y": {"type": "int", "low": 5, "high": 9}},
        }
    )
    space = parse_space(s.params, legacy=s.legacy_space)
    assert space.distributions == {"x": IntDistribution(1, 3), "y": CategoricalDistribution([1, 2])}
    assert "params and search_space are both set: params win for keys in both" in s.warnings[0]


def test_a_list_in_params_reaches_the_app_as_that_list() -> None:
    """``params: {x: [1, null, a b]}`` was written with str(), as [1, None, 'a b']: Hydra reads None as 'None'."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (fixed,) = parse_space(validate({"params": {"x": [1, None, "a b", True]}}).params).fixed
    assert OverridesParser.create().parse_overrides([fixed])[0].value() == [1, None, "a b", True]


def test_numbers_given_as_text_are_taken_as_hydra_optuna_sweeper_takes_them() -> None:
    """Regression (compatibility audit, 2026-11-29): hydra-optuna-sweeper's typed fields convert a string of a
    number (``n_trials: ${oc.env:N_TRIALS}`` resolves to one); ours refused it."""
    settings = validate(
        {"params": {"x": "range(1, 3)"}, "n_trials": "30", "n_jobs": " 2 ", "max_failure_rate": "0.5"}
        | {"energy_budget_J": "1e3"}
    )
    assert (settings.n_trials, settings.n_jobs, settings.max_failure_rate, settings.energy_budget_J) == (
        30,
        2,
        0.5,
        1000.0,
    )


def test_strings_with_backslashes_or_quotes_in_a_params_list_reach_the_app_unchanged() -> None:
    """The list was written with the messages' quoting, ``repr()``, beside the overrides' own writer: ``'C:\\\\data'``
    parsed back with two backslashes, and a string holding both quote marks did not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    value = ["C:\\data", 'it\'s a "b"', "end\\"]
    (fixed,) = parse_space(validate({"params": {"x": value}}).params).fixed
    assert OverridesParser.create().parse_overrides([fixed])[0].value() == value


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (
            "hydra.sweeper.sampler.n_startup_trials=abc",
            "hydra.sweeper.sampler.n_startup_trials='abc' is not allowed: an integer or null (TPESampler's "
            "n_startup_trials)",
        ),
        (
            "hydra.sweeper.sampler.n_startup_trials=1.5",
            "hydra.sweeper.sampler.n_startup_trials=1.5 is not allowed: an integer or null (TPESampler's "
            "n_startup_trials)",
        ),
        (
            "hydra.sweeper.sampler.prior_weight=heavy",
            "hydra.sweeper.sampler.prior_weight='heavy' is not allowed: a number or null (TPESampler's prior_weight)",
        ),
        (
            "hydra.sweeper.sampler.multivariate=maybe",
            "hydra.sweeper.sampler.multivariate='maybe' is not allowed: true, false or null (TPESampler's "
            "multivariate)",
        ),
        (
            "hydra.sweeper.sampler.seed=abc",
            "hydra.sweeper.sampler.seed='abc' is not allowed: an integer >= 0 or null",
        ),
    ],
)
def test_a_bad_typed_sampler_field_is_one_line_naming_the_field_value_and_what_is_allowed(
    tmp_path, override: str, said: str
) -> None:
    """Regression (stop 32's open list): OmegaConf refused it in four lines ("Value 'abc' of type 'str' could not
    be converted to Integer", full_key, object_type) before the sweeper ran."""
    from .conftest import run_multirun

    proc = run_multirun(tmp_path / "sweep", "width=choice(8,16)", "hydra/sweeper/sampler=tpe", override)
    lines = [x for x in proc.stderr.splitlines() if x.strip() and "HYDRA_FULL_ERROR" not in x]
    assert proc.returncode != 0 and lines == [said], proc.stderr
    assert not (tmp_path / "sweep").exists()


def test_a_typed_sampler_field_given_as_text_of_its_type_is_converted_as_omegaconf_converts_it(multirun) -> None:
    proc = multirun(
        "width=choice(8,16)",
        "hydra/sweeper/sampler=tpe",
        "hydra.sweeper.sampler.n_startup_trials='1'",
        "hydra.sweeper.sampler.multivariate='true'",
        "hydra.sweeper.n_trials=2",
    )
    assert "TPESampler" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("sampler", "whose"),
    [
        (["hydra.sweeper.sampler=tpe"], "TPESampler's n_startup_trials"),
        ([], "n_startup_trials of the samplers auto picks from"),  # auto, the default, picks its sampler later
    ],
)
def test_a_bad_typed_sampler_kwargs_value_is_refused_before_anything_runs(tmp_path, sampler, whose) -> None:
    """Found in the stop-32 audit: sampler_kwargs={n_startup_trials: abc} ran the baseline trial (energy spent),
    then stopped with TPE's TypeError at the next proposal, which the same command would repeat on resume."""
    from .conftest import run_multirun

    proc = run_multirun(
        tmp_path / "sweep",
        "width=choice(8,16,32)",
        "hydra.sweeper.n_trials=3",
        *sampler,
        "hydra.sweeper.sampler_kwargs={n_startup_trials: abc}",
    )
    lines = [x for x in proc.stderr.splitlines() if x.strip() and "HYDRA_FULL_ERROR" not in x]
    assert proc.returncode != 0 and lines == [
        f"hydra.sweeper.sampler_kwargs.n_startup_trials='abc' is not allowed: an integer or null ({whose})"
    ], proc.stderr
    assert not (tmp_path / "sweep").exists()
