"""A tiny Lightning task for multi-fidelity sweeps: a small MLP on a separable problem with EnergyCallback only
(no multi-fidelity code in the app). ``flip=1`` trains on inverted labels, so its validation accuracy is poor
from the first epoch: with ``width=64`` it is clearly dominated on (val_acc, model/params). The models
(``rung_models.py``) and Lightning are imported inside the task: a sweep refused before it launches a job ends
without importing them."""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra_compat import MAIN_KWARGS
from omegaconf import DictConfig


@hydra.main(**MAIN_KWARGS, config_path="conf", config_name="rungs")
def main(cfg: DictConfig) -> dict:
    from lit import Tiny, fit
    from rung_models import Diverged, RaisesAt, loader

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
