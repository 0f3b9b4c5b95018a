"""The models and data of ``rungs.py``, imported inside its task: a sweep refused before it launches a job then
ends without importing Lightning (most of a run's start-up)."""

from __future__ import annotations

import torch
from lit import Tiny
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override


class Diverged(Tiny):
    """Logs ``val_acc`` as NaN at every validation."""

    @override
    def validation_step(self, batch, batch_idx):
        self.log("val_acc", float("nan"))


class RaisesAt(Tiny):
    """Raises at the start of epoch ``epoch`` (counted from 0), after the rungs before it."""

    def __init__(self, width: int, lr: float, epoch: int) -> None:
        super().__init__(width, lr)
        self.epoch = epoch

    @override
    def on_train_epoch_start(self) -> None:
        if self.current_epoch == self.epoch:
            raise RuntimeError(f"raised at epoch {self.epoch}")


def loader(n: int, seed: int, flip: float = 0.0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long()
    flipped = torch.rand(n, generator=g) < flip
    return DataLoader(TensorDataset(x, torch.where(flipped, 1 - y, y)), batch_size=16)
