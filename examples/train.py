"""The default main job: train an MLP on scikit-learn's digits with `EnergyCallback` and return its metrics.

One run:            python examples/train.py model.width=128
The sweep (README): python examples/train.py -m hydra/sweeper=ecopt

The returned dict holds `val_acc`, `test_acc`, `energy/inference_per_sample_J`, `energy/total_J` and the rest of
`trainer.callback_metrics`, as floats; the ecopt sweeper reads its objectives from it.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits import DigitsClassifier, DigitsDataModule

from ecopt_lightning import EnergyCallback, check_before_training
from ecopt_lightning.metrics import energy_note


def quiet_lightning() -> None:
    """Keep Lightning's per-run banners out of the sweep's output ("GPU available", "💡 Tip", "Seed set to",
    "`Trainer.fit` stopped"); its warnings still show, except torch's LeafSpec deprecation inside Lightning."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def run(cfg: DictConfig) -> dict[str, float]:
    """Fit, test and measure inference energy for one configuration; return every metric as a float (no test,
    and no ``test_*`` metric, for a trial a multi-fidelity sweep stopped at a rung)."""
    benchmark = cfg.energy.inference_benchmark
    if benchmark is not None and not isinstance(benchmark, bool):  # a misspelt 'flase' is a string: true
        raise ValueError(f"energy.inference_benchmark={benchmark!r} is not allowed: give true or false (null: off)")
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True)
    data = DigitsDataModule(batch_size=cfg.data.batch_size, seed=cfg.seed)
    model = DigitsClassifier(width=cfg.model.width, depth=cfg.model.depth, lr=cfg.model.lr, dropout=cfg.model.dropout)
    energy = EnergyCallback(
        inference_benchmark=(
            {
                "warmup_batches": cfg.energy.warmup_batches,
                "repeats": cfg.energy.repeats,
                "rel_precision": cfg.energy.rel_precision,
                "max_repeats": cfg.energy.max_repeats,
                "max_seconds": cfg.energy.max_seconds,
                "keep_for_confirm": cfg.energy.keep_for_confirm,
                "threads": cfg.energy.threads,
            }
            if cfg.energy.inference_benchmark
            else None
        ),
    )
    trainer = L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        callbacks=[energy],
        default_root_dir=".",
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    data.setup("fit")
    # in a sweep with hydra.sweeper.prune_before_training=true, a model whose untrained inference energy already
    # breaks a constraint is pruned here, before any training energy is spent; elsewhere this does nothing
    # on the device the trainer runs on (trainer.accelerator=cpu on a GPU machine: the CPU), as the benchmark after fit
    # and on the benchmark's torch threads
    check_before_training(model, data.val_dataloader(), device=trainer.strategy.root_device, threads=cfg.energy.threads)
    trainer.fit(model, datamodule=data)
    metrics = _floats(trainer.callback_metrics)  # test() replaces callback_metrics: keep fit's
    if energy.stopped_at_rung is None:  # a trial a multi-fidelity sweep stopped at a rung is discarded: no test
        trainer.test(model, datamodule=data, verbose=False)
        metrics.update(_floats(trainer.callback_metrics))
    return metrics


def _floats(metrics) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v.numel() == 1}


#: what a single run prints at its end (a sweep prints its own line per trial)
SHOWN = ("val_acc", "test_acc", "energy/inference_per_sample_J", "energy/total_J")


def result_line(metrics: dict[str, float], folder: str) -> str:
    """The single run's closing line: its main metrics, how much of their energy is estimated, and where its files
    are.

    Example:
        >>> m = {"val_acc": 0.93591, "energy/total_J": 14.0, "energy/estimated_fraction": 1.0, "other": 1.0}
        >>> result_line(m, "x")
        'val_acc=0.9359 energy/total_J=14 (energy: 100% ESTIMATED, not measured); logs and energy_summary.json under x'
        >>> result_line({**m, "energy/estimated_fraction": 0.0}, "x").split(";")[0]
        'val_acc=0.9359 energy/total_J=14 (energy: measured)'
    """
    shown = " ".join(f"{k}={metrics[k]:.4g}" for k in SHOWN if k in metrics)
    shown += energy_note(metrics)
    return f"{shown}; logs and energy_summary.json under {folder}"


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float]:
    metrics = run(cfg)
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.RUN:
        print(result_line(metrics, hydra_cfg.runtime.output_dir))
    return metrics


if __name__ == "__main__":
    main()
