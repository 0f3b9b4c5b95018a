"""Open the study's storage: SQLite, PostgreSQL/MySQL (with heartbeats), an Optuna journal file, or Optuna's
gRPC storage proxy (``grpc://host:port``; :mod:`.grpc_proxy` serves one).

Database storages get Optuna's heartbeat table (``heartbeat_interval_s``); journal files and the gRPC proxy
have none, so :mod:`._heartbeat` keeps one in a trial attribute instead and fails (and retries) dead workers'
trials.

Every error names the storage with its password redacted.

Example:
    >>> storage = open_storage("journal:///tmp/ecopt-doctest.log", heartbeat_interval_s=60)
    >>> type(storage).__name__
    'JournalStorage'
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from ._schema import BASELINE_ATTR
from ._urls import GRPC, JOURNAL, grpc_address, journal_path, redact, scheme, secrets
from .errors import EnvSettingError, SweeperConfigError

#: how long a worker waits for the gRPC proxy to answer at start (s) before it reports it unreachable
GRPC_CONNECT_TIMEOUT_S = 30.0
#: the environment variable that sets another wait (s): longer where workers may start before their proxy
GRPC_CONNECT_TIMEOUT_ENV = "ECOPT_GRPC_CONNECT_TIMEOUT_S"


def grpc_connect_timeout_s() -> float:
    """The gRPC proxy's connect wait (s): ``$ECOPT_GRPC_CONNECT_TIMEOUT_S`` or :data:`GRPC_CONNECT_TIMEOUT_S`."""
    raw = os.environ.get(GRPC_CONNECT_TIMEOUT_ENV, "").strip()
    if not raw:
        return GRPC_CONNECT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise EnvSettingError(GRPC_CONNECT_TIMEOUT_ENV, raw, "a number of seconds > 0")
    return value


def _scrub(text: str, url: str) -> str:
    text = text.replace(url, redact(url))
    for secret in secrets(url):
        text = text.replace(secret, "***")
    return text


#: the user attributes a retried trial keeps: what its first run was given before it ran. The rest belongs to the
#: dead run (its worker and heartbeat, job dir, error, energy, metrics): inherited, a waiting retry asked by a live
#: worker looks, until that worker claims it, like a trial of the dead worker, and another worker fails it again
RETRY_KEEPS = (BASELINE_ATTR,)


def retry_callback(max_retry: int) -> Callable[[optuna.Study, FrozenTrial], None] | None:
    """Enqueue a failed trial again with its parameters, at most ``max_retry`` times (Optuna's
    ``RetryFailedTrialCallback``, which also records ``failed_trial`` and ``retry_history``), carrying only the
    user attributes of :data:`RETRY_KEEPS` (Optuna's copies all of them); ``None`` for 0."""
    if max_retry <= 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna_retry = optuna.storages.RetryFailedTrialCallback(max_retry=max_retry)

    def retry(study: optuna.Study, trial: FrozenTrial) -> None:
        fresh = copy.copy(trial)
        fresh.user_attrs = {k: v for k, v in trial.user_attrs.items() if k in RETRY_KEEPS}
        optuna_retry(study, fresh)

    return retry


def with_driver(url: str) -> str:
    """``postgresql://`` with the installed driver: SQLAlchemy 2.1 defaults to psycopg 3, 2.0 to psycopg2.

    Example:
        >>> with_driver("sqlite:///x.db")
        'sqlite:///x.db'
    """
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


#: tries at opening a database whose schema another worker is creating at the same moment
SCHEMA_ATTEMPTS = 5


def _schema_race(exc: BaseException) -> bool:
    text = str(exc).lower()
    return type(exc).__name__ in ("IntegrityError", "OperationalError") and any(
        s in text for s in ("already exists", "unique constraint", "duplicate key", "database is locked")
    )


def _rdb(url: str, heartbeat_interval_s: int) -> Any:
    url = with_driver(url)
    kwargs: dict[str, Any] = {}
    if heartbeat_interval_s > 0:
        kwargs["heartbeat_interval"] = heartbeat_interval_s  # stale trials: ._heartbeat.DeadTrialWatch
    if scheme(url) != "sqlite":
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    storage = _open_rdb(url, kwargs)
    if scheme(url) == "sqlite" and ":memory:" not in url and url.rstrip("/") != "sqlite:":
        commit_without_fsync(storage.engine)
    return storage


