import math

import pytest
import torch

from aucgan.render.normals import decode_normal, displacement_to_normal, encode_normal
from aucgan.render.shading import lambert, shade_for_view


def test_flat_displacement_gives_flat_normal():
    n = displacement_to_normal(torch.full((2, 1, 16, 16), 0.03), strength=5.0)
    assert n.shape == (2, 3, 16, 16)
    torch.testing.assert_close(n, torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand_as(n))


def test_ramp_gives_the_analytic_tilt_at_every_resolution():
    for size in (16, 64):
        xs = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        disp = (0.2 * xs).view(1, 1, 1, size).expand(1, 1, size, size)   # slope 0.2 per layout unit along x
        n = displacement_to_normal(disp, strength=2.0)
        expected = torch.tensor([-0.4, 0.0, 1.0]) / math.sqrt(1.16)
        torch.testing.assert_close(n[0, :, size // 2, size // 2], expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(n.norm(dim=1), torch.ones(1, size, size))


def test_rising_downwards_tilts_the_normal_up():
    ys = torch.arange(8, dtype=torch.float32).view(1, 1, 8, 1).expand(1, 1, 8, 8) * 0.01
    n = displacement_to_normal(ys)
    assert float(n[0, 1, 4, 4]) < 0 and abs(float(n[0, 0, 4, 4])) < 1e-6


def test_encode_decode_round_trip_and_bad_shape():
    n = displacement_to_normal(torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.01)
    rgb = encode_normal(n)
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    torch.testing.assert_close(decode_normal(rgb), n, atol=1e-5, rtol=0)
    q = torch.round(rgb * 255) / 255
    assert float((decode_normal(q[0]) - n[0]).abs().max()) < 0.02
    with pytest.raises(ValueError, match="B, 1, H, W"):
        displacement_to_normal(torch.zeros(1, 8, 8))


def test_lambert_faces_the_light():
    light = torch.tensor([-0.4, -0.5, 0.75])
    facing = (light / light.norm()).view(1, 3, 1, 1)
    away = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)
    flat = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    shades = [float(lambert(n)) for n in (facing, flat, away)]
    assert shades[0] == pytest.approx(1.0) and shades[2] == pytest.approx(0.3)
    assert shades[0] > shades[1] > shades[2]
    albedo = torch.full((1, 3, 1, 1), 0.5)
    torch.testing.assert_close(shade_for_view(albedo, flat), albedo)


def test_gaussian_bump_gives_the_analytic_normal():
    size, amp, sigma = 128, 0.01, 0.08
    c = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    y, x = torch.meshgrid(c, c, indexing="ij")
    r2 = (x - 0.5) ** 2 + (y - 0.5) ** 2
    h = amp * torch.exp(-r2 / (2 * sigma ** 2))
    n = displacement_to_normal(h.view(1, 1, size, size).float())[0]
    gx = -h * (x - 0.5) / sigma ** 2
    gy = -h * (y - 0.5) / sigma ** 2
    expected = torch.stack([-gx, -gy, torch.ones_like(gx)])
    expected = (expected / expected.norm(dim=0, keepdim=True)).float()
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert float((n[inner] - expected[inner]).abs().max()) < 2e-3
    assert float(n[0, 64, 80]) > 0.05            # right of the peak the surface falls away: normal points right
