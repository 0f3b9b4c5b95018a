"""Multi-fidelity in the report: rung columns of ``trials.csv``, the tuning energy saved (an ESTIMATE) and the
figure of the trials' progress through the rungs (``rungs.png``).

Energy saved: a trial stopped after ``e`` of ``E`` epochs would have cost about ``once + per_epoch x E / e`` had
it run to the end, where ``per_epoch`` is its training and validation energy (``energy/train_total_J`` +
``energy/val_total_J``) and ``once`` the rest of its energy (start-up, the inference benchmark, test), counted
once. That is an estimate, labelled as such everywhere (linear in epochs). A trial that recorded neither phase
total has its whole energy scaled (``whole_energy_scaled`` counts them): that errs towards more saving when its
one-off parts are large against an epoch (on the digits job the benchmark costs as much as 35 epochs).

Example:
    >>> from types import SimpleNamespace
    >>> R = lambda **kw: SimpleNamespace(check_J=0.0, check_source=None, **kw)  # no pre-training check
    >>> rec = [R(number=0, rungs={1: {"values": [0.5, 2.0], "max_epochs": 4}}, stopped_at_epoch=1, energy_J=10.0,
    ...          metrics={"energy/train_total_J": 1.5, "energy/val_total_J": 0.5}, sources={"cpu:0": "estimate"}),
    ...        R(number=1, rungs={1: {"values": [0.9, 1.0], "max_epochs": 4}}, stopped_at_epoch=None, energy_J=40.0,
    ...          metrics={}, sources={})]
    >>> rung_columns(rec, ["acc", "e"])
    ['stopped_at_epoch', 'rung1:acc', 'rung1:e']
    >>> saved = energy_saved(rec)
    >>> saved["saved_estimate_J"]  # 8 J once + 2 J per epoch: about 8 + 2 x 4 = 16 J in full
    6.0
    >>> saved["stopped_estimated_J"], saved["stopped_without_source"]  # its 10 J: a CPU-time estimate
    (10.0, 0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..metrics import total_J
from ._records import estimated_energy, estimated_phrase

#: the figure's file name, written beside the other artifacts when multi-fidelity was on
RUNGS_PNG = "rungs.png"
ESTIMATE_NOTE = (
    "ESTIMATE, not a measurement: each stopped trial's training and validation energy x max_epochs / epochs "
    "trained (linear in epochs) plus the rest of its energy (start-up, inference benchmark, test) once; a trial "
    "without those phase totals has its whole energy scaled (whole_energy_scaled); stopped_energy_J is the stopped "
    "trials' energy as obtained, stopped_estimated_J of it ESTIMATED from CPU time or TDP (stopped_without_source: "
    "trials that did not say), and is in sweep_energy; stopped_missing_domains: stopped trials whose energy lacks a "
    "domain lost before their rung (trial -> domains), which used more than counted"
)
#: what the end-of-sweep line and energy_report.md say when multi-fidelity was on and stopped no trial
NONE_STOPPED = "multi-fidelity stopped no trial at a rung: no energy saved by stopping"
#: the phases whose energy grows with the epochs trained
PER_EPOCH_PHASES = ("train", "val")


def _epochs(records: Sequence[Any]) -> list[int]:
    return sorted({e for r in records for e in r.rungs})


def rung_columns(records: Sequence[Any], objective_names: Sequence[str]) -> list[str]:
    """``trials.csv`` columns for multi-fidelity (empty when no trial has a rung record)."""
    epochs = _epochs(records)
    if not epochs:
        return []
    return ["stopped_at_epoch", *(f"rung{e}:{n}" for e in epochs for n in objective_names)]


def rung_row(record: Any, columns: Sequence[str], objective_names: Sequence[str]) -> dict[str, Any]:
    """One trial's values for :func:`rung_columns` (``None`` where it did not reach the rung)."""
    row: dict[str, Any] = {}
    for column in columns:
        if column == "stopped_at_epoch":
            row[column] = record.stopped_at_epoch
            continue
        epoch, name = column[len("rung") :].split(":", 1)
        values = (record.rungs.get(int(epoch)) or {}).get("values")
        row[column] = None if values is None else values[list(objective_names).index(name)]
    return row


