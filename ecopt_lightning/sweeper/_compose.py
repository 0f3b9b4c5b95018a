"""Compose each job's config once: the sweeper composes it before launching (to stop a bad batch before any job
runs), and the launcher is handed that config instead of composing it again.

:class:`ComposeOnce` wraps Hydra's config loader in the ``HydraContext`` the launcher gets. A config composed by
:meth:`ComposeOnce.compose` is handed out once, to the first ``load_sweep_config`` with the same overrides (the
launcher then sets the job's id on it); any other call composes as Hydra does.

Example:
    >>> class Loader:
    ...     calls = 0
    ...     def load_sweep_config(self, master_config, sweep_overrides):
    ...         Loader.calls += 1
    ...         return {"overrides": list(sweep_overrides)}
    >>> once = ComposeOnce(Loader())
    >>> once.compose(None, ["x=1"])
    >>> once.peeking().load_sweep_config(None, ["x=1"]), Loader.calls  # a reader: the config stays
    ({'overrides': ['x=1']}, 1)
    >>> once.load_sweep_config(None, ["x=1"]), Loader.calls
    ({'overrides': ['x=1']}, 1)
    >>> once.load_sweep_config(None, ["x=1"]), Loader.calls
    ({'overrides': ['x=1']}, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ComposeOnce:
    """A Hydra ``ConfigLoader`` that hands out configs composed ahead (once each) and delegates everything else."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._ready: dict[tuple[str, ...], Any] = {}

    def compose(self, master_config: Any, overrides: Sequence[str]) -> None:
        """Compose one job's config now (raising Hydra's error for a bad override) and keep it for the launcher."""
        self._ready[tuple(overrides)] = self._loader.load_sweep_config(master_config, list(overrides))

    def load_sweep_config(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        ready = self._ready.pop(tuple(sweep_overrides), None)
        if ready is not None:
            return ready
        return self._loader.load_sweep_config(master_config, sweep_overrides)

    def peek(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        """The config composed ahead for these overrides, left in place; else one composed now, not kept."""
        ready = self._ready.get(tuple(sweep_overrides))
        if ready is not None:
            return ready
        return self._loader.load_sweep_config(master_config, sweep_overrides)

    def peeking(self) -> _Peek:
        """A loader for readers that need a job's config before the launcher (e.g. its job dir): it returns the
        composed config without handing it out, and composes (without keeping) what was not composed ahead."""
        return _Peek(self)

    def forget(self) -> None:
        """Drop configs no launcher asked for (a refused or interrupted batch)."""
        self._ready.clear()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_loader", "_ready"):  # copy/pickle probe before __init__ ran
            raise AttributeError(name)
        return getattr(self._loader, name)


class _Peek:
    """``load_sweep_config`` that reads :class:`ComposeOnce`'s ready configs without taking them."""

    def __init__(self, once: ComposeOnce) -> None:
        self._once = once

    def load_sweep_config(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        return self._once.peek(master_config, sweep_overrides)
