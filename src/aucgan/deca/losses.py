"""DECA's / EMOCA's regularisers of the detail displacement ``uv_z`` (metres), as aucgan loss functions.

* ``z_reg``: mean |uv_z| (DECA/EMOCA ``torch.mean(uv_z.abs())``, weight ``reg_z``), inside the face mask when
  one is given (DECA discards uv_z outside it).
* ``z_diff``: smooth shading - the mean squared horizontal and vertical differences of the shading (interior
  pixels) of uv_z's detail normals. DECA shades the detail normals on the coarse mesh under the estimated
  lighting; a data set of codes and uv_z maps has neither, so here the normals are uv_z's own, in UV tangent
  space (a flat base, slopes per metre with ``uv_extent_m`` metres per UV unit) under aucgan's fixed
  ``studio`` SH lighting (:mod:`aucgan.render.sh`).
* ``blendshape_sparsity``: mean |B| of the decoder's learned AU blendshapes (not DECA's): the prior that an AU
  changes few pixels, so that where the people's data do not agree on a change the map stays at zero.
* ``z_sym``: |uv_z - mirror(uv_z)| with the mirror detached, averaged (DECA sums it over the invisible half;
  off by default in aucgan: AU14 and other AUs are asymmetric).

Each returns ``(unweighted loss, scalars)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aucgan.losses.reconstruction import masked_distance
from aucgan.render.normals import displacement_to_normal
from aucgan.render.sh import lighting_preset, sh_shading

LIGHTING = "studio"


def z_reg(uv_z: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """Mean |uv_z| (metres), the ``mask``-weighted mean when a mask (1 or B, 1, H, W) is given. Scalars:
    ``G/z_reg``."""
    loss = uv_z.abs().mean() if mask is None else masked_distance(uv_z, torch.zeros_like(uv_z), mask, "l1", "z_reg")
    return loss, {"G/z_reg": float(loss.detach())}


def shading_smoothness(shading: Tensor) -> Tensor:
    """DECA's smoothness of a shading image: mean squared neighbour differences over the interior pixels."""
    dx = shading[:, :, 1:-1, 1:] - shading[:, :, 1:-1, :-1]
    dy = shading[:, :, 1:, 1:-1] - shading[:, :, :-1, 1:-1]
    return dx.pow(2).mean() + dy.pow(2).mean()


def z_diff(uv_z: Tensor, uv_extent_m: float) -> tuple[Tensor, dict[str, float]]:
    """Smoothness of the SH shading of uv_z's normals (tangent space, ``studio`` lighting). Scalars: ``G/z_diff``."""
    normal = displacement_to_normal(uv_z / uv_extent_m)
    shading = sh_shading(normal, lighting_preset(LIGHTING).to(normal))
    loss = shading_smoothness(shading)
    return loss, {"G/z_diff": float(loss.detach())}


def z_sym(uv_z: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Mean |uv_z - flip_x(uv_z).detach()|. Scalars: ``G/z_sym``."""
    loss = (uv_z - uv_z.flip(-1).detach()).abs().mean()
    return loss, {"G/z_sym": float(loss.detach())}


def blendshape_sparsity(blendshapes: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Mean |B| of AU blendshapes (K, n, H, W) in decoder units. Fitted with an L1 reconstruction by small batches,
    a per-pixel map drifts wherever the batches disagree; the penalty keeps those pixels at zero, the median-like
    change the truth rewards rather than a spread of small ones (docs/findings.md, "AU blendshapes"). Scalars:
    ``G/blendshape_l1``."""
    loss = blendshapes.abs().mean()
    return loss, {"G/blendshape_l1": float(loss.detach())}
