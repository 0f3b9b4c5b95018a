"""A tiny Lightning task for an end-to-end sweep: a linear classifier on random separable data, with
:class:`ecopt_lightning.callback.EnergyCallback`; returns ``trainer.callback_metrics`` (0-d tensors)."""

from __future__ import annotations

import hydra
import lightning as L
import torch
from hydra_compat import MAIN_KWARGS
from omegaconf import DictConfig
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Tiny(L.LightningModule):
    def __init__(self, width: int, lr: float) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self(x).argmax(-1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader(n: int, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="lit")
def main(cfg: DictConfig) -> dict:
    from ecopt_lightning.callback import EnergyCallback

    torch.manual_seed(0)
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        callbacks=[
            EnergyCallback(inference_benchmark={"repeats": 6, "max_repeats": 6, "min_window_s": 0.0}, proxies=False)
        ],
    )
    trainer.fit(Tiny(cfg.width, cfg.lr), loader(128, 0), loader(64, 1))
    return trainer.callback_metrics


if __name__ == "__main__":
    main()
