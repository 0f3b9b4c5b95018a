"""EnergyCallback in a multi-fidelity sweep under DDP (ddp_spawn, 2 CPU processes, gloo), with a real SQLite
study: the inference benchmark at the first rung runs on every rank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lightning.pytorch import Trainer

from ecopt_lightning.callback import EnergyCallback
from ecopt_lightning.sweeper._schema import rung_attr
from ecopt_lightning.sweeper.multi_fidelity import rung_values, stopped_at

from .models import LoseCpuOnRank, TinyModel
from .test_multi_fidelity_callback import _study


def _ddp_fit(summary_path: Path, *more_callbacks: object, **options: object) -> None:
    """A 3-epoch ``ddp_spawn`` fit of TinyModel on two CPU processes, EnergyCallback's benchmark two repeats of one
    pass (no precision target, no shortest window), ``more_callbacks`` after it."""
    Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=2,
        accelerator="cpu",
        strategy="ddp_spawn",
        devices=2,
        callbacks=[
            EnergyCallback(
                cpu="estimate",
                inference_benchmark={"repeats": 2, "rel_precision": None, "min_window_s": 0.0},
                proxies=False,
                summary_path=summary_path,
            ),
            *more_callbacks,
        ],
        **options,  # type: ignore[arg-type]
    ).fit(TinyModel())


@pytest.mark.slow
def test_ddp_ranks_run_the_rung_benchmark_together_and_stop_together(tmp_path: Path, monkeypatch) -> None:
    """The benchmark's reduction over ranks is a collective: at the first rung every rank runs it (rank 0 alone
    would wait for rank 1 in its reduction while rank 1 waits in the decision's broadcast); both ranks stop."""
    study = _study(tmp_path, monkeypatch, earlier=[[0.0, 1e-12]])  # an earlier trial better on both
    summary_path = tmp_path / "summary.json"
    _ddp_fit(summary_path)
    attrs = study.trials[-1].user_attrs
    assert stopped_at(attrs) == 1 and rung_values(attrs)[1]["cohort"] == [0, 1]
    summary = json.loads(summary_path.read_text())
    assert summary["world_size"] == 2
    assert summary["status"] == "finished fit (stopped by multi-fidelity at epoch 1)"
    assert summary["progress"] == {"epochs": 1, "steps": 4}  # 32 samples per rank, batches of 8
    # measured once, at the rung, on both ranks: the value ranked there is the trial's final one
    assert summary["metrics"]["energy/inference_per_sample_J"] == rung_values(attrs)[1]["values"][1]


@pytest.mark.slow
def test_ddp_a_domain_lost_on_rank_1_is_seen_at_the_rung(tmp_path: Path, monkeypatch) -> None:
    """Regression (multi-fidelity audit, 2026-11-30): the rung read the domains from rank 0's summary, whose
    measurement faults were rank 0's alone, so rank 1's CPU lost before the rung read ``unmeasured: []``: the trial
    ranked as measured in full at the rung while its final report marked it not comparable. The rung now gathers
    every rank's faults (a collective: every rank is at the rung) and stops it there as not comparable."""
    study = _study(tmp_path, monkeypatch, earlier=[])  # this job's trial is trial 0, the earlier ones 1, 2
    full = {"domains": ["rank0/cpu:0", "rank1/cpu:0"], "unmeasured": []}
    for values in ([1e9, 1e9], [2e9, 1e9]):  # dominated by anything: only comparability can stop the trial
        study.ask().set_user_attr(rung_attr(1), {"values": values, "max_epochs": 3, **full})
    _ddp_fit(
        tmp_path / "summary.json",
        LoseCpuOnRank(rank=1, start=1, stop=2),  # in epoch 1, before its rung
        log_every_n_steps=1,  # a read at each step: rank 1's failing one included
    )
    attrs = study.trials[0].user_attrs
    record = rung_values(attrs)[1]
    assert record["unmeasured"] == ["rank1/cpu:0"] and record["domains"] == ["rank0/cpu:0"]
    assert record["decision"] == "stop" and stopped_at(attrs) == 1
    assert record["reason"].startswith("stop: not comparable with the trials at this rung (measured without rank1/cpu")
