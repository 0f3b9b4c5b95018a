"""Prune a trial before training when its inference energy already violates a constraint.

A model's inference energy per sample depends on its architecture, not on its weights: a few predict batches
of the UNTRAINED model tell whether a trial can ever meet ``constraints`` such as
``'energy/inference_per_sample_J <= 2e-5'``. Training such a trial only burns energy, so the task calls
:func:`check_before_training` first; on a violation it records the measurement on its trial (through the
study's storage) and raises :class:`PrunedBeforeTraining`, which the sweeper tells as ``PRUNED``.

Optuna forbids ``Trial.report``/``should_prune`` in multi-objective studies, so this is the sweeper's own
decision. With ``hydra.sweeper.prune_before_training=true`` the sweeper passes each job its storage URL, study
name and trial number through ``hydra.job.env_set`` (environment variables ``ECOPT_STORAGE``,
``ECOPT_STUDY``, ``ECOPT_TRIAL_NUMBER``, set by Hydra inside the job with any launcher). Outside such a sweep
the check is a no-op that costs nothing. PRUNED trials do not count towards ``n_trials`` (which counts
trained, COMPLETE trials); the sweep stops after ``10 * n_trials`` pruned trials in total, so an impossible
constraint cannot loop forever.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(64, 10)
    >>> batches = [(torch.zeros(32, 64), torch.zeros(32))] * 4
    >>> check_before_training(model, batches) is None  # not inside a pruning sweep: nothing measured
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..metrics import BENCHMARK_THREADS, ESTIMATED_FRACTION, INFERENCE_PER_SAMPLE_J, NOTHING_MEASURED
from ._schema import PRUNED_ATTR
from ._secrets import quoted
from ._urls import password

ENV_STORAGE, ENV_STUDY, ENV_TRIAL = "ECOPT_STORAGE", "ECOPT_STUDY", "ECOPT_TRIAL_NUMBER"
#: User attribute set on a trial pruned before training: the reason (one line).
#: Pruned trials allowed per trial of ``n_trials`` before the sweep stops.
MAX_PRUNED_PER_TRIAL = 10
#: How :func:`check_before_training` measures by default (arguments of ``measure_inference``).
CHECK_WARMUP_BATCHES, CHECK_REPEATS, CHECK_MAX_BATCHES = 1, 2, 3


class PrunedBeforeTraining(Exception):
    """Raised by :func:`check_before_training`; the sweeper tells the trial ``PRUNED`` (not ``FAIL``)."""


@dataclass(frozen=True)
class TrialRef:
    """Where a job's trial lives: storage URL, study name and trial number."""

    storage: str
    study_name: str
    number: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrialRef | None:
        """The trial of this job, or ``None`` outside a sweep with ``prune_before_training`` or ``multi_fidelity``."""
        env = os.environ if env is None else env
        if not all(env.get(k) for k in (ENV_STORAGE, ENV_STUDY, ENV_TRIAL)):
            return None
        return cls(env[ENV_STORAGE], env[ENV_STUDY], int(env[ENV_TRIAL]))


def job_overrides(storage: str, study_name: str, number: int) -> list[str]:
    """Hydra overrides that make Hydra set this trial's environment variables inside the job.

    Example:
        >>> job_overrides("sqlite:///s/ecopt.db", "train", 3)[2]
        "++hydra.job.env_set.ECOPT_TRIAL_NUMBER='3'"
    """

    values = {ENV_STORAGE: storage, ENV_STUDY: study_name, ENV_TRIAL: str(number)}
    if password(storage):
        # an override is printed in Hydra's job log and saved in the job's .hydra files: a URL with a password
        # reaches the job through this process's environment instead (launched jobs inherit it)
        os.environ[ENV_STORAGE] = storage
        del values[ENV_STORAGE]
    return [f"++hydra.job.env_set.{k}={quoted(v)}" for k, v in values.items()]


def _open_trial(ref: TrialRef) -> tuple[Any, Any]:
    """``(study, trial)`` from the storage; the trial is the live (RUNNING) one the sweeper asked for."""
    import optuna

    from ._optuna_compat import live_trial
    from ._storage import open_storage

    # opened like the sweeper opens it (journal files, the installed PostgreSQL driver)
    study = optuna.load_study(study_name=ref.study_name, storage=open_storage(ref.storage, 0))
    return study, live_trial(study, ref.number)


