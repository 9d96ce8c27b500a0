"""Reconstruction, cycle and detail-consistency losses: masked means and scalar names."""

from __future__ import annotations

import pytest
import torch

from aucgan.errors import AucganError
from aucgan.losses.reconstruction import (
    cycle_loss,
    detail_consistency_loss,
    masked_distance,
    reconstruction_loss,
)


def test_unmasked_l1_and_mse():
    out, target = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert float(reconstruction_loss(out, target)[0]) == pytest.approx(0.5)
    assert float(reconstruction_loss(out, target, kind="mse")[0]) == pytest.approx(0.25)


def test_mask_broadcasts_over_channels_and_averages_only_masked_pixels():
    out = torch.zeros(2, 3, 4, 4)
    target = torch.zeros(2, 3, 4, 4)
    target[:, :, :2] = 1.0  # error 1 in the top half, 0 in the bottom half
    top = torch.zeros(2, 1, 4, 4)
    top[:, :, :2] = 1.0
    assert float(reconstruction_loss(out, target, mask=top)[0]) == pytest.approx(1.0)
    assert float(reconstruction_loss(out, target, mask=1 - top)[0]) == pytest.approx(0.0)
    assert float(reconstruction_loss(out, target)[0]) == pytest.approx(0.5)
    soft = torch.full((2, 1, 4, 4), 0.25)
    assert float(reconstruction_loss(out, target, mask=soft)[0]) == pytest.approx(0.5)


def test_each_loss_has_its_own_scalar_and_same_maths():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 4, 8, 8, generator=gen), torch.rand(2, 4, 8, 8, generator=gen)
    rec, s_rec = reconstruction_loss(a, b)
    cyc, s_cyc = cycle_loss(a, b)
    det, s_det = detail_consistency_loss(a, b)
    assert set(s_rec) == {"G/rec"} and set(s_cyc) == {"G/cycle"} and set(s_det) == {"G/detail"}
    assert torch.equal(rec, cyc) and torch.equal(rec, det)
    assert s_rec["G/rec"] == pytest.approx(float((a - b).abs().mean()))


def test_gradient_reaches_the_output_only_inside_the_mask():
    out = torch.zeros(1, 1, 4, 4, requires_grad=True)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1.0
    reconstruction_loss(out, torch.ones(1, 1, 4, 4), mask=mask)[0].backward()
    assert out.grad[..., 0, 0].item() == pytest.approx(-1.0)
    assert out.grad.abs().sum().item() == pytest.approx(1.0)


def test_shape_and_kind_errors():
    with pytest.raises(AucganError, match="differ in shape"):
        cycle_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))
    with pytest.raises(AucganError, match="mask"):
        reconstruction_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), mask=torch.ones(1, 2, 4, 4))
    with pytest.raises(AucganError, match="l1, mse"):
        masked_distance(torch.zeros(1), torch.zeros(1), kind="huber")
