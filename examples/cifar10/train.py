"""The ECOpt paper's CIFAR-10 experiment as a Hydra app: train a plain CNN with ``EnergyCallback``, test it.

Returns the trainer's metrics as floats (``test_acc``, ``energy/inference_per_sample_J`` in J,
``energy/total_J`` in J, ...), so ``-m hydra/sweeper=ecopt`` tunes it.

Run:
    python examples/cifar10/train.py data.download=true                        # one model, real CIFAR-10
    python examples/cifar10/train.py data.fake=true trainer.max_epochs=1       # FakeData, no download
    python examples/cifar10/train.py -m hydra/sweeper=ecopt +search=paper data.download=true
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `examples.cifar10` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import hydra
import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from ecopt_lightning import EnergyCallback, check_before_training
from ecopt_lightning.metrics import BENCHMARK_THREADS, INFERENCE_PER_SAMPLE_J, energy_note
from examples.cifar10.data import Cifar10DataModule
from examples.cifar10.model import PlainCnn

#: ``test_ckpt``: test the checkpoint with the lowest ``val_loss``, or the weights fit ended with
TEST_CKPTS = ("best", "last")


def quiet_lightning() -> None:
    """Keep Lightning's per-run banners out of the sweep's output ("GPU available", "💡 Tip", "Seed set to",
    "`Trainer.fit` stopped"); its warnings still show, except torch's LeafSpec deprecation inside Lightning."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def as_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``trainer.callback_metrics`` (tensors) as plain floats, non-numbers and NaN left out."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):
            continue
        if not math.isnan(number):
            out[key] = number
    return out


def kwargs(node: DictConfig) -> dict[str, Any]:
    """A config node as keyword arguments (plain dicts and lists, interpolations resolved)."""
    return {str(k): v for k, v in OmegaConf.to_container(node, resolve=True).items()}  # type: ignore[union-attr]


def run(cfg: DictConfig) -> dict[str, float]:
    """Fit with early stopping on ``val_loss``, measure inference energy, test (not a trial a multi-fidelity sweep
    stopped at a rung); return every metric."""
    if cfg.test_ckpt not in TEST_CKPTS:
        raise ValueError(f"test_ckpt={cfg.test_ckpt!r} is not allowed: one of {', '.join(TEST_CKPTS)}")
    patience = cfg.early_stopping.patience
    if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:  # int() read 2.5 as 2
        raise ValueError(f"early_stopping.patience={patience!r} is not allowed: give an integer >= 0 (epochs)")
    quiet_lightning()
    L.seed_everything(int(cfg.seed), workers=True)
    out = Path(str(cfg.output_dir))
    datamodule = Cifar10DataModule(**kwargs(cfg.data))
    model = PlainCnn(**kwargs(cfg.model), lr=cfg.optim.lr)
    energy = EnergyCallback(**kwargs(cfg.energy), summary_path=out / "energy_summary.json")
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", monitor="val_loss", mode="min", save_top_k=1)
    trainer = L.Trainer(
        **kwargs(cfg.trainer),
        callbacks=[energy, EarlyStopping("val_loss", patience=patience), checkpoint],
        logger=CSVLogger(out, name="logs"),
        default_root_dir=out,
    )
    datamodule.setup("fit")
    # with hydra.sweeper.prune_before_training=true, a model whose untrained inference energy already breaks a
    # constraint is pruned here, before any training energy is spent; elsewhere this does nothing
    # on the device the trainer runs on (trainer.accelerator=cpu on a GPU machine: the CPU), as the benchmark after fit
    # and on the benchmark's torch threads, in the trainer's precision (bf16-mixed: autocast), as the benchmark
    bench = kwargs(cfg.energy).get("inference_benchmark")
    check_before_training(
        model,
        datamodule.val_dataloader(),
        device=trainer.strategy.root_device,
        threads=bench.get("threads", BENCHMARK_THREADS) if isinstance(bench, dict) else BENCHMARK_THREADS,
        context=trainer.precision_plugin.predict_step_context,
    )
    trainer.fit(model, datamodule=datamodule)
    metrics = as_floats(trainer.callback_metrics)  # fit's metrics; test() starts a new run of the trainer
    if energy.stopped_at_rung is None:  # a trial a multi-fidelity sweep stopped at a rung is discarded: no test
        ckpt = "best" if cfg.test_ckpt == "best" and checkpoint.best_model_path else None
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
        metrics.update(as_floats(trainer.callback_metrics))
    per_sample = metrics.get(INFERENCE_PER_SAMPLE_J)
    print(
        f"cifar10 filters={model.hparams['filters']} depth={model.hparams['depth']} "
        f"kernel={model.hparams['kernel_size']} pool={model.hparams['pool']}: "
        + (
            f"test_acc={metrics.get('test_acc', math.nan):.4f}, "
            if energy.stopped_at_rung is None
            else f"stopped at the rung at epoch {energy.stopped_at_rung}, not tested, "
        )
        + (
            f"{per_sample:.4g} J per inference sample{energy_note(metrics)}"
            if per_sample is not None
            else "no J per inference sample (energy.inference_benchmark is null, or nothing measured it)"
        )
        + f"; energy_summary.json, CSV logs and the best checkpoint under {out}"
    )
    return metrics


@hydra.main(version_base=None, config_path="conf", config_name="cifar10")
def main(cfg: DictConfig) -> dict[str, float]:
    return run(cfg)


if __name__ == "__main__":
    main()
