"""Parameter count and FLOPs per sample."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from ecopt_lightning.energy import EnergyWarning
from ecopt_lightning.proxies import ModelProxies, count_parameters, default_forward, flops_per_sample
from tests.callback.models import TinyModel


def test_shared_parameters_count_once():
    layer = torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(layer, layer)
    assert count_parameters(model) == 20
    layer.bias.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 16


def test_flops_per_sample_of_an_mlp_and_mode_restored():
    model = TinyModel()
    model.train()
    x = torch.randn(8, 16)
    flops = flops_per_sample(model, (x, torch.zeros(8)), batch_size=8)
    assert flops == 2 * (16 * 32 + 32 * 2)  # two matmuls, 2 FLOPs per multiply-add
    assert model.training


def test_default_forward_uses_predict_step_when_defined():
    model = TinyModel()
    out = default_forward(model, (torch.randn(3, 16), torch.zeros(3)))
    assert out.shape == (3, 2)
    assert default_forward(torch.nn.Identity(), torch.ones(2)).tolist() == [1.0, 1.0]


def test_model_proxies_measure_once_inside_the_given_pause():
    entered: list[str] = []

    @contextlib.contextmanager
    def paused():
        entered.append("paused")
        yield

    proxies = ModelProxies()
    x = (torch.randn(8, 16), torch.zeros(8))
    assert proxies.measure_flops(TinyModel(), x, samples=0, paused=paused()) == {}  # no samples: not measured
    assert proxies.wants_flops and entered == []
    assert proxies.measure_flops(TinyModel(), x, samples=8, paused=paused()) == {"model/flops_per_sample": 1152.0}
    assert entered == ["paused"] and not proxies.wants_flops
    assert proxies.measure_flops(TinyModel(), x, samples=8, paused=paused()) == {}  # measured once
    assert entered == ["paused"]


def test_a_model_the_forward_cannot_call_gets_nan_flops_and_a_warning():
    proxies = ModelProxies()
    with pytest.warns(EnergyWarning, match="FLOPs per sample not counted"):
        values = proxies.measure_flops(torch.nn.Linear(3, 2), {"no": "tensor"}, samples=4)
    assert math.isnan(values["model/flops_per_sample"]) and not proxies.wants_flops


def test_disabled_model_proxies_measure_nothing():
    proxies = ModelProxies(enabled=False)
    assert proxies.count(torch.nn.Linear(3, 2)) == {}
    assert proxies.measure_flops(torch.nn.Linear(3, 2), torch.zeros(4, 3), samples=4) == {}
    assert proxies.to_dict() == {"params": None, "flops_per_sample": None, "flops_not_counted": None}
