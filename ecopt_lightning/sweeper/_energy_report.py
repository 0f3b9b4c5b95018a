"""``energy_report.md``: the energy facts of a tuned model, for model documentation.

Written for documentation such as a model card or the EU AI Act's Annex XI, which asks for the known or
estimated energy consumption of a model: the hardware, how each number was obtained (measured by which
sensor, or estimated), training and inference energy of the chosen model, and what tuning cost.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metrics import (
    ESTIMATED_FRACTION,
    FLOPS_PER_SAMPLE,
    INFERENCE_CONTENDED,
    INFERENCE_CONVERGED,
    INFERENCE_PER_SAMPLE_IQR_J,
    PARAMS,
    SUMMARY_FILE,
    TOTAL_J,
    total_J,
)
from ._domains import RULE
from ._impact import estimated_note, uncertainty_note
from ._jobinfo import grid_of, valid_pue
from ._plots import ESTIMATE_WORDS
from ._records import estimated_phrase, estimated_share
from ._repeats import merged_text
from ._rung_report import NONE_STOPPED, energy_saved, stopped_energy_text

if TYPE_CHECKING:
    from ecopt_lightning.energy.carbon import CarbonBasis, GridIntensity

    from ._records import TrialRecord
    from ._sweep_report import Report


def hardware_info() -> dict[str, Any]:
    """CPU model, core count, GPU names (through NVML when it works), OS and library versions of this machine."""
    from ecopt_lightning.energy.estimate import cpu_model_name

    info: dict[str, Any] = {
        "cpu": cpu_model_name() or platform.processor() or "unknown",
        "cpu_cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for package in ("torch", "lightning", "optuna", "ecopt-lightning"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    try:
        from ecopt_lightning.energy.nvml import load_nvml

        nvml = load_nvml()
        try:
            names = []
            for i in range(nvml.nvmlDeviceGetCount()):
                name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))
                names.append(name.decode() if isinstance(name, bytes) else str(name))
            info["gpus"] = names
            info["nvidia_driver"] = str(nvml.nvmlSystemGetDriverVersion())
        finally:
            nvml.nvmlShutdown()
    except Exception as exc:
        info["gpus"] = []
        info["gpu_note"] = f"no NVIDIA GPU visible through NVML ({str(exc).splitlines()[0][:120]})"
    return info


def _trial_summary(record: TrialRecord) -> dict[str, Any] | None:
    """The EnergyCallback summary JSON in the trial's job dir, when it is there."""
    if not record.job_dir:
        return None
    for path in sorted(Path(record.job_dir).glob(f"**/{SUMMARY_FILE}")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict):
            return summary
    return None


def _fmt(value: Any, unit: str = "") -> str:
    """A value with its unit; ``n/a`` when there is none (a NaN: not counted, as FLOPs a model's forward hides).

    Example:
        >>> _fmt(2.5, "J"), _fmt(None, "J"), _fmt(float("nan"))
        ('2.5 J', 'n/a', 'n/a (not counted)')
    """
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isnan(value):
        return "n/a (not counted)"
    if isinstance(value, float):
        return f"{value:.4g}{' ' + unit if unit else ''}"
    return f"{value}{' ' + unit if unit else ''}"


def confirm_machines(records: list[TrialRecord], sweep_hardware: dict[str, Any]) -> list[str]:
    """The report's lines on where ``ecopt confirm`` measured its values, when that was not the sweep's machine.

    Example:
        >>> from types import SimpleNamespace as R
        >>> confirm_machines([R(number=3, confirmed={"hardware": {"cpu": "B"}})], {"cpu": "A"})
        ['- `ecopt confirm` measured the energy per sample of trials 3 again on another machine: cpu: B']
    """
    by_machine: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for r in sorted(records, key=lambda r: r.number):
        machine = (r.confirmed or {}).get("hardware")
        if isinstance(machine, dict) and machine != sweep_hardware:
            by_machine.setdefault(json.dumps(machine, sort_keys=True), (machine, []))[1].append(r.number)
    return [
        f"- `ecopt confirm` measured the energy per sample of trials {', '.join(map(str, numbers))} again on another "
        f"machine: " + "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in machine.items())
        for machine, numbers in by_machine.values()
    ]


