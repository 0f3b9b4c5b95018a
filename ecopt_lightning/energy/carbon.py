"""Turn joules into emissions (gCO2e) and money, with defaults named after their public source.

Defaults, all overridable:

- Carbon intensity 480 gCO2e/kWh: the world's average electricity in 2023 (Ember, Global Electricity
  Review 2024). Use your grid's figure (e.g. from your utility or Electricity Maps) for real reports.
- PUE 1.0: device energy only. Data centres add cooling and power delivery; the Uptime Institute's 2023
  survey puts the industry average near 1.58.
- Price 0.127 USD/kWh: the US average retail price of electricity, all sectors, 2023 (US EIA, Electric
  Power Monthly).
"""

from __future__ import annotations

import math

J_PER_KWH = 3.6e6
DEFAULT_INTENSITY_G_PER_KWH = 480.0
DEFAULT_PUE = 1.0
DEFAULT_PRICE_PER_KWH = 0.127
DEFAULT_CURRENCY = "USD"


def _check(name: str, value: float, minimum: float, strict: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{name}={value!r} is not allowed: give a finite number {bound}")
    return float(value)


def joules_to_kwh(energy_J: float) -> float:
    """J -> kWh.

    Example:
        >>> joules_to_kwh(3.6e6)
        1.0
    """
    return energy_J / J_PER_KWH


def carbon_g(
    energy_J: float, intensity_g_per_kWh: float = DEFAULT_INTENSITY_G_PER_KWH, pue: float = DEFAULT_PUE
) -> float:
    """Emissions in gCO2e of ``energy_J`` joules at a grid intensity (gCO2e/kWh) and PUE (>= 1).

    Example:
        >>> round(carbon_g(3.6e6, intensity_g_per_kWh=100.0, pue=1.5), 6)
        150.0
    """
    _check("intensity_g_per_kWh", intensity_g_per_kWh, 0.0)
    _check("pue", pue, 1.0)
    return joules_to_kwh(energy_J) * pue * intensity_g_per_kWh


def cost(energy_J: float, price_per_kWh: float = DEFAULT_PRICE_PER_KWH, pue: float = DEFAULT_PUE) -> float:
    """Cost of ``energy_J`` joules at ``price_per_kWh`` (any currency) and PUE.

    Example:
        >>> round(cost(3.6e6, price_per_kWh=0.2), 6)
        0.2
    """
    _check("price_per_kWh", price_per_kWh, 0.0)
    _check("pue", pue, 1.0)
    return joules_to_kwh(energy_J) * pue * price_per_kWh
