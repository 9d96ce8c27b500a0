"""Second-order spherical-harmonics (SH) Lambertian shading, as in DECA, plus cavity and shaded textures.

Lighting is 9 SH coefficients per colour, ``sh: (B, 9, 3)``. The irradiance of a unit normal ``n = (x, y, z)``
(layout frame: x right, y down, z out of the surface) is ``E(n) = sum_k sh[k] * F_k * P_k(n)`` with the
polynomials ``P = (1, x, y, z, xy, xz, yz, x^2 - y^2, 3z^2 - 1)`` and DECA's constants ``F_k = A_l * N_k``: the
Lambert kernel's band factors ``A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4`` times the SH normalisation ``N_k``
(Ramamoorthi & Hanrahan 2001; Feng et al. 2021, DECA ``add_SHlight``).

:func:`directional_sh` projects a distant light onto the basis (``sh_k = N_k P_k(d)``), so its shading is the
order-2 approximation of ``max(0, n . d)`` (exactly ``1/4 + c/2 + 5/16 (3c^2 - 1) / 2`` for ``c = n . d``);
:func:`ambient_sh` is a constant. Presets and :func:`random_lighting` are normalised so a flat surface
facing the viewer (``n = (0, 0, 1)``) has shading about 1: a shaded texture keeps the albedo's brightness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from aucgan.errors import AucganError

Tensor = torch.Tensor

NUM_SH = 9
_PI = math.pi
#: SH normalisation constants N_k of the polynomials P_k.
SH_NORM = (
    1.0 / math.sqrt(4 * _PI),
    math.sqrt(3 / (4 * _PI)), math.sqrt(3 / (4 * _PI)), math.sqrt(3 / (4 * _PI)),
    math.sqrt(15 / (4 * _PI)), math.sqrt(15 / (4 * _PI)), math.sqrt(15 / (4 * _PI)),
    math.sqrt(15 / (16 * _PI)), math.sqrt(5 / (16 * _PI)),
)
#: Lambert kernel band factors A_l for each of the 9 coefficients.
BAND_FACTOR = (_PI, 2 * _PI / 3, 2 * _PI / 3, 2 * _PI / 3, _PI / 4, _PI / 4, _PI / 4, _PI / 4, _PI / 4)
#: DECA's ``constant_factor``: A_l * N_k for bands 1 and 2, N_0 for band 0.
SH_CONSTANTS = (SH_NORM[0], *(a * n for a, n in zip(BAND_FACTOR[1:], SH_NORM[1:])))

#: Named lighting set-ups: ambient level and (direction, RGB intensity) lights, normalised as above.
LIGHTING_PRESETS: dict[str, dict] = {
    "front": {"ambient": 0.35, "lights": [((0.0, 0.0, 1.0), (1.0, 1.0, 1.0))]},
    "studio": {"ambient": 0.3, "lights": [((-0.5, -0.45, 0.75), (1.0, 0.97, 0.92)),
                                          ((0.6, -0.1, 0.8), (0.35, 0.37, 0.42))]},
    "left": {"ambient": 0.25, "lights": [((-0.8, -0.2, 0.55), (1.0, 1.0, 1.0))]},
    "right": {"ambient": 0.25, "lights": [((0.8, -0.2, 0.55), (1.0, 1.0, 1.0))]},
    "top": {"ambient": 0.25, "lights": [((0.0, -0.85, 0.5), (1.0, 1.0, 1.0))]},
    "grazing": {"ambient": 0.15, "lights": [((-0.95, -0.15, 0.25), (1.0, 0.95, 0.9))]},
}


class LightingError(AucganError, ValueError):
    """Bad lighting: unknown preset, wrong SH shape, invalid light direction."""


def sh_basis(normal: Tensor) -> Tensor:
    """The 9 polynomials times DECA's constants, ``F_k P_k(n)``: (B, 9, H, W) for unit normals (B, 3, H, W)."""
    if normal.dim() != 4 or normal.shape[1] != 3:
        raise LightingError(f"normals must have shape (B, 3, H, W), got {tuple(normal.shape)}")
    x, y, z = normal.unbind(1)
    basis = torch.stack([torch.ones_like(x), x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1], dim=1)
    return basis * torch.tensor(SH_CONSTANTS, dtype=normal.dtype, device=normal.device).view(1, NUM_SH, 1, 1)


