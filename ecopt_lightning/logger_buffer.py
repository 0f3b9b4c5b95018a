"""Where the callback's metrics go: ``trainer.callback_metrics`` at once, every logger once their step is over.

Lightning loggers take one value per metric per step; the callback publishes a step's values from several hooks
(step, epoch, loop totals, benchmark), so the step's values are buffered and sent together, the last value of
each metric winning, when a value for another step comes or the entry point ends. Loggers are written on rank 0
only (values are reduced over ranks before they get here).

Example (a metric that was not measured is not published):
    >>> finite({"energy/total_J": 2.5, "energy/net_J": float("nan"), "carbon/total_gCO2e": None})
    {'energy/total_J': 2.5}
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

from .energy._notices import say_once


def finite(values: Mapping[str, float | None]) -> dict[str, float]:
    """``values`` without ``None``, NaN and infinities (a metric not measured is not published)."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


class LoggerBuffer:
    """The values of one global step not yet sent to the loggers, and the last value of every published metric."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}  # last value of every published metric
        self._pending: dict[str, float] = {}  # the values of step _pending_step not yet sent to the loggers
        self._pending_step: int | None = None
        #: names starting with these are not published (e.g. the energy metrics when nothing is measured)
        self.withheld: tuple[str, ...] = ()

    def publish(self, trainer: Trainer, values: Mapping[str, float | None], step: int) -> None:
        """Put ``values`` in ``trainer.callback_metrics`` now, and send them to every logger (rank 0) at global
        step ``step`` once that step is over: one value per metric per step, the step's last."""
        kept = {k: v for k, v in finite(values).items() if not k.startswith(self.withheld)}
        if not kept:
            return
        self.last.update(kept)
        callback_metrics = trainer.callback_metrics  # the trainer's own dict: updates stay until its next run
        for key, value in kept.items():
            callback_metrics[key] = torch.tensor(value, dtype=torch.float64)
        if step != self._pending_step:
            self.flush(trainer)
            self._pending_step = step
        self._pending.update(kept)

    @staticmethod
    def label(trainer: Trainer, labels: Mapping[str, str]) -> None:
        """Text ``labels`` as every logger's hyperparameters (rank 0): TensorBoard's ``hparams.yaml``, CSV's,
        MLflow's params, W&B's config. TensorBoard gets no ``hp_metric`` placeholder (it would add a metric and an
        HParams entry to a run that logged none); its UI does not read ``hparams.yaml``, so each label is also a
        text entry (its Text tab) at the global step. An MLflow run keeps a label it has (MLflow refuses to change
        a param): a warning says so when the new value differs."""
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(dict(labels), metrics={})
                for key, value in labels.items():
                    logger.experiment.add_text(key, value, global_step=trainer.global_step)
            elif isinstance(logger, MLFlowLogger):
                kept = logger.experiment.get_run(logger.run_id).data.params
                for key, value in labels.items():
                    if key in kept and kept[key] != value:
                        say_once(
                            f"mlflow-label:{logger.run_id}:{key}:{value}",
                            f"ecopt energy: MLflow run {logger.run_id} keeps its first {key} ({kept[key]!r}); these, "
                            f"{value!r}, are in this entry point's energy summary",
                        )
                new = {k: v for k, v in labels.items() if k not in kept}
                if new:
                    logger.log_hyperparams(new)
            else:
                logger.log_hyperparams(dict(labels))

    def flush(self, trainer: Trainer) -> None:
        """Send the buffered step's values to every logger (rank 0)."""
        if self._pending and self._pending_step is not None and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(dict(self._pending), step=self._pending_step)
                logger.save()
        self._pending = {}
