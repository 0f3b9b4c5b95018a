"""Cheap proxies people use in place of energy: parameter count and FLOPs per sample.

They are logged beside the measured energy so that users can see when a proxy misleads (e.g. two models
with equal FLOPs but different energy per sample). :class:`ModelProxies` holds one run's values, each measured
once (``EnergyCallback(proxies=True)``).
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import metrics
from .energy import EnergyWarning

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule

ForwardFn = Callable[[torch.nn.Module, Any, int], Any]


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (shared parameters counted once).

    Example:
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    params = {id(p): p for p in module.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())


def _overrides_predict_step(module: torch.nn.Module) -> TypeGuard[LightningModule]:
    pl = sys.modules.get("lightning.pytorch")
    if pl is None:  # no LightningModule exists before Lightning is imported, and importing it costs seconds
        return False
    base = pl.LightningModule
    return isinstance(module, base) and type(module).predict_step is not base.predict_step


def default_forward(module: torch.nn.Module, batch: Any, batch_idx: int = 0) -> Any:
    """Run the model on one batch: ``predict_step`` when the LightningModule defines one, else ``module(x)``
    where ``x`` is the batch's first element for a tuple or list batch (``(inputs, targets)``) or the batch.

    Example:
        >>> default_forward(torch.nn.Linear(3, 2), (torch.zeros(4, 3), torch.zeros(4))).shape
        torch.Size([4, 2])
    """
    if _overrides_predict_step(module):
        return module.predict_step(batch, batch_idx)
    if isinstance(batch, list | tuple) and batch:
        return module(batch[0])
    return module(batch)


def flops_per_sample(
    module: torch.nn.Module,
    batch: Any,
    batch_size: int,
    forward_fn: ForwardFn | None = None,
) -> float:
    """FLOPs of one forward pass per sample, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    The model runs once on ``batch`` in eval mode without gradients; its train/eval mode is restored.
    Operations the counter does not know (e.g. custom kernels) count as 0.

    Example:
        >>> flops_per_sample(torch.nn.Linear(3, 2, bias=False), torch.zeros(4, 3), batch_size=4)
        12.0
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} is not allowed: give the number of samples in the batch")
    forward = forward_fn or default_forward
    was_training = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            forward(module, batch, 0)
    finally:
        module.train(was_training)
    return counter.get_total_flops() / batch_size


class ModelProxies:
    """One run's parameter count and FLOPs per sample, each measured once per model and kept.

    A model the default forward cannot call gets NaN FLOPs and a warning: the proxies are optional.

    Args:
        enabled: measure at all; when ``False`` nothing is measured and every method returns ``{}``.

    Example:
        >>> proxies = ModelProxies()
        >>> proxies.count(torch.nn.Linear(3, 2))
        {'model/params': 8.0}
        >>> proxies.measure_flops(torch.nn.Linear(3, 2, bias=False), torch.zeros(4, 3), samples=4)
        {'model/flops_per_sample': 12.0}
        >>> proxies.wants_flops, proxies.to_dict()
        (False, {'params': 8, 'flops_per_sample': 12.0, 'flops_not_counted': None})
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.params: int | None = None
        self.flops: float | None = None  # NaN: the forward pass could not be counted
        self.flops_error: str | None = None  # why not: the forward pass's error

    @property
    def wants_flops(self) -> bool:
        """Whether the next suitable batch should be measured (enabled, not measured yet)."""
        return self.enabled and self.flops is None

    def count(self, module: torch.nn.Module) -> dict[str, float]:
        """``model/params`` of ``module`` (counted at every call: one callback may run other models); a count that
        changed is another model, whose FLOPs are measured again. ``{}`` when disabled."""
        if self.enabled:
            params = count_parameters(module)
            if params != self.params:
                self.params, self.flops, self.flops_error = params, None, None
        return {} if self.params is None else {metrics.PARAMS: float(self.params)}

    def measure_flops(
        self,
        module: torch.nn.Module,
        batch: Any,
        samples: int,
        paused: contextlib.AbstractContextManager[Any] | None = None,
        forward_fn: ForwardFn | None = None,
    ) -> dict[str, float]:
        """``model/flops_per_sample`` from one forward pass on ``batch`` of ``samples`` samples, inside ``paused``
        (e.g. :meth:`EnergyTracker.lent <ecopt_lightning.energy_tracker.EnergyTracker.lent>`: the extra pass
        is not the model's energy), run by ``forward_fn`` (the inference benchmark's, when it has one: the pass
        whose energy is measured) or :func:`default_forward`; ``{}`` when not wanted or the batch has no
        samples."""
        if not self.wants_flops or samples <= 0:
            return {}
        with paused if paused is not None else contextlib.nullcontext():
            try:
                self.flops, self.flops_error = flops_per_sample(module, batch, samples, forward_fn), None
            except Exception as exc:  # a model the default forward cannot call: the proxy is optional
                self.flops, self.flops_error = math.nan, f"{type(exc).__name__}: {exc}"
                warnings.warn(f"ecopt: FLOPs per sample not counted ({self.flops_error})", EnergyWarning, 3)
        return {metrics.FLOPS_PER_SAMPLE: self.flops}

    def to_dict(self) -> dict[str, Any]:
        """The summary's ``model`` entry: FLOPs ``None`` when not measured, or not counted (then
        ``flops_not_counted`` says why)."""
        flops = None if self.flops is None or math.isnan(self.flops) else self.flops
        return {"params": self.params, "flops_per_sample": flops, "flops_not_counted": self.flops_error}
