"""Own Pareto maths checked against brute force (property-based) and by hand."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ecopt_lightning.sweeper._pareto import (
    dominates,
    hypervolume,
    knee_index,
    non_dominated_ranks,
    pareto_indices,
    reference_point,
)

coords = st.integers(min_value=0, max_value=9).map(float)


def brute_hypervolume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Count unit cells of the integer grid dominated by some point (integer coordinates only)."""
    ranges = [range(int(r)) for r in ref]
    return float(
        sum(any(all(p[k] <= c[k] for k in range(len(ref))) for p in points) for c in itertools.product(*ranges))
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=8))
def test_hypervolume_2d_matches_grid_count(points: list[tuple[float, float]]) -> None:
    assert hypervolume(points, (10.0, 10.0)) == brute_hypervolume(points, (10.0, 10.0))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(coords, coords, coords), min_size=1, max_size=6))
def test_hypervolume_3d_matches_grid_count(points: list[tuple[float, float, float]]) -> None:
    assert hypervolume(points, (10.0, 10.0, 10.0)) == brute_hypervolume(points, (10.0, 10.0, 10.0))


def test_hypervolume_by_hand_and_edge_cases() -> None:
    assert hypervolume([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)], (4.0, 4.0)) == 6.0
    assert hypervolume([(5.0, 5.0)], (4.0, 4.0)) == 0.0  # beyond the reference: nothing
    assert hypervolume([(1.0,)], (3.0,)) == 2.0
    assert hypervolume([], (1.0, 1.0)) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coords, coords, coords), min_size=1, max_size=10))
def test_ranks_front_is_exactly_the_non_dominated_points(points: list[tuple[float, ...]]) -> None:
    ranks = non_dominated_ranks(points)
    for i, p in enumerate(points):
        assert (ranks[i] == 0) == (not any(dominates(q, p) for q in points))
        for j, q in enumerate(points):
            if dominates(p, q):
                assert ranks[i] < ranks[j]


def test_knee_and_reference_point() -> None:
    front = [(0.0, 10.0), (1.0, 1.0), (10.0, 0.0)]
    assert knee_index(front) == 1
    assert knee_index([]) is None
    assert pareto_indices(front) == [0, 1, 2]
    assert reference_point([(0.0, 2.0), (10.0, 4.0)]) == (11.0, 4.2)
