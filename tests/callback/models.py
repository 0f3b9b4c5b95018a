"""Tiny models and data for real Trainer runs on CPU (importable, so ddp_spawn can pickle them)."""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override

from ecopt_lightning import _lightning_compat as compat
from tests.doubles.fake_powercap import FakePowercap


def loader(n: int = 64, batch_size: int = 8, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    y = (x.sum(dim=1) > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


class TinyModel(LightningModule):
    """A 16-32-2 MLP; ``fail_at`` raises ``RuntimeError(message)`` in that global training batch; ``val_loaders``
    validation sets."""

    def __init__(
        self,
        val_loaders: int = 1,
        fail_at: int | None = None,
        manual: bool = False,
        message: str = "boom: injected failure",
    ) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        self.val_loaders = val_loaders
        self.fail_at = fail_at
        self.message = message
        self.automatic_optimization = not manual
        self.seen = 0

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @override
    def training_step(self, batch, batch_idx):
        if self.fail_at is not None and self.seen == self.fail_at:
            raise RuntimeError(self.message)
        self.seen += 1
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        if not self.automatic_optimization:
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            return None
        return loss

    @override
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

    @override
    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", torch.nn.functional.cross_entropy(self(x), y))

    @override
    def predict_step(self, batch, batch_idx):
        return self(batch[0])

    @override
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    @override
    def train_dataloader(self):
        return loader(64, 8, seed=0)

    @override
    def val_dataloader(self):
        loaders = [loader(32, 8, seed=1 + i) for i in range(self.val_loaders)]
        return loaders[0] if self.val_loaders == 1 else loaders

    @override
    def test_dataloader(self):
        return loader(24, 8, seed=9)

    @override
    def predict_dataloader(self):
        return loader(24, 6, seed=10)


class RankValLoss(TinyModel):
    """Logs a fixed ``val_loss`` per rank, ``values[rank]``, unsynchronised: each rank ranks differently."""

    def __init__(self, values: tuple[float, ...]) -> None:
        super().__init__()
        self.values = values

    @override
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.log("val_loss", self.values[self.global_rank])


class RaiseOnRank(TinyModel):
    """Raises ``RuntimeError(message)`` on rank ``rank`` alone, in its training batch ``batch_idx`` of epoch
    ``epoch`` (an event, not a time); the other ranks run on into their next collective."""

    def __init__(self, rank: int, epoch: int, batch_idx: int) -> None:
        super().__init__()
        self.fail_rank, self.fail_epoch, self.fail_batch = rank, epoch, batch_idx

    @override
    def training_step(self, batch, batch_idx):
        if (self.global_rank, self.current_epoch, batch_idx) == (self.fail_rank, self.fail_epoch, self.fail_batch):
            raise RuntimeError(self.message)
        return super().training_step(batch, batch_idx)


class OddSizes(TinyModel):
    """61 training samples (2 ranks: padded to 62) and 25 to predict (not padded), batches of 8 and 6."""

    @override
    def train_dataloader(self):
        return loader(61, 8, seed=0)

    @override
    def predict_dataloader(self):
        return loader(25, 6, seed=10)


class RankRecord(Callback):
    """Writes each rank's end of fit (epochs and steps done, ``should_stop``) to ``folder/rank<r>.json``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        record = {
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "should_stop": trainer.should_stop,
            "rung_status": [c.summary()["status"] for c in trainer.callbacks if hasattr(c, "summary")],
        }
        (Path(self.folder) / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class RecordLaunch(Callback):
    """Writes whether :func:`ecopt_lightning._lightning_compat.spawned_rank` and its public fallback take this rank
    for one that ``ddp_spawn`` started, at fit start, to ``FOLDER/launch_rank{N}.json``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        record = {"private": compat.spawned_rank(trainer), "public": compat.spawned_rank_public(trainer)}
        (Path(self.folder) / f"launch_rank{trainer.global_rank}.json").write_text(json.dumps(record))


class RecordGroupAtExit(Callback):
    """Writes ``FOLDER/exit_rank<N>.txt`` at the rank's interpreter exit: ``open`` or ``closed``, the default
    process group's state then. Put it before EnergyCallback: exit handlers run last-registered first, so it runs
    after any the callback registers."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        path = Path(self.folder) / f"exit_rank{trainer.global_rank}.txt"
        atexit.register(lambda: path.write_text("open" if torch.distributed.is_initialized() else "closed"))


class _FailingReads:
    """Wraps a meter: every read gives ``cpu:0`` as failed (a sensor lost)."""

    def __init__(self, meter) -> None:
        self.meter = meter
        self.sources = meter.sources
        self.update_period_s = meter.update_period_s

    def read(self):
        reading = self.meter.read()
        reading.energy_J.pop("cpu:0", None)
        reading.errors["cpu:0"] = "injected: sensor lost"
        return reading

    def close(self) -> None:
        self.meter.close()


class LoseCpuOnRank(Callback):
    """On rank ``rank`` only, the EnergyCallback's ``cpu:0`` reads fail from training batch ``start`` to batch
    ``stop`` (exclusive): its windows there are invalid, and the sensor is back by the end of fit."""

    def __init__(self, rank: int, start: int = 1, stop: int = 2) -> None:
        self.rank, self.start, self.stop = rank, start, stop
        self.saved: list | None = None

    @override
    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_rank != self.rank:
            return
        monitor = next(c.monitor for c in trainer.callbacks if hasattr(c, "tracker"))
        if batch_idx == self.start:
            self.saved = monitor.meters
            monitor.meters = [_FailingReads(m) for m in monitor.meters]
        elif batch_idx == self.stop and self.saved is not None:
            monitor.meters = self.saved


class RaplMoves(Callback):
    """Put after EnergyCallback: 1 J on the fake RAPL package counter at each entry point's set-up (an event), so
    that its meter sees the counter move; one never seen moving is frozen, by time (monitor.py), which a test whose
    subject is elsewhere must not depend on."""

    def __init__(self, cap: FakePowercap) -> None:
        self.cap = cap

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.cap.add("cpu:0", 1.0)


class PowercapOnRank(Callback):
    """Before the EnergyCallback opens its meters: on rank ``rank`` only, a fake powercap tree under ``folder``
    becomes the RAPL root, so that rank counts its CPU with RAPL and the others with the estimate (as on two nodes
    of which one has no readable RAPL). Put it before the EnergyCallback."""

    def __init__(self, rank: int, folder: str) -> None:
        self.rank, self.folder = rank, folder

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.global_rank == self.rank:
            self.cap = FakePowercap(Path(self.folder) / f"rank{self.rank}")
            os.environ["ECOPT_POWERCAP_ROOT"] = str(self.cap.root)

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_rank == self.rank:  # seen moving (as RaplMoves), before the EnergyCallback's idle baseline
            self.cap.add("cpu:0", 1.0)


class SetUpWork(TinyModel):
    """Puts a known energy on the fake RAPL package counter at each hook (an event, not a time): 20 J in
    ``setup``, 30 J in ``configure_model``, 50 J in ``on_fit_start``, 1 J per batch; :attr:`added` sums them by
    hook, the batches by loop (``train``, ``sanity``, ``val``, ``test``, ``predict``)."""

    def __init__(self, cap: FakePowercap) -> None:
        super().__init__()
        self.cap = cap
        self.added: dict[str, float] = {}

    def _spend(self, hook: str, joules: float) -> None:
        self.cap.add("cpu:0", joules)
        self.added[hook] = self.added.get(hook, 0.0) + joules

    @override
    def setup(self, stage: str) -> None:
        self._spend("setup", 20.0)

    @override
    def configure_model(self) -> None:
        self._spend("configure_model", 30.0)

    @override
    def on_fit_start(self) -> None:
        self._spend("on_fit_start", 50.0)

    @override
    def training_step(self, batch, batch_idx):
        self._spend("train", 1.0)
        return super().training_step(batch, batch_idx)

    @override
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self._spend("sanity" if self.trainer.sanity_checking else "val", 1.0)
        return super().validation_step(batch, batch_idx, dataloader_idx)

    @override
    def test_step(self, batch, batch_idx):
        self._spend("test", 1.0)
        return super().test_step(batch, batch_idx)

    @override
    def predict_step(self, batch, batch_idx):
        self._spend("predict", 1.0)
        return super().predict_step(batch, batch_idx)
