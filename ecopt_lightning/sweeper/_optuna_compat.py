"""Every use of an Optuna private, behind one function each, with a public-API fallback where one exists.

The package allows ``optuna>=4.4``; CI runs the installed release and the oldest one (``.ci/oldest``), and
``tests/sweeper/test_compat.py`` checks that each private named here still exists in the installed Optuna,
so a release that drops one fails a test instead of silently taking the fallback. Nothing outside this
module (and :mod:`._joblib_compat` for joblib) touches a private attribute of Optuna.

Example:
    >>> import optuna
    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> trial_id(trial) == trial_id_by_number(study, trial.number)
    True
    >>> contains(optuna.distributions.IntDistribution(1, 9, step=2), 4)
    False
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial

#: The privates this module reads: ``(object or module path, attribute)``; ``test_compat`` checks each.
PRIVATES: tuple[tuple[str, str], ...] = (
    ("optuna.trial.Trial", "_trial_id"),
    ("optuna.trial.FrozenTrial", "_trial_id"),
    ("optuna.study.Study", "_storage"),
    ("optuna.study.Study", "_study_id"),
    ("optuna.storages.RDBStorage", "_get_stale_trial_ids"),
    ("optuna.study.Study", "_get_trials"),
    ("optuna.samplers._base", "_CONSTRAINTS_KEY"),
    ("optuna.distributions.FloatDistribution", "_contains"),
    ("optuna.distributions.IntDistribution", "_contains"),
    ("optuna.distributions.CategoricalDistribution", "_contains"),
    ("optuna.storages._cached_storage._CachedStorage", "_backend"),
    ("optuna.storages.RDBStorage", "_set_trial_attr_without_commit"),
    ("optuna.storages._rdb.storage", "_create_scoped_session"),
    ("optuna.storages._rdb.models", "TrialUserAttributeModel"),
)


def storage(study: optuna.Study) -> BaseStorage:
    """The study's storage (``Study._storage``: Optuna has no public accessor, and no fallback)."""
    found = getattr(study, "_storage", None)
    if found is None:  # pragma: no cover - only on an Optuna that renamed it; test_compat catches that first
        raise RuntimeError(f"optuna {optuna.__version__}: Study has no _storage; ecopt needs a supported Optuna")
    return found


def study_id(study: optuna.Study) -> int:
    """The study's storage id (``Study._study_id``; fallback: the storage's lookup by study name)."""
    found = getattr(study, "_study_id", None)
    if isinstance(found, int):
        return found
    return storage(study).get_study_id_from_name(study.study_name)


def trial_id(trial: Trial | FrozenTrial) -> int:
    """The storage id of a live or frozen trial (``_trial_id``: neither has a public one; heartbeats and
    storage writes are keyed on it). Use :func:`trial_id_by_number` where the study is at hand."""
    found = getattr(trial, "_trial_id", None)
    if not isinstance(found, int):  # pragma: no cover - test_compat checks the attribute on both classes
        raise RuntimeError(f"optuna {optuna.__version__}: {type(trial).__name__} has no _trial_id")
    return found


def trial_id_by_number(study: optuna.Study, number: int) -> int:
    """The storage id of the study's trial ``number`` (a storage lookup: the public route to :func:`trial_id`)."""
    return storage(study).get_trial_id_from_study_id_trial_number(study_id(study), number)


def live_trial(study: optuna.Study, number: int) -> Trial:
    """The live :class:`~optuna.trial.Trial` for the study's (RUNNING) trial ``number``, as ``Study.ask`` builds
    one (``Trial(study, trial_id)``: the constructor is internal, and there is no public way to reopen a trial)."""
    return Trial(study, trial_id_by_number(study, number))


def set_trial_system_attr(study: optuna.Study, trial: Trial | FrozenTrial, key: str, value: Any) -> None:
    """Write a trial's system attribute (Optuna deprecated ``Trial.set_system_attr``; the storage's is public)."""
    storage(study).set_trial_system_attr(trial_id(trial), key, value)


