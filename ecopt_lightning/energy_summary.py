"""The JSON summary `EnergyCallback` writes (``energy_summary.json``): its parts, their assembly, where it goes.

Example:
    >>> from ecopt_lightning.energy_tracker import EnergyTracker, Totals
    >>> tracker = EnergyTracker(None)
    >>> tracker.cluster = {"train": Totals(energy_J=10.0, seconds=2.0, samples=4)}
    >>> phase_entries(tracker, idle_W=1.0)["train"]["net_J"]
    8.0
    >>> device_sources([{"gpu:0": {"key": "gpu:a", "source": "nvml_counter"}}, {"gpu:0": {"key": "gpu:b",
    ...                 "source": "nvml_counter"}}])
    {'rank0/gpu:0': 'nvml_counter', 'rank1/gpu:0': 'nvml_counter'}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger, WandbLogger

from . import metrics, strict_json
from .energy import EnergyMonitor
from .energy.carbon import GridIntensity
from .energy.measurement import source_label
from .energy_tracker import BENCHMARK, COUNTED, EnergyTracker
from .metrics import SUMMARY_FILE

V = TypeVar("V")


#: how a summary names a domain whose energy a checkpoint carried from another source (``checkpoint/cpu:0``)
RESTORED = "checkpoint/"


def with_restored(sources: Mapping[str, str], restored: Mapping[str, str]) -> dict[str, str]:
    """``sources`` (domain -> source) and a checkpoint's where they do not say it (another source for a domain, or a
    domain not read here), named ``checkpoint/<domain>``: energy restored from a checkpoint keeps its source.

    Example:
        >>> with_restored({"cpu:0": "rapl"}, {"cpu:0": "estimate", "dram:0": "rapl"})
        {'cpu:0': 'rapl', 'checkpoint/cpu:0': 'estimate', 'checkpoint/dram:0': 'rapl'}
        >>> with_restored({"cpu:0": "rapl"}, {"cpu:0": "rapl"})  # the same meters: nothing to add
        {'cpu:0': 'rapl'}
    """
    out = dict(sources)
    for domain, source in restored.items():
        if sources.get(domain) != source:
            out.setdefault(domain if domain.startswith(RESTORED) else RESTORED + domain, source)
    return out


def run_sources(devices: Sequence[Mapping[str, Mapping[str, str]]], tracker: EnergyTracker) -> dict[str, str]:
    """The run's sources: every rank's devices (:func:`device_sources`) and a checkpoint's restored into any phase
    (:func:`with_restored`): the summary's ``sources`` and the loggers' ``energy/sources``."""
    restored = {d: s for by_phase in tracker.restored_sources.values() for d, s in by_phase.items()}
    return with_restored(device_sources(devices), restored)


def phase_sources(tracker: EnergyTracker) -> dict[str, dict[str, str]]:
    """Phase -> domain -> source of this rank's windows in that phase."""
    return {name: dict(tracker.total(name).sources) for name in tracker.cluster}


def sources_of(
    tracker: EnergyTracker, name: str, sources_by_rank: Sequence[Mapping[str, Mapping[str, str]]] = ()
) -> dict[str, str]:
    """The sources of phase ``name``'s total: every rank's (``sources_by_rank``, per rank :func:`phase_sources`,
    :func:`rank_named`), else this rank's, with those of a checkpoint's totals restored into it
    (:func:`with_restored`)."""
    if len(sources_by_rank) > 1:
        here = rank_named([by_phase.get(name, {}) for by_phase in sources_by_rank])
    else:
        here = dict(tracker.total(name).sources)
    return with_restored(here, tracker.restored_sources.get(name, {}))


#: the keys of a phase entry that are energy, or derive from it: ``None`` when the phase read nothing
_ENERGY_KEYS = ("energy_J", "estimated_J", "interpolated_J", "power_W", "per_sample_J", "net_J")
#: why the benchmark phase has no ``per_sample_J`` (``None``): its energy and samples are not of the same windows
BENCHMARK_PER_SAMPLE_WHY = (
    "energy_J includes the warm-up and any repeat left out, samples the measured repeats' only: the benchmark's J "
    "per sample is inference.per_sample_J"
)


