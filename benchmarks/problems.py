"""Multi-objective test problems with known Pareto fronts: ZDT1-4, ZDT6, DTLZ2 (2 and 3 objectives), WFG4, WFG9.

Written from the published definitions (numpy only, so the official sweeper's venv can import it too):

- ZDT: Zitzler, Deb, Thiele, "Comparison of multiobjective evolutionary algorithms: empirical results",
  Evolutionary Computation 8(2), 2000. ``n`` = 30 (ZDT1-3) or 10 (ZDT4, ZDT6).
- DTLZ2: Deb, Thiele, Laumanns, Zitzler, "Scalable test problems for evolutionary multiobjective
  optimization", 2005. ``n = M + k - 1`` with ``k = 10``.
- WFG4, WFG9: Huband, Hingston, Barone, While, "A review of multiobjective test problems and a scalable test
  problem toolkit", IEEE TEC 10(5), 2006. ``k = 4`` position and ``l = 10`` distance parameters.

Every objective is minimised. Each problem carries a fixed hypervolume reference point (1.1 x each
objective's upper bound over the search box, listed in benchmarks/README.md) and the exact hypervolume of its
true front against it (closed form).

Example:
    >>> p = PROBLEMS["zdt1"]
    >>> p.evaluate([0.25] + [0.0] * (p.n_var - 1))
    (0.25, 0.5)
    >>> p.reference, round(p.true_hv, 6)
    ((1.1, 11.0), 11.766667)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Vector = Sequence[float]


@dataclass(frozen=True)
class Problem:
    """A box-bounded minimisation problem with its true front's hypervolume.

    Attributes:
        name: short id (``zdt1``, ``dtlz2_3``, ``wfg9``, ...).
        n_var: number of decision variables.
        n_obj: number of objectives.
        bounds: ``(low, high)`` of each variable.
        reference: fixed hypervolume reference point (objective units).
        true_hv: hypervolume of the true Pareto front against ``reference``.
        func: ``x -> objective vector``.
    """

    name: str
    n_var: int
    n_obj: int
    bounds: tuple[tuple[float, float], ...]
    reference: tuple[float, ...]
    true_hv: float
    func: Callable[[np.ndarray], np.ndarray]

    def evaluate(self, x: Vector) -> tuple[float, ...]:
        """Objective values of ``x`` (one per objective, all minimised)."""
        return tuple(float(v) for v in self.func(np.asarray(x, dtype=float)))


# ---- ZDT ---------------------------------------------------------------------------------------------------
def _zdt_g(x: np.ndarray) -> float:
    return 1.0 + 9.0 * float(np.sum(x[1:])) / (len(x) - 1)


def zdt1(x: np.ndarray) -> np.ndarray:
    """ZDT1: convex front ``f2 = 1 - sqrt(f1)``, at ``x[1:] = 0``."""
    g = _zdt_g(x)
    return np.array([x[0], g * (1.0 - math.sqrt(x[0] / g))])


def zdt2(x: np.ndarray) -> np.ndarray:
    """ZDT2: concave front ``f2 = 1 - f1^2``, at ``x[1:] = 0``."""
    g = _zdt_g(x)
    return np.array([x[0], g * (1.0 - (x[0] / g) ** 2)])


def zdt3(x: np.ndarray) -> np.ndarray:
    """ZDT3: disconnected front (five pieces of ``f2 = 1 - sqrt(f1) - f1 sin(10 pi f1)``), at ``x[1:] = 0``."""
    g = _zdt_g(x)
    r = x[0] / g
    return np.array([x[0], g * (1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * x[0]))])


def zdt4(x: np.ndarray) -> np.ndarray:
    """ZDT4: ZDT1's front with 21^9 local fronts (Rastrigin ``g``); ``x[1:]`` in [-5, 5], optimum 0."""
    rest = x[1:]
    g = 1.0 + 10.0 * len(rest) + float(np.sum(rest**2 - 10.0 * np.cos(4.0 * math.pi * rest)))
    return np.array([x[0], g * (1.0 - math.sqrt(x[0] / g))])


