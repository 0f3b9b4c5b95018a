"""The ``ecopt`` Hydra sweeper: multi-objective Optuna tuning of quality against energy.

Only light modules are imported here (no optuna, no torch): Hydra imports the plugin shim, which imports the
config from this package, at every application start.

Example:
    ``python train.py -m hydra/sweeper=ecopt hydra.sweeper.n_trials=20 'model.width=choice(16,32,64)'``

    A bad field stops the sweep before anything is written, with one line:

    >>> raise SweeperConfigError("n_trials", -1, "an integer >= 0")
    Traceback (most recent call last):
    ...
    ecopt_lightning.sweeper.errors.SweeperConfigError: hydra.sweeper.n_trials=-1 is not allowed: an integer >= 0
"""

from .config import EcoptSweeperConf, ObjectiveConf
from .errors import SweeperConfigError, SweepFailedError

__all__ = ["EcoptSweeperConf", "ObjectiveConf", "SweepFailedError", "SweeperConfigError"]
