"""The toy app (``toy.py``, same config; or the app named by ``ECOPT_TEST_APP``) with the sweeper's storage
traffic counted, written as JSON to the file named by ``ECOPT_TEST_TRIAL_READS`` when the process exits:

- ``get_trials``: reads of all a study's trials through Optuna's public ``Study.get_trials`` (and
  ``Study.trials``, which calls it). Optuna's own samplers and ``ask`` read through its private paths and are
  not counted: this is the sweeper's reads;
- ``trial_reads``: reads of one trial from the database (``RDBStorage.get_trial``: its row and five attribute
  tables; Optuna's cache answers finished trials without one). ``Study.ask`` reads its new trial once and
  ``Study.tell`` the told one once; any more is a trial read back;
- ``attr_writes``: committed transactions that write a trial's user or system attributes or its heartbeat;
- ``composes``: job configs composed by Hydra (``ConfigLoaderImpl.load_sweep_config``), whoever asked.

The sweeper and, under Hydra's basic launcher, every job run in this one process, so the counts cover the whole
sweep.

Example:
    ``ECOPT_TEST_TRIAL_READS=/tmp/counts.json python tests/sweeper/apps/counted.py -m hydra/sweeper=ecopt``
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import runpy
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from sqlalchemy import event
from sqlalchemy.engine import Engine

APP = Path(__file__).with_name(os.environ.get("ECOPT_TEST_APP", "toy.py"))  # the app whose sweep is counted
ATTR_TABLES = ("trial_user_attributes", "trial_system_attributes", "trial_heartbeats")
counts: Counter[str] = Counter()
_pending: set[int] = set()  # connections whose open transaction wrote a trial attribute or heartbeat
_get_trials = optuna.Study.get_trials
_get_trial = optuna.storages.RDBStorage.get_trial
_load_sweep_config = ConfigLoaderImpl.load_sweep_config


@functools.wraps(_get_trials)
def _counted_get_trials(self: optuna.Study, *args: Any, **kwargs: Any) -> Any:
    counts["get_trials"] += 1
    return _get_trials(self, *args, **kwargs)


@functools.wraps(_get_trial)
def _counted_get_trial(self: Any, *args: Any, **kwargs: Any) -> Any:
    counts["trial_reads"] += 1
    return _get_trial(self, *args, **kwargs)


@functools.wraps(_load_sweep_config)
def _counted_load_sweep_config(self: Any, *args: Any, **kwargs: Any) -> Any:
    counts["composes"] += 1
    return _load_sweep_config(self, *args, **kwargs)


def _statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    head = " ".join(statement.split()[:3]).lower()
    if head.startswith(("insert into", "update")) and any(t in head for t in ATTR_TABLES):
        _pending.add(id(conn))


def _commit(conn: Any) -> None:
    if id(conn) in _pending:
        counts["attr_writes"] += 1
        _pending.discard(id(conn))


def _rollback(conn: Any) -> None:
    _pending.discard(id(conn))


@atexit.register
def _save() -> None:
    Path(os.environ["ECOPT_TEST_TRIAL_READS"]).write_text(json.dumps(counts), encoding="utf-8")


if __name__ == "__main__":
    optuna.Study.get_trials = _counted_get_trials  # type: ignore[method-assign]
    optuna.storages.RDBStorage.get_trial = _counted_get_trial  # type: ignore[method-assign]
    ConfigLoaderImpl.load_sweep_config = _counted_load_sweep_config  # type: ignore[method-assign]
    event.listen(Engine, "before_cursor_execute", _statement)
    event.listen(Engine, "commit", _commit)
    event.listen(Engine, "rollback", _rollback)
    sys.argv[0] = str(APP)  # Hydra finds the config beside the app it runs
    runpy.run_path(str(APP), run_name="__main__")