def carbon_basis(summary: dict[str, Any] | None) -> GridIntensity:
    """The grid intensity a trial's EnergyCallback used (its ``energy_summary.json``, when it names a valid one:
    :func:`._jobinfo.grid_of`), else the world average."""
    from ecopt_lightning.energy.carbon import GridIntensity, grid_intensity

    grid = grid_of(summary or {})
    if grid is None:
        return grid_intensity()
    return GridIntensity(grid["intensity_g_per_kWh"], grid["basis"], grid["region"])


def sweep_carbon(report: Report) -> CarbonBasis:
    """:func:`sweep_grid` and :func:`sweep_pue` of ``report``, found at the first call (each trial's
    ``energy_summary.json`` read once) and kept on it (``report.carbon``) for the next ones."""
    from ecopt_lightning.energy.carbon import CarbonBasis

    if report.carbon is None:
        read: dict[str | None, dict[str, Any] | None] = {}

        def summary_of(record: TrialRecord) -> dict[str, Any] | None:
            if record.job_dir not in read:
                read[record.job_dir] = _trial_summary(record)
            return read[record.job_dir]

        report.carbon = CarbonBasis(sweep_grid(report, summary_of), *sweep_pue(report, summary_of))
    return report.carbon


def sweep_grid(report: Report, read: Callable[[TrialRecord], dict[str, Any] | None] | None = None) -> GridIntensity:
    """The grid intensity of the sweep's gCO2e: the chosen trial's (its ``energy_summary.json``, through ``read``),
    else the first trial's whose summary names a valid one, else the one the sweeper stored from a summary (a report
    rebuilt where the job dirs are not), else the world average; the same basis in ``summary.json`` and the report."""
    chosen_number = report.impact.get("chosen_trial")
    records = sorted(report.records, key=lambda r: r.number != chosen_number)
    found = (grid_of(summary) for summary in map(read or _trial_summary, records) if summary is not None)
    grid = next((g for g in found if g is not None), None) or next((r.grid for r in records if r.grid), None)
    return carbon_basis(None if grid is None else {"carbon": grid})


def sweep_pue(report: Report, read: Callable[[TrialRecord], dict[str, Any] | None] | None = None) -> tuple[float, str]:
    """The PUE of the sweep's gCO2e and where it comes from, in words: the one the trials' EnergyCallback used (the
    one the sweeper stored with each trial's grid intensity, else its ``energy_summary.json`` through ``read``, read
    only then: the artifacts are written after every trial) when those that recorded one agree; PUE 1 (device
    energy only) when they differ or none recorded one."""
    from ecopt_lightning.energy.carbon import DEFAULT_PUE

    counted = [r for r in report.records if r.energy_J is not None] or list(report.records)
    found: list[float | None] = []
    for r in counted:
        pue = valid_pue((r.grid or {}).get("pue"))
        if pue is None:
            pue = valid_pue((((read or _trial_summary)(r) or {}).get("carbon") or {}).get("pue"))
        found.append(pue)
    known = sorted({pue for pue in found if pue is not None})
    unknown = sum(pue is None for pue in found)
    if not known:
        return DEFAULT_PUE, f"PUE {DEFAULT_PUE:g} (device energy only): no trial recorded its PUE"
    if len(known) > 1:
        used = ", ".join(f"{pue:g}" for pue in known)
        return DEFAULT_PUE, f"PUE {DEFAULT_PUE:g} (device energy only): the trials used different PUEs ({used})"
    if unknown:
        return known[0], f"PUE {known[0]:g}, as the trials that recorded one used; {unknown} trial(s) did not say"
    return known[0], f"PUE {known[0]:g}, as each trial's EnergyCallback used"


def _member_sources(point: TrialRecord, records: dict[int, TrialRecord]) -> list[tuple[int, dict[str, str]]] | None:
    """The energy sources of each trial of a config run in several trials, when they are not all the same (``None``
    when they are): the point's own sources are its first trial's alone."""
    each = [(n, dict(records[n].sources)) for n in point.merged_trials or [] if n in records]
    return each if len({json.dumps(srcs, sort_keys=True) for _, srcs in each}) > 1 else None