def _check_sh(sh: Tensor, batch: int) -> Tensor:
    if sh.dim() == 2:
        sh = sh.unsqueeze(0)
    if sh.dim() != 3 or sh.shape[1:] != (NUM_SH, 3) or sh.shape[0] not in (1, batch):
        raise LightingError(f"SH lighting must have shape ({batch} or 1, 9, 3), got {tuple(sh.shape)}")
    return sh


def sh_shading(normal: Tensor, sh: Tensor) -> Tensor:
    """RGB shading (B, 3, H, W) of unit normals (B, 3, H, W) under SH lighting (B or 1, 9, 3) (or (9, 3))."""
    basis = sh_basis(normal)
    sh = _check_sh(sh.to(basis.dtype), normal.shape[0])
    return torch.einsum("bkhw,bkc->bchw", basis, sh.expand(normal.shape[0], -1, -1))


def directional_sh(direction: Sequence[float] | Tensor, colour: Sequence[float] | Tensor = (1.0, 1.0, 1.0)
                   ) -> Tensor:
    """SH coefficients (9, 3) of a distant light from unit-normalised ``direction`` (towards the light).

    The projection ``N_k P_k(d)``, with band 0 multiplied by ``A_0 = pi`` (which DECA's constant leaves out).
    """
    d = torch.as_tensor(direction, dtype=torch.float32).reshape(3)
    if not torch.isfinite(d).all() or float(d.norm()) < 1e-8:
        raise LightingError(f"light direction must be a finite non-zero 3-vector, got {d.tolist()}")
    x, y, z = (d / d.norm()).tolist()
    poly = torch.tensor([_PI, x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1])
    c = torch.as_tensor(colour, dtype=torch.float32).reshape(3)
    return (poly * torch.tensor(SH_NORM))[:, None] * c[None, :]


def ambient_sh(colour: Sequence[float] | Tensor | float) -> Tensor:
    """SH coefficients (9, 3) of a constant shading ``colour`` (uniform ambient light)."""
    c = torch.as_tensor(colour, dtype=torch.float32).expand(3)
    sh = torch.zeros(NUM_SH, 3)
    sh[0] = c / SH_CONSTANTS[0]
    return sh


FLAT_NORMAL = (0.0, 0.0, 1.0)


def flat_shading(sh: Tensor) -> Tensor:
    """Shading (B, 3) of the flat normal (0, 0, 1) under ``sh`` (B, 9, 3)."""
    n = torch.tensor(FLAT_NORMAL, dtype=sh.dtype, device=sh.device).view(1, 3, 1, 1)
    sh = sh if sh.dim() == 3 else sh[None]
    return sh_shading(n.expand(sh.shape[0], -1, -1, -1), sh)[:, :, 0, 0]


def _compose(ambient: float, lights: Sequence[tuple[Sequence[float], Sequence[float]]], level: float) -> Tensor:
    sh = ambient_sh(ambient)
    for direction, colour in lights:
        sh = sh + directional_sh(direction, colour)
    return sh * (level / float(flat_shading(sh).mean()))


def lighting_preset(name: str, level: float = 1.0) -> Tensor:
    """SH lighting (9, 3) of preset ``name`` (:data:`LIGHTING_PRESETS`), flat-surface shading ``level``."""
    if name not in LIGHTING_PRESETS:
        raise LightingError(f"unknown lighting preset {name!r}; valid: {', '.join(LIGHTING_PRESETS)}")
    p = LIGHTING_PRESETS[name]
    return _compose(p["ambient"], p["lights"], level)


