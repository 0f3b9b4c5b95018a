"""Multi-fidelity decisions through the study: a job records its rung values on its trial and reads the other
trials' from the study's storage, as the pre-training check does (:mod:`ecopt_lightning.sweeper.pruning`).

With ``hydra.sweeper.multi_fidelity`` set, the sweeper stores the rung schedule on the study
(``ecopt.multi_fidelity``) and hands each job its storage URL, study name and trial number (environment
variables ``ECOPT_STORAGE``, ``ECOPT_STUDY``, ``ECOPT_TRIAL_NUMBER``). ``EnergyCallback`` opens
:class:`StudyRungs` at the start of fit and, at each rung's epoch end, calls :meth:`StudyRungs.report`; the
maths is :func:`~ecopt_lightning.sweeper.successive_halving.decide`.

Order of a decision: the trial's values are written first, then every trial's values at the rung are read.
Of two trials reaching a rung at the same time (two workers on one storage), at least the later reader sees
the other: no two decisions at a rung can both miss each other. A decision never waits for other trials.

A stopped trial is told ``PRUNED`` by the sweeper (Optuna allows ``tell(state=PRUNED)`` in multi-objective
studies; it keeps no values, so it never reaches the front); its rung values and energy stay on the trial.

Example:
    >>> StudyRungs.from_env({}) is None  # not inside a multi-fidelity sweep: nothing opened
    True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..metrics import on_log_scale
from ._domains import not_comparable, of_summary, sweep_domains
from ._feasibility import broke_constraints
from ._literals import hydra_literal
from ._schema import (
    BASELINE_ATTR,
    MULTI_FIDELITY_ATTR,
    RUNG_EPOCHS_ATTR,
    RUNG_PREFIX,
    STOPPED_AT_ATTR,
    ReportSettings,
    rung_attr,
    rung_epoch,
)
from .errors import JobConfigError
from .successive_halving import RungDecision, RungSchedule, can_stop, decide

log = logging.getLogger(__name__)

#: the reason of a stop at a rung where an objective was not finite (the trial is then FAIL, not PRUNED)
NOT_FINITE = "not every objective is finite"
#: the reason of a stop at a rung where the trial's energy covers fewer domains than its cohort's (``_domains.py``)
NOT_COMPARABLE = "not comparable with the trials at this rung"

#: a trial's (measured, unmeasured) domains at a rung (``_domains.of_summary``); ``None``: not recorded
Domains = tuple[list[str], list[str]] | None


class StudyRungs:
    """One trial's rung reports and decisions, through its study's storage.

    Args:
        study: the ``optuna.Study``, opened on the sweep's storage.
        trial: the job's live ``optuna.Trial``.
        schedule: the sweep's rung schedule.
        objective_names, directions: the study's objectives, in order (``maximize``/``minimize``).
        constraints: the sweep's constraint texts (``'<metric> <= <number>'``), those given on resume included.
    """

    def __init__(
        self,
        study: Any,
        trial: Any,
        schedule: RungSchedule,
        objective_names: Sequence[str],
        directions: Sequence[str],
        constraints: Sequence[str] = (),
    ) -> None:
        self.study = study
        self.trial = trial
        self.schedule = schedule
        self.objective_names = list(objective_names)
        self.directions = list(directions)
        self.constraints = list(constraints)

    @property
    def number(self) -> int:
        return int(self.trial.number)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StudyRungs | None:
        """The job's trial when its sweep has multi-fidelity on; ``None`` otherwise (outside a sweep without
        opening anything)."""
        from .pruning import TrialRef, _open_trial

        ref = TrialRef.from_env(env)
        if ref is None:
            return None
        study, trial = _open_trial(ref)
        return cls.of(study, trial)

    @classmethod
    def of(cls, study: Any, trial: Any) -> StudyRungs | None:
        """For ``trial`` of ``study``; ``None`` when the study has multi-fidelity off."""
        stored = study.user_attrs.get(MULTI_FIDELITY_ATTR)
        if not stored:
            return None
        settings = ReportSettings.from_attrs(
            study.user_attrs, study.metric_names, [d.name.lower() for d in study.directions]
        )
        schedule = RungSchedule.from_attrs(stored)
        return cls(study, trial, schedule, settings.objective_names, settings.directions, settings.constraints)

    def decision_epochs(self, trainer_max_epochs: int | None, trainer_min_epochs: int | None = None) -> list[int]:
        """Epochs (counted from 1) at whose end the trial is ranked; the full budget is not one of them. They are
        recorded on the trial (``ecopt.rung_epochs``), so the sweeper can say when none is left.

        Raises:
            JobConfigError: the schedule names a ``max_epochs`` other than the Trainer's (an endless Trainer,
                ``max_epochs=-1``, included: it would train past the budget), or neither gives a budget; or a rung
                lies below the Trainer's ``min_epochs``, where Lightning does not stop.
        """
        m = self.schedule.max_epochs
        if m is not None and trainer_max_epochs is not None and trainer_max_epochs != m:
            raise JobConfigError(
                f"hydra.sweeper.multi_fidelity.max_epochs={m} is not allowed with Trainer(max_epochs="
                f"{trainer_max_epochs}): make them equal, or set multi_fidelity.max_epochs=null to use the Trainer's"
            )
        top = m if m is not None else trainer_max_epochs
        if top is None or top < 1:
            raise JobConfigError(
                f"Trainer(max_epochs={trainer_max_epochs}) is not allowed with multi_fidelity.max_epochs=null: "
                "give the full budget in epochs"
            )
        epochs = self.schedule.decision_epochs(top)
        if trainer_min_epochs and epochs and epochs[0] < trainer_min_epochs:
            # Lightning ignores `should_stop` until min_epochs: a trial stopped at an earlier rung trains on, is
            # ranked again at the next rungs, and is told PRUNED with fewer epochs than it trained (or all of them)
            raise JobConfigError(
                f"hydra.sweeper.multi_fidelity.min_epochs={self.schedule.min_epochs} is not allowed with Trainer("
                f"min_epochs={trainer_min_epochs}): Lightning trains at least {trainer_min_epochs} epochs whatever a "
                f"rung decides; set multi_fidelity.min_epochs >= {trainer_min_epochs}, or leave Trainer(min_epochs) "
                "unset"
            )
        self.trial.set_user_attr(RUNG_EPOCHS_ATTR, {"epochs": epochs, "trainer_max_epochs": trainer_max_epochs})
        return epochs

    def record(
        self,
        epoch: int,
        metrics: Mapping[str, float | None],
        max_epochs: int,
        val_every: int | None = None,
        domains: Domains = None,
        resumed: bool = False,
    ) -> list[float] | None:
        """Write the trial's objective values at rung ``epoch`` (``None`` when one is not finite: the trial then
        cannot be ranked, and stops there, see :meth:`decide`), and the measurement ``domains`` its energy covers
        so far. ``val_every``: the Trainer's ``check_val_every_n_epoch``; ``resumed``: a fit resumed from a
        checkpoint went past the rung's epoch end, and ``metrics`` are what the checkpoint held.

        Raises:
            JobConfigError: an objective's metric at the rung was never logged: every trial would go on at every
                rung, so nothing could ever be stopped (a misspelt ``rung_metrics`` value, an objective known
                only after fit without a stand-in, or a rung at an epoch without a validation: a metric validation
                logs is then left out of ``metrics``, as its value is an earlier epoch's).
        """
        wanted = {name: self.schedule.metric_at_rung(name) for name in self.objective_names}
        missing = [metric for metric in wanted.values() if metric not in metrics]
        if missing and resumed:
            raise JobConfigError(
                f"Trainer.fit(ckpt_path=...) is not allowed from this checkpoint in a multi-fidelity sweep: it was "
                f"saved in epoch {epoch}, a rung, before {', '.join(missing)} was logged (at the epoch's last step, "
                "before its validation), and Lightning resumes with the next epoch, so the rung has nothing to rank; "
                "resume from a checkpoint saved at an epoch's validation end or its end (ModelCheckpoint's default)"
            )
        if missing and val_every and epoch % val_every:
            raise JobConfigError(
                f"hydra.sweeper.multi_fidelity.min_epochs={self.schedule.min_epochs} is not allowed with Trainer("
                f"check_val_every_n_epoch={val_every}): {', '.join(missing)} was not logged in epoch {epoch}, at whose "
                f"end no validation runs; set multi_fidelity.min_epochs to a multiple of {val_every}, so that every "
                "rung ends with a validation"
            )
        if missing:
            given = {k: v for k, v in self.schedule.rung_metrics.items() if v in missing}
            raise JobConfigError(
                f"hydra.sweeper.multi_fidelity.rung_metrics={hydra_literal(given)} is not allowed: "
                f"{', '.join(missing)} was not logged by the end of epoch {epoch}; logged: "
                f"{', '.join(sorted(metrics)) or 'nothing'}; name, for each objective known only after fit, a metric "
                "logged every epoch (e.g. {test_acc: val_acc})"
            )
        values = [metrics.get(metric) for metric in wanted.values()]
        finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        clean = finite if len(finite) == len(values) else None
        self.trial.set_user_attr(rung_attr(epoch), {"values": clean, "max_epochs": int(max_epochs), **_entry(domains)})
        return clean

    def cohort(self, epoch: int) -> dict[int, list[float]]:
        """Every trial's values at rung ``epoch`` as stored now (trial number -> values): running, complete and
        stopped trials, not failed ones. A failed trial is retried with its parameters (a dead worker, a killed
        job), and its retry would be ranked against its own earlier values, nearly its own; nor can a failed
        trial reach the front that the ranking stands in for. Nor can a complete trial that broke a constraint
        (the front holds feasible trials only): it is left out too, or it would stop the feasible trials it
        dominates at the rung; judged as the report judges it, a constraint added on resume included."""
        return {k: values for k, (values, _) in self._cohort(epoch).items()}

    def _cohort(self, epoch: int) -> dict[int, tuple[list[float], Domains]]:
        """:meth:`cohort`, with each trial's measurement domains at the rung."""
        key = rung_attr(epoch)
        found: dict[int, tuple[list[float], Domains]] = {}
        for t in self.study.get_trials(deepcopy=False):
            if t.state.name == "FAIL" or (t.state.name == "COMPLETE" and broke_constraints(t, self.constraints)):
                continue
            entry = t.user_attrs.get(key)
            values = entry.get("values") if isinstance(entry, Mapping) else None
            if isinstance(values, list) and len(values) == len(self.directions):
                found[t.number] = ([float(v) for v in values], _domains(entry))
        return found

    @property
    def is_baseline(self) -> bool:
        """Whether the trial is the sweep's baseline (the app's own config), which no rung stops: the payback
        figures compare with it, and it is the first trial, alone at its rungs, unless jobs run in parallel (a
        launcher's ``n_jobs``, several workers) or a resume added it to a study that had none."""
        return bool(self.trial.user_attrs.get(BASELINE_ATTR))

    def can_stop_at(self, epoch: int) -> bool:
        """Whether the trial could be stopped at rung ``epoch`` as the study stands now
        (:func:`~ecopt_lightning.sweeper.successive_halving.can_stop` of the trials with values there and it)."""
        if self.is_baseline:
            return False
        others = {k: entry for k, entry in self._cohort(epoch).items() if k != self.number}
        comparable = [k for k in others if k not in _left_out(others)]  # decide() ranks none of the others
        return can_stop(len(comparable) + 1, self.schedule.eta, self.schedule.keep_front)

    def decide(
        self,
        epoch: int,
        values: list[float] | None,
        max_epochs: int,
        not_finite: Sequence[str] = (),
        domains: Domains = None,
    ) -> RungDecision:
        """Rank the trial among those at rung ``epoch`` and store the decision (and, on stop, the epoch);
        ``not_finite``: ``metric=value`` of the objectives that made ``values`` ``None``; ``domains``: the
        measurement domains its energy covers so far.

        The rung applies the front's comparability rule (:func:`._domains.not_comparable`) to the trials there
        that recorded their domains: a trial whose energy covers fewer domains than the others' (its GPU lost,
        NVML missing) reads cheaper for that alone, so it is not ranked among them (it would stop, or push out,
        trials measured in full); and this trial, if it is such a one, stops here, as it would be left out of
        the front at the end whatever it trained (the baseline goes on, saying so)."""
        cohort: dict[int, list[float]] = {}
        left_out: dict[int, str] = {}
        if values is not None:
            entries = {**self._cohort(epoch), self.number: (values, domains)}
            left_out = _left_out(entries)
            cohort = {k: v for k, (v, _) in entries.items() if k not in left_out}
        if values is None:
            # NaN never ranks, and a diverged run seldom recovers: trained on, it failed on its NaN at the end; the
            # sweeper tells it FAIL with this reason (the baseline too: a NaN is no reference for the payback)
            which = ", ".join(not_finite) or ", ".join(self.schedule.metric_at_rung(n) for n in self.objective_names)
            reason = f"stop: {NOT_FINITE} ({which}): it cannot be ranked, so it fails here, not at the end of training"
            decision = RungDecision(False, 0, 1, 0, reason)
            log.warning("ecopt: trial %d at epoch %d: %s", self.number, epoch, decision.reason)
        elif self.number in left_out:
            reason = (
                f"stop: {NOT_COMPARABLE} ({left_out[self.number]}): its energy cannot be ranked against theirs, and "
                "it would be left out of the front at the end"
            )
            if self.is_baseline:
                reason = _baseline_goes_on(reason)
            decision = RungDecision(self.is_baseline, 0, len(cohort) + 1, 0, reason)
            log.warning("ecopt: trial %d at epoch %d: %s", self.number, epoch, decision.reason)
        else:
            log_axes = [on_log_scale(name) for name in self.objective_names]
            decision = decide(
                self.number,
                cohort,
                self.directions,
                self.schedule.eta,
                self.schedule.rank,
                log_axes,
                self.schedule.keep_front,
            )
            if not decision.go_on and self.is_baseline:
                reason = _baseline_goes_on(decision.reason)
                decision = RungDecision(True, decision.position, decision.n, decision.keep, reason)
        self.trial.set_user_attr(
            rung_attr(epoch),
            {
                "values": values,
                "max_epochs": int(max_epochs),
                "decision": "continue" if decision.go_on else "stop",
                "cohort": sorted(cohort),
                "reason": decision.reason,
                **_entry(domains),
                **({"not_comparable": {str(k): why for k, why in sorted(left_out.items())}} if left_out else {}),
            },
        )
        if not decision.go_on:
            self.trial.set_user_attr(STOPPED_AT_ATTR, int(epoch))
        return decision

    def report(
        self,
        epoch: int,
        metrics: Mapping[str, float | None],
        max_epochs: int,
        val_every: int | None = None,
        summary: Mapping[str, Any] | None = None,
        resumed: bool = False,
    ) -> RungDecision:
        """Record the values at rung ``epoch`` then decide: continue or stop. ``summary``: the job's
        ``EnergyCallback.summary()`` now, whose sources and measurement faults give the domains its energy covers;
        ``resumed``: see :meth:`record`."""
        domains = None if summary is None else of_summary(summary)
        values = self.record(epoch, metrics, max_epochs, val_every, domains, resumed)
        read = [self.schedule.metric_at_rung(n) for n in self.objective_names]
        not_finite = [f"{m}={metrics.get(m)}" for m in read if not _finite(metrics.get(m))]
        return self.decide(epoch, values, max_epochs, not_finite, domains)


def _baseline_goes_on(rule: str) -> str:
    """The reason of the baseline, which no rung stops, where the ``rule`` said stop."""
    return f"continue: the baseline is never stopped (the payback compares with it); by the rule, {rule}"


def _left_out(entries: Mapping[int, tuple[list[float], Domains]]) -> dict[int, str]:
    """The trials at a rung (number -> (values, domains)) not comparable with the others there, and why: the
    front's rule (:func:`._domains.not_comparable`) over those that recorded their domains."""
    judged = {k: d for k, (_, d) in sorted(entries.items()) if d is not None}
    sweep = sweep_domains(judged.values())
    return {k: why for k, d in judged.items() if (why := not_comparable(*d, sweep)) is not None}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _entry(domains: Domains) -> dict[str, list[str]]:
    """A rung record's domain fields (none when they are not known)."""
    return {} if domains is None else {"domains": list(domains[0]), "unmeasured": list(domains[1])}


def _domains(entry: Mapping[str, Any]) -> Domains:
    """A rung record's (measured, unmeasured) domains; ``None`` when it holds none (a study stored before they were
    recorded, a job without ``EnergyCallback``'s summary): such a trial is not judged."""
    measured, unmeasured = entry.get("domains"), entry.get("unmeasured", [])
    if not isinstance(measured, list) or not isinstance(unmeasured, list):
        return None
    return [str(d) for d in measured], [str(d) for d in unmeasured]


def stopped_at(user_attrs: Mapping[str, Any]) -> int | None:
    """The rung epoch where multi-fidelity stopped a trial (from its user attributes), or ``None``."""
    value = user_attrs.get(STOPPED_AT_ATTR)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def stopped_at_rung(trial: Any) -> int | None:
    """The rung epoch where multi-fidelity stopped ``trial`` (a ``FrozenTrial``): only a PRUNED trial counts as
    stopped, since a trial that failed after its stop decision (in test(), at teardown) is a failure.

    Example:
        >>> from optuna.trial import TrialState, create_trial
        >>> stopped_at_rung(create_trial(state=TrialState.PRUNED, user_attrs={STOPPED_AT_ATTR: 3}))
        3
        >>> stopped_at_rung(create_trial(state=TrialState.FAIL, user_attrs={STOPPED_AT_ATTR: 3})) is None
        True
    """
    return stopped_at(trial.user_attrs) if trial.state.name == "PRUNED" else None


def dead_run_attrs(user_attrs: Mapping[str, Any]) -> list[str]:
    """The multi-fidelity attributes a retried trial may carry from its dead run: its rung values and decisions,
    its rung epochs and its stop. The sweeper's retry no longer copies them (``_storage.retry_callback`` keeps only
    the baseline flag), but a study retried by an older version, whose retry Optuna's ``RetryFailedTrialCallback``
    filled with every user attribute, has them; the sweeper clears them when it claims the retry, which reaches
    its rungs again. Kept, a retry stopped at rung 1 would still show the dead run's values at later rungs, and
    other trials would be ranked there against values no live run of the cohort measured.

    Example:
        >>> dead_run_attrs({"ecopt.rung.1": {"values": None}, STOPPED_AT_ATTR: 1, "val_acc": 0.5, "ecopt.rung.x": 1})
        ['ecopt.rung.1', 'ecopt.stopped_at_epoch']
    """
    own = (RUNG_EPOCHS_ATTR, STOPPED_AT_ATTR)
    return [k for k in user_attrs if k in own or rung_epoch(k) is not None]


def stopped_not_finite(user_attrs: Mapping[str, Any]) -> bool:
    """Whether multi-fidelity stopped the trial at a rung where an objective was not finite (no values there).

    Example:
        >>> stopped_not_finite({STOPPED_AT_ATTR: 1, "ecopt.rung.1": {"values": None, "decision": "stop"}})
        True
        >>> stopped_not_finite({STOPPED_AT_ATTR: 1, "ecopt.rung.1": {"values": [0.5], "decision": "stop"}})
        False
    """
    epoch = stopped_at(user_attrs)
    entry = rung_values(user_attrs).get(epoch) if epoch is not None else None
    return entry is not None and entry.get("values") is None


def rung_epochs(user_attrs: Mapping[str, Any]) -> list[int]:
    """The rung epochs the trial's job found (``ecopt.rung_epochs``, recorded at each fit's start); ``[]`` when not
    recorded (a study stored before it was).

    Example:
        >>> rung_epochs({RUNG_EPOCHS_ATTR: {"epochs": [1, 3], "trainer_max_epochs": 9}}), rung_epochs({})
        ([1, 3], [])
    """
    recorded = user_attrs.get(RUNG_EPOCHS_ATTR)
    epochs = recorded.get("epochs") if isinstance(recorded, Mapping) else None
    return [int(e) for e in epochs] if isinstance(epochs, list) else []


def rung_values(user_attrs: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """A trial's rung records by epoch, ascending."""
    found = {}
    for key, entry in user_attrs.items():
        epoch = rung_epoch(key) if key.startswith(RUNG_PREFIX) else None
        if epoch is not None and isinstance(entry, Mapping):
            found[epoch] = dict(entry)
    return dict(sorted(found.items()))
