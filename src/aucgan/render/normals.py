"""Displacement -> tangent-space normals (finite differences), and the [0, 1] colour encoding of normals.

Normals live in the layout frame: x right, y down (image rows), z out of the surface. Slopes are measured
per layout unit (displacement change per layout width/height), so the same displacement gives the same
normals at every resolution. ``strength`` multiplies the slopes (1.0 = geometric normals).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def displacement_to_normal(disp: Tensor, strength: float = 1.0) -> Tensor:
    """Unit normals (B, 3, H, W) of a height field ``disp`` (B, 1, H, W); a flat field gives (0, 0, 1).

    Central differences inside, one-sided at the border (replicate padding); the gradient is scaled by the
    map size so that it is per layout unit.
    """
    if disp.dim() != 4 or disp.shape[1] != 1:
        raise ValueError(f"displacement must have shape (B, 1, H, W), got {tuple(disp.shape)}")
    h, w = disp.shape[-2:]
    d = disp.float()
    p = F.pad(d, (1, 1, 1, 1), mode="replicate")
    gx = (p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]) * (0.5 * w)
    gy = (p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]) * (0.5 * h)
    n = torch.cat([-strength * gx, -strength * gy, torch.ones_like(gx)], dim=1)
    return n * torch.rsqrt((n * n).sum(dim=1, keepdim=True))


def encode_normal(normal: Tensor) -> Tensor:
    """Unit normals in [-1, 1] -> colours in [0, 1] (``(n + 1) / 2``), as stored in normal-map PNGs."""
    return ((normal + 1.0) * 0.5).clamp(0.0, 1.0)


def decode_normal(rgb: Tensor) -> Tensor:
    """Colours in [0, 1] -> unit normals (renormalised, so 8-bit quantisation does not shorten them).

    Works on (3, H, W) or (B, 3, H, W).
    """
    n = rgb.float() * 2.0 - 1.0
    dim = 0 if n.dim() == 3 else 1
    return n / n.norm(dim=dim, keepdim=True).clamp_min(1e-6)