def stopped_phrase(stopped_at_epoch: int, rungs: Mapping[int, Mapping[str, Any]], epochs: Sequence[int] = ()) -> str:
    """``stopped at rung k (epoch e)``: ``k`` is the stop's place among the trial's rung ``epochs`` (counted from
    1), then the decision's reason when it was stored. Without ``epochs`` (a study stored before they were
    recorded) ``k`` counts the trial's rung records up to the stop, one short for a rung a resumed fit had
    nothing to rank at (a checkpoint another run made).

    Example:
        >>> stopped_phrase(3, {3: {"reason": "stop: ranked 3 of 3 at this rung"}}, [1, 3])
        'stopped at rung 2 (epoch 3): ranked 3 of 3 at this rung'
    """
    if stopped_at_epoch in epochs:
        k = list(epochs).index(stopped_at_epoch) + 1
    else:
        k = sum(1 for epoch in rungs if epoch <= stopped_at_epoch) or 1
    reason = str((rungs.get(stopped_at_epoch) or {}).get("reason") or "")
    reason = reason.removeprefix("stop: ")
    return f"stopped at rung {k} (epoch {stopped_at_epoch})" + (f": {reason}" if reason else "")


def energy_saved(records: Sequence[Any]) -> dict[str, Any] | None:
    """Energy of the stopped trials (measured) beside what training them to the end would have cost
    (estimated); ``None`` when multi-fidelity was off."""
    if not any(r.rungs for r in records):
        return None
    stopped = [r for r in records if r.stopped_at_epoch is not None]
    spent, full, unknown, whole = 0.0, 0.0, 0, 0
    counted, missing = [], {}
    for r in stopped:
        entry = r.rungs.get(r.stopped_at_epoch) or {}
        budget = entry.get("max_epochs")
        if r.energy_J is None or not budget:
            unknown += 1
            continue
        counted.append(r)
        if entry.get("unmeasured"):  # lost before the rung (not comparable there): its energy lacks theirs
            missing[str(r.number)] = sorted(map(str, entry["unmeasured"]))
        per_epoch = _per_epoch_J(r.metrics, r.energy_J)
        whole += per_epoch is None
        scaled = r.energy_J if per_epoch is None else per_epoch
        spent += r.energy_J
        full += (r.energy_J - scaled) + scaled * budget / r.stopped_at_epoch
    estimated, without_source = estimated_energy(counted)
    return {
        "trials_stopped": len(stopped),
        "stopped_at_epoch_by_trial": {str(r.number): r.stopped_at_epoch for r in stopped},
        "stopped_energy_J": spent,
        "stopped_estimated_J": estimated,
        "stopped_without_source": without_source,
        "stopped_missing_domains": missing,
        "full_training_estimate_J": full,
        "saved_estimate_J": full - spent,
        "stopped_without_energy": unknown,
        "whole_energy_scaled": whole,
        "note": ESTIMATE_NOTE,
    }


def stopped_energy_text(saved: Mapping[str, Any]) -> str:
    """The stopped trials' energy (:func:`energy_saved`) with how much of it is ESTIMATED and how many of them
    reported none, in words; unknown, not 0 J, when none of them reported any.

    Example:
        >>> stopped_energy_text({"trials_stopped": 2, "stopped_without_energy": 0, "stopped_energy_J": 30.0,
        ...                      "stopped_estimated_J": 10.0, "stopped_without_source": 0})
        '30 J (33% of it ESTIMATED, not measured)'
    """
    without = saved["stopped_without_energy"]
    with_energy = saved["trials_stopped"] - without
    if not with_energy:
        return "unknown energy (none of them reported any; not zero)"
    share = estimated_phrase(
        saved["stopped_energy_J"], saved["stopped_estimated_J"], saved["stopped_without_source"], with_energy
    )
    if without:
        share += f"; {without} of them reported no energy, not counted"
    missing = saved.get("stopped_missing_domains") or {}
    if missing:
        lost = sorted({d for domains in missing.values() for d in domains})
        share += (
            f"; {len(missing)} of them lost {', '.join(lost)} before its rung: that energy is missing, they used more"
        )
    return f"{saved['stopped_energy_J']:.4g} J ({share})"


