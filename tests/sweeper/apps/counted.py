"""The toy app (``toy.py``, same config) with every read of all a study's trials through Optuna's public
``Study.get_trials`` (and ``Study.trials``, which calls it) counted.

The sweeper and, under Hydra's basic launcher, every job run in this one process, so the count covers the whole
sweep; it is written to the file named by ``ECOPT_TEST_TRIAL_READS`` when the process exits. Optuna's own
samplers and ``ask`` read through its private paths and are not counted: the count is the sweeper's reads.

Example:
    ``ECOPT_TEST_TRIAL_READS=/tmp/reads python tests/sweeper/apps/counted.py -m hydra/sweeper=ecopt``
"""

from __future__ import annotations

import atexit
import functools
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import optuna

TOY = Path(__file__).with_name("toy.py")
reads = 0
_get_trials = optuna.Study.get_trials


@functools.wraps(_get_trials)
def _counted(self: optuna.Study, *args: Any, **kwargs: Any) -> Any:
    global reads
    reads += 1
    return _get_trials(self, *args, **kwargs)


@atexit.register
def _save() -> None:
    Path(os.environ["ECOPT_TEST_TRIAL_READS"]).write_text(str(reads), encoding="utf-8")


if __name__ == "__main__":
    optuna.Study.get_trials = _counted  # type: ignore[method-assign]
    sys.argv[0] = str(TOY)  # Hydra finds the config beside the app it runs
    runpy.run_path(str(TOY), run_name="__main__")
