"""A tiny Lightning task for multi-fidelity sweeps: a small MLP on a separable problem with EnergyCallback only
(no multi-fidelity code in the app). ``flip=1`` trains on inverted labels, so its validation accuracy is poor
from the first epoch: with ``width=64`` it is clearly dominated on (val_acc, model/params)."""

from __future__ import annotations

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra_compat import MAIN_KWARGS
from lit import Tiny, fit
from omegaconf import DictConfig
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


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="rungs")
def main(cfg: DictConfig) -> dict:
    from ecopt_lightning.callback import EnergyCallback

    # two fixed, floor-free repeats: the benchmark runs after each fit, but no objective here is its value
    callback = EnergyCallback(inference_benchmark={"repeats": 2, "rel_precision": None, "min_window_s": 0.0})
    if not cfg.callback:
        from lightning.pytorch.callbacks import Callback

        callback = Callback()  # does nothing
    train = loader(128, 0, cfg.flip)

    def model() -> Tiny:
        if cfg.raise_at_epoch is not None:
            return RaisesAt(cfg.width, cfg.lr, cfg.raise_at_epoch)
        return (Diverged if cfg.nan else Tiny)(cfg.width, cfg.lr)

    # the job's energy_summary.json in its own Hydra output dir, where the sweeper reads it; summary_elsewhere: in
    # the launch dir, as an app that never sets default_root_dir (Hydra does not change the working dir)
    folder = None if cfg.summary_elsewhere else HydraConfig.get().runtime.output_dir
    trainer = fit(
        model,
        train,
        callback,
        max_epochs=cfg.epochs,
        num_sanity_val_steps=0,
        default_root_dir=folder,
    )
    params = sum(p.numel() for p in trainer.lightning_module.parameters())
    return {"model/params": params, **trainer.callback_metrics, "epochs_trained": trainer.current_epoch}


if __name__ == "__main__":
    main()
