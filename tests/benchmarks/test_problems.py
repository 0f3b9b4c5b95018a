"""benchmarks/problems.py: known Pareto-optimal points lie on the published fronts; closed-form true HVs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from problems import PROBLEMS, WFG_K, ZDT6_F1_MIN, wfg_optimal

from ecopt_lightning.sweeper._pareto import hypervolume

POS = [0.0, 0.1, 0.37, 0.5, 0.81, 1.0]


@pytest.mark.parametrize(
    ("name", "front"),
    [("zdt1", lambda f1: 1 - math.sqrt(f1)), ("zdt2", lambda f1: 1 - f1**2), ("zdt4", lambda f1: 1 - math.sqrt(f1))],
)
def test_zdt_front_points(name: str, front) -> None:
    p = PROBLEMS[name]
    for x1 in POS:
        f = p.evaluate([x1] + [0.0] * (p.n_var - 1))
        assert f == pytest.approx((x1, front(x1)), abs=1e-12)


def test_zdt6_front_points_and_a_non_optimal_point() -> None:
    p = PROBLEMS["zdt6"]
    for x1 in POS:
        f1, f2 = p.evaluate([x1] + [0.0] * 9)
        assert f2 == pytest.approx(1 - f1**2) and f1 >= ZDT6_F1_MIN - 1e-9
    assert p.evaluate([0.5] + [1.0] * 9)[1] > 1.0  # g = 10 off the front


@pytest.mark.parametrize("name", ["dtlz2_2", "dtlz2_3"])
def test_dtlz2_front_is_the_unit_sphere(name: str) -> None:
    p = PROBLEMS[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = list(rng.random(p.n_obj - 1)) + [0.5] * (p.n_var - p.n_obj + 1)
        assert sum(v * v for v in p.evaluate(x)) == pytest.approx(1.0)
    assert sum(v * v for v in p.evaluate([0.3] * p.n_var)) > 1.0


@pytest.mark.parametrize("name", ["wfg4", "wfg9"])
def test_wfg_optimal_points_are_on_the_quarter_ellipse(name: str) -> None:
    p = PROBLEMS[name]
    rng = np.random.default_rng(1)
    for _ in range(5):
        f1, f2 = p.evaluate(wfg_optimal(p, WFG_K, rng.random(WFG_K)))
        assert (f1 / 2) ** 2 + (f2 / 4) ** 2 == pytest.approx(1.0)
    f1, f2 = p.evaluate([1.0] * p.n_var)
    assert (f1 / 2) ** 2 + (f2 / 4) ** 2 > 1.0


@pytest.mark.parametrize("name", ["zdt1", "zdt2", "zdt3", "zdt6", "dtlz2_2", "wfg4"])
def test_true_hv_matches_a_dense_front(name: str) -> None:
    p = PROBLEMS[name]
    t = np.linspace(0.0, 1.0, 2000 if name == "zdt3" else 400)
    if name == "zdt6":  # f1 falls from 1 to its minimum over x1 in [0, 0.082]: sample there densely
        pts = [p.evaluate([x] + [0.0] * (p.n_var - 1)) for x in t * 0.09]
    elif name.startswith("zdt"):
        pts = [p.evaluate([x] + [0.0] * (p.n_var - 1)) for x in t]
    elif name.startswith("dtlz2"):
        pts = [p.evaluate([x] + [0.5] * (p.n_var - 1)) for x in t]
    else:
        pts = [(2 * math.sin(a * math.pi / 2), 4 * math.cos(a * math.pi / 2)) for a in t]
    hv = hypervolume(pts, p.reference)
    assert hv <= p.true_hv + 1e-9
    assert hv == pytest.approx(p.true_hv, rel=2e-3)


def test_every_point_of_the_box_is_inside_the_reference() -> None:
    rng = np.random.default_rng(2)
    for p in PROBLEMS.values():
        lo, hi = np.array(p.bounds).T
        for x in lo + (hi - lo) * rng.random((50, p.n_var)):
            assert all(v < r for v, r in zip(p.evaluate(x), p.reference, strict=True)), p.name


def test_categorical_problems_best_fronts_are_the_enumerated_ones() -> None:
    from problems import LEVELS, SPACE_PROBLEMS

    zdt1_cat = SPACE_PROBLEMS["zdt1_cat"]  # best front: x0 on the 5 levels, the rest at level 0
    front = [(x, 1 - math.sqrt(x)) for x in LEVELS]
    assert zdt1_cat.reference == pytest.approx((1.1, 11.0))
    assert zdt1_cat.best_hv == pytest.approx(hypervolume(front, zdt1_cat.reference))
    assert zdt1_cat.evaluate({f"x{i}": 0 for i in range(6)}) == pytest.approx((0.0, 1.0))
    mixed = SPACE_PROBLEMS["zdt1_mixed"]  # x0 continuous: ZDT1's true front
    assert mixed.best_hv == pytest.approx(PROBLEMS["zdt1"].true_hv, rel=1e-6)


def test_failing_region_problem_fails_in_the_corner_next_to_its_optimum() -> None:
    from problems import SPACE_PROBLEMS

    oom = SPACE_PROBLEMS["oom"]
    pairs = [(b, w) for b in range(7) for w in range(5)]
    failing = [(b, w) for b, w in pairs if oom.evaluate({"batch": b, "width": w, "lr": 1e-2}) is None]
    assert len(failing) == 10 and all(b + w >= 7 for b, w in failing)
    # at each width, the largest batch that fits gives the lowest energy per sample: the optimum borders failure
    for w in range(5):
        fits = [b for b in range(7) if (b, w) not in failing]
        energy = [oom.evaluate({"batch": b, "width": w, "lr": 1e-2})[1] for b in fits]
        assert energy.index(min(energy)) == len(fits) - 1


def test_space_benchmark_run_counts_failures_and_the_ratio() -> None:
    import search

    row = search.run_space("oom", "tpe", seed=0, n_trials=12)
    assert row["complete"] == 12 or row["failed"] == 12
    assert row["failed"] + row["complete"] == len(row["values"]) + row["failed"]
    assert 0.0 < row["hv_ratio"] <= 1.0 + 1e-9
    bare = search.run_space("oom", "tpe", seed=0, n_trials=12, wrapped=False)
    assert bare["wrapped"] is False and bare["chose"] == "tpe"


def test_scheduled_gp_takes_every_fifth_proposal_from_random_inside_the_failure_wrapper() -> None:
    import search
    from scheduled_sampler import ScheduledSampler

    from ecopt_lightning.sweeper._failures import FailuresAsInfeasible

    name, kwargs, _ = search.resolve_method("gp_rand5", "oom", 12)
    sampler = search.build_space_sampler(name, kwargs, seed=0, wrapped=True)
    assert isinstance(sampler, FailuresAsInfeasible) and isinstance(sampler.inner, ScheduledSampler)
    picked = [type(sampler.inner.pick(n)).__name__ for n in (13, 14, 19)]
    assert picked == ["GPSampler", "RandomSampler", "RandomSampler"]
    row = search.run_space("oom", "gp_rand5", seed=0, n_trials=12)
    assert row["complete"] == 12 or row["failed"] == 12
    assert 0.0 < row["hv_ratio"] <= 1.0 + 1e-9


def test_nas_bench_graph_problem_reads_the_published_table() -> None:
    pytest.importorskip("nas_bench_graph")
    from problems import SPACE_PROBLEMS

    cora = SPACE_PROBLEMS["nbg_cora"]
    assert [name for name, _, _ in cora.params] == ["link", "op0", "op1", "op2", "op3"]
    # the package README's example cell, wiring [0, 1, 2, 1] (gcn, gin, fc, cheb): 0.79 validation accuracy on
    # cora; the same network is wiring 6, [0, 1, 1, 2], with ops (gcn, gin, cheb, fc) = (1, 2, 3, 7)
    error, latency = cora.evaluate({"link": 6, "op0": 1, "op1": 2, "op2": 3, "op3": 7})
    assert error == pytest.approx(0.21) and latency == pytest.approx(0.0036518574, rel=1e-6)
    assert cora.evaluate({"link": 3, "op0": 8, "op1": 8, "op2": 8, "op3": 8}) is None  # all skip: no network
    rng = np.random.default_rng(3)
    for combo in rng.integers(0, 9, size=(300, 5)):
        out = cora.evaluate(dict(zip(["link", "op0", "op1", "op2", "op3"], combo, strict=True)))
        assert out is None or all(v < r for v, r in zip(out, cora.reference, strict=True))
    assert 0.0 < hypervolume([(0.5, 0.005)], cora.reference) < cora.best_hv


def test_auto_runs_are_the_runs_of_the_method_it_resolves_to() -> None:
    import search

    assert search._same_as_auto("nas6x5", 50) == "gp"
    assert search._same_as_auto("nas6x5", 150) == "tpe_mv"


def test_table_only_rebuilds_the_table_without_the_official_venv(tmp_path: Path, monkeypatch) -> None:
    """``--table-only`` reads recorded runs: the default methods include ``official``, whose venv it never runs."""
    import json

    import search

    monkeypatch.setattr(search, "OFFICIAL_PY", tmp_path / "no-venv" / "python")
    row = {**search.run_space("oom", "random", seed=0, n_trials=6), "n_trials": 6}
    (tmp_path / "search_failing.jsonl").write_text(json.dumps(row) + "\n")
    assert search.main(["--set", "failing", "--table-only", "--out", str(tmp_path)]) == 0
    assert "random" in (tmp_path / "search_failing.md").read_text()


def test_gp_seeds_cap_is_said_in_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """``--gp-seeds`` caps every ``gp*`` method: the run says so instead of running fewer seeds unannounced."""
    import argparse

    import search

    args = argparse.Namespace(
        set="categorical", problems=["oom"], methods=["gp_parego", "tpe"], trials=12, first_seed=100, seeds=20
    )
    jobs = search._space_jobs(argparse.Namespace(**vars(args), gp_seeds=10))
    assert sorted({seed for _, m, seed, _, _ in jobs if m == "gp_parego"}) == list(range(100, 110))
    assert len([j for j in jobs if j[1] == "tpe"]) == 20
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "search.py: --gp-seeds 10 caps gp_parego at seeds 100-109 of 100-119 (raise --gp-seeds to run them all)"
    ]
    search._space_jobs(argparse.Namespace(**vars(args), gp_seeds=20))
    assert capsys.readouterr().err == ""
