"""Run real Trainers on CPU and read back what the loggers wrote."""

from __future__ import annotations

import csv
import json
import struct
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch import __version__ as lightning_version
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from packaging.version import Version

#: Lightning before 2.5 runs a step again when resumed from a checkpoint saved inside an epoch (its batch counters
#: were restored one behind: Lightning-AI/pytorch-lightning#20379, released in 2.5.0; under 2.2 the resumed timeline
#: trains 17 steps, not 16, and a checkpoint at an epoch's last step resumes inside that epoch). These tests count
#: the steps and epoch ends of 2.5 and later; the callback counts whatever steps Lightning runs (.ci/oldest)
STEP_COUNTERS_CONSISTENT = pytest.mark.skipif(
    Version(lightning_version) < Version("2.5"),
    reason="Lightning < 2.5 runs a step again on resume from a checkpoint inside an epoch (its PR #20379)",
)


def make_trainer(root: Path, callbacks: list, loggers: bool | list = True, **kwargs: Any) -> Trainer:
    if loggers is True:
        loggers = [TensorBoardLogger(root, name="tb", version=0), CSVLogger(root, name="csv", version=0)]
    options: dict[str, Any] = {
        "max_epochs": 1,
        "default_root_dir": root,
        "accelerator": "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "log_every_n_steps": 1,
        "num_sanity_val_steps": 2,
    }
    options.update(kwargs)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    return Trainer(callbacks=callbacks, logger=loggers, **options)


def csv_series(root: Path) -> dict[str, list[tuple[int, float]]]:
    """metric -> [(step, value)] from the CSVLogger's metrics.csv."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(root / "csv" / "version_0" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in ("", None):
                    series[key].append((int(row["step"]), float(value)))
    return dict(series)


def tb_series(root: Path) -> dict[str, list[tuple[int, float]]]:
    """metric -> [(step, value)] from the TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(root / "tb" / "version_0"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def read_summary(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def wandb_records(run_file: str) -> list[dict[str, object]]:
    """History, config and summary rows (``_record``) of an offline W&B run, from its .wandb file (a LevelDB-style
    log)."""
    from wandb.proto import wandb_internal_pb2

    data = Path(run_file).read_bytes()
    block, pos, chunks, partial = 32768, 7, [], b""  # 7 bytes of header: b":W&B", magic, version
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            partial = chunk
        elif kind == 3:
            partial += chunk
        elif kind == 4:
            chunks.append(partial + chunk)
    rows = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        kind = record.WhichOneof("record_type")
        if kind in ("history", "config", "summary"):
            items = {"history": record.history.item, "config": record.config.update, "summary": record.summary.update}[
                kind
            ]
            row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}
            rows.append({"_record": kind, **row})
    return rows


def resume_estimated_run_on_rapl(root: Path, make_cap: Any, loggers: bool | list = True) -> Any:
    """Fit 2 epochs with the CPU estimated and a checkpoint at each epoch end (``root/a``), then resume from the
    first epoch's end (step 8) reading RAPL on the fake tree ``make_cap()`` gives (``root/b``, with ``loggers``).
    Returns the resumed run's EnergyCallback."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from ecopt_lightning.callback import EnergyCallback
    from tests.callback.models import RaplMoves, TinyModel

    ckpt = ModelCheckpoint(dirpath=root / "ckpt", filename="{step}", save_top_k=-1)
    run = {"max_epochs": 2, "limit_val_batches": 0, "num_sanity_val_steps": 0}
    make_trainer(
        root / "a", [EnergyCallback(cpu="estimate"), ckpt], loggers=False, enable_checkpointing=True, **run
    ).fit(TinyModel())
    cap = make_cap()
    cb = EnergyCallback()
    make_trainer(root / "b", [cb, RaplMoves(cap)], loggers=loggers, **run).fit(
        TinyModel(), ckpt_path=str(root / "ckpt" / "step=8.ckpt")
    )
    return cb
