"""Parameter count and FLOPs per sample."""

from __future__ import annotations

import torch

from ecopt_lightning.proxies import count_parameters, default_forward, flops_per_sample
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
