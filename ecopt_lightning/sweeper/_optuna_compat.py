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

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

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
    ("optuna.storages._rdb.models", "TrialSystemAttributeModel"),
    ("optuna.storages._rdb.models", "TrialHeartbeatModel"),
    ("optuna.storages._rdb.models", "TrialModel"),
    ("optuna.study._tell", "_tell_with_warning"),
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


@dataclass
class TrialWrite:
    """What :func:`write_trials` stores on one trial: user and system attributes and, with ``heartbeat``, its
    Optuna heartbeat (RDB storages made with ``heartbeat_interval``; the caller checks that)."""

    trial: Trial | FrozenTrial
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    heartbeat: bool = False


def write_trials(study: optuna.Study, writes: Sequence[TrialWrite]) -> None:
    """Store every write of ``writes`` in one storage transaction on an RDB storage: per trial one read of its
    row (refused with :class:`~optuna.exceptions.UpdateFinishedTrialError` when finished, as Optuna's own
    setters do) and one multi-row upsert per attribute table, where Optuna's setters commit once per attribute
    and read the trial row back for each. Any other storage, or an RDB dialect without upserts: the public
    setters, one call per attribute (``record_heartbeat`` for the heartbeat).

    Privates: ``RDBStorage.scoped_session`` with ``_create_scoped_session`` (Optuna's commit-or-rollback),
    the ``TrialModel``/``Trial*AttributeModel``/``TrialHeartbeatModel`` tables, and
    ``_set_trial_attr_without_commit`` for dialects other than SQLite, PostgreSQL and MySQL."""
    writes = [w for w in writes if w.user_attrs or w.system_attrs or w.heartbeat]
    if not writes:
        return
    store = storage(study)
    backend = getattr(store, "_backend", store)
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:  # pragma: no cover - test_compat checks both names
        backend = None
    if not isinstance(backend, optuna.storages.RDBStorage):
        for w in writes:
            for key, value in w.user_attrs.items():
                store.set_trial_user_attr(trial_id(w.trial), key, value)
            for key, value in w.system_attrs.items():
                store.set_trial_system_attr(trial_id(w.trial), key, value)
            if w.heartbeat:
                store.record_heartbeat(trial_id(w.trial))  # type: ignore[attr-defined]
        return
    with _create_scoped_session(backend.scoped_session, True) as session:
        for w in writes:
            tid = trial_id(w.trial)
            state: Any = models.TrialModel.find_or_raise_by_id(tid, session).state  # a TrialState, once loaded
            backend.check_trial_is_updatable(tid, state)
            _upsert(backend, session, models.TrialUserAttributeModel, tid, w.user_attrs)
            _upsert(backend, session, models.TrialSystemAttributeModel, tid, w.system_attrs)
            if w.heartbeat:
                _beat(session, models.TrialHeartbeatModel, tid)


def _upsert(backend: Any, session: Any, model: Any, tid: int, attrs: dict[str, Any]) -> None:
    """Insert or replace ``attrs`` of trial ``tid`` in ``model``'s table in one statement (JSON values, as
    Optuna stores them), without committing."""
    if not attrs:
        return
    rows = [{"trial_id": tid, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    dialect = backend.engine.name
    if dialect == "postgresql" or (dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0)):
        from sqlalchemy.dialects import postgresql, sqlite

        # the same ON CONFLICT ... DO UPDATE statement in both dialects
        insert: Any = {"sqlite": sqlite, "postgresql": postgresql}[dialect].insert(model).values(rows)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[model.trial_id, model.key], set_={"value_json": insert.excluded.value_json}
            )
        )
    elif dialect == "mysql":
        from sqlalchemy.dialects import mysql

        my_insert = mysql.insert(model).values(rows)
        session.execute(my_insert.on_duplicate_key_update(value_json=my_insert.inserted.value_json))
    else:  # Optuna's own per-attribute path (it reads the trial row again for each)
        for key, value in attrs.items():
            backend._set_trial_attr_without_commit(session, model, tid, key, value)


def _beat(session: Any, model: Any, tid: int) -> None:
    """``RDBStorage.record_heartbeat`` without its commit: the row made with the database's time, or updated."""
    import sqlalchemy

    if model.where_trial_id(tid, session) is None:
        session.add(model(trial_id=tid))
    else:
        row = model.where_trial_id(tid, session, True)  # again, for update (row lock where the database has one)
        row.heartbeat = session.execute(sqlalchemy.func.now()).scalar()


def set_user_attrs(study: optuna.Study, trial: Trial | FrozenTrial, attrs: dict[str, Any]) -> None:
    """Write several user attributes of a live trial in one storage transaction (:func:`write_trials`)."""
    write_trials(study, [TrialWrite(trial, user_attrs=attrs)])


def tell(
    study: optuna.Study, trial: Trial, values: Sequence[float] | None = None, state: TrialState | None = None
) -> None:
    """``Study.tell`` without reading the trial back afterwards for a return value nobody reads (one full read of
    the trial from an RDB storage: its row and five attribute tables). Private: ``study._tell._tell_with_warning``,
    which ``Study.tell`` calls before that read; fallback: ``Study.tell``."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:  # pragma: no cover - test_compat checks the name
        study.tell(trial, values, state)
        return
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)


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


def stale_trial_ids(study: optuna.Study, grace_s: float | None = None) -> set[int]:
    """Trial ids of RUNNING trials whose RDB heartbeat is stale, without failing them (the private
    ``_get_stale_trial_ids`` that ``fail_stale_trials`` uses), so the caller records why before failing them.
    ``grace_s``: stale when older than that (the storage's ``grace_period`` for this one read), instead of the
    storage's own (twice its heartbeat interval).

    Fallback: :func:`optuna.storages.fail_stale_trials` fails them itself (no reason recorded) and this returns
    an empty set."""
    store = storage(study)
    backend: Any = getattr(store, "_backend", store)
    kept = backend.grace_period
    try:
        if grace_s is not None:
            backend.grace_period = grace_s
        return set(store._get_stale_trial_ids(study_id(study)))  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - private API moved: let Optuna fail them (no reason recorded)
        optuna.storages.fail_stale_trials(study)
        return set()
    finally:
        backend.grace_period = kept


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
        real = float(internal)
        if math.isnan(real) or not dist.low <= real <= dist.high:
            return False
        if dist.step is None:
            return True
        k = (real - dist.low) / dist.step
        return abs(k - round(k)) < 1.0e-8
    return False
