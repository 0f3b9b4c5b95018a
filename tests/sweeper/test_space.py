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
    assert d["b"] == IntDistribution(1, 3)  # Hydra's range excludes stop
    assert isinstance(d["c"], FloatDistribution) and d["c"].step == 0.1 and d["c"].low == 0.1
    assert d["d"] == IntDistribution(1, 5)
    assert d["e"] == FloatDistribution(0.0, 1.0)
    assert d["f"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["g"] == IntDistribution(1, 1024, log=True)
    assert d["h"] == CategoricalDistribution(["adam", "sgd"])
    assert sorted(d["i"].choices) == [1, 2]  # shuffled order
    assert space.fixed == ["j=0.5"]


def test_command_line_overrides_config_and_plain_values_stay_fixed() -> None:
    space = parse_space({"width": "choice(8,16)", "lr": "interval(0.1,0.2)"}, ["width=1,2,3", "lr=0.3", "+x=y"])
    assert space.distributions == {"width": CategoricalDistribution([1, 2, 3])}
    assert space.fixed == ["lr=0.3", "+x=y"]


def test_render_uses_hydra_spelling() -> None:
    assert [render("k", v) for v in (True, None, 0.1, 3, "adam")] == ["k=true", "k=null", "k=0.1", "k=3", "k=adam"]
