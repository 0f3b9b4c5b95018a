"""The paper's plain CNN for CIFAR-10: ``depth`` convolution blocks of ``filters`` channels, then a linear head.

Search space (the ECOpt paper): filters 1..128, depth 1..6, kernel size in {1, 3, 5, 7, 9}, optional 2x2
max pooling after each block but the first; trained with Adam at learning rate 1e-3.

Example:
    >>> model = PlainCnn(filters=8, depth=3, kernel_size=3, pool=True)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> model.spatial_size  # 32 -> pooled after blocks 2 and 3
    8
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from typing_extensions import override

KERNEL_SIZES = (1, 3, 5, 7, 9)


class PlainCnn(L.LightningModule):
    """Conv(k x k, same padding) + ReLU blocks, optional 2x2 max pooling after each block but the first.

    Args:
        filters: channels of every convolution (1..128 in the paper).
        depth: number of blocks (1..6).
        kernel_size: odd kernel size, one of 1, 3, 5, 7, 9.
        pool: 2x2 max pooling after blocks 2..depth (skipped once the feature map is 1 x 1).
        lr: Adam learning rate.
        num_classes, in_channels, image_size: the data's shape (CIFAR-10: 10, 3, 32).
    """

    def __init__(
        self,
        filters: int = 32,
        depth: int = 3,
        kernel_size: int = 3,
        pool: bool = True,
        lr: float = 1e-3,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        for name, value in (("filters", filters), ("depth", depth)):
            if not isinstance(value, int) or isinstance(value, bool):  # interval(...) without int() gives floats
                raise ValueError(
                    f"model.{name}={value!r} is not allowed: give an integer (in a search: int(interval(a, b)) or "
                    "range(a, b))"
                )
        if not 1 <= filters <= 1024:
            raise ValueError(f"model.filters={filters!r} is not allowed: give an integer in 1..1024 (paper: 1..128)")
        if not 1 <= depth <= 12:
            raise ValueError(f"model.depth={depth!r} is not allowed: give an integer in 1..12 (paper: 1..6)")
        # 3.0 == 3 and True == 1: a float or a bool passed this test, then failed deep inside Conv2d
        if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or kernel_size not in KERNEL_SIZES:
            raise ValueError(f"model.kernel_size={kernel_size!r} is not allowed: one of {KERNEL_SIZES}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:  # Adam refused it mid-fit
            raise ValueError(f"optim.lr={lr!r} is not allowed: give a learning rate > 0")
        if not isinstance(pool, bool):  # a misspelt model.pool=flase is a string, and any string is true
            raise ValueError(f"model.pool={pool!r} is not allowed: give true or false")
        self.save_hyperparameters()
        layers: list[nn.Module] = []
        size, channels = image_size, in_channels
        for block in range(depth):
            layers += [nn.Conv2d(channels, filters, kernel_size, padding=kernel_size // 2), nn.ReLU()]
            channels = filters
            if pool and block > 0 and size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.features = nn.Sequential(*layers)
        self.spatial_size = size
        self.head = nn.Linear(filters * size * size, num_classes)
        self.lr = lr

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log(f"{stage}_loss", loss, prog_bar=stage == "val")
        self.log(f"{stage}_acc", acc, prog_bar=stage != "train")
        return loss

    @override
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    @override
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    @override
    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    @override
    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch[0]).argmax(dim=1)

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
