"""The sweeper's own exceptions: one for bad configuration, one for a sweep that had to stop.

Example:
    >>> raise SweeperConfigError("sampler", "foo", "one of auto, tpe")
    Traceback (most recent call last):
    ...
    ecopt_lightning.sweeper.errors.SweeperConfigError: hydra.sweeper.sampler='foo' is not allowed: one of auto, tpe
"""

from __future__ import annotations

from typing import Any

from hydra.errors import CompactHydraException

from ._literals import hydra_literal

#: the ``field`` of an error about a search expression given on the command line
COMMAND_LINE = "command line"


class SweeperConfigError(CompactHydraException, ValueError):
    """A bad ``hydra.sweeper`` field; the message is one line naming the field, the value and what is allowed.

    A ``CompactHydraException``: Hydra prints its message alone, without a stack trace.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        # a command-line search argument is no hydra.sweeper field: it is named as the user typed it
        name = "the command-line override" if field == COMMAND_LINE else f"hydra.sweeper.{field}="
        text = f"{name}{' ' if field == COMMAND_LINE else ''}{hydra_literal(value)} is not allowed: {allowed}"
        super().__init__(" ".join(text.split()))


class JobConfigError(ValueError):
    """Raised inside a job: the sweep's settings do not fit the job's own config (e.g. ``multi_fidelity.max_epochs``
    beside the Trainer's). Every trial would repeat it, so the sweeper stops after the first such job, and the
    trial's region is not marked failing. One message argument, so it survives the pickling of launchers."""


class EnvSettingError(CompactHydraException, ValueError):
    """A bad ``ECOPT_*`` environment variable; the message is one line naming it, its value and what is allowed."""

    def __init__(self, name: str, value: str, allowed: str) -> None:
        super().__init__(f"{name}={value!r} is not allowed: {allowed}")


class SweepFailedError(CompactHydraException, RuntimeError):
    """The sweep stopped early on purpose (e.g. ``max_failures`` reached); artifacts were written before."""


class LauncherError(SweepFailedError):
    """The launcher failed before any job of a batch ran (submitit's SLURM launcher where there is no SLURM, a bad
    launcher setting): one line names the launcher and what it said, without Hydra's stack trace."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause  # ``Type: message`` of the launcher's error, one line


class SweepDirError(CompactHydraException, OSError):
    """The sweep dir (``hydra.sweep.dir``) or the SQLite file in it cannot be used; one line says why."""
