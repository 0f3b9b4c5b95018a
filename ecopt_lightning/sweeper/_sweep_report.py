"""The sweep's report: every trial's record, the feasible Pareto front, hypervolume, knee, best trials, the
sweep's energy and what tuning bought (:mod:`._impact`). The artifacts (:mod:`._artifacts`), the energy report
(:mod:`._energy_report`), the plots and the loggers are views of it.

Example:
    >>> import optuna
    >>> study = optuna.create_study(directions=["maximize", "minimize"])
    >>> for acc, e in [(0.8, 2.0), (0.9, 3.0), (0.7, 3.5)]:
    ...     t = study.ask()
    ...     t.set_user_attr("energy/total_J", e)
    ...     _ = study.tell(t, [acc, e])
    >>> report = build_report("demo", study.get_trials(), ReportSettings.default(["acc", "energy/total_J"],
    ...                                                                     ["maximize", "minimize"]))
    >>> [r.number for r in report.front], report.sweep_energy_J
    ([0, 1], 8.5)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from ..energy.carbon import CarbonBasis
from ._domains import SweepDomains, left_out_text, not_comparable, sweep_domains
from ._domains import text as domains_text
from ._impact import impact
from ._pareto import front_status, hypervolume, knee_index, non_dominated_ranks, reference_point
from ._records import TrialRecord, apply_confirmed, estimated_energy, estimated_phrase, estimated_share, to_record
from ._repeats import group_of, merge_repeats
from ._schema import CONFIRM_ENERGY_ATTR, LATE_RUN_PREFIX, ReportSettings


@dataclass
class Report:
    """The sweep's results: all trials, the feasible front, hypervolume, knee, best trials and energy."""

    study_name: str
    settings: ReportSettings
    records: list[TrialRecord]
    front: list[TrialRecord]
    possibly: list[TrialRecord]  # dominated by medians, but within the intervals of the trials that dominate
    hypervolume: float | None
    reference_point: list[float] | None
    knee: TrialRecord | None
    best: dict[str, dict[str, Any]]
    sweep_energy_J: float
    energy_sources: dict[str, int]
    #: the ESTIMATED part of ``sweep_energy_J`` (J), and how many trials with energy did not say how much is
    sweep_estimated_J: float
    trials_without_source: int
    states: dict[str, int]
    notes: dict[str, Any] = field(default_factory=dict)
    impact: dict[str, Any] = field(default_factory=dict)  # payback and proxy check, see _impact
    #: one per config among the comparable complete trials (not :attr:`not_comparable`): a repeated config's
    #: trials merged into one (``_repeats.py``);
    #: the front, knee, hypervolume and payback are computed over these, ``records`` keep every trial
    points: list[TrialRecord] = field(default_factory=list)
    #: the grid intensity and PUE of the sweep's gCO2e, found once (``_energy_report.sweep_carbon``: finding them
    #: reads the trials' job dirs) for summary.json, energy_report.md and the dashboard's attributes
    carbon: CarbonBasis | None = None
    #: the sweep's measurement domains (:func:`._domains.sweep_domains`), when its trials recorded theirs
    domains: SweepDomains | None = None

    def kinds_text(self) -> str:
        """The sweep's kinds of measurement domain in words (``cpu+gpu``), or ``unknown`` when not recorded."""
        return "unknown" if self.domains is None else domains_text(self.domains.kinds)

    def no_front_text(self) -> str:
        """Why the front is empty, in words: no feasible complete trial, or none comparable (:attr:`not_comparable`).

        Example:
            >>> Report("s", None, [], [], [], None, None, None, {}, 0.0, {}, 0.0, 0, {}).no_front_text()
            'no feasible complete trial'
        """
        left = len(self.not_comparable)
        if not left:
            return "no feasible complete trial"
        why = left_out_text([r.not_comparable or "" for r in self.not_comparable], self.kinds_text())
        return f"no comparable feasible complete trial: {left} {why}"

    @property
    def not_judged(self) -> list[TrialRecord]:
        """The complete trials that recorded no domains in a sweep whose others did: ranked, but not judged."""
        if self.domains is None:
            return []
        return [r for r in self.records if r.values is not None and r.domains is None]

    @property
    def not_comparable(self) -> list[TrialRecord]:
        """The complete trials left out of the front: measured on fewer domains than the sweep's, or on another
        basis (:mod:`._domains`)."""
        return [r for r in self.records if r.not_comparable]

    #: the energy ``ecopt confirm``'s runs spent measuring the front again (J), its ESTIMATED part (J) and how many
    #: runs (:func:`confirm_energy`): part of what tuning cost, not of the trials' energy
    confirm_energy_J: float = 0.0
    confirm_estimated_J: float = 0.0
    confirm_runs: int = 0
    #: the late runs' part of ``sweep_energy_J`` (J), its ESTIMATED part (J) and how many of them did not say
    #: (:func:`late_runs`): a line that counts some of the trials adds them to theirs
    late_J: float = 0.0
    late_estimated_J: float = 0.0
    late_without_source: int = 0

    @property
    def tuning_energy_J(self) -> float:
        """What tuning cost (J): the trials' energy (``sweep_energy_J``) and ``ecopt confirm``'s."""
        return self.sweep_energy_J + self.confirm_energy_J

    def confirm_text(self, digits: int = 6) -> str:
        """``ecopt confirm``'s energy and what tuning cost with it, a clause to follow the trials' energy: ``"; with
        ecopt confirm's 2 J (1 run(s), 100% of it ESTIMATED, not measured), tuning cost 14 J"``; empty when no
        confirm run stored its energy, or no trial reported theirs (what tuning cost is unknown).

        Example:
            >>> trial = TrialRecord(0, "COMPLETE", None, {}, [], {}, {}, False, None, 12.0, None, None, None, None)
            >>> r = Report("s", None, [trial], [], [], None, None, None, {}, 12.0, {"energy/total_J": 1}, 0.0, 0, {})
            >>> r.confirm_text()
            ''
            >>> r.confirm_energy_J, r.confirm_estimated_J, r.confirm_runs = 2.0, 2.0, 1
            >>> r.confirm_text()
            "; with ecopt confirm's 2 J (1 run(s), 100% of it ESTIMATED, not measured), tuning cost 14 J"
        """
        if not self.confirm_runs or not self.energy_reported:
            return ""
        confirm = estimated_phrase(self.confirm_energy_J, self.confirm_estimated_J, 0, self.confirm_runs)
        return (
            f"; with ecopt confirm's {self.confirm_energy_J:.{digits}g} J ({self.confirm_runs} run(s), {confirm}), "
            f"tuning cost {self.tuning_energy_J:.{digits}g} J"
        )

    def tuning_text(self) -> str:
        """What tuning cost (:attr:`tuning_energy_J`) in words, for the payback's lines: its parts when ``ecopt
        confirm`` ran, and how much of it is ESTIMATED when any is (or unknown); ``"unknown (...)"`` when no trial
        reported its energy.

        Example:
            >>> trial = TrialRecord(0, "COMPLETE", None, {}, [], {}, {}, False, None, 100.0, None, None, None, None)
            >>> r = Report("s", None, [trial], [], [], None, None, None, {}, 100.0, {"energy/total_J": 1}, 100.0, 0, {})
            >>> r.tuning_text()
            '100 J (100% of it ESTIMATED, not measured)'
            >>> r.confirm_energy_J, r.confirm_estimated_J, r.confirm_runs = 30.0, 30.0, 1
            >>> r.tuning_text()
            "130 J (the trials' 100 J and ecopt confirm's 30 J; 100% of it ESTIMATED, not measured)"
            >>> r.sweep_estimated_J = r.confirm_estimated_J = 0.0
            >>> r.tuning_text()
            "130 J (the trials' 100 J and ecopt confirm's 30 J)"
        """
        if not self.energy_reported:
            return "unknown (no trial reported it)"
        parts = (
            [f"the trials' {self.sweep_energy_text()} and ecopt confirm's {self.confirm_energy_J:.6g} J"]
            if self.confirm_runs
            else []
        )
        with_energy = sum(r.energy_J is not None for r in self.records) + self.energy_sources.get(LATE_RUN_SOURCE, 0)
        estimated = self.sweep_estimated_J + self.confirm_estimated_J
        if estimated > 0 or self.trials_without_source:  # a measured tuning's line stays short
            parts.append(
                estimated_phrase(
                    self.tuning_energy_J, estimated, self.trials_without_source, with_energy + self.confirm_runs
                )
            )
        return f"{self.tuning_energy_J:.6g} J" + (f" ({'; '.join(parts)})" if parts else "")

    @property
    def energy_reported(self) -> bool:
        """Whether any trial (or a late run of one) reported its energy: else ``sweep_energy_J`` (0) is unknown,
        not zero."""
        return any(r.energy_J is not None for r in self.records) or LATE_RUN_SOURCE in self.energy_sources

    def sweep_energy_text(self, digits: int = 6) -> str:
        """``sweep_energy_J`` in words: ``"12.3 J"``, with the trials that did not report, or ``"unknown (...)"``.

        Example:
            >>> Report("s", None, [], [], [], None, None, None, {}, 0.0, {}, 0.0, 0, {}).sweep_energy_text()
            'unknown (no trial reported its energy)'
        """
        if not self.energy_reported:
            return "unknown (no trial reported its energy)"
        missing = sum(r.energy_J is None for r in self.records)
        not_said = f" ({missing} trial(s) did not report theirs)" if missing else ""
        return f"{self.sweep_energy_J:.{digits}g} J{not_said}"

    def sources_text(self) -> str:
        """Where the trials' energy came from, in words: ``"energy/total_J: 3 trial(s), late result, not stored: 1
        trial(s)"`` (``energy_sources``); empty when no trial reported energy.

        Example:
            >>> report = Report("s", None, [], [], [], None, None, None, {}, 3.0, {"energy/total_J": 2}, 0.0, 0, {})
            >>> report.sources_text()
            'energy/total_J: 2 trial(s)'
        """
        return ", ".join(f"{source}: {n} trial(s)" for source, n in self.energy_sources.items())

    def estimated_text(self) -> str:
        """How much of ``sweep_energy_J`` is ESTIMATED, not measured, in words (empty when no trial reported
        energy): ``"100% of it ESTIMATED, not measured"``, with the trials that did not say how theirs was
        obtained; when none said, the share is unknown, not 0%.

        Example:
            >>> failed = TrialRecord(0, "FAIL", None, {}, [], {}, {}, False, None, 4.0, None, None, None, None)
            >>> r = Report("s", None, [failed, failed], [], [], None, None, None, {}, 8.0, {}, 6.0, 1, {})
            >>> r.estimated_text()
            'at least 75% of it ESTIMATED, not measured; 1 trial(s) did not say'
            >>> r.sweep_estimated_J, r.trials_without_source = 0.0, 2
            >>> r.estimated_text()
            'share ESTIMATED unknown: no trial said whether its energy was measured'
        """
        with_energy = sum(r.energy_J is not None for r in self.records) + self.energy_sources.get(LATE_RUN_SOURCE, 0)
        return estimated_phrase(self.sweep_energy_J, self.sweep_estimated_J, self.trials_without_source, with_energy)


