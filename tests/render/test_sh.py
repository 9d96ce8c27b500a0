import math

import pytest
import torch

from aucgan.data.codec import MapCodec
from aucgan.render.normals import displacement_to_normal
from aucgan.render.sh import (
    LIGHTING_PRESETS,
    SH_CONSTANTS,
    LightingError,
    ambient_sh,
    cavity,
    directional_sh,
    flat_shading,
    lighting_preset,
    random_lighting,
    sh_shading,
    shade,
    turntable_lighting,
)
from aucgan.render.shaded import Renderer, turntable


def test_deca_constants():
    pi = math.pi
    deca = [1 / math.sqrt(4 * pi), (2 * pi / 3) * math.sqrt(3 / (4 * pi)), (2 * pi / 3) * math.sqrt(3 / (4 * pi)),
            (2 * pi / 3) * math.sqrt(3 / (4 * pi)), (pi / 4) * 3 * math.sqrt(5 / (12 * pi)),
            (pi / 4) * 3 * math.sqrt(5 / (12 * pi)), (pi / 4) * 3 * math.sqrt(5 / (12 * pi)),
            (pi / 4) * 1.5 * math.sqrt(5 / (12 * pi)), (pi / 4) * 0.5 * math.sqrt(5 / (4 * pi))]
    assert list(SH_CONSTANTS) == pytest.approx(deca, rel=1e-12)


def test_sh_of_a_constant_normal_matches_the_closed_form():
    gen = torch.Generator().manual_seed(0)
    sh = torch.randn(2, 9, 3, generator=gen)
    n = torch.tensor([0.3, -0.5, 0.8])
    n = n / n.norm()
    normal = n.view(1, 3, 1, 1).expand(2, 3, 4, 5)
    x, y, z = n.tolist()
    poly = torch.tensor([1, x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1])
    expected = torch.einsum("k,bkc->bc", poly * torch.tensor(SH_CONSTANTS), sh)
    out = sh_shading(normal, sh)
    assert out.shape == (2, 3, 4, 5)
    torch.testing.assert_close(out, expected[:, :, None, None].expand_as(out), atol=1e-5, rtol=1e-5)


def test_directional_light_is_the_order2_clamped_cosine():
    d = torch.tensor([-0.4, -0.5, 0.75])
    d = d / d.norm()
    sh = directional_sh(d)
    for angle in (0.0, 30.0, 60.0, 90.0, 150.0):
        # a normal at `angle` from the light direction, rotated in the plane of d and an orthogonal vector
        ortho = torch.linalg.cross(d, torch.tensor([0.0, 0.0, 1.0]))
        ortho = ortho / ortho.norm()
        a = math.radians(angle)
        n = math.cos(a) * d + math.sin(a) * ortho
        c = math.cos(a)
        expected = 0.25 + 0.5 * c + (5 / 16) * (3 * c * c - 1) / 2
        out = sh_shading(n.view(1, 3, 1, 1), sh)
        torch.testing.assert_close(out[0, :, 0, 0], torch.full((3,), expected), atol=1e-5, rtol=0)
    assert float(sh_shading(torch.tensor([0.0, 0, 1]).view(1, 3, 1, 1), ambient_sh(0.4)).mean()) == \
        pytest.approx(0.4)


def test_presets_and_random_lighting_are_normalised_and_seeded():
    for name in LIGHTING_PRESETS:
        torch.testing.assert_close(flat_shading(lighting_preset(name)).mean(), torch.tensor(1.0))
    with pytest.raises(LightingError, match="valid: front"):
        lighting_preset("disco")
    a = random_lighting(16, torch.Generator().manual_seed(3))
    b = random_lighting(16, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    flat = flat_shading(a).mean(dim=1)
    assert float(flat.min()) >= 0.84 and float(flat.max()) <= 1.16
    # plausible: a sphere of normals facing the viewer is lit non-negatively almost everywhere
    n = torch.nn.functional.normalize(torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)), dim=1)
    n = torch.cat([n[:, :2], n[:, 2:].abs()], dim=1)
    s = sh_shading(n.expand(16, -1, -1, -1), a)
    assert float((s < -0.05).float().mean()) < 0.01
    assert not torch.allclose(a[0], a[1])
    assert turntable_lighting(5).shape == (5, 9, 3)


def test_flat_displacement_shades_to_the_flat_level_and_gradients_flow():
    disp = torch.full((2, 1, 16, 16), 0.01, requires_grad=True)
    albedo = torch.full((2, 3, 16, 16), 0.5, requires_grad=True)
    sh = lighting_preset("studio")
    out = shade(albedo, displacement_to_normal(disp), sh)
    torch.testing.assert_close(out.mean(), torch.tensor(0.5), atol=1e-5, rtol=0)
    # a bump: gradients reach both maps
    bump = torch.zeros(1, 1, 16, 16)
    bump[..., 6:10, 6:10] = 0.01
    disp2 = bump.clone().requires_grad_(True)
    r = Renderer(cavity_strength=50.0).render(albedo[:1], disp2, sh)
    r.sum().backward()
    assert disp2.grad is not None and float(disp2.grad.abs().sum()) > 0
    alb = torch.full((1, 3, 16, 16), 0.5, requires_grad=True)
    Renderer().render(alb, disp2.detach(), sh).sum().backward()
    assert float(alb.grad.abs().min()) > 0


def test_cavity_darkens_creases_only_and_is_resolution_independent():
    vals = []
    for size in (64, 128):
        xs = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        groove = -0.004 * torch.exp(-((xs - 0.5) / 0.02) ** 2)
        disp = groove.view(1, 1, 1, size).expand(1, 1, size, size).contiguous()
        occ = cavity(disp, radius=0.03, strength=100.0)
        assert float(occ.max()) <= 1.0
        vals.append(float(occ[0, 0, size // 2].min()))
        vals.append(float(occ[0, 0, size // 2].mean()))
        assert float(occ[0, 0, 0, 0]) == pytest.approx(1.0, abs=1e-4)
    assert vals[0] < 0.9 and vals[2] < 0.9
    assert vals[1] == pytest.approx(vals[3], abs=0.002)   # the darkening integrated across the groove
    torch.testing.assert_close(cavity(torch.zeros(1, 1, 8, 8)), torch.ones(1, 1, 8, 8))


def test_render_network_and_turntable():
    codec = MapCodec(("displacement", "albedo"), disp_scale=0.02)
    x = torch.zeros(2, 4, 16, 16)
    x[:, 1:] = 0.2
    sh = random_lighting(2, torch.Generator().manual_seed(0))
    out = Renderer().render_network(x, codec, sh)
    assert out.shape == (2, 3, 16, 16)
    expected = 0.6 * flat_shading(sh) * 2 - 1
    torch.testing.assert_close(out[:, :, 5, 5], expected, atol=1e-5, rtol=0)
    with pytest.raises(LightingError, match="albedo and displacement"):
        Renderer().render_network(x[:, :1], MapCodec(("displacement",)), sh)
    strip = turntable(torch.full((3, 8, 8), 0.5), torch.zeros(1, 8, 8), n=4)
    assert strip.shape == (3, 8, 32)
    with pytest.raises(LightingError, match="9, 3"):
        sh_shading(torch.zeros(1, 3, 2, 2), torch.zeros(4, 3))