def phase_entries(
    tracker: EnergyTracker, idle_W: float | None, sources_by_rank: Sequence[Mapping[str, Mapping[str, str]]] = ()
) -> dict[str, dict[str, Any]]:
    """Per phase: the cluster totals (J, s, samples, ...), power (W), J per sample (NaN where unknown: no time, no
    samples; the summary's ``null``; ``None`` for the benchmark, with ``per_sample_J_why``), net J with an idle power,
    this rank's energy per domain (J), and the sources of the total: every rank's (``sources_by_rank``, per
    rank :func:`phase_sources`, :func:`rank_named`), else this rank's. A phase whose every reading failed
    (:attr:`Totals.unread`) has ``None`` for its energy and what derives from it, as its metrics are not published.

    Example:
        >>> from ecopt_lightning.energy_tracker import Totals
        >>> tracker = EnergyTracker(None)
        >>> tracker.cluster = {"val": Totals(seconds=2.0, samples=4, failed_windows=1)}
        >>> entry = phase_entries(tracker, idle_W=1.0)["val"]
        >>> entry["energy_J"], entry["power_W"], entry["per_sample_J"], entry["net_J"], entry["failed_windows"]
        (None, None, None, None, 1)
    """
    phases: dict[str, dict[str, Any]] = {}
    for name, t in tracker.cluster.items():
        local = tracker.total(name)
        sources = sources_of(tracker, name, sources_by_rank)
        entry: dict[str, Any] = t.counts()
        entry["power_W"] = t.power_W
        entry["per_sample_J"] = t.per_sample_J
        if name == BENCHMARK:  # a ratio of the two would read as a J per sample, and be higher than the benchmark's
            entry.update(per_sample_J=None, per_sample_J_why=BENCHMARK_PER_SAMPLE_WHY)
        if idle_W is not None:
            entry["net_J"] = t.net_J(idle_W)
        if t.unread:
            entry.update(dict.fromkeys(_ENERGY_KEYS, None))
        if t.proc_s > 0:
            entry["contended"] = t.contended
            entry["contended_fraction"] = t.contended_fraction
            entry["foreign_cores"] = t.foreign_core_s / t.proc_s
        entry.update(
            source=source_label(sources),
            sources=sources,
            by_device_J_this_rank=dict(local.by_device),
        )
        phases[name] = entry
    return phases


def carbon_entry(totals: Mapping[str, float], grid: GridIntensity, pue: float) -> dict[str, Any]:
    """The summary's ``carbon``: the grid intensity used, its label, the PUE and the totals (gCO2e) in ``totals``
    (the callback's total metrics).

    Example:
        >>> from ecopt_lightning.energy.carbon import grid_intensity
        >>> carbon_entry({"carbon/total_gCO2e": 4.0}, grid_intensity(intensity_g_per_kWh=400.0), 1.2)["total_gCO2e"]
        4.0
    """
    carbon: dict[str, Any] = {**grid.to_dict(), "label": grid.label, "pue": pue}
    carbon["total_gCO2e"] = totals.get(metrics.CARBON_TOTAL_G)
    carbon["train_total_gCO2e"] = totals.get(metrics.carbon_total_g("train"))
    return carbon


def cost_entry(
    totals: Mapping[str, float], price_per_kWh: float | None, currency: str, pue: float
) -> dict[str, Any] | None:
    """The summary's ``cost`` (``None`` without a price): the price, currency, PUE and the total cost."""
    if price_per_kWh is None:
        return None
    return {
        "price_per_kWh": price_per_kWh,
        "currency": currency,
        "pue": pue,
        "total": totals.get(metrics.cost_total(currency)),
    }


