"""What tuning bought: energy saved per inference against a baseline, when it pays back, and proxy checks.

- Payback: tuning spent ``E_tune`` J (the sweep's own measured energy). The chosen trial (the knee unless
  named) saves ``s = e_baseline - e_chosen`` J per inference sample against the baseline trial (the app's own
  config, enqueued as the first trial, unless named). Tuning pays back after ``ceil(E_tune / s)`` inferences;
  never when ``s <= 0``.
- Proxy check: Spearman rank correlation of measured J per sample against parameter count, FLOPs per sample
  and inference time per sample over the sweep's trials. A weak correlation means the proxy misleads.

Example:
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> payback_inferences(tuning_J=100.0, saved_J_per_inference=0.5)
    200
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..metrics import FLOPS_PER_SAMPLE, INFERENCE_W, PARAMS
from ._schema import BASELINE_ATTR

if TYPE_CHECKING:
    from ._records import TrialRecord

PARAMS_METRIC = PARAMS
FLOPS_METRIC = FLOPS_PER_SAMPLE
INFERENCE_POWER_METRIC = INFERENCE_W


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties given their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on average ranks); None with < 3 pairs or a constant side."""
    if len(x) != len(y) or len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def payback_inferences(tuning_J: float, saved_J_per_inference: float) -> int | None:
    """Inferences after which the energy saved per inference (J) repays the tuning energy (J); None if never."""
    if not saved_J_per_inference > 0:
        return None
    return math.ceil(tuning_J / saved_J_per_inference)


def _runtime_per_sample(r: TrialRecord) -> float | None:
    power = r.metrics.get(INFERENCE_POWER_METRIC)
    if r.energy_per_sample_J is None or not power or power <= 0:
        return None
    return r.energy_per_sample_J / power  # J / W = s


def proxy_check(records: Sequence[TrialRecord]) -> dict[str, Any]:
    """Spearman correlation of measured J per sample with each proxy, over complete trials that have both."""
    out: dict[str, Any] = {}
    proxies = {
        "params": lambda r: r.metrics.get(PARAMS_METRIC),
        "flops_per_sample": lambda r: r.metrics.get(FLOPS_METRIC),
        "runtime_per_sample_s": _runtime_per_sample,
    }
    for name, get in proxies.items():
        pairs = [
            (get(r), r.energy_per_sample_J)
            for r in records
            if r.state == "COMPLETE" and r.energy_per_sample_J is not None and get(r) is not None
        ]
        rho = spearman([p for p, _ in pairs], [e for _, e in pairs])
        out[name] = {"spearman": rho, "n_trials": len(pairs)}
    return out


def impact(
    records: Sequence[TrialRecord],
    tuning_J: float,
    knee: int | None,
    baseline: int | None = None,
    chosen: int | None = None,
) -> dict[str, Any]:
    """The payback and proxy figures of a sweep: its trials' ``records``, the energy the sweep spent
    (``tuning_J``, J) and its ``knee`` trial number. ``baseline``/``chosen`` are trial numbers (default: the
    trial flagged as baseline, and the knee)."""
    by_number = {r.number: r for r in records}
    result: dict[str, Any] = {"tuning_energy_J": tuning_J, "proxy_spearman": proxy_check(records)}
    if baseline is None:
        flagged = [r for r in records if r.flags.get(BASELINE_ATTR)]
        baseline = flagged[0].number if flagged else None
    if chosen is None:
        chosen = knee
    base = by_number.get(baseline) if baseline is not None else None
    pick = by_number.get(chosen) if chosen is not None else None
    result["baseline_trial"] = baseline
    result["chosen_trial"] = chosen
    if base is None or pick is None or base.energy_per_sample_J is None or pick.energy_per_sample_J is None:
        missing = "baseline" if base is None or base.energy_per_sample_J is None else "chosen trial"
        result["payback"] = None
        result["payback_note"] = f"no {missing} with a measured energy per sample"
        return result
    saved = base.energy_per_sample_J - pick.energy_per_sample_J
    result["baseline_J_per_inference"] = base.energy_per_sample_J
    result["chosen_J_per_inference"] = pick.energy_per_sample_J
    result["saved_J_per_inference"] = saved
    result["saved_fraction"] = saved / base.energy_per_sample_J
    result["payback"] = payback_inferences(tuning_J, saved)
    if base is pick:
        result["payback_note"] = "the chosen trial is the baseline itself: tuning found nothing to save"
        return result
    result["payback_note"] = (
        f"tuning pays back its {tuning_J:.4g} J after {result['payback']} inferences"
        if result["payback"] is not None
        else "the chosen trial uses no less energy per inference than the baseline: tuning never pays back"
    )
    return result
