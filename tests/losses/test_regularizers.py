"""Attention, total-variation, displacement and locality regularisers."""

from __future__ import annotations

import pytest
import torch

from aucgan.errors import AucganError
from aucgan.losses.regularizers import (
    attention_loss,
    displacement_regularizer,
    locality_loss,
    total_variation,
)


def _step_map() -> torch.Tensor:
    x = torch.zeros(2, 1, 4, 4)
    x[..., :, 2:] = 1.0  # one vertical edge: 4 horizontal jumps of 1 per map, no vertical change
    return x


def test_total_variation_of_a_step_edge():
    x = _step_map()
    assert float(total_variation(x, "sum")) == pytest.approx(2 * 4 * 1.0)
    # 8 of the 24 horizontal differences are 1, all 24 vertical differences are 0
    assert float(total_variation(x, "mean")) == pytest.approx(8 / 24)
    assert float(total_variation(torch.ones(1, 3, 5, 5))) == 0.0
    with pytest.raises(AucganError, match="mean, sum"):
        total_variation(x, "max")
    with pytest.raises(AucganError, match="B, C, H, W"):
        total_variation(torch.zeros(4, 4))


def test_attention_loss_is_weighted_mean_plus_weighted_tv():
    a = _step_map()
    loss, s = attention_loss(a, mean_weight=0.1, tv_weight=1e-2)
    assert s["G/att_mean"] == pytest.approx(0.5)
    assert s["G/att_tv"] == pytest.approx(8.0)
    assert float(loss) == pytest.approx(0.1 * 0.5 + 1e-2 * 8.0)
    loss_mean_tv, s = attention_loss(a, 0.0, 1.0, tv_reduction="mean")
    assert float(loss_mean_tv) == pytest.approx(8 / 24)


def test_attention_mean_term_pushes_the_mask_down():
    a = torch.full((1, 1, 4, 4), 0.9, requires_grad=True)
    attention_loss(a, 1.0, 0.0)[0].backward()
    assert bool((a.grad > 0).all())


def test_displacement_regularizer_is_weighted_l1_magnitude():
    d = torch.tensor([[[[0.5, -0.5], [0.0, 1.0]]]])
    loss, s = displacement_regularizer(d, weight=2.0)
    assert s["G/disp_reg"] == pytest.approx(0.5)
    assert float(loss) == pytest.approx(1.0)


def test_locality_penalises_change_only_outside_the_footprint_union():
    source = torch.zeros(1, 2, 4, 4)
    inside = torch.zeros(1, 1, 4, 4)
    inside[..., :2, :] = 1.0
    edit_inside = source.clone()
    edit_inside[..., :2, :] = 1.0
    loss, s = locality_loss(edit_inside, source, inside, weight=3.0)
    assert float(loss) == 0.0 and s["G/locality"] == 0.0
    edit_outside = source.clone()
    edit_outside[..., 2:, :] = 1.0
    loss, s = locality_loss(edit_outside, source, inside, weight=3.0)
    assert s["G/locality"] == pytest.approx(1.0)
    assert float(loss) == pytest.approx(3.0)
    loss, _ = locality_loss(edit_outside, source, torch.ones(1, 1, 4, 4), weight=3.0)
    assert float(loss) == 0.0
    with pytest.raises(AucganError, match="B, 1, H, W"):
        locality_loss(edit_outside, source, torch.ones(1, 2, 4, 4), weight=1.0)


def test_locality_gradient_flows_to_the_output_not_the_source():
    source = torch.zeros(1, 1, 4, 4, requires_grad=True)
    out = torch.ones(1, 1, 4, 4, requires_grad=True)
    locality_loss(out, source, torch.zeros(1, 1, 4, 4), 1.0)[0].backward()
    assert source.grad is None and out.grad is not None and float(out.grad.sum()) == pytest.approx(1.0)
