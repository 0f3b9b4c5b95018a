"""A tiny Lightning task for an end-to-end sweep: a linear classifier on random separable data, with
:class:`ecopt_lightning.callback.EnergyCallback`; returns ``trainer.callback_metrics`` (0-d tensors). With
``ctrl_c_marker`` set, the first job presses Ctrl-C on itself during training.

:func:`fit` is the fit the test apps share (this one, ``faulty.py``, ``cluster_job.py``, ``rungs.py``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra_compat import MAIN_KWARGS
from omegaconf import DictConfig
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override


class Tiny(L.LightningModule):
    def __init__(self, width: int, lr: float) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))
        self.lr = lr

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @override
    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    @override
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self(x).argmax(-1) == y).float().mean())

    @override
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class PressesCtrlC(Tiny):
    """Sends its own process SIGINT at the second training batch, as Ctrl-C in a terminal would (once: it writes
    ``marker`` first)."""

    def __init__(self, width: int, lr: float, marker: str) -> None:
        super().__init__(width, lr)
        self.marker = Path(marker)

    @override
    def training_step(self, batch, batch_idx):
        if batch_idx == 1 and not self.marker.exists():
            self.marker.write_text("pressed")
            os.kill(os.getpid(), signal.SIGINT)
        return super().training_step(batch, batch_idx)


def loader(n: int, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)


def fit(
    model: Callable[[], L.LightningModule],
    train: DataLoader,
    callback: L.Callback,
    *,
    max_epochs: int = 1,
    monitor: Any = None,
    **trainer_kwargs: Any,
) -> L.Trainer:
    """Seed 0, then fit ``model()`` on the CPU on ``train`` (validation: ``loader(64, 1)``) with ``callback`` alone:
    no logger, checkpoints, progress bar or model summary. ``monitor`` (an ``EnergyMonitor`` the app made) is
    closed afterwards, also when fit raises. Returns the trainer."""
    torch.manual_seed(0)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        callbacks=[callback],
        **trainer_kwargs,
    )
    try:
        trainer.fit(model(), train, loader(64, 1))
    finally:
        if monitor is not None:
            monitor.close()
    return trainer


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="lit")
def main(cfg: DictConfig) -> dict:
    from ecopt_lightning.callback import EnergyCallback

    benchmark = {"repeats": 6, "max_repeats": 6, "min_window_s": 0.0}
    callback = EnergyCallback(
        inference_benchmark=benchmark, proxies=False, carbon_region=cfg.carbon_region, pue=cfg.pue
    )

    def model() -> L.LightningModule:
        return PressesCtrlC(cfg.width, cfg.lr, cfg.ctrl_c_marker) if cfg.ctrl_c_marker else Tiny(cfg.width, cfg.lr)

    # the job's files (energy_summary.json) in its own Hydra output dir, as the main job's chdir does
    folder = HydraConfig.get().runtime.output_dir
    return fit(model, loader(128, 0), callback, default_root_dir=folder).callback_metrics


if __name__ == "__main__":
    main()