def _spread(record: TrialRecord) -> str:
    """How the energy per sample's repeats spread, as a clause: the IQR of the sweep's benchmark, or of
    ``ecopt confirm``'s repeats when they replaced it (the sweep's IQR no longer describes the value).

    Example:
        >>> from types import SimpleNamespace as R
        >>> _spread(R(metrics={INFERENCE_PER_SAMPLE_IQR_J: 0.5}, confirmed=None))
        'IQR 0.5 J'
        >>> _spread(R(metrics={INFERENCE_PER_SAMPLE_IQR_J: 0.5}, confirmed={"per_repeat_J": [1.0, 2.0, 3.0, 4.0, 5.0],
        ...     "repeats": 5, "rounds": 1}))
        "IQR 2 J over `ecopt confirm`'s 5 repeats in 1 round(s)"
    """
    if record.confirmed is None:
        return f"IQR {_fmt(record.metrics.get(INFERENCE_PER_SAMPLE_IQR_J), 'J')}"
    repeats = record.confirmed.get("per_repeat_J") or []
    quartiles = statistics.quantiles(repeats, n=4, method="inclusive") if len(repeats) > 1 else None
    iqr = "IQR n/a" if quartiles is None else f"IQR {_fmt(quartiles[2] - quartiles[0], 'J')}"
    counts = f"{record.confirmed.get('repeats')} repeats in {record.confirmed.get('rounds')} round(s)"
    return f"{iqr} over `ecopt confirm`'s {counts}"


def _estimated(sources: Iterable[str]) -> str:
    """``, ESTIMATED from CPU time`` to follow an energy value whose sources are estimates (``, partly ...`` when
    some are), so that the value never reads as a measurement; empty when all are measured or none is known.

    Example:
        >>> _estimated(["estimate"]), _estimated(["rapl", "estimate"]), _estimated(["rapl"]), _estimated([])
        (', ESTIMATED from CPU time', ', partly ESTIMATED from CPU time', '', '')
    """
    sources = list(sources)
    share = estimated_share(None, sources)
    if not sources or share == 0.0:
        return ""
    return f", {ESTIMATE_WORDS}" if share == 1.0 else f", partly {ESTIMATE_WORDS}"


def _precision(record: TrialRecord) -> str:
    """The 95% interval, and whether the benchmark (or ``ecopt confirm``'s re-measurement, when it replaced the
    sweep's value) converged or ran contended, as a clause."""
    parts = []
    if record.energy_per_sample_interval is not None:
        lo, hi = record.energy_per_sample_interval
        parts.append(f"95% interval {lo:.4g} to {hi:.4g} J")
    if record.confirmed is not None:
        not_converged, contended = record.confirmed.get("converged") is False, bool(record.confirmed.get("contended"))
    else:
        not_converged = record.metrics.get(INFERENCE_CONVERGED) == 0.0
        contended = record.metrics.get(INFERENCE_CONTENDED) == 1.0
    if not_converged:
        parts.append("NOT converged to its precision target")
    if contended:
        parts.append("taken beside other processes' CPU load (contended)")
    if record.confirmed is not None:
        parts.append(f"confirmed by `ecopt confirm` (the sweep measured {_fmt(record.confirmed.get('sweep_value'))})")
    return "".join(f"; {p}" for p in parts)


def _training_energy(record: TrialRecord, records: dict[int, TrialRecord], metric: str = total_J("train")) -> str:
    """The chosen model's training energy (``metric``) in words: its trial's, or for a config run in several trials
    the median of those that reported one, naming them and those that did not.

    Example:
        >>> from types import SimpleNamespace as R
        >>> trials = {3: R(metrics={"energy/train_total_J": 10.0}), 7: R(metrics={}), 9: R(metrics={
        ...     "energy/train_total_J": 20.0})}
        >>> _training_energy(R(metrics={}, merged_trials=[3, 7, 9]), trials)
        '15 J (the median of trials 3, 9; trial(s) 7 reported none)'
    """
    if not record.merged_trials:
        return _fmt(record.metrics.get(metric), "J")
    said = [n for n in record.merged_trials if records[n].metrics.get(metric) is not None]
    silent = [n for n in record.merged_trials if n not in said]
    if not said:
        return f"n/a (none of trials {', '.join(map(str, silent))} reported one)"
    value = statistics.median(records[n].metrics[metric] for n in said)
    none = f"; trial(s) {', '.join(map(str, silent))} reported none" if silent else ""
    return f"{_fmt(value, 'J')} (the median of trials {', '.join(map(str, said))}{none})"


def _whole_run(metric: str) -> str:
    """What the energy metric of a trial's whole run holds, in words.

    Example:
        >>> _whole_run("energy/total_J")
        'energy/total_J: training, validation, test, the inference benchmark, set-up, sanity check and idle baseline'
        >>> _whole_run("energy/fit_J")
        'energy/fit_J'
    """
    if metric != TOTAL_J:
        return metric
    return f"{metric}: training, validation, test, the inference benchmark, set-up, sanity check and idle baseline"


