"""benchmarks/noise.py's verdicts, on hand-made measurements (no measuring: the script is for a quiet machine)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from noise import analyse, goal_lines, goals


def _rows(quiet_contended: bool, busy: list[tuple[float, bool]], halfwidth: float = 0.03) -> list[dict]:
    """Two configs, 2 quiet measurements per round (2 rounds), then the contended round's (value, flagged); each
    quiet measurement's interval is its value +- ``halfwidth``."""
    rows = []
    for config, base in (("16x1", 1.0), ("32x1", 2.0)):
        for i, factor in enumerate((1.0, 1.02, 0.99, 1.01)):
            value = base * factor
            rows.append({"condition": "quiet", "config": config, "measurement": i, "J_per_sample": value,
                         "interval": [value * (1 - halfwidth), value * (1 + halfwidth)],
                         "contended": quiet_contended, "converged": True})  # fmt: skip
        for i, (factor, flagged) in enumerate(busy):
            rows.append({"condition": "contended", "config": config, "measurement": i, "J_per_sample": base * factor,
                         "contended": flagged, "converged": False})  # fmt: skip
    return rows


def test_quiet_goals_pass_and_an_unflagged_outlier_fails_the_contention_goal():
    summary, _ = analyse(_rows(False, [(1.5, True), (1.01, False)]), 2)
    assert [ok for _, _, ok in goals(summary)] == [True, True, True]  # 1.01 is within 10%: no flag needed
    summary, lines = analyse(_rows(False, [(1.5, False)]), 2)
    assert summary["contended_off_unflagged"] == 2  # one per config
    verdicts = goal_lines(summary)
    assert verdicts[2].startswith("goal contended runs flagged: FAIL")
    assert any("| 16x1 |" in line for line in lines)


def test_quiet_goals_are_not_judged_when_the_quiet_rounds_were_contended():
    summary, _ = analyse(_rows(True, [(1.5, True)]), 2)
    assert [ok for _, _, ok in goals(summary)] == [None, None, True]
    assert (
        "NOT JUDGED" in goal_lines(summary)[0] and "100% of quiet measurements were contended" in goal_lines(summary)[0]
    )


def test_without_the_contended_round_its_goal_is_not_judged():
    summary, _ = analyse(_rows(False, []), 2)
    assert goals(summary)[2] == ("contended runs flagged", "not run (--no-contended)", None)


def test_interval_coverage_counts_the_quiet_intervals_that_hold_their_configs_median():
    # medians 1.005 and 2.01: +-3% intervals hold them all; +-0.6% ones only those of 1.0 and 1.01 (x base)
    assert analyse(_rows(False, [(1.0, False)]), 2)[0]["quiet_interval_coverage"] == 1.0
    summary, lines = analyse(_rows(False, [(1.0, False)], halfwidth=0.006), 2)
    assert summary["quiet_interval_coverage"] == 0.5
    assert "interval holds their configuration's median over all quiet measurements: 50%" in lines[-1]
    # side by side, the interval as if the repeats were independent: here the narrow one, in the rows that shifted
    rows = _rows(False, [(1.0, False)])
    for r in rows:
        if r["condition"] == "quiet":
            r["level_shifts"] = r["measurement"] % 2 == 1  # 1.02 and 1.01 (x base)
            r["independent_interval"] = [r["J_per_sample"] * 0.994, r["J_per_sample"] * 1.006]
    summary, lines = analyse(rows, 2)
    assert summary["quiet_interval_coverage"] == 1.0 and summary["quiet_independent_interval_coverage"] == 0.5
    assert summary["quiet_level_shifts_share"] == 0.5
    assert "shifted in level (runs test): 50% of the quiet measurements" in lines[-1]
    assert "as if their repeats were independent held the median 50% of the time" in lines[-1]


def test_the_machine_floor_is_the_spread_of_the_fixed_workload_per_config_and_round():
    rows = _rows(False, [(1.0, False)])
    controls = {"16x1": [0.10, 0.11, 0.10, 0.10], "32x1": [0.10, 0.10, 0.12, 0.10]}  # per measurement 0..3
    for r in rows:
        if r["condition"] == "quiet":
            r["control_cpu_s"] = controls[r["config"]][r["measurement"]]
    summary, lines = analyse(rows, 2)
    # 16x1: round 1 (0.10, 0.11) -> 0.01 / 0.105, round 2 0; 32x1: round 1 0, round 2 (0.12, 0.10) -> 0.02 / 0.11
    assert summary["per_config"]["16x1"]["machine_floor"] == pytest.approx([0.01 / 0.105, 0.0])
    assert summary["machine_floor_spread"] == pytest.approx([0.0, 0.02 / 0.11])
    assert "the machine's own floor, a fixed workload's CPU time: 0.0%..18.2%" in goal_lines(summary)[1]
    assert "floor" not in goal_lines(summary)[0]  # the tau line
    assert "spread by 0.0%..18.2% per configuration and round" in lines[-1]
    older, _ = analyse(_rows(False, [(1.0, False)]), 2)  # rows recorded before the control: no floor
    assert older["machine_floor_spread"] is None and "floor" not in goal_lines(older)[1]
