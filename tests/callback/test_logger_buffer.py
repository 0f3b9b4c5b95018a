"""LoggerBuffer on a real Trainer and CSVLogger, with no fit: callback_metrics at once, one row per step for the
loggers with each metric's last value, nothing non-finite published."""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger

from ecopt_lightning.logger_buffer import LoggerBuffer


def test_a_step_reaches_the_loggers_once_with_its_last_values(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path)
    trainer = Trainer(logger=logger, accelerator="cpu", enable_progress_bar=False, enable_model_summary=False)
    out = LoggerBuffer()
    out.publish(trainer, {"energy/a_J": 1.0, "energy/b_J": float("nan")}, step=0)
    out.publish(trainer, {"energy/a_J": 2.0, "energy/c_J": None}, step=0)
    assert float(trainer.callback_metrics["energy/a_J"]) == 2.0 and "energy/b_J" not in trainer.callback_metrics
    assert not Path(logger.log_dir, "metrics.csv").exists()  # step 0 is not over yet
    out.publish(trainer, {"energy/a_J": 3.0}, step=1)
    out.flush(trainer)
    with open(Path(logger.log_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["energy/a_J"]) for r in rows] == [("0", "2.0"), ("1", "3.0")]
    assert out.last == {"energy/a_J": 3.0}
