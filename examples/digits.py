"""The default main job's model and data: an MLP on scikit-learn's shipped digits (8x8 images, 10 classes).

No download: ``sklearn.datasets.load_digits`` ships with scikit-learn (1,797 samples).

Example:
    >>> dm = DigitsDataModule(batch_size=32)
    >>> dm.setup("fit")
    >>> model = DigitsClassifier(width=64, depth=2)
    >>> model(next(iter(dm.train_dataloader()))[0]).shape
    torch.Size([32, 10])
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override


def _check_count(key: str, value: object, least: int) -> None:
    """Refuse a non-integer or too small ``value`` of config ``key`` in one line (a search's ``interval(a, b)``
    gives floats, and ``nn.Linear`` or ``DataLoader`` would fail later, far from the cause)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(
            f"{key}={value!r} is not allowed: give an integer >= {least} (in a search: int(interval(a, b)), "
            "range(a, b) or choice(...))"
        )


class DigitsDataModule(L.LightningDataModule):
    """Digits split 60/20/20 (train/val/test) with a fixed seed; features scaled to [0, 1]."""

    def __init__(self, batch_size: int = 64, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        _check_count("data.batch_size", batch_size, 1)
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.splits: dict[str, TensorDataset] = {}

    @override
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x, dtype=torch.float32) / 16.0
        y = torch.tensor(y, dtype=torch.long)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
        n_train, n_val = int(0.6 * len(x)), int(0.2 * len(x))
        parts = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
        self.splits = {k: TensorDataset(x[idx], y[idx]) for k, idx in parts.items()}

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(self.splits[split], batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    @override
    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    @override
    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    @override
    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    @override
    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")


class DigitsClassifier(L.LightningModule):
    """An MLP of ``depth`` hidden layers of ``width`` units; logs ``val_acc``, ``val_loss``, ``test_acc``."""

    def __init__(
        self, width: int = 64, depth: int = 2, lr: float = 1e-3, dropout: float = 0.0, inputs: int = 64
    ) -> None:
        super().__init__()
        _check_count("model.width", width, 1)
        _check_count("model.depth", depth, 0)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"model.lr={lr!r} is not allowed: give a learning rate > 0")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"model.dropout={dropout!r} is not allowed: give a probability in [0, 1)")
        self.save_hyperparameters()
        layers: list[nn.Module] = []
        size = inputs  # digits' 8x8 pixels
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU(), nn.Dropout(dropout)]
            size = width
        layers.append(nn.Linear(size, 10))
        self.net = nn.Sequential(*layers)

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log(f"{stage}_loss", loss, prog_bar=stage != "train")
        self.log(f"{stage}_acc", acc, prog_bar=stage != "train")
        return loss

    @override
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    @override
    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    @override
    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    @override
    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).argmax(dim=1)

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])
