"""benchmarks/pruning.py's arithmetic: the feasible front's hypervolume against cumulative energy, and the
energy each sweep spends to reach the hypervolume both reach."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from pruning import HV_FRACTION, compare, energy_to_reach, hv_curve

BOUND = 0.01  # J per sample


def row(state: str, energy: float, acc: float | None = None, j: float | None = None, width: int = 0) -> dict:
    return {"state": state, "energy_J": energy, "acc": acc, "j_per_sample": j, "params": {"width": width}}


def test_infeasible_and_pruned_trials_cost_energy_but_add_no_hypervolume() -> None:
    rows = [
        row("COMPLETE", 10, 0.8, 0.005),
        row("COMPLETE", 50, 0.99, 0.02),
        row("PRUNED", 1),
        row("COMPLETE", 10, 0.9, 0.002),
    ]
    curve = hv_curve(rows, (0.0, BOUND))
    assert [e for e, _ in curve] == [10, 60, 61, 71]
    # front (acc, J): (0.8, 0.005) then (0.9, 0.002) dominates it; reference (acc 0, J 0.01)
    assert [hv for _, hv in curve] == pytest.approx([0.8 * 0.005, 0.8 * 0.005, 0.8 * 0.005, 0.9 * 0.008])
    assert energy_to_reach(curve, 0.8 * 0.005) == 10
    assert energy_to_reach(curve, 0.9 * 0.008) == 71
    assert energy_to_reach(curve, 1.0) is None


def test_compare_takes_the_hypervolume_both_reach() -> None:
    plain = [row("COMPLETE", 60, 0.95, 0.05, 4096), row("COMPLETE", 10, 0.9, 0.002), row("COMPLETE", 10, 0.5, 0.001)]
    pruned = [row("PRUNED", 2, width=1024), row("COMPLETE", 10, 0.9, 0.002), row("COMPLETE", 10, 0.5, 0.001)]
    result = compare(plain, pruned, BOUND)
    assert result["target_hv"] == pytest.approx(HV_FRACTION * (0.9 * 0.008 + 0.5 * 0.001))
    assert result["energy_to_target_J"] == {"plain": 80, "pruned": 22}
    assert result["saving"] == pytest.approx(1 - 22 / 80)
    assert result["n_pruned"] == 1 and result["infeasible_trained"] == 1
    assert result["paired"] is False and result["saving_same_proposals"] is None  # other proposals (widths)


def test_paired_sweeps_compare_the_energy_spent_on_the_same_proposals() -> None:
    plain = [row("COMPLETE", 100, 0.95, 0.05, 4096), row("COMPLETE", 10, 0.9, 0.002, 16)]
    pruned = [row("PRUNED", 2, width=4096), row("COMPLETE", 11, 0.9, 0.0021, 16), row("COMPLETE", 9, 0.5, 0.001, 64)]
    result = compare(plain, pruned, BOUND)
    assert result["paired"] is True
    assert result["saving_same_proposals"] == pytest.approx(1 - 13 / 110)  # the third proposal is not counted
    # a model measured 5% dearer in one sweep still reaches the common target (95% of the smaller final HV)
    assert result["energy_to_target_J"] == {"plain": 110, "pruned": 13}
