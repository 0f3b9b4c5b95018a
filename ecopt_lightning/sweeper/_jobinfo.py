"""What a trial's job directory says about its energy: EnergyCallback's ``energy_summary.json``.

The summary is written atomically at the end of fit/test, when training raised, at the training's start and at
every training epoch end (``partial``: true), so a failed or killed trial's energy is still known, up to its last
epoch end (its set-up's in its first epoch) for a killed one (the tuning cost stays complete). Degraded
measurements are listed from it: domains estimated instead of measured, domains not measured at all (NVML
missing, no driver), sensors that failed (a GPU lost mid-run), GPUs measured by power polling because they lack
the energy counter.

Example:
    >>> import json, tempfile, pathlib
    >>> job = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (job / "energy_summary.json").write_text(json.dumps({"status": "failed: RuntimeError: x",
    ...     "total_J": 12.5, "estimated_fraction": 1.0, "sources": {"cpu:0": "estimate"}}))
    >>> info = read_job(str(job))
    >>> info.energy_J, info.estimated_fraction, info.degraded
    (12.5, 1.0, ['cpu:0: estimated from CPU time (100% of the energy is estimated)'])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..energy.contention import contended_share
from ..intervals import Runs
from ..metrics import NOTHING_MEASURED, SUMMARY_FILE
from ._domains import of_summary

#: how deep below the job directory the summary is looked for (Lightning puts it in its log dir)
MAX_DEPTH = 4


@dataclass
class JobInfo:
    """Energy (J) and status from the job's summary, and the reasons its measurement is degraded."""

    path: str | None = None
    energy_J: float | None = None
    status: str | None = None
    degraded: list[str] = field(default_factory=list)
    #: measurement source per domain, e.g. ``{"gpu:0": "nvml_counter", "cpu:0": "rapl"}``
    sources: dict[str, str] = field(default_factory=dict)
    #: the inference benchmark's energy per sample of each repeat (J), when it ran
    per_repeat_J: list[float] | None = None
    #: the grid intensity its gCO2e were computed at: ``{"intensity_g_per_kWh", "basis", "region"}``
    grid: dict[str, Any] | None = None
    #: the share of ``energy_J`` that is ESTIMATED, not measured (0 to 1), when the summary says
    estimated_fraction: float | None = None
    #: why the inference benchmark has no energy per sample, when it ran and measured nothing (every repeat 0 J)
    benchmark_nothing: str | None = None
    #: the domains its energy covers in full (:func:`._domains.covered`), when the summary names its sources
    domains: list[str] | None = None
    #: the domains with a measurement fault (not measured, or not in every window), when it names its sources
    unmeasured: list[str] | None = None


def find_summary(job_dir: str | None) -> Path | None:
    """The newest ``energy_summary.json`` at most :data:`MAX_DEPTH` folders below ``job_dir``."""
    if not job_dir:
        return None
    root = Path(job_dir)
    if not root.is_dir():
        return None
    found = [p for p in root.rglob(SUMMARY_FILE) if len(p.relative_to(root).parts) <= MAX_DEPTH + 1]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def degraded_reasons(summary: dict[str, Any]) -> list[str]:
    """Why a summary's energy is not a full measurement (empty when it is)."""
    reasons: list[str] = []
    if summary.get("total_J") is None and summary.get("no_energy"):  # the trial's energy is unknown: say why
        reasons.append(f"no energy: {summary['no_energy']}")
    if summary.get("partial"):  # written at an epoch end of a job that never reached the end of its run
        progress = summary.get("progress") or {}
        reasons.append(
            f"partial: the job ended while {summary.get('status')!r}; energy counted up to epoch "
            f"{progress.get('epochs', '?')} (step {progress.get('steps', '?')}) only"
        )
    for domain, why in sorted((summary.get("measurement_faults") or {}).items()):
        reasons.append(f"{domain}: {why}")
    fraction = summary.get("estimated_fraction")
    fraction = fraction if isinstance(fraction, float) and 0 <= fraction <= 1 else None  # NaN: edited by hand
    for domain, source in sorted((summary.get("sources") or {}).items()):
        base = str(source).split(":", 1)[0]
        if base == "estimate":
            share = (
                f" ({fraction:.0%} of the energy is estimated)"
                if isinstance(fraction, float) and 0 <= fraction <= 1
                else ""
            )
            reasons.append(f"{domain}: estimated from CPU time{share}")
        elif base == "nvml_power":
            reasons.append(f"{domain}: power polled and integrated (no energy counter)")
    windows = summary.get("interpolated_windows")
    if isinstance(windows, int) and windows > 0:
        fraction = summary.get("interpolated_fraction")
        share = f"{fraction:.0%} of it, " if isinstance(fraction, float) and 0 <= fraction <= 1 else ""
        # what varies between trials is in the parentheses: the sweep's summary counts reasons by what precedes them
        reasons.append(
            f"interpolated: energy interpolated across gaps in polled power ({share}in {windows} window(s): the "
            "poller was held up)"
        )
    for phase, entry in sorted((summary.get("phases") or {}).items()):
        if isinstance(entry, dict) and entry.get("contended"):
            reasons.append(
                f"contended: other processes kept {entry.get('foreign_cores', float('nan')):.2f} cores busy on "
                f"average during {phase} ({contended_share(entry.get('contended_fraction', float('nan')))})"
            )
    inference = summary.get("inference") or {}
    contention = inference.get("contention") or {}
    if inference.get("contended"):
        reasons.append(
            f"contended: other processes kept {contention.get('foreign_cores', float('nan')):.2f} of "
            f"{contention.get('cores', '?')} cores busy during the inference benchmark "
            f"({contention.get('compute_threads', '?')} compute threads on "
            f"{contention.get('free_cores', float('nan')):.2f} free cores)"
        )
    if inference.get("rel_precision") is not None and inference.get("converged") is False:
        half = inference.get("rel_halfwidth")
        known = "no 95% interval" if half is None else f"known to +-{half:.0%}"
        runs = Runs.from_dict(inference.get("runs_test"))
        shifts = f"; {runs.describe()}" if runs is not None and runs.level_shifts else ""
        reasons.append(
            f"imprecise: inference energy per sample {known} after {inference.get('repeats')} repeats "
            f"(target +-{inference['rel_precision']:.0%}, stopped at {inference.get('stop_reason')}){shifts}"
        )
    return reasons