def check_before_training(
    model: Any,
    dataloader: Iterable[Any],
    *,
    metric: str = INFERENCE_PER_SAMPLE_J,
    warmup_batches: int = CHECK_WARMUP_BATCHES,
    repeats: int = CHECK_REPEATS,
    max_batches: int = CHECK_MAX_BATCHES,
    ref: TrialRef | None = None,
    device: Any = None,
    threads: int | None = BENCHMARK_THREADS,
    **measure_kwargs: Any,
) -> float | None:
    """Measure the untrained ``model``'s inference energy and prune the trial if it violates a constraint.

    Args:
        model: the ``torch.nn.Module`` (or LightningModule) as the trial built it, before training.
        dataloader: batches to predict on (the validation loader, as ``EnergyCallback``'s benchmark uses).
        metric: the constraint metric this measures, in J per sample.
        warmup_batches, repeats, max_batches: passed to :func:`ecopt_lightning.measure_inference`.
        ref: the trial (default: from the environment the sweeper set).
        device: where the model runs for the check (default: the first visible CUDA device when there is one, as
            a trainer with ``accelerator="auto"`` picks, else where the model is), so that the check measures
            what the benchmark after fit will; the model is put back afterwards.
        threads: torch intra-op threads while the check runs, as EnergyCallback's benchmark
            (``InferenceBenchmark.threads``, default 1: give the app's own setting); ``None``: the process's.
        measure_kwargs: more arguments of ``measure_inference`` (``monitor``, ``forward_fn``...).

    Returns:
        The measured energy per sample (J), or ``None`` when not in a sweep with ``prune_before_training`` or no
        constraint is on ``metric`` (nothing is measured then), or when every repeat read 0 J (a warning says so:
        the trial is not pruned on a value nothing measured).

    Raises:
        PrunedBeforeTraining: a constraint on ``metric`` is violated; the trial's user attributes hold the
            measured value, the reason and the check's own energy (``ecopt.energy_J``, J). A trial that
            passes keeps the check's energy in ``ecopt.pre_training.energy_J``, added to its own in reports.
    """
    from ._metrics import Constraint
    from ._optuna_compat import set_user_attrs
    from ._schema import (
        CHECK_ENERGY_ATTR,
        CHECK_SOURCE_ATTR,
        ENERGY_ATTR,
        ENERGY_SOURCE_ATTR,
        ERROR_ATTR,
        PRUNE_BEFORE_TRAINING_ATTR,
        SOURCES_ATTR,
        ReportSettings,
        pre_training_attr,
    )

    ref = ref or TrialRef.from_env()
    if ref is None:
        return None
    study, trial = _open_trial(ref)
    if not study.user_attrs.get(PRUNE_BEFORE_TRAINING_ATTR):  # a multi-fidelity sweep's job reaches its trial too
        return None
    texts = ReportSettings.from_attrs(study.user_attrs, None, []).constraints
    constraints = [c for c in map(Constraint.parse, texts) if c.metric == metric]
    if not constraints:
        return None
    import contextlib

    import torch

    from ecopt_lightning.inference import benchmark_threads, measure_inference, on_device

    if device is None and torch.cuda.is_available():
        device = "cuda:0"
    measure_kwargs.setdefault("rel_precision", None)  # a screen: a fixed number of repeats, each long enough
    placed = contextlib.nullcontext() if device is None else on_device(model, torch.device(device))
    with placed, benchmark_threads(threads):
        result = measure_inference(
            model, dataloader, warmup_batches=warmup_batches, repeats=repeats, max_batches=max_batches, **measure_kwargs
        )
    if result.stop_reason == NOTHING_MEASURED:  # 0 J per sample would pass every limit, and rank as the cheapest
        import warnings

        from ecopt_lightning.energy import EnergyWarning

        warnings.warn(
            f"ecopt: trial {trial.number}'s pre-training check measured nothing (every repeat read 0 J on "
            f"{result.source or 'no meter'}): the trial trains unchecked",
            EnergyWarning,
            2,
        )
        return None
    value = result.per_sample_J
    violated = [c.text for c in constraints if c.value({metric: value}) > 0]
    # one write (one transaction on a database); a journal file stores the attributes one by one, in this order, so
    # that a job killed between two leaves no energy without its source, and no pruned mark without its energy
    attrs: dict[str, Any] = {pre_training_attr(metric): value}
    if not violated:
        attrs[CHECK_SOURCE_ATTR] = result.source
        attrs[CHECK_ENERGY_ATTR] = result.measurement.energy_J  # counted in the trial's energy
        set_user_attrs(study, trial, attrs)
        return value
    reason = f"pruned before training: untrained model's {metric}={value:.4g} violates {', '.join(violated)}"
    attrs[metric] = value
    attrs[SOURCES_ATTR] = dict(result.measurement.sources)  # the report says estimated or measured
    if result.measurement.energy_J > 0:  # and how much, as EnergyCallback's metric beside its total
        attrs[ESTIMATED_FRACTION] = result.measurement.estimated_J / result.measurement.energy_J
    attrs[ENERGY_SOURCE_ATTR] = "pre_training_check:" + result.source
    attrs[ENERGY_ATTR] = result.measurement.energy_J
    attrs[ERROR_ATTR] = reason
    attrs[PRUNED_ATTR] = reason  # last: the sweeper tells PRUNED on it
    set_user_attrs(study, trial, attrs)
    raise PrunedBeforeTraining(reason)


def was_pruned(study: Any, trial: Any) -> str | None:
    """The reason a job pruned its ``trial`` (that one trial read back from storage), or ``None``."""
    from ._optuna_compat import storage, trial_id

    return storage(study).get_trial(trial_id(trial)).user_attrs.get(PRUNED_ATTR)
