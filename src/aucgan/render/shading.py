"""A simple directional Lambert shade for previews (layout frame: x right, y down, z out of the surface)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

Tensor = torch.Tensor

#: Default light: from the upper left, in front of the face.
DEFAULT_LIGHT: tuple[float, float, float] = (-0.4, -0.5, 0.75)


def lambert(normal: Tensor, light_dir: Sequence[float] = DEFAULT_LIGHT, ambient: float = 0.3) -> Tensor:
    """Shade (B, 1, H, W) in [0, 1] of unit normals (B, 3, H, W): ``ambient + (1 - ambient) max(0, n.l)``."""
    if normal.dim() != 4 or normal.shape[1] != 3:
        raise ValueError(f"normals must have shape (B, 3, H, W), got {tuple(normal.shape)}")
    light = torch.as_tensor(light_dir, dtype=normal.dtype, device=normal.device)
    light = light / light.norm().clamp_min(1e-8)
    cos = (normal * light.view(1, 3, 1, 1)).sum(dim=1, keepdim=True).clamp_min(0.0)
    return (ambient + (1.0 - ambient) * cos).clamp(0.0, 1.0)


def shade_for_view(albedo: Tensor, normal: Tensor, light_dir: Sequence[float] = DEFAULT_LIGHT,
                   ambient: float = 0.3) -> Tensor:
    """Albedo (B, 3, H, W) lit by :func:`lambert`, brightened so a flat surface keeps its albedo."""
    flat = lambert(torch.tensor([0.0, 0.0, 1.0], dtype=normal.dtype).view(1, 3, 1, 1), light_dir, ambient)
    return (albedo * lambert(normal, light_dir, ambient) / flat).clamp(0.0, 1.0)