def _why_chosen(rule: str | None, knee: bool) -> str:
    """How the chosen trial was chosen, in words.

    Example:
        >>> _why_chosen("named", knee=True), _why_chosen(None, knee=True)
        ('named by the user; the knee of the Pareto front', 'the knee of the Pareto front')
    """
    where = "the knee of the Pareto front" if knee else ""
    if rule == "named":
        return "named by the user" + (f"; {where}" if where else "")
    return rule or where or "chosen"


def render(report: Report) -> str:
    """The Markdown text of the energy report."""
    imp = report.impact
    # a repeated config is one point (its trials pooled): the figures the payback and the front use
    by_number = {**{r.number: r for r in report.records}, **{p.number: p for p in report.points}}
    chosen_number = imp.get("chosen_trial")
    chosen = by_number.get(chosen_number) if chosen_number is not None else None
    hw = report.notes.get("hardware") or {}
    lines = [f"# Energy report: study `{report.study_name}`", ""]
    lines += ["## Hardware", ""]
    if hw:
        for key, value in hw.items():
            lines.append(f"- {key}: {(', '.join(value) or 'none') if isinstance(value, list) else value}")
    else:
        lines.append("- not recorded (the study was made by another tool)")
    lines += confirm_machines(report.records, hw)
    lines += ["", "## Method", ""]
    summary = _trial_summary(chosen) if chosen is not None else None
    # the job's summary, else what the sweeper stored on the trial (a report rebuilt where the job dirs are not)
    by_domain = (summary or {}).get("sources") or (chosen.sources if chosen is not None else None)
    trials = {r.number: r for r in report.records}
    differ = _member_sources(chosen, trials) if chosen is not None and chosen.merged_trials else None
    if differ:  # a config run on other sensors (a study resumed on another machine): each trial's, not the first's
        each = "; ".join(
            f"trial {n}: {', '.join(f'{d}: {s}' for d, s in srcs.items()) or 'unknown'}" for n, srcs in differ
        )
        lines.append(f"- Energy sources of the chosen config's trials differ, per domain: {each}.")
    elif by_domain:
        sources = ", ".join(f"{d}: {s}" for d, s in by_domain.items())
        lines.append(f"- Energy sources of the chosen trial, per domain: {sources}.")
    estimated = chosen.metrics.get(ESTIMATED_FRACTION) if chosen is not None else None
    if chosen is not None and not by_domain:
        unknown = "" if estimated is not None else ": its figures may be measured or ESTIMATED"
        lines.append(
            f"- Energy sources of the chosen trial: unknown (its job wrote no {SUMMARY_FILE} and the study holds "
            f"none){unknown}."
        )
    if estimated is not None:
        lines.append(
            f"- Share of the chosen trial's energy that is ESTIMATED (modelled from CPU time), not measured: "
            f"{estimated:.0%}."
        )
    carbon = sweep_carbon(report)
    intensity, pue, pue_text = carbon.grid, carbon.pue, carbon.pue_text
    lines.append(f"- Carbon: gCO2e at {intensity.label}; {pue_text}.")
    lines += [
        "- Measured sources: `nvml_counter` (NVIDIA GPU energy counter), `nvml_power` (polled GPU power, "
        "integrated), `rapl` (CPU package and DRAM counters). `estimate`: process CPU time x watts per core.",
        "- GPU figures are board energy; CPU figures cover packages and DRAM where RAPL is readable. Cooling, "
        "networking and idle machines are not measured: the PUE above stands for them in the gCO2e.",
        "",
        "## The chosen model",
        "",
    ]
    if chosen is None:
        why = report.no_front_text() if not report.front else imp.get("chosen_rule", "none named")
        lines.append(f"No chosen trial ({why}).")
    else:
        m = chosen.metrics
        spread = _spread(chosen)
        # a confirmed value's source is the confirm's measurement, not the sweep's
        confirmed_source = (chosen.confirmed or {}).get("source")
        inference_sources = [confirmed_source] if confirmed_source else list(chosen.sources.values())
        if chosen.merged_trials:  # the first trial's IQR is not the pooled figure's
            spread = merged_text(chosen)
        lines += [
            f"- Trial {chosen.number} ({_why_chosen(imp.get('chosen_rule'), report.knee is chosen)}); "
            f"parameters: {', '.join(f'{k}={v}' for k, v in chosen.params.items()) or 'defaults'}.",
            f"- Training energy (optimizer steps only, {total_J('train')}): {_training_energy(chosen, trials)}"
            f"{_estimated(chosen.sources.values())}.",
            f"- Its whole run ({_whole_run(report.settings.energy_metric)}): "
            f"{_training_energy(chosen, trials, report.settings.energy_metric)}{_estimated(chosen.sources.values())}.",
            f"- Inference energy: {_fmt(chosen.energy_per_sample_J, 'J')} per sample{_estimated(inference_sources)} "
            f"({spread}{_precision(chosen)}), "
            f"{_fmt(chosen.samples_per_J)} samples per J.",
            f"- Parameters: {_fmt(m.get(PARAMS))}; FLOPs per sample: {_fmt(m.get(FLOPS_PER_SAMPLE))}.",
        ]
        if not chosen.feasible:  # a trial named with --chosen may break the study's constraints
            from ._progress import breaks

            lines.append(f"- It breaks the study's constraints: {'; '.join(breaks(chosen.constraints, m))}.")
    if report.not_comparable:
        lines += ["", "## Trials left out of the front", ""]
        lines.append(f"- The sweep's trials were measured on {report.kinds_text()}; {RULE}.")
        lines += [f"- Trial {r.number}: {r.not_comparable}." for r in report.not_comparable]
    tuning = report.sweep_energy_J
    states = ", ".join(f"{k}: {v}" for k, v in report.states.items())
    used = (
        f"{report.sweep_energy_text(4)} ({tuning / 3.6e6:.4g} kWh; {intensity.entry(tuning, pue)['total_gCO2e']:.4g} "
        f"gCO2e at {intensity.label})"
        if report.energy_reported
        else "an energy no trial reported (unknown, not zero)"
    )
    ran = f"{len(report.records)} trials ({states}) used {used}" if report.records else "No trial has run yet"
    lines += ["", "## Tuning cost", "", f"- {ran}."]
    if report.energy_reported:  # the chosen trial's share (Method) says nothing of the other trials'
        whose = "Trials' energy" if report.confirm_runs else "Tuning energy"  # confirm's share is on its own line
        lines.append(f"- {whose}: {report.estimated_text()}.")
    if report.confirm_runs and report.energy_reported:  # measuring the front again is tuning's cost too
        confirm = estimated_phrase(report.confirm_energy_J, report.confirm_estimated_J, 0, report.confirm_runs)
        total = report.tuning_energy_J
        lines += [
            f"- `ecopt confirm` used {_fmt(report.confirm_energy_J, 'J')} measuring the front again "
            f"({report.confirm_runs} run(s); {confirm}).",
            f"- What tuning cost (the payback's): {report.tuning_text()}; {total / 3.6e6:.4g} kWh; "
            f"{intensity.entry(total, pue)['total_gCO2e']:.4g} gCO2e at {intensity.label}.",
        ]
    saved = energy_saved(report.records)
    if saved is not None and not saved["trials_stopped"]:
        lines.append(f"- {NONE_STOPPED[0].upper()}{NONE_STOPPED[1:]}.")
    elif saved is not None:
        reported = saved["trials_stopped"] > saved["stopped_without_energy"]
        where = "is in the total above" if reported else "is not in the total above"
        lines.append(
            f"- Multi-fidelity stopped {saved['trials_stopped']} trial(s) at a rung; their energy, "
            f"{stopped_energy_text(saved)}, {where}. "
            "Training them to the end would have "
            f"cost about {_fmt(saved['full_training_estimate_J'], 'J')}: about {_fmt(saved['saved_estimate_J'], 'J')} "
            "saved by stopping (ESTIMATE, not a measurement: training and validation linear in epochs, the rest once)."
        )
    if imp.get("payback") is not None or imp.get("saved_J_per_inference") is not None:
        from ._impact import describe_saving

        lines += [f"- {line}." for line in describe_saving(imp)]
        lines.append(f"- Payback: {imp.get('payback_note')}.")
    else:
        lines.append(f"- Payback: {imp.get('payback_note', 'n/a')}.")
    lines += ["", "## Are parameters and FLOPs good proxies for energy here?", ""]
    for name, row in (imp.get("proxy_spearman") or {}).items():
        lines.append(
            f"- Spearman correlation of J per sample with {name}: {_fmt(row['spearman'])} "
            f"over {row['n_trials']} trials{estimated_note(name, row)}{uncertainty_note(row)}."
        )
    lines.append("")
    return "\n".join(lines)
