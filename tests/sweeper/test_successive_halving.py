"""The rung schedule and the promotion rule, on hand-computed cases (no Trainer, no storage)."""

from __future__ import annotations

import math

import pytest

from ecopt_lightning.sweeper.successive_halving import (
    RANKS,
    RungSchedule,
    crowding_distances,
    decide,
    hypervolume_order,
    minimised,
    ranking,
)

MIN2 = ["minimize", "minimize"]
ACC_ENERGY = ["maximize", "minimize"]  # val_acc, energy per sample


@pytest.mark.parametrize(
    ("schedule", "trainer_max", "epochs"),
    [
        (RungSchedule(1, 3, 27), None, [1, 3, 9, 27]),
        (RungSchedule(1, 3, 10), None, [1, 3, 9, 10]),
        (RungSchedule(1, 2, 1), None, [1]),  # the full budget is the only rung: nothing to decide
        (RungSchedule(2, 2), 10, [2, 4, 8, 10]),
        (RungSchedule(1, 4, 4), 99, [1, 4]),  # the schedule's own max wins over the Trainer's
    ],
)
def test_rungs(schedule: RungSchedule, trainer_max: int | None, epochs: list[int]) -> None:
    assert schedule.epochs(trainer_max) == epochs
    assert schedule.decision_epochs(trainer_max) == epochs[:-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_epochs": 0}, "min_epochs=0 is not allowed: an integer >= 1"),
        ({"eta": 1}, "eta=1 is not allowed: an integer >= 2"),
        ({"eta": 2.5}, "eta=2.5 is not allowed"),
        ({"min_epochs": 3, "max_epochs": 2}, "max_epochs=2 is not allowed: null or an integer >= min_epochs=3"),
        ({"rank": "hv"}, "rank='hv' is not allowed: one of nds_hv, nds_crowding"),
        ({"rank": "nds"}, "rank='nds' is not allowed: one of nds_hv, nds_crowding"),
        ({"rung_repeats": 0}, "rung_repeats=0 is not allowed: null or an integer >= 1"),
        ({"rung_repeats": True}, "rung_repeats=True is not allowed: null or an integer >= 1"),
        ({"keep_front": "yes"}, "keep_front='yes' is not allowed: true or false"),
    ],
)
def test_bad_schedule_is_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        RungSchedule(**kwargs)


def test_no_max_anywhere_is_an_error() -> None:
    with pytest.raises(ValueError, match="max_epochs=None is not allowed"):
        RungSchedule(1, 2).epochs()


def test_schedule_round_trips_through_attrs() -> None:
    schedules = (
        RungSchedule(2, 4, 32),
        RungSchedule(1, 3, 9, rank="nds_crowding"),
        RungSchedule(rung_repeats=None),
        RungSchedule(keep_front=False),
    )
    for s in schedules:
        assert RungSchedule.from_attrs(s.to_attrs()) == s


def test_a_schedule_stored_before_rung_repeats_keeps_measuring_once_at_the_first_rung() -> None:
    stored = {k: v for k, v in RungSchedule(1, 3, 9).to_attrs().items() if k != "rung_repeats"}
    assert RungSchedule().rung_repeats == 3 and RungSchedule.from_attrs(stored).rung_repeats is None
    assert RungSchedule().rank == "nds_hv"  # the default


def test_a_schedule_stored_before_keep_front_keeps_only_the_top() -> None:
    stored = {k: v for k, v in RungSchedule(1, 3, 9).to_attrs().items() if k != "keep_front"}
    assert RungSchedule().keep_front and not RungSchedule.from_attrs(stored).keep_front


def test_studies_stored_with_the_old_rule_name_keep_crowding() -> None:
    # before the rule was configurable a study stored rank "nds", which meant crowding distance
    assert RungSchedule.from_attrs({"min_epochs": 1, "eta": 3, "rank": "nds"}).rank == "nds_crowding"


def test_crowding_hand_computed() -> None:
    # front of 4 points, ranges 3 and 3: middle points get (gap_x + gap_y) / 3
    pts = [(0.0, 3.0), (1.0, 2.0), (2.0, 0.5), (3.0, 0.0)]
    d = crowding_distances(pts)
    assert d[0] == d[3] == math.inf
    assert d[1] == pytest.approx((2 - 0) / 3 + (3 - 0.5) / 3)
    assert d[2] == pytest.approx((3 - 1) / 3 + (2 - 0) / 3)


FOUR_ON_A_FRONT = {
    0: [0.0, 3.0],  # front 0, boundary (crowding inf)
    1: [1.0, 2.0],  # front 0, crowding 2/3 + 2.5/3 = 1.5
    2: [2.0, 0.5],  # front 0, crowding 2/3 + 2/3 = 1.33
    3: [3.0, 0.0],  # front 0, boundary (crowding inf)
    4: [3.0, 3.0],  # front 1 (dominated by 1 and 2)
}


def test_ranking_front_then_crowding_then_number() -> None:
    assert ranking(FOUR_ON_A_FRONT, MIN2, "nds_crowding") == [0, 3, 1, 2, 4]


