"""Registers ``hydra/sweeper=ecopt`` and forwards to :mod:`ecopt_lightning.sweeper` (imported lazily).

Hydra imports every plugin module at every application start: this module imports neither optuna nor torch.

Example:
    ``python train.py -m hydra/sweeper=ecopt hydra/sweeper/sampler=tpe hydra.sweeper.n_trials=10 x=choice(1,2)``

    What ``hydra/sweeper=ecopt`` selects, once this module is imported:

    >>> ConfigStore.instance().load("hydra/sweeper/ecopt.yaml").node._target_
    'hydra_plugins.ecopt_sweeper.ecopt_sweeper.EcoptSweeper'
"""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig
from typing_extensions import override

from ecopt_lightning.sweeper._override_hints import quoting_error
from ecopt_lightning.sweeper._secrets import echoed_secret
from ecopt_lightning.sweeper.config import SAMPLER_GROUP, EcoptSweeperConf

# Hydra imports this module before it parses the command line: a constraint its grammar would stop at with a
# bare lexer error, or an unquoted search expression in hydra.sweeper.params, gets a one-line message with the
# right quoting instead; a sweeper override Hydra would refuse by printing it, password and all, is said masked.
_hint = quoting_error(sys.argv[1:]) or echoed_secret(sys.argv[1:], [f.name for f in fields(EcoptSweeperConf)])
if _hint is not None:
    raise SystemExit(_hint)

ConfigStore.instance().store(group="hydra/sweeper", name="ecopt", node=EcoptSweeperConf, provider="ecopt_lightning")
for _name, _node in SAMPLER_GROUP.items():  # hydra/sweeper/sampler=<name>, as in hydra-optuna-sweeper
    ConfigStore.instance().store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="ecopt_lightning")


class EcoptSweeper(Sweeper):
    """Multi-objective Optuna sweeper (quality against energy); fields: docs/sweeper.md."""

    def __init__(self, **config: Any) -> None:
        # Keyword arguments, whatever hydra-core (1.3 recursive, 1.4 not) made of them: validated in sweep().
        from ecopt_lightning.sweeper._sweeper import EcoptSweeperImpl

        self.sweeper = EcoptSweeperImpl(config)

    @override
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    @override
    def sweep(self, arguments: list[str]) -> Any:
        try:
            return self.sweeper.sweep(arguments)
        except KeyboardInterrupt:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            raise SystemExit(130) from None  # Ctrl-C ends as a shell reports it, the sweeper's line said, no traceback