#: the ``energy_sources`` entry of the late runs' energy
LATE_RUN_SOURCE = "late result, not stored"


def late_runs(study_attrs: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The study's late runs (:data:`._schema.LATE_RUN_PREFIX` attributes) by trial number.

    Example:
        >>> late_runs({"ecopt.late_run.3": {"energy_J": 2.5, "sources": {}}, "ecopt.settings": {}})
        {'3': {'energy_J': 2.5, 'sources': {}}}
    """
    return {
        key[len(LATE_RUN_PREFIX) :]: value
        for key, value in study_attrs.items()
        if key.startswith(LATE_RUN_PREFIX) and isinstance(value, Mapping) and value.get("energy_J") is not None
    }


def confirm_energy(study_attrs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The runs of ``ecopt confirm`` that stored the energy they spent (:data:`._schema.CONFIRM_ENERGY_ATTR`): each
    with a finite ``energy_J`` >= 0.

    Example:
        >>> confirm_energy({"ecopt.confirm_energy": [{"energy_J": 2.0, "estimated_J": 2.0}, {"energy_J": None}]})
        [{'energy_J': 2.0, 'estimated_J': 2.0}]
    """
    runs = study_attrs.get(CONFIRM_ENERGY_ATTR)
    if not isinstance(runs, list):
        return []
    return [
        run
        for run in runs
        if isinstance(run, Mapping)
        and isinstance(run.get("energy_J"), (int, float))
        and math.isfinite(run["energy_J"])
        and run["energy_J"] >= 0
    ]


def _to_min(values: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    return tuple(-v if d == "maximize" else v for v, d in zip(values, directions, strict=False))


def _boxes(
    records: Sequence[TrialRecord], settings: ReportSettings
) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """Each record's objective intervals in minimisation form: (lows, highs); a maximised objective's
    interval flips when negated."""
    lows, highs = [], []
    for r in records:
        lo, hi = [], []
        for name, value, direction in zip(settings.objective_names, r.values or [], settings.directions, strict=False):
            a, b = r.interval(name, value)
            lo.append(-b if direction == "maximize" else a)
            hi.append(-a if direction == "maximize" else b)
        lows.append(tuple(lo))
        highs.append(tuple(hi))
    return lows, highs


def _point_number(by_group: Mapping[int, TrialRecord], number: int) -> int:
    point = by_group.get(number)
    return number if point is None else point.number


def build_report(
    study_name: str,
    trials: Sequence[FrozenTrial],
    settings: ReportSettings,
    baseline: int | None = None,
    chosen: int | None = None,
    cache: dict[int, TrialRecord] | None = None,
    confirmed: Mapping[str, Mapping[str, Any]] | None = None,
    late_runs: Mapping[str, Mapping[str, Any]] | None = None,
    confirm_runs: Sequence[Mapping[str, Any]] = (),
) -> Report:
    """All the numbers behind the artifacts; ``baseline``/``chosen`` trial numbers steer the payback figures.

    ``cache`` keeps the records of finished trials between calls (a finished trial no longer changes), so a
    sweep that rebuilds its report after every batch flattens each trial once.

    ``confirmed`` (the study's ``ecopt.confirmed`` attribute, by trial number) replaces the sweep's energy per
    sample of the trials ``ecopt confirm`` measured again; both values stay on the records.

    ``late_runs`` (:func:`late_runs` of the study's attributes) are runs whose result came after another worker had
    failed their trial: their energy counts in the sweep's, under the source ``late result, not stored``.

    ``confirm_runs`` (:func:`confirm_energy` of the study's attributes): the energy ``ecopt confirm`` spent, which
    the payback counts in what tuning cost beside the trials' energy.
    """
    if cache is None:
        records = [to_record(t, settings) for t in trials]
    else:
        records = []
        for t in trials:
            record = cache.get(t.number)
            if record is None or record.state != t.state.name:
                record = to_record(t, settings)
                if t.state.is_finished():
                    cache[t.number] = record
            records.append(record)
        for record in records:
            record.rank = None
            record.front_status = None
            record.config_group = None
    if confirmed:
        records = [
            apply_confirmed(r, confirmed[str(r.number)], settings) if str(r.number) in confirmed else r for r in records
        ]
    # a trial measured on fewer domains than the others, or estimated where they measured, reads cheaper for that
    # alone: no point of the front
    judged = [(r.domains, r.unmeasured, r.sources) for r in records if r.values is not None and r.domains is not None]
    domains = sweep_domains([(m, u) for m, u, _ in judged], [s for _, _, s in judged])
    for r in records:
        r.not_comparable = None if r.values is None else not_comparable(r.domains, r.unmeasured, domains, r.sources)
    left_out = [r for r in records if r.not_comparable]
    # a config run in several trials is one point
    merged = merge_repeats([r for r in records if not r.not_comparable], settings)
    # an infinite objective (Optuna stores it; the sweeper fails such a trial, a study made elsewhere may hold one)
    # is no point of a front: it would make the hypervolume infinite and the knee's scaling meaningless
    candidates = [r for r in merged if r.values is not None and r.feasible and all(map(math.isfinite, r.values))]
    by_group = group_of(merged)
    points = [_to_min(r.objective_values, settings.directions) for r in candidates]
    for record, rank in zip(candidates, non_dominated_ranks(points), strict=False):
        record.rank = rank
    lows, highs = _boxes(candidates, settings)
    for record, status in zip(candidates, front_status(points, lows, highs), strict=True):
        record.front_status = status
    for record in records:  # a merged trial stands where its point stands
        if record.config_group is not None:
            record.rank, record.front_status = by_group[record.number].rank, by_group[record.number].front_status
    front = [r for r in candidates if r.rank == 0]
    front_points = [_to_min(r.objective_values, settings.directions) for r in front]
    robust = [r for r in front if r.robust] or front  # the knee is picked among robust members when any
    hv = ref = None
    if points:
        ref_min = reference_point(points)
        hv = hypervolume(front_points, ref_min)
        ref = list(_to_min(ref_min, settings.directions))  # negating twice restores the direction
    knee_i = knee_index([_to_min(r.objective_values, settings.directions) for r in robust])
    best: dict[str, dict[str, Any]] = {}
    for i, (name, direction) in enumerate(zip(settings.objective_names, settings.directions, strict=False)):
        if candidates:
            pick = max if direction == "maximize" else min
            column = [r.objective_values[i] for r in candidates]
            top = candidates[column.index(pick(column))]
            lo, hi = top.interval(name, top.objective_values[i])
            # ranked by the central value: the trials whose interval reaches the best's are not told apart from it
            close = [
                r.number
                for r in candidates
                if r is not top and (ends := r.interval(name, r.objective_values[i]))[0] <= hi and lo <= ends[1]
            ]
            best[name] = {
                "trial": top.number,
                "value": top.objective_values[i],
                "interval": list(top.intervals[name]) if name in top.intervals else None,
                "params": top.params,
                "not_separable_from": close,
            }
    measured = [(r.energy_J, r.energy_source or "unknown") for r in records if r.energy_J is not None]
    estimated, unknown = estimated_energy(records)
    late_estimated, late_unknown = 0.0, 0
    for run in (late_runs or {}).values():
        measured.append((float(run["energy_J"]), LATE_RUN_SOURCE))
        fraction = run.get("estimated_fraction")
        share = estimated_share(
            fraction if isinstance(fraction, (int, float)) else None, (run.get("sources") or {}).values()
        )
        if share is None:
            late_unknown += 1
        else:
            late_estimated += float(run["energy_J"]) * share
    report = Report(
        study_name=study_name,
        settings=settings,
        records=records,
        front=front,
        possibly=[r for r in candidates if r.possibly_on_front],
        hypervolume=hv,
        reference_point=ref,
        knee=None if knee_i is None else robust[knee_i],
        best=best,
        sweep_energy_J=sum(energy for energy, _ in measured),
        energy_sources=dict(Counter(source for _, source in measured)),
        sweep_estimated_J=estimated + late_estimated,
        trials_without_source=unknown + late_unknown,
        states=dict(Counter(r.state for r in records)),
        points=merged,
        domains=domains,
        confirm_energy_J=sum(float(run["energy_J"]) for run in confirm_runs),
        confirm_estimated_J=sum(_estimated_part(run) for run in confirm_runs),
        confirm_runs=len(confirm_runs),
        late_J=sum(energy for energy, source in measured if source == LATE_RUN_SOURCE),
        late_estimated_J=late_estimated,
        late_without_source=late_unknown,
    )
    knee = None if report.knee is None else report.knee.number
    # the payback compares points: a named trial stands for its config's point
    singles = [r for r in records if r.values is None]
    report.impact = impact(
        [*merged, *left_out, *singles],
        report.tuning_energy_J if report.energy_reported else None,
        knee,
        None if baseline is None else _point_number(by_group, baseline),
        None if chosen is None else _point_number(by_group, chosen),
        settings.objective_names,
        settings.directions,
        energy_metric=settings.energy_metric,
        unreported=sum(r.energy_J is None for r in records),
    )
    return report


def _estimated_part(run: Mapping[str, Any]) -> float:
    """The ESTIMATED part of a confirm run's energy (J): its stored ``estimated_J``, else all of it (not said: not
    shown as a measurement)."""
    part = run.get("estimated_J")
    return float(part) if isinstance(part, (int, float)) and math.isfinite(part) else float(run["energy_J"])
