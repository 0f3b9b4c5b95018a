"""A second job for the multi-fidelity benchmark: the digits main job's MLP on MNIST-1D, generated offline.

MNIST-1D (Greydanus, 2020; PyPI ``mnist1d``) draws 5,000 one-dimensional signals of length 40 from ten digit-like
templates (shifts, shear, noise): ``make_dataset`` builds it locally from the package's code, no download. It
is harder than scikit-learn's digits for an MLP (about 0.4 to 0.75 accuracy, against 0.9 to 0.99) and its
accuracy keeps rising over tens of epochs, so a random sweep needs more trials to find a near-final front: the
setting where successive halving can save most (benchmarks/README.md, issue 20).

The data is generated once per benchmark run (:func:`generate`, about 1 s) and every trial loads the file
(:data:`DATA_ENV`), so a trial's fixed cost is not inflated by it. The split follows the digits job's: the
package's 4,000 training signals 80/20 into train and validation by ``seed``, its 1,000 test signals as test.

Example:
    >>> import tempfile, pathlib
    >>> path = generate(pathlib.Path(tempfile.mkdtemp()) / "mnist1d.npz")
    >>> dm = Mnist1dDataModule(batch_size=32, path=path)
    >>> dm.setup("fit")
    >>> {k: len(v) for k, v in dm.splits.items()}, dm.splits["train"][0][0].shape
    ({'train': 3200, 'val': 800, 'test': 1000}, torch.Size([40]))
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset
from typing_extensions import override

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from digits import DigitsDataModule

#: the environment variable that names the generated data file for the trials (set by benchmarks/multi_fidelity.py)
DATA_ENV = "ECOPT_BENCH_MNIST1D"
#: input features of one signal
FEATURES = 40


def generate(path: Path) -> Path:
    """MNIST-1D with the package's default arguments (5,000 signals, seed 42), saved to ``path`` (``.npz``)."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=data["x"], y=data["y"], x_test=data["x_test"], y_test=data["y_test"])
    return path


class Mnist1dDataModule(DigitsDataModule):
    """MNIST-1D from ``path`` (default: ``$ECOPT_BENCH_MNIST1D``): train/val 80/20 of the training signals by
    ``seed``, test the package's test signals; the loaders are the digits job's."""

    def __init__(self, batch_size: int = 64, seed: int = 0, num_workers: int = 0, path: Path | None = None) -> None:
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        self.path = Path(path or os.environ[DATA_ENV])

    @override
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        with np.load(self.path) as data:
            x, y = torch.tensor(data["x"], dtype=torch.float32), torch.tensor(data["y"], dtype=torch.long)
            x_test = torch.tensor(data["x_test"], dtype=torch.float32)
            y_test = torch.tensor(data["y_test"], dtype=torch.long)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
        n_train = int(0.8 * len(x))
        train, val = order[:n_train], order[n_train:]
        self.splits = {
            "train": TensorDataset(x[train], y[train]),
            "val": TensorDataset(x[val], y[val]),
            "test": TensorDataset(x_test, y_test),
        }


def use_in(train_module) -> None:
    """Make ``examples/train.py``'s ``run`` fit on MNIST-1D: its data module and its classifier's 40 inputs."""
    from functools import partial

    train_module.DigitsDataModule = Mnist1dDataModule
    train_module.DigitsClassifier = partial(train_module.DigitsClassifier, inputs=FEATURES)
