"""Turn joules into emissions (gCO2e) and money, with defaults named after their public source.

Defaults, all overridable:

- Carbon intensity 480 gCO2e/kWh: the world's average electricity in 2023 (Ember, Global Electricity
  Review 2024). Use your grid's figure (e.g. from your utility or Electricity Maps) for real reports, or a
  country's yearly average from :data:`REGION_INTENSITY_G_PER_KWH` (:func:`grid_intensity`). No network.
- PUE 1.0: device energy only. Data centres add cooling and power delivery; the Uptime Institute's 2023
  survey puts the industry average near 1.58.
- Price 0.127 USD/kWh: the US average retail price of electricity, all sectors, 2023 (US EIA, Electric
  Power Monthly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .checks import finite

J_PER_KWH = 3.6e6
DEFAULT_INTENSITY_G_PER_KWH = 480.0
DEFAULT_INTENSITY_BASIS = "world average 2023 (Ember, Global Electricity Review 2024)"
#: gCO2e/kWh of a country's electricity generation, yearly average (lifecycle emissions), by ISO 3166-1 alpha-2
#: code; the source and year are :data:`REGION_INTENSITY_SOURCE`.
REGION_INTENSITY_G_PER_KWH = {
    "AU": 548.7,
    "BR": 98.3,
    "CA": 170.0,
    "CH": 34.8,
    "CN": 582.3,
    "DE": 381.0,
    "ES": 174.1,
    "FI": 79.2,
    "FR": 56.0,
    "GB": 237.6,
    "IE": 290.8,
    "IN": 713.4,
    "IT": 330.7,
    "JP": 485.4,
    "KR": 430.6,
    "NL": 267.6,
    "NO": 30.1,
    "PL": 661.9,
    "SE": 40.7,
    "US": 369.5,
}
REGION_INTENSITY_SOURCE = "yearly average 2023 (Ember, Yearly Electricity Data, via Our World in Data)"
DEFAULT_PUE = 1.0
DEFAULT_PRICE_PER_KWH = 0.127
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class GridIntensity:
    """A grid's carbon intensity (gCO2e/kWh) and where the figure comes from."""

    g_per_kWh: float
    basis: str
    region: str | None = None

    @property
    def label(self) -> str:
        """E.g. ``480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)``."""
        where = f"{self.region} " if self.region else ""
        return f"{self.g_per_kWh:g} gCO2e/kWh, {where}{self.basis}"

    def to_dict(self, pue: float = DEFAULT_PUE) -> dict[str, Any]:
        """The keys every summary's ``carbon`` entry starts with: intensity (gCO2e/kWh), basis, region, label, PUE."""
        return {
            "intensity_g_per_kWh": self.g_per_kWh,
            "basis": self.basis,
            "region": self.region,
            "label": self.label,
            "pue": pue,
        }

    def entry(self, energy_J: float, pue: float = DEFAULT_PUE) -> dict[str, Any]:
        """A summary's ``carbon`` entry for ``energy_J`` joules: :meth:`to_dict` and ``total_gCO2e``.

        Example:
            >>> entry = grid_intensity("FR").entry(3.6e6)
            >>> entry["total_gCO2e"], entry["label"]
            (56.0, '56 gCO2e/kWh, FR yearly average 2023 (Ember, Yearly Electricity Data, via Our World in Data)')
        """
        return {**self.to_dict(pue), "total_gCO2e": carbon_g(energy_J, self.g_per_kWh, pue)}


@dataclass(frozen=True)
class CarbonBasis:
    """What gCO2e are computed at: a grid intensity, a PUE and where that PUE comes from, in words."""

    grid: GridIntensity
    pue: float
    pue_text: str


def grid_intensity(region: str | None = None, intensity_g_per_kWh: float | None = None) -> GridIntensity:
    """The intensity to use: an explicit figure, else a country's yearly average, else the world average.

    Example:
        >>> grid_intensity().label
        '480 gCO2e/kWh, world average 2023 (Ember, Global Electricity Review 2024)'
        >>> grid_intensity("fr").g_per_kWh, grid_intensity(intensity_g_per_kWh=20).basis
        (56.0, 'user setting')
    """
    if intensity_g_per_kWh is not None and region is not None:
        raise ValueError(
            f"carbon_region={region!r} and carbon_intensity_g_per_kWh={intensity_g_per_kWh!r}: give one of them"
        )
    if intensity_g_per_kWh is not None:
        return GridIntensity(finite("carbon_intensity_g_per_kWh", intensity_g_per_kWh, 0.0), "user setting")
    if region is None:
        return GridIntensity(DEFAULT_INTENSITY_G_PER_KWH, DEFAULT_INTENSITY_BASIS)
    code = str(region).strip().upper()
    if code not in REGION_INTENSITY_G_PER_KWH:
        raise ValueError(
            f"carbon_region={region!r} is not allowed: one of {', '.join(REGION_INTENSITY_G_PER_KWH)} (ISO 3166-1 "
            "codes), or give carbon_intensity_g_per_kWh"
        )
    return GridIntensity(REGION_INTENSITY_G_PER_KWH[code], REGION_INTENSITY_SOURCE, code)


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
    finite("intensity_g_per_kWh", intensity_g_per_kWh, 0.0)
    finite("pue", pue, 1.0)
    return joules_to_kwh(energy_J) * pue * intensity_g_per_kWh


def check_factors(pue: float, price_per_kWh: float | None = None) -> None:
    """The checks :func:`carbon_g` and :func:`cost` make of ``pue`` and ``price_per_kWh`` (``None``: no price),
    for settings taken long before the first use: one-line ``ValueError``.

    Example:
        >>> check_factors(0.9)
        Traceback (most recent call last):
        ...
        ValueError: pue=0.9 is not allowed: give a finite number >= 1
    """
    finite("pue", pue, 1.0)
    if price_per_kWh is not None:
        finite("price_per_kWh", price_per_kWh, 0.0)


def cost(energy_J: float, price_per_kWh: float = DEFAULT_PRICE_PER_KWH, pue: float = DEFAULT_PUE) -> float:
    """Cost of ``energy_J`` joules at ``price_per_kWh`` (any currency) and PUE.

    Example:
        >>> round(cost(3.6e6, price_per_kWh=0.2), 6)
        0.2
    """
    finite("price_per_kWh", price_per_kWh, 0.0)
    finite("pue", pue, 1.0)
    return joules_to_kwh(energy_J) * pue * price_per_kWh
