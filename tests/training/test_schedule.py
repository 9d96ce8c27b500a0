"""The learning-rate schedule: constant, then a linear decay to 0."""

import pytest
import torch

from aucgan.training.schedule import lr_factor, set_learning_rates


def test_lr_schedule():
    assert lr_factor(0, 100, 0.5) == 1.0
    assert lr_factor(50, 100, 0.5) == 1.0
    assert lr_factor(75, 100, 0.5) == pytest.approx(0.5)
    assert lr_factor(100, 100, 0.5) == 0.0
    assert lr_factor(3, 4, 1.0) == 1.0           # no decay when it would start at the end


def test_set_learning_rates_scales_each_base_rate():
    a = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=1.0)
    b = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=1.0)
    set_learning_rates({"a": (a, 2e-4), "b": (b, 1e-3)}, 0.5)
    assert a.param_groups[0]["lr"] == pytest.approx(1e-4) and b.param_groups[0]["lr"] == pytest.approx(5e-4)
