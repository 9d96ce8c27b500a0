"""DECA's z regularisers."""

from __future__ import annotations

import torch

from aucgan.deca.losses import blendshape_sparsity, shading_smoothness, z_diff, z_reg, z_sym


def test_z_reg_and_sym():
    uv = torch.zeros(2, 1, 8, 8)
    uv[:, :, :, :4] = 0.002
    loss, s = z_reg(uv)
    assert abs(float(loss) - 0.001) < 1e-9 and s["G/z_reg"] == float(loss)
    loss, _ = z_sym(uv)
    assert abs(float(loss) - 0.002) < 1e-9
    assert float(z_sym(torch.ones(1, 1, 4, 4))[0]) == 0.0


def test_z_diff_is_zero_for_flat_and_grows_with_wrinkles():
    flat = torch.full((1, 1, 32, 32), 0.003)
    assert float(z_diff(flat, 0.3)[0]) < 1e-12
    x = torch.linspace(0, 1, 32)
    waves = [0.0005 * torch.sin(2 * torch.pi * f * x)[None, None, None, :].expand(1, 1, 32, 32) for f in (2, 6)]
    low, high = (float(z_diff(w, 0.3)[0]) for w in waves)
    assert 0 < low < high
    ramp = torch.arange(16.0).view(1, 1, 4, 4)
    assert float(shading_smoothness(ramp)) > 0
    uv = (0.001 * torch.randn(1, 1, 16, 16)).requires_grad_(True)
    z_diff(uv, 0.3)[0].backward()
    assert float(uv.grad.abs().sum()) > 0


def test_blendshape_sparsity_is_the_mean_magnitude():
    b = torch.zeros(17, 2, 8, 8)
    b[3, 0, :2] = -0.4
    loss, s = blendshape_sparsity(b)
    assert abs(float(loss) - 0.4 * 16 / b.numel()) < 1e-9 and s["G/blendshape_l1"] == float(loss)