def test_ranking_front_then_hypervolume_contribution() -> None:
    # reference: worst + 10% of the range per objective = (3.3, 3.3). Exclusive contributions on the front
    # (sorted by the first objective): 0: (1-0)(3.3-3) = 0.3, 1: (2-1)(3-2) = 1, 2: (3-2)(2-0.5) = 1.5,
    # 3: (3.3-3)(0.5-0) = 0.15 -> 3 dropped; then 0: 0.3, 1: 1, 2: (3.3-2)(2-0.5) = 1.95 -> 0 dropped;
    # then 1: (2-1)(3.3-2) = 1.3, 2: 1.95 -> 1 dropped. Best first: 2, 1, 0, 3; then the dominated 4.
    assert ranking(FOUR_ON_A_FRONT, MIN2) == ranking(FOUR_ON_A_FRONT, MIN2, "nds_hv") == [2, 1, 0, 3, 4]


def test_hypervolume_order_is_greedy_so_duplicates_do_not_both_sink() -> None:
    # reference (4, 4); 1 and 2 are the same point: each alone adds 0, so 2 (the later) is dropped first; then
    # 1 adds (3-1)(3-1) = 4 against the extremes' 1 and 1: it ranks first, its duplicate last
    points = [(0.0, 3.0), (1.0, 1.0), (1.0, 1.0), (3.0, 0.0)]
    assert hypervolume_order(points, (4.0, 4.0)) == [1, 0, 3, 2]
    assert hypervolume_order([(1.0, 1.0)], (4.0, 4.0)) == [0]
    assert hypervolume_order([], (4.0, 4.0)) == []


def test_hypervolume_tie_break_keeps_the_trade_off_crowding_drops() -> None:
    # the benchmark's case: eta=2, four trials on one front at a rung, (val_acc, J per sample). Minimised:
    # 0 (-0.90, 5.0), 3 (-0.89, 1.2), 2 (-0.80, 1.0), 1 (-0.20, 0.1); reference (-0.2 + 0.07, 5 + 0.49).
    # Contributions: 0: 0.01 x 0.49 = 0.0049, 3: 0.09 x 3.8 = 0.342, 2: 0.6 x 0.2 = 0.12, 1: 0.07 x 0.9 = 0.063
    # -> 0 dropped; then 3: 0.09 x 4.29 = 0.386, 2: 0.12, 1: 0.063 -> 1 dropped; then 2: 0.67 x 0.2 = 0.134 < 3.
    cohort = {0: [0.90, 5.0], 1: [0.20, 0.1], 2: [0.80, 1.0], 3: [0.89, 1.2]}
    assert ranking(cohort, ACC_ENERGY, "nds_hv") == [3, 2, 1, 0]
    keep_hv = {k for k in cohort if decide(k, cohort, ACC_ENERGY, eta=2, keep_front=False).go_on}
    assert keep_hv == {3, 2}  # the 89% trade-off and its neighbour go on
    # crowding ranks the two extremes first: the 20%-accuracy cheap model and the most expensive one go on
    assert ranking(cohort, ACC_ENERGY, "nds_crowding")[:2] == [0, 1]
    keep_crowding = {
        k for k in cohort if decide(k, cohort, ACC_ENERGY, eta=2, rank="nds_crowding", keep_front=False).go_on
    }
    assert keep_crowding == {0, 1}
    # keep_front (the default): the whole front goes on, whichever the tie-break
    for rank in RANKS:
        assert all(decide(k, cohort, ACC_ENERGY, eta=2, rank=rank).go_on for k in cohort)


def test_keep_front_lets_a_front_member_below_the_top_go_on_and_the_dominated_stop() -> None:
    # (val_acc, J per sample): a front of three, 0 (accurate, dear), 1, 2 (frugal); 3, 4 and 5 are dominated.
    # On log10 J/sample the dear end 0 adds least of the front: it ranks third, below the top 2 (6 // eta 3)
    cohort = {0: [0.95, 3e-4], 1: [0.90, 2e-5], 2: [0.60, 3e-6], 3: [0.85, 5e-5], 4: [0.70, 1e-4], 5: [0.5, 4e-4]}
    log_axes = [False, True]
    assert ranking(cohort, ACC_ENERGY, log_axes=log_axes)[:3] == [1, 2, 0]
    by_place = {k for k in cohort if decide(k, cohort, ACC_ENERGY, 3, log_axes=log_axes, keep_front=False).go_on}
    assert by_place == {1, 2}
    kept = {k for k in cohort if decide(k, cohort, ACC_ENERGY, 3, log_axes=log_axes).go_on}
    assert kept == {0, 1, 2}
    d = decide(0, cohort, ACC_ENERGY, 3, log_axes=log_axes)
    assert d.reason == (
        "continue: on the rung's non-dominated front (ranked 3 of 6; the top 2, 1/eta=3, go on by place)"
    )