def device_sources(devices: Sequence[Mapping[str, Mapping[str, str]]]) -> dict[str, str]:
    """Domain -> source of every counted device (``rank{r}/{domain}`` with several ranks)."""
    return {
        domain if len(devices) == 1 else f"rank{rank}/{domain}": info["source"]
        for rank, by_domain in enumerate(devices)
        for domain, info in by_domain.items()
    }


def measurement_faults(monitor: EnergyMonitor | None, tracker: EnergyTracker | None = None) -> dict[str, str]:
    """Domains not measured at all, whose sensor fails now (e.g. a GPU lost mid-run), or whose reading failed in
    some window of a counted phase (this rank's; their energy there is not counted), with the reason."""
    faults: dict[str, str] = {}
    if tracker is not None:
        for phase in [p for p in tracker.phases if p in COUNTED]:
            for domain, reason in tracker.total(phase).invalid.items():
                faults.setdefault(domain, f"invalid in {phase} windows (not counted there): {reason}")
    if monitor is None:
        return faults
    faults.update(monitor.missing)
    if monitor.closed:  # the user closed it after the run: its reads would fail for that reason alone
        return faults
    try:
        faults.update(monitor.snapshot(sync=False).errors)
    except Exception as exc:  # a summary must still be written
        faults["monitor"] = f"reading failed: {type(exc).__name__}: {exc}"
    return faults


def rank_named(by_rank: Sequence[Mapping[str, V]], ranks: Sequence[int] | None = None) -> dict[str, V]:
    """Every rank's domain -> value (measurement faults, sources) in one mapping, named ``rank{r}/{domain}`` with
    several ranks (as :func:`device_sources` names devices); ``ranks`` gives the rank of each entry (default:
    their order).

    Example:
        >>> rank_named([{}, {"cpu:0": "sensor lost"}])
        {'rank1/cpu:0': 'sensor lost'}
        >>> rank_named([{"cpu:0": "sensor lost"}], ranks=[0])  # a run of one process
        {'cpu:0': 'sensor lost'}
    """
    ranks = list(range(len(by_rank))) if ranks is None else list(ranks)
    several = len(by_rank) > 1 or any(r != 0 for r in ranks)
    return {
        f"rank{rank}/{domain}" if several else domain: value
        for rank, values in zip(ranks, by_rank, strict=True)
        for domain, value in values.items()
    }


def build_summary(
    *,
    status: str,
    progress: Mapping[str, int],
    totals: Mapping[str, float],
    tracker: EnergyTracker,
    devices: Sequence[Mapping[str, Mapping[str, str]]],
    world_size: int,
    model: dict[str, Any],
    inference: dict[str, Any] | None,
    grid: GridIntensity,
    pue: float,
    price_per_kWh: float | None,
    currency: str,
    published: Mapping[str, float],
    monitor: str | None,
    faults: Mapping[str, str],
    no_energy: str | None = None,
    sources_by_rank: Sequence[Mapping[str, Mapping[str, str]]] = (),
) -> dict[str, Any]:
    """The whole summary of one run (J, s, W; samples), as the file holds it: every non-finite number ``None``
    (:func:`.strict_json.strict`).

    Args:
        status: ``running fit``, ``finished fit``, ``failed: ...``; ``partial`` while it is ``running``.
        progress: training epochs and optimizer steps completed.
        totals: the cluster totals as metrics, carbon and cost included (``metrics`` names); empty when nothing
            is measured (then ``total_J`` is ``None``).
        tracker: the accounting, for the per-phase entries and the idle power (W).
        devices: per rank, domain -> ``{key, source}``.
        model, inference: the model proxies' and the inference benchmark's entries.
        grid, pue, price_per_kWh, currency: the carbon and cost settings.
        published: the last value of every metric the callback published.
        monitor: the run's meters' description (:meth:`EnergyMonitor.describe`; ``None``: no monitor).
        faults: the measurement faults of every rank it knows of (:func:`rank_named`).
        no_energy: why ``totals`` is empty (nothing measured, no batch run); ``None`` when it is not.
        sources_by_rank: per rank, :func:`phase_sources` (several ranks: the phases name every rank's sources).
    """
    sources = run_sources(devices, tracker)
    summary = {
        "status": status,
        "partial": status.startswith("running"),
        "progress": dict(progress),
        "total_J": totals.get(metrics.TOTAL_J),
        "no_energy": no_energy,
        "estimated_fraction": totals.get(metrics.ESTIMATED_FRACTION),
        "interpolated_fraction": totals.get(metrics.INTERPOLATED_FRACTION),
        "interpolated_windows": None
        if metrics.TOTAL_J not in totals
        else sum(t.interpolated_windows for p, t in tracker.cluster.items() if p in COUNTED),
        "sources": sources,
        "source": source_label(sources),
        "devices": devices,
        "world_size": world_size,
        "phases": phase_entries(tracker, tracker.idle_W, sources_by_rank),
        "counted_in_total": list(COUNTED),
        "idle_power_W": tracker.idle_W,
        "model": model,
        "inference": inference,
        "carbon": carbon_entry(totals, grid, pue),
        "cost": cost_entry(totals, price_per_kWh, currency, pue),
        "metrics": dict(published),
        "monitor": monitor,
        "measurement_faults": dict(faults),
    }
    return dict(strict_json.strict(summary))