def set_user_attrs(study: optuna.Study, trial: Trial, attrs: dict[str, Any]) -> None:
    """Write several user attributes of a live trial in one storage transaction (one SQLite commit instead of
    one each) on an RDB storage; one ``Trial.set_user_attr`` each on any other storage, or when the RDB
    internals (``_set_trial_attr_without_commit``, ``_create_scoped_session``) are not there."""
    backend = getattr(storage(study), "_backend", storage(study))
    write = getattr(backend, "_set_trial_attr_without_commit", None)
    if not attrs:
        return
    try:
        from optuna.storages._rdb.models import TrialUserAttributeModel
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:  # pragma: no cover - test_compat checks both names
        write = None
    if not isinstance(backend, optuna.storages.RDBStorage) or write is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    with _create_scoped_session(backend.scoped_session, True) as session:
        for key, value in attrs.items():
            write(session, TrialUserAttributeModel, trial_id(trial), key, value)


def study_trials(study: optuna.Study, use_cache: bool) -> list[FrozenTrial]:
    """All the study's trials, not copied, as samplers read them (``Study._get_trials``: its per-thread cache
    of the trials, which samplers use within one ask; fallback: ``get_trials``, uncached)."""
    read = getattr(study, "_get_trials", None)
    if read is None:  # pragma: no cover - test_compat checks the attribute
        return study.get_trials(deepcopy=False)
    return read(deepcopy=False, states=None, use_cache=use_cache)


def constraint_attr(name: str) -> str:
    """The system attribute Optuna 5's ``Trial.set_constraint`` stores constraint ``name`` under
    (``constraints:<name>``, read back by ``FrozenTrial.constraints``)."""
    return f"{constraints_key()}:{name}"


def constraints_key() -> str:
    """The system attribute Optuna 4 reads a trial's constraint values from (``samplers._base._CONSTRAINTS_KEY``;
    fallback: its value in every Optuna 4 release)."""
    from optuna.samplers import _base

    return str(getattr(_base, "_CONSTRAINTS_KEY", "constraints"))


def stale_trial_ids(study: optuna.Study) -> set[int]:
    """Trial ids of RUNNING trials whose RDB heartbeat is stale, without failing them (the private
    ``_get_stale_trial_ids`` that ``fail_stale_trials`` uses), so the caller records why before failing them.

    Fallback: :func:`optuna.storages.fail_stale_trials` fails them itself (no reason recorded) and this returns
    an empty set."""
    try:
        return set(storage(study)._get_stale_trial_ids(study_id(study)))  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - private API moved: let Optuna fail them (no reason recorded)
        optuna.storages.fail_stale_trials(study)
        return set()


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` (external representation) lies in ``dist``: in range, on the step, one of the choices.

    Uses the distribution's own ``_contains``; the fallback is :func:`contains_public` (the same checks)."""
    try:
        internal = dist.to_internal_repr(value)
    except Exception:
        return False
    own = getattr(dist, "_contains", None)
    if own is None:  # pragma: no cover - test_compat checks the attribute on the three distributions
        return contains_public(dist, value)
    try:
        return bool(own(internal))
    except Exception:
        return False


def contains_public(dist: BaseDistribution, value: Any) -> bool:
    """:func:`contains` from public attributes only (``low``, ``high``, ``step``, ``choices``)."""
    try:
        internal = dist.to_internal_repr(value)
    except Exception:
        return False
    if isinstance(dist, CategoricalDistribution):
        return 0 <= int(internal) < len(dist.choices)
    if isinstance(dist, IntDistribution):
        number = int(internal)
        return dist.low <= number <= dist.high and (number - dist.low) % dist.step == 0
    if isinstance(dist, FloatDistribution):
        number = float(internal)
        if math.isnan(number) or not dist.low <= number <= dist.high:
            return False
        if dist.step is None:
            return True
        k = (number - dist.low) / dist.step
        return abs(k - round(k)) < 1.0e-8
    return False
