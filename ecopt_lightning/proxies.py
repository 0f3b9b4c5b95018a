"""Cheap proxies people use in place of energy: parameter count and FLOPs per sample.

They are logged beside the measured energy so that users can see when a proxy misleads (e.g. two models
with equal FLOPs but different energy per sample).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

import torch
from torch.utils.flop_counter import FlopCounterMode

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
    try:
        from lightning.pytorch import LightningModule
    except ImportError:  # pragma: no cover - lightning is a dependency
        return False
    return isinstance(module, LightningModule) and type(module).predict_step is not LightningModule.predict_step


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