def random_lighting(n: int, generator: torch.Generator | None = None, level: tuple[float, float] = (0.85, 1.15),
                    max_tilt_deg: float = 65.0, tint: float = 0.08) -> Tensor:
    """``n`` plausible random lightings (n, 9, 3): ambient 0.15..0.5, a key light within ``max_tilt_deg`` of
    the viewer, a weaker fill from the other side, slight colour tints; flat shading in ``level``. Seeded
    by ``generator``; differentiable renders use it as data (no gradient)."""
    if n < 0:
        raise LightingError(f"number of lightings must be >= 0, got {n}")
    g = generator
    u = torch.rand(n, 12, generator=g)
    out = torch.empty(n, NUM_SH, 3)
    for i in range(n):
        r = u[i].tolist()
        tilt = math.radians(max_tilt_deg) * math.sqrt(r[0])
        phi = 2 * _PI * r[1]
        key = (math.sin(tilt) * math.cos(phi), math.sin(tilt) * math.sin(phi), math.cos(tilt))
        fill_tilt = math.radians(max_tilt_deg) * (0.3 + 0.7 * r[2])
        fill = (-math.sin(fill_tilt) * math.cos(phi), -math.sin(fill_tilt) * math.sin(phi), math.cos(fill_tilt))
        key_c = [1.0 + tint * (2 * r[3 + j] - 1) for j in range(3)]
        fill_c = [(0.1 + 0.35 * r[6]) * (1.0 + tint * (2 * r[7 + j] - 1)) for j in range(3)]
        lvl = level[0] + (level[1] - level[0]) * r[10]
        out[i] = _compose(0.15 + 0.35 * r[11], [(key, key_c), (fill, fill_c)], lvl)
    return out


def turntable_lighting(n: int = 8, elevation_deg: float = 25.0, ambient: float = 0.25,
                       swing_deg: float = 75.0) -> Tensor:
    """``n`` lightings (n, 9, 3) of one white light swinging from left to right (``-swing..+swing`` degrees
    around the vertical axis), ``elevation_deg`` above the horizon: the relit "turntable" strip."""
    if n < 1:
        raise LightingError(f"a turntable needs at least one light, got {n}")
    el = math.radians(elevation_deg)
    angles = torch.linspace(-swing_deg, swing_deg, n).tolist() if n > 1 else [0.0]
    out = []
    for a in angles:
        az = math.radians(a)
        d = (math.cos(el) * math.sin(az), -math.sin(el), math.cos(el) * math.cos(az))
        out.append(_compose(ambient, [(d, (1.0, 1.0, 1.0))], 1.0))
    return torch.stack(out)


def _gaussian_blur(x: Tensor, sigma_px: float) -> Tensor:
    radius = max(1, int(math.ceil(3 * sigma_px)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / max(sigma_px, 1e-6)) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def cavity(disp: Tensor, radius: float = 0.01, strength: float = 60.0) -> Tensor:
    """Cavity / ambient-occlusion factor (B, 1, H, W) in (0, 1] of a displacement (B, 1, H, W) in layout units.

    A point lying ``depth`` below the Gaussian-weighted mean of its surroundings (``radius``: sigma in layout
    units, so the result does not depend on the resolution) receives ``exp(-strength * depth)`` of the light;
    points level with or above their surroundings get 1.
    """
    if disp.dim() != 4 or disp.shape[1] != 1:
        raise LightingError(f"displacement must have shape (B, 1, H, W), got {tuple(disp.shape)}")
    if radius <= 0 or strength < 0:
        raise LightingError(f"cavity needs radius > 0 and strength >= 0, got {radius} and {strength}")
    sigma = radius * disp.shape[-1]
    depth = (_gaussian_blur(disp, sigma) - disp).clamp_min(0.0)
    return torch.exp(-strength * depth)


def shade(albedo: Tensor, normal: Tensor, sh: Tensor, occlusion: Tensor | None = None) -> Tensor:
    """Shaded texture (B, 3, H, W) = albedo x SH shading(normal) (x occlusion), not clamped (differentiable)."""
    if albedo.dim() != 4 or albedo.shape[1] != 3 or albedo.shape[0] != normal.shape[0] \
            or albedo.shape[-2:] != normal.shape[-2:]:
        raise LightingError(f"albedo {tuple(albedo.shape)} must be (B, 3, H, W) like the normals "
                            f"{tuple(normal.shape)}")
    out = albedo * sh_shading(normal, sh)
    if occlusion is not None:
        out = out * occlusion
    return out