def test_ranking_refuses_an_unknown_rule() -> None:
    with pytest.raises(ValueError, match=r"^rank='crowding' is not allowed: one of nds_hv, nds_crowding$"):
        ranking({0: [1.0, 1.0]}, MIN2, "crowding")


def test_maximised_objective_is_negated() -> None:
    assert minimised([0.9, 2e-5], ACC_ENERGY) == [-0.9, 2e-5]
    # higher accuracy at the same energy dominates
    assert ranking({7: [0.5, 1.0], 8: [0.9, 1.0]}, ACC_ENERGY) == [8, 7]


def test_fewer_than_eta_trials_stop_only_when_dominated() -> None:
    # eta=3, floor(n/3) == 0: a lone trial goes on whatever its values
    alone = decide(0, {0: [0.1, 9.0]}, ACC_ENERGY, eta=3)
    assert (
        alone.go_on
        and alone.reason == "continue: 1 trial(s) at this rung, fewer than eta=3 (on the rung's non-dominated front)"
    )
    # the second, dominated by the first (less accurate and dearer), stops
    d = decide(1, {0: [0.9, 1.0], 1: [0.1, 9.0]}, ACC_ENERGY, eta=3)
    assert not d.go_on and d.keep == 0 and d.n == 2 and d.position == 1
    assert d.reason.startswith("stop: dominated at this rung, where 2 trial(s), fewer than eta=3, have arrived")
    # a trade-off (less accurate but cheaper) goes on, and so does the first trial ranked again beside it
    assert decide(1, {0: [0.9, 1.0], 1: [0.1, 0.5]}, ACC_ENERGY, eta=3).go_on
    assert decide(0, {0: [0.9, 1.0], 1: [0.1, 9.0]}, ACC_ENERGY, eta=3).go_on
    # without keep_front the first eta - 1 go on whatever their values (no place is open yet)
    top_only = decide(1, {0: [0.9, 1.0], 1: [0.1, 9.0]}, ACC_ENERGY, eta=3, keep_front=False)
    assert (
        top_only.go_on
        and top_only.reason == "continue: 2 trial(s) at this rung, fewer than eta=3 (nobody is stopped yet)"
    )


def test_third_trial_dominated_stops_top_one_goes_on() -> None:
    cohort = {0: [0.9, 1.0], 1: [0.8, 0.5], 2: [0.1, 9.0]}
    d = decide(2, cohort, ACC_ENERGY, eta=3)
    assert (d.go_on, d.position, d.n, d.keep) == (False, 2, 3, 1)
    assert d.reason == "stop: ranked 3 of 3 at this rung, the top 1 (1/eta=3) go on"
    # by place alone (keep_front off): 0 and 1 are both on the front with crowding inf, and the earlier number
    # wins the single place
    assert decide(0, cohort, ACC_ENERGY, eta=3, rank="nds_crowding", keep_front=False).go_on
    assert not decide(1, cohort, ACC_ENERGY, eta=3, rank="nds_crowding", keep_front=False).go_on
    # by hypervolume (reference (-0.1 + 0.08, 9 + 0.85)): 0 adds (0.9-0.8)(9.85-1) = 0.885, 1 adds
    # (0.8-0.02)(1-0.5) = 0.39: 0 goes on here too
    assert decide(0, cohort, ACC_ENERGY, eta=3, keep_front=False).go_on
    assert not decide(1, cohort, ACC_ENERGY, eta=3, keep_front=False).go_on
    # with keep_front (the default) 1 goes on too: it is on the front
    assert decide(1, cohort, ACC_ENERGY, eta=3).go_on


def test_eta_two_keeps_half_rounded_down() -> None:
    cohort = {0: [0.5, 1.0], 1: [0.6, 1.0], 2: [0.7, 1.0], 3: [0.8, 1.0], 4: [0.9, 1.0]}  # a chain: 4 > 3 > ...
    go_on = {k: decide(k, cohort, ACC_ENERGY, eta=2).go_on for k in cohort}
    assert go_on == {0: False, 1: False, 2: False, 3: True, 4: True}  # floor(5/2) = 2


def test_asynchronous_decisions_depend_only_on_who_has_reached_the_rung() -> None:
    # trial 1 arrives second (keep 0, a trade-off: goes on); trial 2 arrives third and is dominated: it stops
    # even though trial 1 is no longer at this rung (it went on): everyone who reached the rung counts
    seen = {0: [0.9, 1.0], 1: [0.5, 0.5]}
    assert decide(1, seen, ACC_ENERGY, eta=3).go_on
    assert not decide(2, {**seen, 2: [0.4, 3.0]}, ACC_ENERGY, eta=3).go_on


def test_bad_cohort_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^trial 3 is not in the rung's cohort \[0\]"):
        decide(3, {0: [1.0, 1.0]}, MIN2, eta=2)
    with pytest.raises(ValueError, match=r"^trial 0's rung values \[nan, 1.0\] are not 2 finite numbers"):
        decide(0, {0: [math.nan, 1.0]}, MIN2, eta=2)
