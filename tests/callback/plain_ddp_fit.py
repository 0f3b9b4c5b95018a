"""A fit under plain ``ddp`` (Lightning runs this module again for rank 1) inside a multiprocessing child, as a
sweep's joblib or Ray worker runs a job: rank ``FAIL_RANK`` raises in its third training batch of epoch 1, after
epoch 0's summary was written; the other rank fails in its next collective (gloo: "Connection closed by peer").

Usage: ``python -m tests.callback.plain_ddp_fit FOLDER FAIL_RANK`` (the summary goes to
``FOLDER/energy_summary.json``, :class:`~tests.callback.models.RecordLaunch`'s files to ``FOLDER``; the child's
exit code is printed as ``child exit code N``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from pathlib import Path

from ecopt_lightning.callback import EnergyCallback
from tests.callback.helpers import make_trainer
from tests.callback.models import RaiseOnRank, RecordLaunch


def fit(folder: str, fail_rank: int) -> None:
    warnings.filterwarnings("ignore")
    callbacks = [EnergyCallback(cpu="estimate", proxies=False), RecordLaunch(folder)]
    trainer = make_trainer(
        Path(folder), callbacks, loggers=False, strategy="ddp", devices=2, max_epochs=2, limit_val_batches=0,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(RaiseOnRank(rank=fail_rank, epoch=1, batch_idx=2))


if __name__ == "__main__":
    folder, fail_rank = sys.argv[1], int(sys.argv[2])
    if "LOCAL_RANK" in os.environ:  # rank 1, started by rank 0's Lightning
        fit(folder, fail_rank)
    else:
        child = multiprocessing.get_context("spawn").Process(target=fit, args=(folder, fail_rank))
        child.start()
        child.join()
        print(f"child exit code {child.exitcode}", flush=True)
