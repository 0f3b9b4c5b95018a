"""Property-based tests (hypothesis) of the search-space grammar: what parses gives the distribution the text
says, what does not parse is a one-line SweeperConfigError naming the parameter, rendering round-trips."""

from __future__ import annotations

import math

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from ecopt_lightning.sweeper import SweeperConfigError
from ecopt_lightning.sweeper._space import parse_space, render

ints = st.integers(min_value=-1000, max_value=1000)
floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False).filter(lambda x: x == x)
words = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda w: w not in ("true", "false", "null"))
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(st.lists(st.one_of(ints, words), min_size=1, max_size=6, unique=True))
def test_choice_is_categorical_of_the_same_values(values) -> None:
    text = f"choice({', '.join(map(str, values))})"
    dist = parse_space({"k": text}).distributions["k"]
    assert isinstance(dist, CategoricalDistribution) and list(dist.choices) == values


@FAST
@given(ints, ints)
def test_interval_of_ints_is_float_and_int_cast_is_int_or_an_error(low, high) -> None:
    if low < high:
        dist = parse_space({"k": f"interval({low}, {high})"}).distributions["k"]
        assert dist == FloatDistribution(float(low), float(high))  # Hydra parses interval ends as floats
        dist = parse_space({"k": f"int(interval({low}, {high}))"}).distributions["k"]
        assert isinstance(dist, IntDistribution) and (dist.low, dist.high) == (low, high)
    else:
        with pytest.raises(SweeperConfigError, match=r"^hydra\.sweeper\.params\.k=") as info:
            parse_space({"k": f"interval({low}, {high})"})
        assert "\n" not in str(info.value)


@FAST
@given(floats, floats)
def test_int_cast_of_a_float_interval_reads_hydras_types(a, b) -> None:
    low, high = int(min(a, b)), int(max(a, b))  # Hydra's int() truncates toward zero, like Python's
    text = f"int(interval({min(a, b)!r}, {max(a, b)!r}))"
    if low < high:
        assert parse_space({"k": text}).distributions["k"] == IntDistribution(low, high)
    else:
        with pytest.raises(SweeperConfigError):
            parse_space({"k": text})


@FAST
@given(st.floats(min_value=-5, max_value=5), st.floats(min_value=-5, max_value=5))
def test_log_interval_needs_positive_ordered_bounds(a, b) -> None:
    low, high = 10.0**a, 10.0**b
    text = f"tag(log, interval({low!r}, {high!r}))"
    if low < high:
        dist = parse_space({"k": text}).distributions["k"]
        assert isinstance(dist, FloatDistribution) and dist.log
        assert math.isclose(dist.low, low) and math.isclose(dist.high, high)
    else:
        with pytest.raises(SweeperConfigError):
            parse_space({"k": text})
    with pytest.raises(SweeperConfigError, match="is not allowed"):
        parse_space({"k": f"tag(log, interval({-abs(low)!r}, {high!r}))"})


@FAST
@given(ints, ints, st.integers(min_value=1, max_value=50))
def test_int_range_includes_stop_like_the_official_sweeper(start, stop, step) -> None:
    values = list(range(start, stop + 1, step))  # hydra-optuna-sweeper: IntDistribution(start, stop, step)
    text = f"range({start}, {stop}, {step})"
    if values:
        dist = parse_space({"k": text}).distributions["k"]
        assert isinstance(dist, IntDistribution)
        assert (dist.low, dist.high, dist.step) == (min(values), max(values), step)
    else:
        with pytest.raises(SweeperConfigError, match=r"^hydra\.sweeper\.params\.k='range"):
            parse_space({"k": text})


@FAST
@given(
    st.integers(min_value=-100, max_value=100), st.integers(min_value=0, max_value=200), st.sampled_from([0.5, 0.25])
)
def test_float_range_ends_on_the_last_step_not_past_stop(start, n, step) -> None:
    dist = parse_space({"k": f"range({start * step}, {start * step + n * step}, step={step})"}).distributions["k"]
    assert isinstance(dist, FloatDistribution) and dist.step == step
    assert math.isclose(dist.low, start * step) and math.isclose(dist.high, start * step + n * step)


@FAST
@given(st.from_regex(r"[a-z]{1,6}", fullmatch=True).filter(lambda t: t != "log"))
def test_unknown_tag_is_a_one_line_error_naming_it(tag) -> None:
    with pytest.raises(SweeperConfigError, match=f"unknown tag '{tag}'") as info:
        parse_space({"k": f"tag({tag}, interval(1, 5))"})
    assert "\n" not in str(info.value)


@FAST
@given(st.one_of(ints, floats, words, st.booleans(), st.none(), st.text(max_size=12)))
def test_render_round_trips_through_hydra(value) -> None:
    line = render("model.x", value)
    parsed = OverridesParser.create().parse_overrides([line])[0]
    assert parsed.key_or_group == "model.x"
    got = parsed.value()
    if isinstance(value, float):
        assert got == pytest.approx(value)
    else:
        assert got == value and type(got) is type(value)


@FAST
@given(st.text(alphabet="(),=:' abcxyz0123456789.-", min_size=1, max_size=20))
def test_anything_either_parses_or_is_a_one_line_error(text) -> None:
    try:
        parse_space({"k": text})
    except SweeperConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("hydra.sweeper.params.k=")
