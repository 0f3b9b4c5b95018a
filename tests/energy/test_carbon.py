import pytest

from ecopt_lightning import carbon_g, cost, joules_to_kwh


def test_conversions():
    assert joules_to_kwh(7.2e6) == pytest.approx(2.0)
    assert carbon_g(3.6e6) == pytest.approx(480.0)  # default: world average 2023
    assert carbon_g(3.6e6, intensity_g_per_kWh=50.0, pue=1.2) == pytest.approx(60.0)
    assert cost(3.6e6) == pytest.approx(0.127)
    assert cost(1.8e6, price_per_kWh=0.3, pue=2.0) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: carbon_g(1.0, intensity_g_per_kWh=-1.0), "intensity_g_per_kWh=-1.0 is not allowed"),
        (lambda: carbon_g(1.0, pue=0.9), "pue=0.9 is not allowed: give a finite number >= 1"),
        (lambda: cost(1.0, price_per_kWh=float("nan")), "price_per_kWh=nan is not allowed"),
    ],
)
def test_bad_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_grid_intensity_default_region_and_explicit_each_say_where_the_figure_comes_from():
    from ecopt_lightning.energy.carbon import grid_intensity

    world = grid_intensity()
    assert (world.g_per_kWh, world.region) == (480.0, None)
    assert world.label == "480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)"
    de = grid_intensity("DE")
    assert de.g_per_kWh == 381.0
    assert de.label == "381 gCO2e/kWh, DE yearly average 2023 (Ember, Yearly Electricity Data, via Our World in Data)"
    assert grid_intensity(" se ").region == "SE"
    own = grid_intensity(intensity_g_per_kWh=12.5)
    assert own.label == "12.5 gCO2e/kWh, user setting"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "XX"}, "carbon_region='XX' is not allowed: one of AU, BR, "),
        ({"region": "DE", "intensity_g_per_kWh": 100.0}, "give one of them"),
        ({"intensity_g_per_kWh": -3.0}, "carbon_intensity_g_per_kWh=-3.0 is not allowed"),
    ],
)
def test_grid_intensity_bad_input_is_one_line(kwargs, message):
    from ecopt_lightning.energy.carbon import grid_intensity

    with pytest.raises(ValueError, match=message) as info:
        grid_intensity(**kwargs)
    assert "\n" not in str(info.value)
