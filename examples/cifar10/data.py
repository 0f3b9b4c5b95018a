"""CIFAR-10 for the paper's experiment: 40k/10k train/validation split of the training set, 10k test images.

The real data set is downloaded by torchvision only when asked (``download=True``, about 170 MB); ``fake=True``
uses ``torchvision.datasets.FakeData`` of the same shape (3 x 32 x 32, 10 classes) for tests and dry runs.

Example:
    >>> dm = Cifar10DataModule(fake=True, fake_sizes=(50, 10), batch_size=8)
    >>> dm.setup("fit")
    >>> x, y = next(iter(dm.train_dataloader()))
    >>> tuple(x.shape), len(dm.splits["train"]), len(dm.splits["val"])
    ((8, 3, 32, 32), 40, 10)
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, random_split
from torchvision import datasets, transforms
from typing_extensions import override

#: Per-channel mean and standard deviation of the CIFAR-10 training images.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
TRAIN_SIZE = 50_000


def _is_count(value: object, least: int) -> bool:
    """``value`` is an integer (not a bool) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _fake_val_size(n_train: int, val_size: int) -> int:
    """Validation images of ``n_train`` FakeData training images: CIFAR-10's share, ``val_size`` of 50,000."""
    return round(n_train * val_size / TRAIN_SIZE)


class Cifar10DataModule(L.LightningDataModule):
    """CIFAR-10 (or FakeData) with a seeded train/validation split.

    Args:
        root: where CIFAR-10 is (or is downloaded to).
        download: download CIFAR-10 through torchvision if it is not under ``root``.
        fake: use FakeData instead (no file access); ``fake_sizes``: its (train, test) sizes.
        batch_size: samples per batch (the paper: 64).
        val_size: images of the training set held out for validation (the paper: 10,000 of 50,000); with
            ``fake`` the same fraction of ``fake_sizes[0]`` is used.
        seed: seed of the split.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        root: str = "data/cifar10",
        download: bool = False,
        fake: bool = False,
        fake_sizes: tuple[int, int] = (1000, 200),
        batch_size: int = 64,
        val_size: int = 10_000,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        for name, flag in (("download", download), ("fake", fake)):
            if not isinstance(flag, bool):  # a misspelt data.fake=flase is a string, and any string is true
                raise ValueError(f"data.{name}={flag!r} is not allowed: give true or false")
        # a string or a float failed later with "'<' not supported ..." or inside DataLoader, naming no key
        if not _is_count(batch_size, 1):
            raise ValueError(f"data.batch_size={batch_size!r} is not allowed: give an integer >= 1")
        if not _is_count(val_size, 1) or not val_size < TRAIN_SIZE:
            raise ValueError(f"data.val_size={val_size!r} is not allowed: give an integer in 1..{TRAIN_SIZE - 1}")
        if not _is_count(num_workers, 0):
            raise ValueError(f"data.num_workers={num_workers!r} is not allowed: give an integer >= 0 (0: no workers)")
        sizes = tuple(fake_sizes)
        if len(sizes) != 2 or not all(_is_count(n, 1) for n in sizes):
            raise ValueError(f"data.fake_sizes={list(sizes)!r} is not allowed: give [train, test], two integers >= 1")
        if fake and not 1 <= _fake_val_size(sizes[0], val_size) < sizes[0]:  # Lightning failed on an empty split
            least = next(n for n in range(2, 2 * TRAIN_SIZE) if 1 <= _fake_val_size(n, val_size) < n)
            raise ValueError(
                f"data.fake_sizes={list(sizes)!r} is not allowed with data.val_size={val_size}: "
                f"{_fake_val_size(sizes[0], val_size)} of its {sizes[0]} training images would be for validation; "
                f"give at least {least} training images"
            )
        self.root = Path(root)
        self.download = download
        self.fake = fake
        self.fake_sizes = tuple(fake_sizes)
        self.batch_size = batch_size
        self.val_size = val_size
        self.seed = seed
        self.num_workers = num_workers
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
        self.splits: dict[str, Dataset] = {}

    def _datasets(self) -> tuple[Dataset, Dataset]:
        if self.fake:
            n_train, n_test = self.fake_sizes
            common = {"image_size": (3, 32, 32), "num_classes": 10, "transform": self.transform}
            # distinct offsets: the test images are not copies of the training images
            return datasets.FakeData(n_train, **common), datasets.FakeData(n_test, random_offset=n_train, **common)
        try:
            train = datasets.CIFAR10(str(self.root), train=True, download=self.download, transform=self.transform)
            test = datasets.CIFAR10(str(self.root), train=False, download=self.download, transform=self.transform)
        except OSError as exc:  # URLError, a refused connection: no network, or a proxy in the way
            raise RuntimeError(
                f"CIFAR-10 could not be downloaded into {self.root.resolve()} ({exc}). Check the network, set "
                "data.root to where CIFAR-10 already is, or use data.fake=true for a run on FakeData."
            ) from exc
        except RuntimeError as exc:
            raise RuntimeError(
                f"CIFAR-10 is not under {self.root.resolve()} ({exc}). Run with data.download=true to fetch it "
                "(about 170 MB), set data.root to where it is, or use data.fake=true for a run on FakeData."
            ) from exc
        return train, test

    @override
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train, test = self._datasets()
        n = len(train)  # type: ignore[arg-type]
        n_val = _fake_val_size(n, self.val_size) if self.fake else self.val_size
        parts = random_split(train, [n - n_val, n_val], generator=torch.Generator().manual_seed(self.seed))
        self.splits = {"train": parts[0], "val": parts[1], "test": test}

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

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
