"""The private Lightning attributes `_lightning_compat` reads still exist, and its public fallbacks agree.

A Lightning upgrade that removes or renames one fails here, instead of silently switching production to
the fallback.
"""

from __future__ import annotations

import operator
from typing import Any

from lightning.pytorch import Callback
from typing_extensions import override

from ecopt_lightning import _lightning_compat as compat
from tests.callback.helpers import make_trainer
from tests.callback.models import TinyModel, loader


def test_every_private_attribute_still_exists(tmp_path):
    trainer = make_trainer(tmp_path, [], loggers=False, strategy="ddp_spawn", devices=2)  # a DDPStrategy's too
    for where, name in compat.PRIVATE:
        owner = trainer if where == "trainer" else operator.attrgetter(where.split(".", 1)[1])(trainer)
        # class attributes (methods, properties) or instance attributes set in __init__
        assert hasattr(type(owner), name) or name in vars(owner), f"Lightning no longer has {where}.{name}"


class _Compare(Callback):
    """At every batch end, what the private attribute says and what the public fallback computes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def _logs(self, trainer, where: str) -> None:
        self.seen.append((where, compat.should_update_logs(trainer), compat.should_update_logs_public(trainer)))

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen.append(("accumulate", compat.should_accumulate(trainer), compat.should_accumulate_public(trainer)))
        self.seen.append(("stepped", compat.batches_that_stepped(trainer), trainer.global_step))
        self._logs(trainer, "train")

    @override
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._logs(trainer, "sanity" if trainer.sanity_checking else "val")

    @override
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._logs(trainer, "test")

    @override
    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._logs(trainer, "predict")


def test_the_trainer_attributes_lightning_sets_at_run_time_are_read_as_given(tmp_path):
    trainer = make_trainer(tmp_path, [], loggers=False, log_every_n_steps=7)
    assert compat.log_every_n_steps(trainer) == 7
    assert compat.fast_dev_run(trainer) is False
    assert compat.datamodule(trainer) is None
    quick = make_trainer(tmp_path, [], loggers=False, fast_dev_run=2)
    assert compat.fast_dev_run(quick) == 2


def test_public_fallbacks_agree_with_the_private_attributes(tmp_path):
    spy = _Compare()
    # 7 batches with accumulation over 3: steps end at batches 3, 6 and the last one (7)
    trainer = make_trainer(tmp_path, [spy], loggers=False, max_epochs=2, accumulate_grad_batches=3, log_every_n_steps=2)
    model = TinyModel()
    trainer.fit(model, loader(56), loader(40))
    trainer.validate(model, loader(40))
    trainer.test(model, loader(40))
    trainer.predict(model, loader(40))

    kinds = {where for where, _, _ in spy.seen}
    assert kinds == {"accumulate", "stepped", "train", "sanity", "val", "test", "predict"}
    for where, private, public in spy.seen:
        if where != "stepped":
            assert private == public, (where, private, public)
    accumulating = [private for where, private, _ in spy.seen if where == "accumulate"]
    assert accumulating[:7] == [True, True, False, True, True, False, False]
    logs = {where: [private for w, private, _ in spy.seen if w == where] for where in ("train", "val")}
    assert True in logs["train"] and False in logs["train"]  # both answers occur, so both were compared
    assert True in logs["val"] and False in logs["val"]
    # one optimizer: the fallback, global_step, is one ahead inside on_train_batch_end of a batch that steps
    # (Lightning counts the batch as stepped only after that hook), equal otherwise
    stepped = [(private, public) for where, private, public in spy.seen if where == "stepped"]
    expected_lead = [0 if accumulates else 1 for accumulates in accumulating]
    assert [public - private for private, public in stepped] == expected_lead
