"""The inference benchmark on its own: repeats, median/IQR, inference mode, reduction."""

from __future__ import annotations

import pytest
import torch

from ecopt_lightning import EnergyMonitor, Measurement
from ecopt_lightning.inference import _quartiles, batch_samples, measure_inference
from tests.callback.models import loader

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class ScriptedMonitor(EnergyMonitor):
    """Each snapshot adds the next scripted number of joules on one estimated domain."""

    def __init__(self, increments: list[float]) -> None:
        super().__init__(gpus=[], cpu="estimate")
        self.increments, self.energy, self.t = list(increments), 0.0, 0.0

    def snapshot(self, sync=None):
        from ecopt_lightning import Snapshot

        self.energy += self.increments.pop(0)
        self.t += 1.0
        return Snapshot(self.t, {"cpu:0": self.energy})


def test_median_and_iqr_over_repeats_warmup_excluded():
    # start, after warm-up (+100 J, not a repeat), then 4 repeats of 32 samples
    monitor = ScriptedMonitor([0.0, 100.0, 32.0, 64.0, 96.0, 320.0])
    r = measure_inference(torch.nn.Linear(16, 2), loader(32, 8), repeats=4, monitor=monitor)
    assert r.per_repeat_J == [1.0, 2.0, 3.0, 10.0]
    assert r.per_sample_J == 2.5 and r.iqr_J == pytest.approx(_quartiles([1, 2, 3, 10])[2] - 1.75)
    assert r.samples == 32 and r.samples_per_J == pytest.approx(0.4)
    assert r.measurement.energy_J == pytest.approx(100 + 32 + 64 + 96 + 320)
    assert isinstance(r.measurement, Measurement) and r.source == "estimate"


def test_runs_in_inference_mode_in_eval_and_restores_mode():
    seen = []
    model = torch.nn.Sequential(torch.nn.Linear(16, 2), torch.nn.Dropout(0.5))
    model.train()

    def forward(module, batch, i):
        seen.append((torch.is_inference_mode_enabled(), module.training))
        return module(batch[0])

    measure_inference(
        model, loader(16, 8), warmup_batches=1, repeats=2, max_batches=1, forward_fn=forward,
        monitor=EnergyMonitor(gpus=[], cpu="estimate"),
    )  # fmt: skip
    assert seen == [(True, False)] * 3  # 1 warm-up + 2 repeats x 1 batch
    assert model.training


def test_reduce_combines_ranks_and_bad_arguments_fail():
    monitor = EnergyMonitor(gpus=[], cpu="estimate")

    def two_ranks(values):
        return {"energy_J": 2 * values["energy_J"], "seconds": values["seconds"], "samples": 2 * values["samples"]}

    r = measure_inference(torch.nn.Linear(16, 2), loader(16, 8), repeats=2, monitor=monitor, reduce=two_ranks)
    assert r.samples == 32
    with pytest.raises(ValueError, match="repeats"):
        measure_inference(torch.nn.Linear(16, 2), loader(16, 8), repeats=0, monitor=monitor)
    assert batch_samples({"x": torch.zeros(5, 2)}) == 5 and batch_samples([1, 2], lambda b: 7) == 7
