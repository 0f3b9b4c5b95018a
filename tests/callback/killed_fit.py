"""A fit that SIGKILLs its own process at a given optimizer step, as the OOM killer or a cluster's time limit
ends a job: no hook runs after. Each training batch first puts 1 J into the fake RAPL package, so the energy of
every step is known exactly (J).

Usage: ``python -m tests.callback.killed_fit FOLDER KILL_AT_STEP [SETUP_J]`` (the summary goes to
``FOLDER/energy_summary.json``; ``SETUP_J`` joules are put into the package at the fit's start).
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from typing_extensions import override

from ecopt_lightning.callback import EnergyCallback
from tests.callback.models import TinyModel
from tests.doubles.fake_powercap import FakePowercap

JOULES_PER_STEP = 1.0
EPOCHS = 3


class PowerThenKill(Callback):
    def __init__(self, cap: FakePowercap, kill_at_step: int, setup_J: float = 0.0) -> None:
        self.cap = cap
        self.kill_at_step = kill_at_step
        self.setup_J = setup_J

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.cap.add("cpu:0", self.setup_J)  # the fit's set-up, before its first batch

    @override
    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self.cap.add("cpu:0", JOULES_PER_STEP)

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)


def main(folder: Path, kill_at_step: int, setup_J: float = 0.0) -> None:
    cap = FakePowercap(folder / "powercap", psys=False)
    os.environ["ECOPT_POWERCAP_ROOT"] = str(cap.root)  # read when the callback opens its monitor
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    trainer = Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[
            PowerThenKill(cap, kill_at_step, setup_J),
            EnergyCallback(cpu="rapl", proxies=False, summary_path=folder / "energy_summary.json"),
        ],
    )
    trainer.fit(TinyModel())


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:4]))