def saved_line(saved: Mapping[str, Any] | None) -> str | None:
    """The sweep's closing line on what multi-fidelity stopped and saved (:func:`energy_saved`; ``None`` when it was
    off), as the sweep and ``ecopt report`` print it.

    Example:
        >>> saved_line({"trials_stopped": 0})
        'multi-fidelity stopped no trial at a rung: no energy saved by stopping'
    """
    if saved is None:
        return None
    if not saved["trials_stopped"]:
        return NONE_STOPPED
    return (
        f"multi-fidelity stopped {saved['trials_stopped']} trial(s), which used {stopped_energy_text(saved)}; "
        f"training them to the end would have cost about {saved['full_training_estimate_J']:.4g} J (ESTIMATE: "
        f"training and validation linear in epochs, the rest once): about {saved['saved_estimate_J']:.4g} J saved"
    )


def _per_epoch_J(metrics: Mapping[str, Any], energy_J: float) -> float | None:
    """The part of a trial's energy that grows with its epochs (training and validation totals, at most its
    energy); ``None`` when it recorded neither."""
    parts = [metrics.get(total_J(p)) for p in PER_EPOCH_PHASES]
    numbers = [float(v) for v in parts if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0]
    return min(sum(numbers), energy_J) if numbers else None


def rung_lines(
    records: Sequence[Any], objective_names: Sequence[str]
) -> list[tuple[int, list[tuple[int, float]], str]]:
    """Each trial's points on ``rungs.png``: (trial number, (epoch, first objective) at each rung it reached, then
    at the full budget when it completed, how it ended). How it ended: ``complete`` (ran to the end), ``stopped``
    (PRUNED at a rung) or ``failed`` (failed or never finished after its last rung: it neither ran to the end nor
    was stopped).

    Example:
        >>> from types import SimpleNamespace as R
        >>> rec = R(number=4, rungs={1: {"values": [0.7], "max_epochs": 3}}, stopped_at_epoch=None, state="FAIL",
        ...         metrics={})
        >>> rung_lines([rec], ["acc"])
        [(4, [(1, 0.7)], 'failed')]
    """
    lines = []
    for r in records:
        points = [(e, entry["values"][0]) for e, entry in sorted(r.rungs.items()) if entry.get("values")]
        ended = "stopped" if r.stopped_at_epoch is not None else "complete" if r.state == "COMPLETE" else "failed"
        final = r.metrics.get(objective_names[0]) if ended == "complete" else None
        budget = next((entry.get("max_epochs") for entry in r.rungs.values()), None)
        if final is not None and budget:
            points.append((budget, final))
        if points:
            lines.append((r.number, points, ended))
    return lines


#: how ``rungs.png`` draws a trial by how it ended (:func:`rung_lines`): colour, marker at its last point, alpha
_LOOK = {"complete": ("tab:blue", "o", 0.9), "stopped": ("tab:red", "x", 0.4), "failed": ("tab:gray", "s", 0.4)}


def write_rungs_png(
    records: Sequence[Any], objective_names: Sequence[str], directions: Sequence[str], path: Path
) -> None:
    """Each trial's first objective at each rung it reached (:func:`rung_lines`); a cross where multi-fidelity
    stopped it, a square where it failed or never finished."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._plots import axis_label

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for _, points, ended in rung_lines(records, objective_names):
        xs, ys = zip(*points, strict=True)
        color, marker, alpha = _LOOK[ended]
        ax.plot(xs, ys, "-", color=color, alpha=alpha, lw=1)
        ax.plot(xs[-1:], ys[-1:], marker, color=color)
    ax.set_xlabel("epochs trained (rungs) [-]")
    ax.set_ylabel(axis_label(objective_names[0], directions[0]))
    ax.set_title("trials through the rungs: o ran to the end, x stopped at a rung, s failed or unfinished")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