def zdt6(x: np.ndarray) -> np.ndarray:
    """ZDT6: non-uniform concave front ``f2 = 1 - f1^2`` for ``f1`` in [0.2808, 1], at ``x[1:] = 0``."""
    f1 = 1.0 - math.exp(-4.0 * x[0]) * math.sin(6.0 * math.pi * x[0]) ** 6
    g = 1.0 + 9.0 * (float(np.sum(x[1:])) / (len(x) - 1)) ** 0.25
    return np.array([f1, g * (1.0 - (f1 / g) ** 2)])


# ---- DTLZ2 -------------------------------------------------------------------------------------------------
def dtlz2(n_obj: int) -> Callable[[np.ndarray], np.ndarray]:
    """DTLZ2 with ``n_obj`` objectives: the front is the unit sphere's positive part, at ``x[M-1:] = 0.5``."""

    def f(x: np.ndarray) -> np.ndarray:
        g = float(np.sum((x[n_obj - 1 :] - 0.5) ** 2))
        angles = x[: n_obj - 1] * math.pi / 2.0
        out = []
        for m in range(n_obj):
            v = 1.0 + g
            v *= float(np.prod(np.cos(angles[: n_obj - 1 - m])))
            if m > 0:
                v *= math.sin(angles[n_obj - 1 - m])
            out.append(v)
        return np.array(out)

    return f