def _open_rdb(url: str, kwargs: dict[str, Any]) -> Any:
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:
            # two workers starting at once on a new database both create Optuna's tables: the loser's CREATE
            # or INSERT fails ("already exists", UNIQUE alembic_version); once the winner is done, opening works
            if attempt == SCHEMA_ATTEMPTS - 1 or not _schema_race(exc):
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def commit_without_fsync(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL`` on every connection of ``engine``: a commit no longer waits
    for the disk (about 20 ms each on a busy VM, and a trial makes several); the disk is synced at checkpoints.
    A killed process loses nothing; a power cut may lose the last commits, never the file's integrity. The
    ``-wal`` and ``-shm`` files beside the database belong to it while a sweep runs (SQLite folds them back in
    when the last connection closes). On a read-only file the database keeps its mode."""
    import sqlite3

    from sqlalchemy import event

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:  # read-only file or directory: keep its mode
            pass
        finally:
            cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections made while Optuna set the schema up: the next ones get the pragmas


def _journal(url: str) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = Path(journal_path(url)).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    # the open-file lock works on NFSv3+ and on file systems without symlinks
    backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
    return optuna.storages.JournalStorage(backend)


def _grpc(url: str, timeout_s: float) -> Any:
    address = grpc_address(url)
    if address is None:
        raise SweeperConfigError("storage", redact(url), "grpc://host:port with a port in 1-65535")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning (Optuna 4.2+)
        proxy = optuna.storages.GrpcStorageProxy(host=address[0], port=address[1])
    try:
        proxy.wait_server_ready(timeout=timeout_s)
    except ConnectionError:
        proxy.close()
        raise ConnectionError(
            f"no gRPC storage proxy answered at {address[0]}:{address[1]} within {timeout_s:g} s "
            "(start one: python -m ecopt_lightning.sweeper.grpc_proxy --storage <database URL>)"
        ) from None
    return proxy


def open_storage(url: str, heartbeat_interval_s: int) -> Any:
    """The Optuna storage object for ``url``; :class:`SweeperConfigError` (password redacted) if it fails,
    :class:`EnvSettingError` for a bad ``$ECOPT_GRPC_CONNECT_TIMEOUT_S`` (a ``grpc://`` URL only)."""
    connect_timeout_s = grpc_connect_timeout_s() if scheme(url) == GRPC else GRPC_CONNECT_TIMEOUT_S
    try:
        if scheme(url) == JOURNAL:
            return _journal(url)
        if scheme(url) == GRPC:
            return _grpc(url, connect_timeout_s)
        return _rdb(url, heartbeat_interval_s)
    except SweeperConfigError:
        raise
    except Exception as exc:
        raise SweeperConfigError("storage", redact(url), f"a reachable storage ({open_failure(url, exc)})") from None


def storage_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the storage stopped answering: the database's connection failed (SQLAlchemy's
    ``OperationalError`` or ``InterfaceError``: server down, network lost, ``database is locked`` past the busy
    timeout) or the gRPC proxy could not be reached (grpc's ``RpcError``)."""
    for cls in type(exc).__mro__:
        module = cls.__module__.split(".")[0]
        if (module, cls.__name__) in (("sqlalchemy", "OperationalError"), ("sqlalchemy", "InterfaceError")):
            return True
        if module == "grpc" and cls.__name__ == "RpcError":
            return True
    return False


def error_line(exc: BaseException, url: str = "") -> str:
    """``<Type>: <message>`` of a storage error in one line of at most 300 characters, without the password of
    ``url`` nor SQLAlchemy's background link (its messages span lines: SQL, parameters; grpc's too).

    Example:
        >>> error_line(ConnectionError("refused\\n\\tretry"))
        'ConnectionError: refused retry'
    """
    text = f"{type(exc).__name__}: {exc}"
    reason = " ".join((_scrub(text, url) if url else text).split())
    return reason.split(" (Background on this error")[0][:300]


def open_failure(url: str, exc: BaseException) -> str:
    """``opening it failed: <Type>: <message>`` in one line, without the password of ``url``."""
    return f"opening it failed: {error_line(exc, url)}"
