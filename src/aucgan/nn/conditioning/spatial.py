"""Spatial AU modulation (SPADE, Park et al. 2019, driven by the region atlas's AU footprints).

An AU acts in one place of the face, and in UV space that place moves from face to face; a per-channel
modulation (AdaIN) cannot express "deepen the nasolabial fold, leave the forehead alone". ``spade_au`` builds
the spatial condition map ``S = [au_k * footprint_k, footprint_k]_k`` at the features' resolution and turns
it into per-pixel scale/shift with a small convolution net.

Locality by construction: the convolutions have no bias, so wherever ``S`` is zero within the net's
receptive field (2 pixels around the footprints) gamma = beta = 0 and the output equals the normalised
features - exactly the unconditioned path. Changing AU k changes only ``S``'s channel k, so the output
changes only inside footprint k (dilated by 2 pixels). The non-AU part of the condition (extra attributes,
``c[:, num_aus:]``) enters as a per-channel FiLM term.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aucgan.nn.conditioning.base import CONDITIONING, ModulationLayer, affine
from aucgan.nn.layers import NetworkConfigError, ShapeError, check_shape, resize_to, scale_init_

INIT_SCALE = 0.1


@CONDITIONING.register("spade_au")
class SpadeAU(ModulationLayer):
    """Per-pixel AU modulation of instance-normalised features from AU intensities x footprints."""

    injection = "spatial"

    def __init__(self, num_features: int, num_aus: int, cond_dim: int, hidden: int = 64) -> None:
        super().__init__(num_features, cond_dim)
        if not 1 <= num_aus <= cond_dim:
            raise NetworkConfigError(f"spade_au: num_aus ({num_aus}) must be in 1..cond_dim ({cond_dim})")
        self.num_aus = num_aus
        self.norm = nn.InstanceNorm2d(num_features, affine=False, track_running_stats=False)
        self.shared = nn.Sequential(nn.Conv2d(2 * num_aus, hidden, 3, padding=1, bias=False), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, num_features, 3, padding=1, bias=False)
        self.beta = nn.Conv2d(hidden, num_features, 3, padding=1, bias=False)
        scale_init_(self.gamma, INIT_SCALE)
        scale_init_(self.beta, INIT_SCALE)
        extra = cond_dim - num_aus
        self.extra = nn.Linear(extra, 2 * num_features) if extra else None
        if self.extra is not None:
            scale_init_(self.extra, INIT_SCALE)

    def normalize(self, h: Tensor) -> Tensor:
        return self.norm(h)

    def condition_map(self, c: Tensor, footprints: Tensor, size: tuple[int, int]) -> Tensor:
        """``S`` (B, 2K, *size): AU-weighted footprints and the footprints, resized to ``size``."""
        fp = resize_to(footprints, size)
        au = c[:, :self.num_aus, None, None].to(fp.dtype)
        return torch.cat([au * fp, fp], dim=1)

    def modulate(self, h: Tensor, c: Tensor, footprints: Tensor | None = None) -> Tensor:
        if footprints is None:
            raise ShapeError(f"spade_au: needs the AU footprints (B, {self.num_aus}, H, W); got None")
        check_shape(footprints, (h.shape[0], self.num_aus, None, None), "spade_au: footprints")
        a = self.shared(self.condition_map(c, footprints.to(h.dtype), (h.shape[-2], h.shape[-1])))
        h = affine(h, self.gamma(a), self.beta(a))
        if self.extra is not None:
            gamma, beta = self.extra(c[:, self.num_aus:].to(h.dtype)).chunk(2, dim=1)
            h = affine(h, gamma, beta)
        return h