# ---- WFG toolkit -------------------------------------------------------------------------------------------
def _s_multi(y: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    t = np.abs(y - c) / (2.0 * (np.floor(c - y) + c))
    return np.clip((1.0 + np.cos((4.0 * a + 2.0) * math.pi * (0.5 - t)) + 4.0 * b * t**2) / (b + 2.0), 0.0, 1.0)


def _s_decept(y: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    t1 = np.floor(y - a + b) * (1.0 - c + (a - b) / b) / (a - b)
    t2 = np.floor(a + b - y) * (1.0 - c + (1.0 - a - b) / b) / (1.0 - a - b)
    return np.clip(1.0 + (np.abs(y - a) - b) * (t1 + t2 + 1.0 / b), 0.0, 1.0)


def _b_param(y: float, u: float, a: float, b: float, c: float) -> float:
    v = a - (1.0 - 2.0 * u) * abs(math.floor(0.5 - u) + a)
    return float(np.clip(y ** (b + (c - b) * v), 0.0, 1.0))


def _r_nonsep(y: np.ndarray, a: int) -> float:
    n = len(y)
    total = 0.0
    for j in range(n):
        total += y[j]
        for k in range(a - 1):
            total += abs(y[j] - y[(j + k + 1) % n])
    return float(np.clip(total / (n / a * math.ceil(a / 2) * (1.0 + 2 * a - 2 * math.ceil(a / 2))), 0.0, 1.0))


def _wfg_concave(t: np.ndarray, n_obj: int) -> np.ndarray:
    """WFG shape (D = 1, A_i = 1, S_m = 2m): ``f_m = x_M + 2m h_m`` with concave ``h``."""
    x_m = t[-1]
    x = np.maximum(x_m, 1.0) * (t[:-1] - 0.5) + 0.5
    out = []
    for m in range(1, n_obj + 1):
        h = float(np.prod(np.sin(x[: n_obj - m] * math.pi / 2.0)))
        if m > 1:
            h *= math.cos(x[n_obj - m] * math.pi / 2.0)
        out.append(x_m + 2.0 * m * h)
    return np.array(out)


def _wfg_reduce(y: np.ndarray, k: int, n_obj: int, reducer: Callable[[np.ndarray, int], float]) -> np.ndarray:
    gap = k // (n_obj - 1)
    t = [reducer(y[i * gap : (i + 1) * gap], gap) for i in range(n_obj - 1)]
    t.append(reducer(y[k:], len(y) - k))
    return np.array(t)


def wfg4(k: int, n_obj: int) -> Callable[[np.ndarray], np.ndarray]:
    """WFG4: multi-modal (``s_multi``), separable, concave; optimum at ``z_i = 0.35 * 2i`` for ``i > k``."""

    def f(z: np.ndarray) -> np.ndarray:
        y = z / (2.0 * np.arange(1, len(z) + 1))
        y = _s_multi(y, 30.0, 10.0, 0.35)
        t = _wfg_reduce(y, k, n_obj, lambda v, _n: float(np.mean(v)))
        return _wfg_concave(t, n_obj)

    return f


def wfg9(k: int, n_obj: int) -> Callable[[np.ndarray], np.ndarray]:
    """WFG9: parameter-dependent, deceptive and multi-modal, non-separable, concave."""

    def f(z: np.ndarray) -> np.ndarray:
        y = z / (2.0 * np.arange(1, len(z) + 1))
        n = len(y)
        y = np.array(
            [_b_param(y[i], float(np.mean(y[i + 1 :])), 0.98 / 49.98, 0.02, 50.0) for i in range(n - 1)] + [y[-1]]
        )
        y = np.concatenate([_s_decept(y[:k], 0.35, 0.001, 0.05), _s_multi(y[k:], 30.0, 95.0, 0.35)])
        t = _wfg_reduce(y, k, n_obj, _r_nonsep)
        return _wfg_concave(t, n_obj)

    return f


def wfg_optimal(problem: Problem, k: int, position: Vector) -> np.ndarray:
    """A Pareto-optimal ``z`` of WFG4/WFG9 with the given position parameters (each in [0, 1])."""
    n = problem.n_var
    y = np.empty(n)
    y[:k] = position
    y[k:] = 0.35
    if problem.name.startswith("wfg9"):  # undo b_param backwards so each transformed distance value is 0.35
        for i in range(n - 2, k - 1, -1):
            u = float(np.mean(y[i + 1 :]))
            v = 0.98 / 49.98 - (1.0 - 2.0 * u) * abs(math.floor(0.5 - u) + 0.98 / 49.98)
            y[i] = 0.35 ** (1.0 / (0.02 + (50.0 - 0.02) * v))
    return y * 2.0 * np.arange(1, n + 1)


# ---- true fronts' hypervolumes (closed form, but ZDT3's) -------------------------------------------------------
def _hv_convex(r1: float, r2: float) -> float:
    """Front ``f2 = 1 - sqrt(f1)``, ``f1`` in [0, 1], against ``(r1, r2)`` with ``r1, r2 >= 1``."""
    return (r2 - 1.0) + 2.0 / 3.0 + (r1 - 1.0) * r2


def _hv_concave(r1: float, r2: float, f1_min: float = 0.0) -> float:
    """Front ``f2 = 1 - f1^2``, ``f1`` in [f1_min, 1], against ``(r1, r2)`` with ``r1, r2 >= 1``."""
    return (r2 - 1.0) * (1.0 - f1_min) + (1.0 - f1_min**3) / 3.0 + (r1 - 1.0) * r2


def _hv_zdt3(r1: float, r2: float, n: int = 400_001) -> float:
    """ZDT3's front against ``(r1, r2)``, ``r1 >= 1``: the area above the running minimum of
    ``h(f1) = 1 - sqrt(f1) - f1 sin(10 pi f1)`` (the front is where ``h`` reaches a new minimum), integrated on
    ``n`` points (error < 1e-6 of the value; no closed form for the disconnected pieces)."""
    t = np.linspace(0.0, 1.0, n)
    low = np.minimum.accumulate(1.0 - np.sqrt(t) - t * np.sin(10.0 * math.pi * t))
    # numpy < 2 (the official sweeper's venv) lacks trapezoid; numpy >= 2's stubs lack trapz
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # type: ignore[attr-defined]
    return float(trapezoid(r2 - low, t)) + (r1 - 1.0) * (r2 - float(low[-1]))


#: Smallest f1 on ZDT6's front (f1 = 1 - exp(-4 x) sin^6(6 pi x) at its first minimum).
ZDT6_F1_MIN = 0.2807753191
#: WFG position parameters k (a multiple of M - 1, >= 4 as in pymoo) and distance parameters l; n = k + l.
WFG_K, WFG_L = 4, 10


def _make() -> dict[str, Problem]:
    """The problems, each with its reference point: 1.1 x each objective's upper bound over the box, so every
    trial counts from the first one on (a reference at the front's nadir would leave early regrets flat)."""
    p: dict[str, Problem] = {}
    unit30, unit10 = ((0.0, 1.0),) * 30, ((0.0, 1.0),) * 10
    zdt_ref = (1.1, 11.0)  # f1 <= 1, f2 <= g <= 10
    p["zdt1"] = Problem("zdt1", 30, 2, unit30, zdt_ref, _hv_convex(*zdt_ref), zdt1)
    p["zdt2"] = Problem("zdt2", 30, 2, unit30, zdt_ref, _hv_concave(*zdt_ref), zdt2)
    p["zdt3"] = Problem("zdt3", 30, 2, unit30, zdt_ref, _hv_zdt3(*zdt_ref), zdt3)
    zdt4_ref = (1.1, 400.0)  # g <= 1 + 90 + 9 * 32.6 (max of x^2 - 10 cos(4 pi x) on [-5, 5]) < 364
    p["zdt4"] = Problem("zdt4", 10, 2, ((0.0, 1.0),) + ((-5.0, 5.0),) * 9, zdt4_ref, _hv_convex(*zdt4_ref), zdt4)
    p["zdt6"] = Problem("zdt6", 10, 2, unit10, zdt_ref, _hv_concave(*zdt_ref, ZDT6_F1_MIN), zdt6)
    r = 3.85  # f_m <= 1 + g <= 1 + 10 * 0.25
    p["dtlz2_2"] = Problem("dtlz2_2", 11, 2, ((0.0, 1.0),) * 11, (r, r), r**2 - math.pi / 4.0, dtlz2(2))
    p["dtlz2_3"] = Problem("dtlz2_3", 12, 3, ((0.0, 1.0),) * 12, (r, r, r), r**3 - math.pi / 6.0, dtlz2(3))
    n = WFG_K + WFG_L
    wfg_bounds = tuple((0.0, 2.0 * i) for i in range(1, n + 1))
    wfg_ref = (3.3, 5.5)  # f_m <= 1 + 2m; the front is the quarter ellipse (f1/2)^2 + (f2/4)^2 = 1
    wfg_hv = wfg_ref[0] * wfg_ref[1] - math.pi * 2.0 * 4.0 / 4.0
    p["wfg4"] = Problem("wfg4", n, 2, wfg_bounds, wfg_ref, wfg_hv, wfg4(WFG_K, 2))
    p["wfg9"] = Problem("wfg9", n, 2, wfg_bounds, wfg_ref, wfg_hv, wfg9(WFG_K, 2))
    return p


PROBLEMS: dict[str, Problem] = _make()
#: The benchmark set of issue 7.
BENCHMARK_SET: tuple[str, ...] = ("zdt1", "zdt2", "zdt3", "zdt4", "zdt6", "dtlz2_2", "dtlz2_3", "wfg4", "wfg9")


# ---- categorical, integer and mixed spaces (issue 13) -------------------------------------------------------
#: Five levels of each discretised variable: the grid the categorical and integer versions choose from.
LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: NAS-like table: 6 edges of a cell, 5 operations each (the shape of NAS-Bench-201's space).
NAS_OPS = ("none", "skip", "conv1x1", "conv3x3", "pool3x3")


@dataclass(frozen=True)
class SpaceProblem:
    """A 2-objective minimisation problem over named parameters, each a list of choices (``kind`` ``cat``: no
    order known to the sampler; ``int``: ordered integers 0..len-1) or a float interval (``float``).

    ``evaluate`` maps a parameter dict to the objective vector, or to ``None`` when the configuration fails (out
    of memory). ``best_hv`` is the hypervolume of the best attainable front against ``reference`` (exact:
    enumerated over the finite part, the float part at its known optimum).
    """

    name: str
    params: tuple[tuple[str, str, tuple[float, ...]], ...]  # (name, kind, choices | (low, high))
    reference: tuple[float, float]
    best_hv: float
    evaluate: Callable[[dict[str, float]], tuple[float, float] | None]
    note: str = ""


def _nas_table() -> Callable[[dict[str, float]], tuple[float, float]]:
    """A synthetic architecture table (seeded, not measured): error falls with each edge's operation strength
    plus pairwise interactions of neighbouring edges; latency is the sum of the operations' costs per edge."""
    rng = np.random.default_rng(201)
    strength = np.array([0.0, 0.35, 0.55, 1.0, 0.3]) * rng.uniform(0.6, 1.4, size=(6, 5))
    pair = rng.normal(0.0, 0.12, size=(5, 5, 5))  # edge i and i+1
    cost = np.array([0.0, 0.05, 0.4, 1.0, 0.25]) * rng.uniform(0.7, 1.3, size=(6, 5))

    def f(p: dict[str, float]) -> tuple[float, float]:
        ops = [int(p[f"edge{i}"]) for i in range(6)]
        score = sum(strength[i, o] for i, o in enumerate(ops)) + sum(pair[i, ops[i], ops[i + 1]] for i in range(5))
        error = 1.0 / (1.0 + math.exp(score - 2.5))
        latency = 1.0 + sum(cost[i, o] for i, o in enumerate(ops))
        return error, latency

    return f


def _oom(p: dict[str, float]) -> tuple[float, float] | None:
    """Error and J per sample of a training run: bigger batches save energy per sample until batch x width
    exceeds the memory (2^16), where the run fails; wider models are more accurate and cost more."""
    batch, width, lr = 2 ** (4 + int(p["batch"])), 2 ** (6 + int(p["width"])), float(p["lr"])
    if batch * width > 2**16:
        return None
    error = 0.5 / math.sqrt(width / 64) + 0.05 * abs(math.log10(lr) + 2.0) + 0.01 * math.log2(batch / 16)
    return error, width / 64 * (1.0 + 256 / batch)


def _front_hv(points: np.ndarray, worst: np.ndarray | None = None) -> tuple[tuple[float, float], float]:
    """Reference and the best front's hypervolume against it. The reference is each objective's worst value
    over the space (``worst``, else over ``points``) plus 10 % of its range, as for the numeric problems
    (1.1 x the upper bound): every trial counts from the first one on."""
    worst = points.max(axis=0) if worst is None else worst
    order = np.lexsort((points[:, 1], points[:, 0]))
    front, best = [], math.inf
    for f1, f2 in points[order]:
        if f2 < best:
            front.append((f1, f2))
            best = f2
    ideal = np.array(front).min(axis=0)
    ref = tuple(float(v) for v in worst + 0.1 * np.maximum(worst - ideal, 1e-12))
    hv, prev = 0.0, ref[1]
    for f1, f2 in front:
        hv += (ref[0] - f1) * (prev - f2)
        prev = f2
    return (ref[0], ref[1]), hv


def _enumerated(
    name: str,
    params: tuple[tuple[str, str, tuple[float, ...]], ...],
    f: Callable[[dict[str, float]], tuple[float, float] | None],
    fixed: dict[str, float] | None = None,
    note: str = "",
) -> SpaceProblem:
    """A problem whose best front is found by enumerating every finite combination (floats at ``fixed``)."""
    import itertools

    finite = [(n, c) for n, kind, c in params if kind != "float"]
    values = []
    for combo in itertools.product(*(c for _, c in finite)):
        out = f({**dict(zip([n for n, _ in finite], combo, strict=True)), **(fixed or {})})
        if out is not None:
            values.append(out)
    ref, hv = _front_hv(np.array(values))
    return SpaceProblem(name, params, ref, hv, f, note)


def _on_levels(func: Callable[[np.ndarray], np.ndarray], n: int) -> Callable[[dict[str, float]], tuple[float, float]]:
    def f(p: dict[str, float]) -> tuple[float, float]:
        x = np.array([LEVELS[int(p[f"x{i}"])] if f"x{i}" in p else 0.0 for i in range(n)])
        if "x0f" in p:
            x[0] = float(p["x0f"])
        out = func(x)
        return float(out[0]), float(out[1])

    return f


#: NAS-Bench-Graph datasets in the categorical set: the first two of the package's list (chosen before any run)
NBG_DATASETS = ("cora", "citeseer")


def _nas_bench_graph(dataset: str) -> SpaceProblem:
    """NAS-Bench-Graph (Qin et al., "NAS-Bench-Graph: Benchmarking Graph Neural Architecture Search", NeurIPS
    2022; PyPI ``nas-bench-graph``, whose wheel ships each dataset's measured table): a GNN cell of 4 nodes,
    ``link`` one of its 9 wirings, ``op0..op3`` one of 9 operations each, all categorical (59,049 combinations,
    26,206 distinct networks). Objectives: validation error (1 - validation accuracy, mean of 3 runs) and
    inference latency (s), both as the authors measured them. The 9 all-``skip`` cells have no network and no
    entry: they fail, as a trial without its metric does."""
    import itertools

    from nas_bench_graph import Arch, light_read
    from nas_bench_graph.architecture import gnn_list, link_list

    bench = light_read(dataset)
    table: dict[tuple[int, ...], tuple[float, float]] = {}
    for li, link in enumerate(link_list):
        for ops in itertools.product(range(len(gnn_list)), repeat=4):
            info = bench.get(Arch(list(link), [gnn_list[o] for o in ops]).valid_hash())
            if info is not None:
                key = (li, *ops)  # not table[(li, *ops)]: mypy reads that as 3.11's star in a subscript
                table[key] = (1.0 - float(info["valid_perf"]), float(info["latency"]))

    def f(p: dict[str, float]) -> tuple[float, float] | None:
        return table.get((int(p["link"]), *(int(p[f"op{i}"]) for i in range(4))))

    nine = tuple(float(i) for i in range(9))
    params = (("link", "cat", nine), *((f"op{i}", "cat", nine) for i in range(4)))
    note = f"NAS-Bench-Graph {dataset}: measured validation error and latency of 26,206 GNNs (tabular)"
    return _enumerated(f"nbg_{dataset}", params, f, note=note)


def _make_spaces() -> dict[str, SpaceProblem]:
    idx = tuple(float(i) for i in range(5))
    out = [
        _enumerated(
            "nas6x5",
            tuple((f"edge{i}", "cat", idx) for i in range(6)),
            _nas_table(),
            note="synthetic NAS-Bench-201-shaped table (6 edges x 5 operations, seeded)",
        ),
        _enumerated("zdt1_cat", tuple((f"x{i}", "cat", idx) for i in range(6)), _on_levels(zdt1, 6)),
        _enumerated("dtlz2_cat", tuple((f"x{i}", "cat", idx) for i in range(6)), _on_levels(dtlz2(2), 6)),
        _enumerated("zdt2_int", tuple((f"x{i}", "int", idx) for i in range(6)), _on_levels(zdt2, 6)),
        _enumerated(
            "zdt1_mixed",
            (("x0f", "float", (0.0, 1.0)), *((f"x{i}", "cat", idx) for i in range(1, 6))),
            _on_levels(zdt1, 6),
            fixed=None,
        ),
    ]
    spaces = {p.name: p for p in out}
    spaces["zdt1_mixed"] = _exact_mixed_zdt1(spaces["zdt1_mixed"])
    spaces["oom"] = _enumerated(
        "oom",
        (("batch", "int", tuple(float(i) for i in range(7))), ("width", "int", idx), ("lr", "float", (1e-4, 1e-1))),
        _oom,
        fixed={"lr": 1e-2},
        note="fails (out of memory) where batch x width > 2^16: 10 of the 35 batch/width pairs",
    )
    return spaces


class _SpaceProblems(dict[str, SpaceProblem]):
    """The problems by name. NAS-Bench-Graph's (``nbg_<dataset>``) are read from the package's tables on first
    use (a few seconds each), and need the optional package (the ``bench`` extra)."""

    def __missing__(self, name: str) -> SpaceProblem:
        dataset = name.removeprefix("nbg_")
        if not name.startswith("nbg_") or dataset not in NBG_DATASETS:
            raise KeyError(name)
        try:
            import nas_bench_graph  # noqa: F401
        except ImportError:
            raise KeyError(f"{name} needs the nas-bench-graph package: pip install 'ecopt-lightning[bench]'") from None
        self[name] = _nas_bench_graph(dataset)
        return self[name]


def _exact_mixed_zdt1(p: SpaceProblem) -> SpaceProblem:
    """x0 continuous: the best front is ZDT1's true front (closed form), reference as for ZDT1."""
    note = "ZDT1 with x0 continuous, x1..x5 categorical (5 levels)"
    return SpaceProblem(p.name, p.params, (1.1, 11.0), _hv_convex(1.1, 11.0), p.evaluate, note)


#: Categorical, integer and mixed problems (issue 13); ``oom`` is the failing-region problem.
SPACE_PROBLEMS: dict[str, SpaceProblem] = _SpaceProblems(_make_spaces())
CATEGORICAL_SET: tuple[str, ...] = (
    "nas6x5",
    *(f"nbg_{d}" for d in NBG_DATASETS),
    "zdt1_cat",
    "dtlz2_cat",
    "zdt2_int",
    "zdt1_mixed",
)
