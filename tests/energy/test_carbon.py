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
