"""The stop-at-rung check of a training job inside a multi-fidelity sweep (docs/sweeper.md#multi-fidelity):
which epochs are rungs, and at a rung's epoch end whether training goes on.

No Lightning here: the caller says whether its rank is rank 0 and passes a ``broadcast`` (rank 0's value to
every rank) under DDP. Rank 0 alone opens the study and reports; every rank gets the rung epochs and each
decision, so all ranks stop at the same epoch. The study side (record, read the cohort, decide) is
:class:`~ecopt_lightning.sweeper.multi_fidelity.StudyRungs`; the rule is
:func:`~ecopt_lightning.sweeper.successive_halving.decide`. ``EnergyCallback`` calls :meth:`RungCheck.open` at
the start of fit and :meth:`RungCheck.decide` at each epoch end that :meth:`RungCheck.due` names.

Example (outside a sweep nothing is opened and no epoch is a rung):
    >>> check = RungCheck.open(rank_zero=True, max_epochs=3, env={})
    >>> check.active, check.due(1), check.reports
    (False, False, False)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sweeper.multi_fidelity import StudyRungs

Broadcast = Callable[[Any], Any]
"""Rank 0's value, returned on every rank (``trainer.strategy.broadcast``); ``None`` on one process."""


class RungCheck:
    """One job's rung epochs and its decisions at them.

    Args:
        rungs: the trial's :class:`StudyRungs` on rank 0 inside a multi-fidelity sweep; ``None`` elsewhere.
        epochs: the rung epochs (counted from 1), known on every rank; the full budget is not one of them.
        benchmark_repeats: the inference benchmark's repeats at the first rung (``RungSchedule.rung_repeats``),
            known on every rank; ``None``: the callback's own settings there.
    """

    def __init__(
        self, rungs: StudyRungs | None = None, epochs: Sequence[int] = (), benchmark_repeats: int | None = None
    ) -> None:
        self.rungs = rungs
        self.epochs = [int(e) for e in epochs]
        self.benchmark_repeats = benchmark_repeats
        self.stopped = ""  # why training stopped before its budget ("" while it goes on)
        self.stopped_epoch: int | None = None  # the rung epoch it stopped at (None while it goes on)
        self.validated: set[str] = set()  # the metrics this fit's validation logged
        self.validated_epoch: int | None = None  # the epoch (counted from 1) of the last validation
        self._before_validation: dict[str, Any] = {}

    @classmethod
    def open(
        cls,
        *,
        rank_zero: bool,
        max_epochs: int | None,
        min_epochs: int | None = None,
        broadcast: Broadcast | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RungCheck:
        """The job's check, from the environment the sweeper sets (``env``: default ``os.environ``).

        Raises:
            JobConfigError: the sweep's schedule does not fit the Trainer's ``max_epochs`` or ``min_epochs`` (on
                every rank).
        """
        from .sweeper.errors import JobConfigError

        rungs = None
        epochs: list[int] = []
        repeats: int | None = None
        error, failure = None, None
        if rank_zero:
            from .sweeper.multi_fidelity import StudyRungs

            try:
                rungs = StudyRungs.from_env(env)
                if rungs is not None:
                    repeats = rungs.schedule.rung_repeats
                    epochs = rungs.decision_epochs(max_epochs, min_epochs)
            except JobConfigError as exc:
                error = str(exc)
            except Exception as exc:  # the storage: raised on every rank, after the broadcast
                failure = exc
        epochs, repeats = _on_every_rank([epochs, repeats], error, broadcast, failure)
        return cls(rungs, epochs, repeats)

    @property
    def active(self) -> bool:
        """Whether any epoch is a rung (on every rank)."""
        return bool(self.epochs)

    @property
    def reports(self) -> bool:
        """Whether this rank reports to the study (rank 0 inside a multi-fidelity sweep)."""
        return self.rungs is not None

    def due(self, epoch: int) -> bool:
        """Whether the end of ``epoch`` (counted from 1) is a rung."""
        return epoch in self.epochs

    def validation_started(self, metrics: Mapping[str, Any]) -> None:
        """A validation of the fit starts; ``metrics``: the Trainer's ``callback_metrics`` now."""
        self._before_validation = dict(metrics)

    def validation_ended(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """A validation in ``epoch`` (counted from 1) ended: the metrics it logged are those whose value objects
        ``metrics`` (the Trainer's ``callback_metrics``) holds anew."""
        self.validated |= {k for k, v in metrics.items() if self._before_validation.get(k) is not v}
        self.validated_epoch = int(epoch)
        self._before_validation = {}

    def fresh(self, epoch: int, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """``metrics`` without those validation logs when no validation ran in ``epoch``: they hold an earlier
        epoch's values, which no rung may rank as its own.

        Example:
            >>> check = RungCheck(epochs=[1, 3])
            >>> check.validation_started({"loss": 1})
            >>> check.validation_ended(2, {"loss": 1, "val_acc": 0.5})
            >>> check.fresh(2, {"loss": 1, "val_acc": 0.5}), check.fresh(3, {"loss": 1, "val_acc": 0.5})
            ({'loss': 1, 'val_acc': 0.5}, {'loss': 1})
        """
        if self.validated_epoch == epoch:
            return dict(metrics)
        return {k: v for k, v in metrics.items() if k not in self.validated}

    def benchmark_repeats_at(self, epoch: int, broadcast: Broadcast | None = None) -> int | None:
        """The inference benchmark's repeats at rung ``epoch``, the same on every rank: ``benchmark_repeats``, or
        ``None`` (the callback's own settings) when the trial goes on whatever it measures there, as too few
        trials have reached the rung to rank it (read on the reporting rank): it then measures once, in full,
        instead of a short measurement now and the full one after fit."""
        repeats, failure = self.benchmark_repeats, None
        try:
            if repeats is not None and self.rungs is not None and not self.rungs.can_stop_at(epoch):
                repeats = None
        except Exception as exc:  # the storage: raised on every rank, after the broadcast
            failure = exc
        (repeats,) = _on_every_rank([repeats], None, broadcast, failure)
        return repeats

    def decide(
        self,
        epoch: int,
        metrics: Mapping[str, float | None] | None,
        max_epochs: int | None,
        broadcast: Broadcast | None = None,
        *,
        steps: int = 0,
        min_steps: int | None = None,
        val_every: int | None = None,
        summary: Mapping[str, Any] | None = None,
        resumed: bool = False,
    ) -> bool:
        """At rung ``epoch``: report ``metrics`` (the job's values by name; read on the reporting rank only)
        and return whether training goes on, the same on every rank.

        ``max_epochs`` is the Trainer's, used when the schedule names none; ``steps`` the optimizer steps done;
        ``min_steps`` and ``val_every`` (``check_val_every_n_epoch``) the Trainer's; ``summary`` the job's energy
        summary now (read on the reporting rank only), which names the measurement domains its energy covers;
        ``resumed``: a fit resumed from a checkpoint went past the rung's epoch end, its values are the checkpoint's.

        Raises:
            JobConfigError: the rung comes before the Trainer's ``min_steps`` (on every rank), where Lightning
                does not stop; nothing is reported.
        """
        from .sweeper import _crashpoints
        from .sweeper.errors import JobConfigError

        go_on, error, failure = True, None, None
        if self.rungs is not None:
            _crashpoints.reached("rung_decide")  # the job's energy so far is on disk (EnergyCallback wrote it)
            top = self.rungs.schedule.max_epochs or max_epochs
            assert top is not None  # open() refused a schedule with no max_epochs beside a Trainer with none
            try:
                if min_steps and steps < min_steps:  # known only now: the steps an epoch takes
                    raise JobConfigError(
                        f"hydra.sweeper.multi_fidelity.min_epochs={self.rungs.schedule.min_epochs} is not allowed "
                        f"with Trainer(min_steps={min_steps}): the rung at epoch {epoch} comes after {steps} steps, "
                        f"and Lightning trains at least {min_steps} steps whatever a rung decides; set "
                        "multi_fidelity.min_epochs to an epoch past them, or leave Trainer(min_steps) unset"
                    )
                go_on = self.rungs.report(epoch, dict(metrics or {}), int(top), val_every, summary, resumed).go_on
            except JobConfigError as exc:
                error = str(exc)
            except Exception as exc:  # the storage: raised on every rank, after the broadcast
                failure = exc
        (go_on,) = _on_every_rank([go_on], error, broadcast, failure)
        if not go_on:
            self.stopped = f"stopped by multi-fidelity at epoch {epoch}"
            self.stopped_epoch = int(epoch)
        return bool(go_on)


def _on_every_rank(
    values: list[Any], error: str | None, broadcast: Broadcast | None, failure: Exception | None = None
) -> list[Any]:
    """Rank 0's ``values`` on every rank, or rank 0's :class:`~.sweeper.errors.JobConfigError` raised on every
    rank, or its ``failure`` (the storage's: rank 0 raises it, the others a ``RuntimeError`` naming it): the error
    travels with the values, since a rank left waiting in the collective would hang, holding its device."""
    from .sweeper.errors import JobConfigError

    failed = None if failure is None else f"{type(failure).__name__}: {failure}"
    if broadcast is not None:
        *values, error, failed = broadcast([*values, error, failed])
    if failure is not None:
        raise failure
    if failed is not None:
        raise RuntimeError(f"rank 0 failed in the multi-fidelity check: {failed}")
    if error is not None:
        raise JobConfigError(error)
    return values
