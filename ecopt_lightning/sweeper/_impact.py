"""What tuning bought: energy saved per inference against a baseline, when it pays back, and proxy checks.

- Payback: tuning spent ``E_tune`` J (the sweep's own measured energy). The chosen trial saves
  ``s = e_baseline - e_chosen`` J per inference sample against the baseline trial (the app's own config,
  enqueued as the first trial, unless named). Tuning pays back after ``ceil(E_tune / s)`` inferences; never
  when ``s <= 0``.
- Uncertainty: each energy per sample is a median with a 95% interval. The saving's interval is the difference
  of the ends, ``[base_lo - chosen_hi, base_hi - chosen_lo]`` (conservative: it covers the true saving
  whenever both intervals cover theirs); when it includes 0 there is **no measurable saving**. The payback's
  interval follows from it (``E_tune / s_hi`` to ``E_tune / s_lo``, never when ``s_lo <= 0``).
- Quality: the change of every quality objective (the objectives that are not energy, power, efficiency,
  carbon, cost or model-size figures) is reported beside the saving, and a loss beyond
  :data:`QUALITY_TOLERANCE` is named. Unless named, the chosen trial is the front member, robust ones first,
  with the lowest energy per sample among those at least as good as the baseline within that tolerance.
- Proxy check: Spearman rank correlation of measured J per sample against parameter count, FLOPs per sample
  and inference time per sample over the sweep's trials. A weak correlation means the proxy misleads. Below
  :data:`MIN_PROXY_TRIALS` trials no value can be told from chance, and the report says so beside it.

Example:
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> payback_inferences(tuning_J=100.0, saved_J_per_inference=0.5)
    200
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..energy.measurement import is_measured
from ..metrics import ESTIMATED_FRACTION, FLOPS_PER_SAMPLE, INFERENCE_W, PARAMS
from ._schema import BASELINE_ATTR

if TYPE_CHECKING:
    from ._records import TrialRecord

PARAMS_METRIC = PARAMS
FLOPS_METRIC = FLOPS_PER_SAMPLE
INFERENCE_POWER_METRIC = INFERENCE_W
#: A quality objective may be worse than the baseline's by this fraction of the baseline's value and still
#: count as "as good as the baseline" (0.01: accuracy 0.92 allows 0.9108).
QUALITY_TOLERANCE = 0.01
#: Objectives with these prefixes are figures of cost, not quality.
COST_PREFIXES = ("energy/", "power/", "efficiency/", "carbon/", "cost/", "model/")
#: The fewest trials whose rank correlation can be told from chance at the 5% level: over n trials in random
#: order a perfect correlation (+1 or -1) turns up with probability 2/n!, 0.083 for 4 trials, 0.017 for 5.
MIN_PROXY_TRIALS = 5


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
    if r.energy_per_sample_J is None or power is None or not (math.isfinite(power) and power > 0):
        return None
    return r.energy_per_sample_J / power  # J / W = s


def _estimated(r: TrialRecord) -> bool:
    """Whether some of the trial's energy is ESTIMATED from CPU time, not measured (its estimated fraction, else
    its sources)."""
    share = r.metrics.get(ESTIMATED_FRACTION)
    if share is not None:
        return share > 0
    return any(not is_measured(source) for source in r.sources.values())


def estimated_note(name: str, row: Mapping[str, Any]) -> str:
    """What a proxy's correlation is worth when J per sample was ESTIMATED in some of its trials: a clause to
    append, empty when every value was measured.

    Example:
        >>> estimated_note("runtime_per_sample_s", {"spearman": 1.0, "n_trials": 3, "n_estimated": 3})
        ' (J per sample ESTIMATED from CPU time, not measured, in 3 of them: it follows the runtime by construction)'
        >>> estimated_note("params", {"spearman": 0.2, "n_trials": 3, "n_estimated": 0})
        ''
    """
    n = row.get("n_estimated") or 0
    if not n:
        return ""
    why = ": it follows the runtime by construction" if name == RUNTIME_PROXY else ""
    return f" (J per sample ESTIMATED from CPU time, not measured, in {n} of them{why})"


def spearman_interval(rho: float | None, n: int) -> tuple[float, float] | None:
    """The 95% interval of a Spearman correlation over ``n`` pairs: Fisher's z with Fieller, Hartley and Pearson's
    standard error ``sqrt(1.06 / (n - 3))``; ``None`` below :data:`MIN_PROXY_TRIALS` pairs or for a perfect
    correlation (+1 or -1), whose z is infinite.

    Example:
        >>> [round(v, 3) for v in spearman_interval(0.5, 10)]  # z = 0.549 -+ 1.96 x sqrt(1.06 / 7)
        [-0.21, 0.865]
    """
    if rho is None or n < MIN_PROXY_TRIALS or abs(rho) >= 1:
        return None
    z, half = math.atanh(rho), 1.96 * math.sqrt(1.06 / (n - 3))
    return math.tanh(z - half), math.tanh(z + half)


def uncertainty_note(row: Mapping[str, Any]) -> str:
    """A clause to append to a proxy's correlation: too few trials to tell below :data:`MIN_PROXY_TRIALS`, else its
    95% interval when it has one.

    Example:
        >>> uncertainty_note({"spearman": -1.0, "n_trials": 3, "interval_95": None})
        ': too few trials to tell (n=3; at least 5 needed, as 2/n! of random orders correlate perfectly)'
        >>> uncertainty_note({"spearman": 0.5, "n_trials": 10, "interval_95": [-0.21, 0.865]})
        ' (95% interval -0.21 to 0.86, Fisher z)'
    """
    n = row["n_trials"]
    if n < MIN_PROXY_TRIALS:
        why = "as 2/n! of random orders correlate perfectly"
        return f": too few trials to tell (n={n}; at least {MIN_PROXY_TRIALS} needed, {why})"
    interval = row.get("interval_95")
    return "" if interval is None else f" (95% interval {interval[0]:.2f} to {interval[1]:.2f}, Fisher z)"


RUNTIME_PROXY = "runtime_per_sample_s"


def proxy_check(records: Sequence[TrialRecord]) -> dict[str, Any]:
    """Spearman correlation of J per sample with each proxy, over comparable complete trials that have both (a
    proxy the trial could not count, NaN, is not had; a trial measured on fewer domains is not comparable); with
    how many of them had their energy ESTIMATED (``n_estimated``), not measured."""
    out: dict[str, Any] = {}
    proxies = {
        "params": lambda r: r.metrics.get(PARAMS_METRIC),
        "flops_per_sample": lambda r: r.metrics.get(FLOPS_METRIC),
        RUNTIME_PROXY: _runtime_per_sample,
    }
    for name, get in proxies.items():
        pairs = [
            (proxy, r.energy_per_sample_J, r)
            for r in records
            if r.state == "COMPLETE"
            and not r.not_comparable
            and r.energy_per_sample_J is not None
            and (proxy := get(r)) is not None
            and math.isfinite(proxy)
        ]
        rho = spearman([p for p, _, _ in pairs], [e for _, e, _ in pairs])
        out[name] = {
            "spearman": rho,
            "n_trials": len(pairs),
            "n_estimated": sum(_estimated(r) for _, _, r in pairs),
            "too_few_trials": len(pairs) < MIN_PROXY_TRIALS,
            "interval_95": spearman_interval(rho, len(pairs)),
        }
    return out


def saving_interval(
    baseline: tuple[float, float] | None, chosen: tuple[float, float] | None
) -> tuple[float, float] | None:
    """The interval of ``baseline - chosen`` from the two intervals (J); ``None`` when either lacks one.

    Example:
        >>> saving_interval((0.9, 1.1), (0.5, 0.6)), saving_interval((0.9, 1.1), (0.8, 1.0))
        ((0.30000000000000004, 0.6000000000000001), (-0.09999999999999998, 0.30000000000000004))
    """
    if baseline is None or chosen is None:
        return None
    return baseline[0] - chosen[1], baseline[1] - chosen[0]


def payback_interval(tuning_J: float, saved: tuple[float, float]) -> tuple[int | None, int | None]:
    """Inferences to pay back ``tuning_J`` at the high and the low end of the saving's interval (``None``:
    never, at that end).

    Example:
        >>> payback_interval(100.0, (0.5, 2.0)), payback_interval(100.0, (-0.1, 2.0))
        ((50, 200), (50, None))
    """
    return payback_inferences(tuning_J, saved[1]), payback_inferences(tuning_J, saved[0])


def quality_objectives(names: Sequence[str]) -> list[str]:
    """The objectives that measure quality, not cost (see :data:`COST_PREFIXES`)."""
    return [n for n in names if not n.startswith(COST_PREFIXES)]


def quality_change(
    base: TrialRecord, pick: TrialRecord, names: Sequence[str], directions: Sequence[str], tolerance: float
) -> dict[str, dict[str, Any]]:
    """Per quality objective: baseline and chosen values, the change, and whether it is a loss beyond
    ``tolerance`` (a fraction of the baseline's value)."""
    out: dict[str, dict[str, Any]] = {}
    for i, (name, direction) in enumerate(zip(names, directions, strict=False)):
        if name not in quality_objectives(names) or base.values is None or pick.values is None:
            continue
        b, c = base.values[i], pick.values[i]
        worse = (b - c) if direction == "maximize" else (c - b)
        out[name] = {"baseline": b, "chosen": c, "change": c - b, "loss": worse > tolerance * abs(b)}
    return out


def _default_choice(
    records: Sequence[TrialRecord],
    base: TrialRecord | None,
    names: Sequence[str],
    directions: Sequence[str],
    tolerance: float,
) -> tuple[int | None, str]:
    """The front member (robust ones first) with the lowest energy per sample among those at least as good as
    the baseline on every quality objective, within ``tolerance``; and the rule, in words."""
    front = [r for r in records if r.on_front and r.energy_per_sample_J is not None]
    if base is None or base.values is None:
        return None, "no complete baseline trial to compare quality with"
    rule = (
        f"the front member with the least energy per sample among those at least as good as the baseline on "
        f"{', '.join(quality_objectives(names)) or 'every objective'} (within {tolerance:.0%} of its value); "
        "robust members first"
    )
    good = [
        r for r in front if not any(q["loss"] for q in quality_change(base, r, names, directions, tolerance).values())
    ]
    pool = [r for r in good if r.robust] or good
    if not pool:
        return None, rule + ": none is"
    return min(pool, key=lambda r: (r.energy_per_sample_J, r.number)).number, rule


def impact(
    records: Sequence[TrialRecord],
    tuning_J: float | None,
    knee: int | None,
    baseline: int | None = None,
    chosen: int | None = None,
    objectives: Sequence[str] = (),
    directions: Sequence[str] = (),
    quality_tolerance: float = QUALITY_TOLERANCE,
    energy_metric: str = "",
    unreported: int = 0,
) -> dict[str, Any]:
    """The payback and proxy figures of a sweep: its trials' ``records``, the energy the sweep spent
    (``tuning_J``, J, the sum of their ``energy_metric``; ``None``: unknown, no trial reported it; ``unreported``
    trials did not report theirs, so the payback is a lower bound) and its ``knee`` trial number.
    ``baseline``/``chosen`` are trial numbers (default: the trial flagged as baseline, and the rule of the
    module's docstring; the knee when no objectives are given)."""
    by_number = {r.number: r for r in records}
    result: dict[str, Any] = {"tuning_energy_J": tuning_J, "proxy_spearman": proxy_check(records)}
    if baseline is None:
        flagged = [r for r in records if r.flags.get(BASELINE_ATTR)]
        baseline = flagged[0].number if flagged else None
    base = by_number.get(baseline) if baseline is not None else None
    result["quality_tolerance"] = quality_tolerance
    if chosen is None and objectives and base is not None:
        chosen, result["chosen_rule"] = _default_choice(records, base, objectives, directions, quality_tolerance)
    elif chosen is None:
        chosen, result["chosen_rule"] = knee, "the knee of the front (no baseline to compare quality with)"
    else:
        result["chosen_rule"] = "named"
    pick = by_number.get(chosen) if chosen is not None else None
    result["baseline_trial"] = baseline
    result["chosen_trial"] = chosen
    why = _no_payback(base, baseline, pick, chosen, result["chosen_rule"])
    if why is not None:
        result["payback"] = None
        result["payback_note"] = why
        return result
    assert base is not None and pick is not None and base.energy_per_sample_J is not None
    assert pick.energy_per_sample_J is not None
    saved = base.energy_per_sample_J - pick.energy_per_sample_J
    quality = quality_change(base, pick, objectives, directions, quality_tolerance)
    losses = [f"{n} {q['baseline']:.4g} -> {q['chosen']:.4g}" for n, q in quality.items() if q["loss"]]
    # the baseline chosen: one measurement against itself, whose difference is exactly 0, not within two intervals
    same = (0.0, 0.0) if base is pick else None
    interval = same or saving_interval(base.energy_per_sample_interval, pick.energy_per_sample_interval)
    result["baseline_J_per_inference"] = base.energy_per_sample_J
    result["chosen_J_per_inference"] = pick.energy_per_sample_J
    result["baseline_interval_J"] = base.energy_per_sample_interval
    result["chosen_interval_J"] = pick.energy_per_sample_interval
    result["saved_J_per_inference"] = saved
    result["saved_interval_J"] = interval
    result["saved_fraction"] = saved / base.energy_per_sample_J
    result["measurable"] = None if interval is None else interval[0] > 0 or interval[1] < 0
    result["quality_change"] = quality
    result["quality_loss"] = bool(losses)
    if tuning_J is None:
        result["payback"] = result["payback_interval"] = None
        result["payback_note"] = "unknown: no trial reported the energy the tuning spent"
        return result
    if not (math.isfinite(tuning_J) and tuning_J > 0):  # a net energy below idle, say: nothing to pay back
        of = f" of {energy_metric}" if energy_metric else ""
        result["payback"] = result["payback_interval"] = None
        result["payback_note"] = f"no payback: the sweep's energy, {tuning_J:.4g} J{of}, is not a positive energy"
        return result
    if base is pick:
        result["payback"] = result["payback_interval"] = None
        result["payback_note"] = "the chosen trial is the baseline itself: tuning found nothing to save"
        return result
    result["payback"] = payback_inferences(tuning_J, saved)
    result["payback_interval"] = None if interval is None else list(payback_interval(tuning_J, interval))
    loss_note = f"; a QUALITY LOSS: {', '.join(losses)}" if losses else ""
    if interval is not None and result["measurable"] is False:
        lo, hi = interval
        result["payback_note"] = (
            f"no measurable saving: the saving's 95% interval [{lo:.4g}, {hi:.4g}] J per inference includes 0"
            f"{loss_note}"
        )
        return result
    if result["payback"] is None:
        result["payback_note"] = (
            "the chosen trial uses no less energy per inference than the baseline: tuning never pays back" + loss_note
        )
        return result
    spread = ""
    if result["payback_interval"] is not None:
        low, high = result["payback_interval"]
        spread = f" (95%: {low} to {'never' if high is None else high})"
    unsure = "" if interval is not None else " (no interval: the trials reported none)"
    if unreported:  # their energy is not in tuning_J: unknown, not 0 J
        unsure += f"; at least that many: {unreported} trial(s) did not report their energy, not counted"
    result["payback_note"] = (
        f"tuning pays back its {tuning_J:.4g} J after {result['payback']} inferences{spread}{unsure}{loss_note}"
    )
    return result


def _no_payback(
    base: TrialRecord | None, baseline: int | None, pick: TrialRecord | None, chosen: int | None, rule: str
) -> str | None:
    """Why there is no payback to compute (a note naming the missing trial or value), or ``None``.

    Example:
        >>> _no_payback(None, 99, None, None, "named")
        'no trial 99 in the study to be the baseline'
    """
    if base is None:
        return (
            "no baseline trial (none flagged, none named)"
            if baseline is None
            else (f"no trial {baseline} in the study to be the baseline")
        )
    if base.energy_per_sample_J is None:
        return f"the baseline, trial {base.number} ({base.state}), has no measured energy per sample"
    if base.not_comparable:
        return f"the baseline, trial {base.number}, is not comparable with the sweep's trials: {base.not_comparable}"
    if pick is None:
        named = f"no trial {chosen} in the study to be the chosen one"
        return named if chosen is not None else f"no chosen trial: {rule}"
    if pick.energy_per_sample_J is None:
        return f"the chosen trial {pick.number} ({pick.state}) has no measured energy per sample"
    if pick.not_comparable:
        return f"the chosen trial {pick.number} is not comparable with the sweep's trials: {pick.not_comparable}"
    return None


def interval_text(interval: Sequence[float] | None) -> str:
    """`` (95%: low to high)`` to follow a value, or empty without an interval.

    Example:
        >>> interval_text([1.5e-6, 2.25e-6]), interval_text(None)
        (' (95%: 1.5e-06 to 2.25e-06)', '')
    """
    return "" if interval is None else f" (95%: {interval[0]:.4g} to {interval[1]:.4g})"


def describe_saving(result: dict[str, Any]) -> list[str]:
    """The comparison of :func:`impact` as lines of text: energies and saving with their 95% intervals, then
    the quality change beside it (empty when there is nothing to compare)."""
    if result.get("saved_J_per_inference") is None:
        return []
    lines = [
        f"chosen trial {result['chosen_trial']} ({result.get('chosen_rule', 'named')}) vs baseline trial "
        f"{result['baseline_trial']}: {result['chosen_J_per_inference']:.4g}"
        f"{interval_text(result.get('chosen_interval_J'))} vs {result['baseline_J_per_inference']:.4g}"
        f"{interval_text(result.get('baseline_interval_J'))} J per inference",
    ]
    saving = f"saves {result['saved_J_per_inference']:.4g} J ({result['saved_fraction']:.1%}) per inference"
    saving += interval_text(result.get("saved_interval_J"))
    if result.get("measurable") is False:
        saving = "no measurable saving: " + saving
    quality = result.get("quality_change") or {}
    if quality:
        changes = [
            f"{name} {q['baseline']:.4g} -> {q['chosen']:.4g} ({q['change']:+.4g}{', a LOSS' if q['loss'] else ''})"
            for name, q in quality.items()
        ]
        saving += "; quality: " + ", ".join(changes)
    lines.append(saving)
    return lines
