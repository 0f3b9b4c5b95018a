"""Every private Lightning attribute the package reads, each behind one function with a public fallback.

Lightning's loops keep some state only in private attributes. Each function here reads the private one when
it exists and otherwise computes the same from public attributes, so a Lightning release that drops it keeps
working. ``tests/callback/test_lightning_compat.py`` asserts that every name in :data:`PRIVATE` still exists
in the installed Lightning and that each fallback agrees with it, so an upgrade fails there, loudly.

It also reads the public ``Trainer`` attributes that Lightning sets at run time (in its connectors), which the
class does not declare to a type checker: :func:`log_every_n_steps`, :func:`fast_dev_run`, :func:`datamodule`.

Example:
    >>> trainer = Trainer(fast_dev_run=2, log_every_n_steps=5, logger=False, enable_checkpointing=False)
    >>> log_every_n_steps(trainer), fast_dev_run(trainer), datamodule(trainer)  # steps, batches, none before fit
    (5, 2, None)
    >>> should_accumulate(trainer) == should_accumulate_public(trainer) == False  # no batch has run
    True
"""

from __future__ import annotations

import multiprocessing
from typing import Any, cast

from lightning.pytorch import LightningDataModule, Trainer

#: (where, attribute) of every private Lightning attribute read here
PRIVATE = (
    ("trainer.fit_loop", "_should_accumulate"),
    ("trainer", "_logger_connector"),
    ("trainer._logger_connector", "should_update_logs"),
    ("trainer.fit_loop.epoch_loop", "_batches_that_stepped"),
    ("trainer.strategy", "_start_method"),  # DDPStrategy's
)


def log_every_n_steps(trainer: Trainer) -> int:
    """``Trainer(log_every_n_steps=...)`` as the trainer resolved it (0: no logging within steps)."""
    return int(cast(Any, trainer).log_every_n_steps)


def fast_dev_run(trainer: Trainer) -> int | bool:
    """``Trainer(fast_dev_run=...)``: ``False``, ``True`` or a number of batches."""
    value: int | bool = cast(Any, trainer).fast_dev_run
    return value


def datamodule(trainer: Trainer) -> LightningDataModule | None:
    """The datamodule the running ``fit``/``validate``/``test``/``predict`` was given (``None``: none)."""
    value: LightningDataModule | None = cast(Any, trainer).datamodule
    return value


def should_accumulate(trainer: Trainer) -> bool:
    """Whether the training batch that just ran accumulates gradients, i.e. ends no optimizer step."""
    private = getattr(trainer.fit_loop, "_should_accumulate", None)
    if private is not None:
        return bool(private())
    return should_accumulate_public(trainer)


def should_accumulate_public(trainer: Trainer) -> bool:
    """:func:`should_accumulate` from public attributes (as Lightning 2.2-2.6 compute it)."""
    progress = trainer.fit_loop.epoch_loop.batch_progress
    ready = progress.current.ready
    accumulation_done = ready % trainer.accumulate_grad_batches == 0
    final_batch = ready == trainer.num_training_batches or progress.is_last_batch
    return not accumulation_done and (trainer.strategy.handles_gradient_accumulation or not final_batch)


def batches_that_stepped(trainer: Trainer) -> int:
    """The step Lightning logs training metrics at: batches that ended an optimizer step (whatever the
    number of optimizers). Where Lightning does not say: ``trainer.global_step``, the same with one optimizer
    except inside ``on_train_batch_end`` of a batch that steps, where it is one ahead."""
    return int(getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step))


def should_update_logs(trainer: Trainer) -> bool:
    """Whether Lightning logs at this batch (every ``log_every_n_steps``, and when the trainer stops)."""
    connector = getattr(trainer, "_logger_connector", None)
    if connector is not None and hasattr(type(connector), "should_update_logs"):
        return bool(connector.should_update_logs)
    return should_update_logs_public(trainer)


def should_update_logs_public(trainer: Trainer) -> bool:
    """:func:`should_update_logs` from public attributes (as Lightning 2.2-2.6 compute it)."""
    if log_every_n_steps(trainer) == 0:
        return False
    loop: Any
    if trainer.training:
        step = batches_that_stepped(trainer) + 1  # + 1: it may be asked before the step runs
    else:
        if trainer.sanity_checking or (trainer.validating and trainer.state.fn == "fit"):
            loop = trainer.fit_loop.epoch_loop.val_loop
        elif trainer.validating:
            loop = trainer.validate_loop
        elif trainer.testing:
            loop = trainer.test_loop
        elif trainer.predicting:
            loop = trainer.predict_loop
        else:
            return True
        step = loop.batch_progress.current.ready
    return step % log_every_n_steps(trainer) == 0 or trainer.should_stop


def spawned_rank(trainer: Trainer) -> bool:
    """Whether this process is a rank that its launching process started and waits for (``ddp_spawn``,
    ``ddp_fork``, ``ddp_notebook``), not one that runs the script itself (``ddp``, torchrun, SLURM): then rank 0
    is the launching process, which may itself be a multiprocessing child (a sweep's joblib or Ray worker)."""
    start = getattr(trainer.strategy, "_start_method", None)
    if start is not None:
        return start != "popen" and multiprocessing.parent_process() is not None
    return spawned_rank_public(trainer)


def spawned_rank_public(trainer: Trainer) -> bool:
    """:func:`spawned_rank` from what the process shows: a multiprocessing child. It cannot tell rank 0 of a plain
    ``ddp`` run that itself runs in a multiprocessing child (a sweep's worker) from a spawned rank: it answers
    ``True`` there (both launchers set ``LOCAL_RANK``). ``trainer`` is unused: the signature of
    :func:`spawned_rank`."""
    return multiprocessing.parent_process() is not None
