"""The hydra-optuna-sweeper grammar, turned into Optuna distributions."""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from ecopt_lightning.sweeper._space import parse_space, render


def test_each_grammar_form_maps_to_its_distribution() -> None:
    space = parse_space(
        {
            "a": "choice(16,32,64)",
            "b": "range(1,4)",
            "c": "range(0.1,0.5,0.1)",
            "d": "interval(1,5)",
            "e": "interval(0.0,1.0)",
            "f": "tag(log, interval(1e-4, 1e-1))",
            "g": "tag(log, interval(1, 1024))",
            "h": "choice(adam,sgd)",
            "i": "shuffle(range(1,3))",
            "j": "0.5",
        }
    )
    d = space.distributions
    assert d["a"] == CategoricalDistribution([16, 32, 64])
    assert d["b"] == IntDistribution(1, 4)  # both ends, as hydra-optuna-sweeper
    assert isinstance(d["c"], FloatDistribution) and d["c"].step == 0.1 and d["c"].low == 0.1
    assert d["d"] == FloatDistribution(1.0, 5.0)  # Hydra parses interval ends as floats
    assert d["e"] == FloatDistribution(0.0, 1.0)
    assert d["f"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["g"] == FloatDistribution(1, 1024, log=True)
    assert d["h"] == CategoricalDistribution(["adam", "sgd"])
    assert sorted(d["i"].choices) == [1, 2]  # shuffled order
    assert space.fixed == ["j=0.5"]


def test_command_line_overrides_config_and_plain_values_stay_fixed() -> None:
    space = parse_space({"width": "choice(8,16)", "lr": "interval(0.1,0.2)"}, ["width=1,2,3", "lr=0.3", "+x=y"])
    assert space.distributions == {"width": CategoricalDistribution([1, 2, 3])}
    assert space.fixed == ["lr=0.3", "+x=y"]


def test_render_uses_hydra_spelling() -> None:
    assert [render("k", v) for v in (True, None, 0.1, 3, "adam")] == ["k=true", "k=null", "k=0.1", "k=3", "k='adam'"]


def test_the_issue_table_gives_the_official_sweepers_meaning() -> None:
    """issue 14: each expression as hydra-optuna-sweeper 1.3 measured it."""
    d = parse_space(
        {
            "a": "range(1,3)",
            "b": "range(-5.5, 5.5, step=0.5)",
            "c": "interval(0, 1)",
            "e": "tag(log, interval(1, 5))",
            "f": "int(interval(1.5, 5.5))",
            "g": "tag(log, int(interval(1, 5)))",
        }
    ).distributions
    assert d["a"] == IntDistribution(1, 3)
    assert d["b"] == FloatDistribution(-5.5, 5.5, step=0.5)
    assert d["c"] == FloatDistribution(0.0, 1.0)
    assert d["e"] == FloatDistribution(1.0, 5.0, log=True)
    assert d["f"] == IntDistribution(1, 5)
    assert d["g"] == IntDistribution(1, 5, log=True)


def test_string_choices_render_to_the_same_strings() -> None:
    """issue 15 item 6: quoting keeps spaces, commas, '=', quotes and str-typed 'true'/'null'/'1e3'."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values = ["a b", "c,d", "e=f", "it's", "true", "null", "1e3"]
    dist = parse_space({"z": "choice('a b','c,d','e=f',\"it's\",'true','null','1e3')"}).distributions["z"]
    assert list(dist.choices) == values
    parser = OverridesParser.create()
    for value in values:
        override = parser.parse_overrides([render("+z", value)])[0]
        assert not override.is_sweep_override() and override.value() == value


def test_official_tests_own_cases_shuffle_and_delete() -> None:
    space = parse_space({}, ["key=shuffle(range(1,3))", "~z", "~w=10", "key2=5"])
    assert set(space.distributions["key"].choices) == {1, 2}
    assert space.fixed == ["~z", "~w=10", "key2=5"]


def test_a_float_range_keeps_its_stop_when_the_steps_reach_it_in_decimals() -> None:
    """range(0.1, 1.0, 0.3) is 0.1, 0.4, 0.7, 1.0 (as in hydra-optuna-sweeper); 0.1 + 3 * 0.3 is 0.9999999999999999
    in floats, and Optuna cut that range down to 0.7 with a warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = parse_space({"a": "range(0.1, 1.0, 0.3)", "b": "range(0.1, 0.7, 0.2)", "c": "range(0, 1, 0.3)"})
    assert d.distributions["a"] == FloatDistribution(0.1, 1.0, step=0.3)
    assert d.distributions["b"] == FloatDistribution(0.1, 0.7, step=0.2)
    assert d.distributions["c"] == FloatDistribution(0.0, 0.9, step=0.3)


def test_a_deprecated_search_space_entry_without_its_bounds_or_choices_says_which() -> None:
    """``choices: ab`` (a string) became the choices 'a' and 'b'; a missing ``choices`` or ``high`` was named only
    by Python's own error ("'choices'", "int() argument must be ... not 'NoneType'")."""
    import pytest

    from ecopt_lightning.sweeper.errors import SweeperConfigError

    cases = {
        "categorical needs choices: a non-empty list": [
            {"type": "categorical"},
            {"type": "categorical", "choices": "ab"},
        ],
        "int needs low and high: numbers": [{"type": "int", "low": 1}],
        "float needs low and high: numbers": [{"type": "float", "low": "a", "high": 2}],
    }
    for reason, items in cases.items():
        for item in items:
            with pytest.raises(SweeperConfigError) as info:
                parse_space({}, legacy={"x": item})
            assert str(info.value).endswith(f"is not allowed: a valid distribution ({reason})")
    assert parse_space({}, legacy={"x": {"type": "int", "low": 1, "high": 4.0}}).distributions == {
        "x": IntDistribution(1, 4)
    }


def test_choices_equal_in_python_but_of_other_types_are_refused() -> None:
    """``choice(1, 2.5, abc, true)``: Optuna stores a choice as the index of the first equal one, so the trials that
    ran ``x=true`` were recorded (and reported, optimization_results.yaml too) as ``x: 1``."""
    import pytest

    from ecopt_lightning.sweeper.errors import SweeperConfigError

    for expression, said in [
        ("choice(1, 2.5, abc, true)", "choices 1 and true are equal in Python, so Optuna would record true as 1"),
        ("choice(false, 0)", "choices false and 0 are equal in Python, so Optuna would record 0 as false"),
        ("choice(2, 2.0)", "choices 2 and 2.0 are equal in Python, so Optuna would record 2.0 as 2"),
    ]:
        with pytest.raises(SweeperConfigError) as info:
            parse_space({}, [f"x={expression}"])
        assert str(info.value).endswith(f"({said}: keep one, or quote one)")
    with pytest.raises(SweeperConfigError, match="choices 1 and true are equal in Python"):
        parse_space({}, legacy={"x": {"type": "categorical", "choices": [1, True]}})
    assert parse_space({}, ["x=choice(1, 2.5, abc, 'true')"]).distributions == {
        "x": CategoricalDistribution([1, 2.5, "abc", "true"])
    }