def read_job(job_dir: str | None) -> JobInfo:
    """Read the job's energy summary; an absent or unreadable file gives an empty :class:`JobInfo`."""
    path = find_summary(job_dir)
    if path is None:
        return JobInfo()
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return JobInfo(str(path), degraded=[f"{SUMMARY_FILE} unreadable"])
    if not isinstance(summary, dict):
        return JobInfo(str(path), degraded=[f"{SUMMARY_FILE} unreadable: JSON, but not an object"])
    total = summary.get("total_J")
    energy = float(total) if isinstance(total, (int, float)) and math.isfinite(total) else None
    sources = {str(k): str(v) for k, v in (summary.get("sources") or {}).items()}
    inference = summary.get("inference") or {}
    repeats = inference.get("per_repeat_J")
    if not (isinstance(repeats, list) and repeats and all(isinstance(v, (int, float)) for v in repeats)):
        repeats = None
    nothing = None
    if inference.get("stop_reason") == NOTHING_MEASURED:  # its repeats' 0 J are no values to pool
        repeats = None
        on = ", ".join(f"{d}={s}" for d, s in sorted((inference.get("sources") or {}).items())) or "no meter"
        nothing = (
            f"the inference benchmark measured nothing: every one of its {inference.get('repeats', '?')} repeats "
            f"read 0 J ({on})"
        )
    fraction = summary.get("estimated_fraction")
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 <= fraction <= 1):  # NaN
        fraction = None
    domains = of_summary(summary)
    return JobInfo(
        str(path),
        energy,
        summary.get("status"),
        degraded_reasons(summary),
        sources,
        repeats,
        grid_of(summary),
        estimated_fraction=None if fraction is None else float(fraction),
        benchmark_nothing=nothing,
        domains=None if domains is None else domains[0],
        unmeasured=None if domains is None else domains[1],
    )


def grid_of(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The grid intensity of a summary's ``carbon`` entry (gCO2e/kWh, its basis and region), when it names one (a
    finite number >= 0, as EnergyCallback allows), with the PUE the gCO2e were computed at when it names a valid
    one (a finite number >= 1).

    Example:
        >>> grid_of({"carbon": {"intensity_g_per_kWh": 56.0, "basis": "yearly average", "region": "FR", "pue": 1.2}})
        {'intensity_g_per_kWh': 56.0, 'basis': 'yearly average', 'region': 'FR', 'pue': 1.2}
        >>> grid_of({"carbon": {"intensity_g_per_kWh": "x", "basis": "b"}}) is None
        True
    """
    carbon = summary.get("carbon") or {}
    value, basis, region = carbon.get("intensity_g_per_kWh"), carbon.get("basis"), carbon.get("region")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not basis:
        return None
    if value < 0:
        return None
    grid: dict[str, Any] = {
        "intensity_g_per_kWh": float(value),
        "basis": str(basis),
        "region": None if region is None else str(region),
    }
    pue = valid_pue(carbon.get("pue"))
    if pue is not None:
        grid["pue"] = pue
    return grid


def valid_pue(value: Any) -> float | None:
    """``value`` as a PUE when it is one (a finite number >= 1, as EnergyCallback allows), else ``None``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 1:
        return None
    return float(value)
