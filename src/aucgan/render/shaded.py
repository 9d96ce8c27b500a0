"""Shaded renders of map sets: displacement -> normals -> SH shading x albedo (x cavity), batched and differentiable.

:class:`Renderer` holds the physical settings (normal slope scale, cavity) and renders either decoded maps
(albedo in [0, 1], displacement in layout units) or the network tensor of a :class:`~aucgan.data.codec.MapCodec`
(what losses and the AU estimator read). :func:`turntable` lays a map set out under a swinging light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from aucgan.render.normals import displacement_to_normal
from aucgan.render.sh import LightingError, cavity, shade, turntable_lighting

if TYPE_CHECKING:  # render sits below data: the codec is only read (its slices, maps and scale), never built
    from aucgan.data.codec import MapCodec

Tensor = torch.Tensor


@dataclass(frozen=True)
class Renderer:
    """``normal_strength`` multiplies displacement slopes (1 = geometric, layout units); ``cavity_strength`` 0
    switches the cavity term off; ``cavity_radius`` is in layout units."""

    normal_strength: float = 1.0
    cavity_strength: float = 0.0
    cavity_radius: float = 0.01

    def normals(self, disp: Tensor) -> Tensor:
        """Unit normals (B, 3, H, W) of a displacement (B, 1, H, W) in layout units."""
        return displacement_to_normal(disp, self.normal_strength)

    def render(self, albedo: Tensor, disp: Tensor, sh: Tensor) -> Tensor:
        """Shaded texture (B, 3, H, W) of albedo (B, 3, H, W) in [0, 1] and displacement (B, 1, H, W)."""
        occ = cavity(disp, self.cavity_radius, self.cavity_strength) if self.cavity_strength > 0 else None
        return shade(albedo, self.normals(disp), sh, occ)

    def render_network(self, x: Tensor, codec: MapCodec, sh: Tensor) -> Tensor:
        """Shaded render of a network tensor ``x`` (B, C, H, W) holding albedo and displacement (gradients flow).

        Returned in network scale (``2 r - 1``) so it can feed networks trained on maps in about [-1, 1].
        """
        sl = codec.slices()
        if "albedo" not in sl or "displacement" not in sl:
            raise LightingError(f"a shaded render needs albedo and displacement maps; the model has "
                                f"{list(codec.maps)}")
        albedo = (x[:, sl["albedo"]] + 1.0) * 0.5
        disp = x[:, sl["displacement"]] * codec.disp_scale
        return self.render(albedo, disp, sh) * 2.0 - 1.0


@torch.no_grad()
def turntable(albedo: Tensor, disp: Tensor, n: int = 8, renderer: Renderer | None = None) -> Tensor:
    """A relit strip (3, H, n * W) in [0, 1]: one map set (albedo (3, H, W), displacement (1, H, W)) under
    ``n`` light directions swinging from left to right."""
    renderer = renderer or Renderer()
    sh = turntable_lighting(n)
    views = renderer.render(albedo[None].expand(n, -1, -1, -1).float(), disp[None].expand(n, -1, -1, -1).float(),
                            sh)
    return torch.cat(list(views.clamp(0.0, 1.0)), dim=2)