def run_folder(logger: Any) -> str | None:
    """The folder where ``logger`` keeps this run's files: TensorBoard's and CSV's version folder, W&B's run
    ``files`` folder (synced with the run), MLflow's local artifact folder; else its ``save_dir``."""
    if isinstance(logger, TensorBoardLogger | CSVLogger):
        return logger.log_dir
    if isinstance(logger, WandbLogger):
        return getattr(logger.experiment, "dir", None) or logger.save_dir
    if isinstance(logger, MLFlowLogger):
        uri = str(logger.experiment.get_run(logger.run_id).info.artifact_uri)
        if uri.startswith("file:"):  # the file store's
            return uri[len("file:") :].removeprefix("//")
        if os.path.isabs(uri):  # a database backend's local artifacts: a plain path
            return uri
    return getattr(logger, "save_dir", None)


def summary_file(trainer: Trainer, summary_path: str | os.PathLike[str] | None) -> str:
    """``summary_path``, else ``energy_summary.json`` in the first logger's run folder (:func:`run_folder`),
    else in ``default_root_dir``."""
    if summary_path is not None:
        return os.fspath(summary_path)
    # as trainer.log_dir, without its broadcast (a collective that would hang in on_exception)
    folder = run_folder(trainer.loggers[0]) if trainer.loggers else None
    return os.path.join(folder or trainer.default_root_dir, SUMMARY_FILE)


def write_json(path: str, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed over it), as strict JSON (a
    non-finite number is ``null``: :mod:`.strict_json`)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(strict_json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def spawn_note(launcher_pid: int) -> str:
    """The file where rank 0 of a ``ddp_spawn`` run names its summary's path for the launching process
    (``launcher_pid``), whose own logger may resolve another folder (a TensorBoard version counted after rank 0
    made its own)."""
    return os.path.join(tempfile.gettempdir(), f"ecopt-spawn-{launcher_pid}-summary.txt")


def mark_failed(path: str, status: str) -> bool:
    """Say ``status`` (``failed: ...``) on the summary at ``path`` if it still says ``running``, keeping its totals
    (as of its last write); one that says how it ended stays as it is. Returns whether there is one.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), SUMMARY_FILE)
        >>> mark_failed(path, "failed: RuntimeError")
        False
        >>> write_json(path, {"status": "running fit", "partial": True, "total_J": 3.0})
        >>> mark_failed(path, "failed: RuntimeError"), json.loads(open(path).read())
        (True, {'status': 'failed: RuntimeError', 'partial': False, 'total_J': 3.0})
    """
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return False
    if str(summary.get("status", "")).startswith("running"):
        write_json(path, {**summary, "status": status, "partial": False})
    return True
