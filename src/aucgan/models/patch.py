"""Local patch discriminators (Cascade EF-GAN, Wu et al. CVPR 2020) beside the global discriminator.

A global discriminator judges the whole map set; small expression details (a lid bulge, a nasolabial fold)
weigh little in its verdict. Local discriminators judge crops of the regions where AUs act (brows, eyes,
nose, mouth; :data:`aucgan.models.regional.LOCAL_REGIONS`), each conditioned - with the same kinds as the
global one (``concat``, ``projection``, ``aux_regressor``, ``projection_aux``) - on the AUs of its region only.

Crops. A region's box is the bounding box of its soft mask (the union of its AUs' atlas footprints) above
0.5, enlarged by ``margin``; the crop is resampled to ``patch_size`` squared with ``grid_sample``,
differentiable with respect to the maps (the box itself is not). A region with an empty mask uses the whole
map. Boxes follow each face's landmarks, as the footprints do.

:class:`GlobalLocalDiscriminator` holds the global discriminator and the local ones in one module (one
optimiser, one checkpoint file); calling it is calling the global discriminator, and
:meth:`GlobalLocalDiscriminator.local` returns the local verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aucgan.models.discriminator import DOutput, PatchDiscriminator, build_discriminator
from aucgan.models.regional import region_au_indices, region_masks_from_footprints
from aucgan.nn.layers import check_shape

__all__ = ["GlobalLocalDiscriminator", "LocalDiscriminators", "region_boxes", "crop_boxes"]

MASK_LEVEL = 0.5
MIN_HALF = 0.125  # boxes span at least a eighth of the map


def region_boxes(masks: Tensor, margin: float = 0.15) -> Tensor:
    """Boxes (B, R, 4) as (cx, cy, half_w, half_h) in grid_sample units (-1..1) around each mask's pixels
    above 0.5, enlarged by ``margin`` of their sides; the whole map where a mask is empty."""
    b, r, h, w = masks.shape
    on = masks.detach() > MASK_LEVEL
    ys = torch.arange(h, device=masks.device, dtype=torch.float32)
    xs = torch.arange(w, device=masks.device, dtype=torch.float32)
    rows, cols = on.any(dim=3), on.any(dim=2)                               # (B, R, H), (B, R, W)
    big = 1e9

    def extent(hit: Tensor, coord: Tensor) -> tuple[Tensor, Tensor]:
        lo = torch.where(hit, coord, torch.full_like(coord, big)).amin(dim=-1)
        hi = torch.where(hit, coord, torch.full_like(coord, -big)).amax(dim=-1)
        return lo, hi

    y0, y1 = extent(rows, ys)
    x0, x1 = extent(cols, xs)
    empty = ~rows.any(dim=-1)
    cx = ((x0 + x1 + 1.0) / w) - 1.0                                        # pixel span -> -1..1 centre
    cy = ((y0 + y1 + 1.0) / h) - 1.0
    half_w = ((x1 - x0 + 1.0) / w * (1.0 + margin)).clamp(MIN_HALF, 1.0)
    half_h = ((y1 - y0 + 1.0) / h * (1.0 + margin)).clamp(MIN_HALF, 1.0)
    boxes = torch.stack([cx, cy, half_w, half_h], dim=-1)
    full = torch.tensor([0.0, 0.0, 1.0, 1.0], device=masks.device)
    return torch.where(empty[..., None], full, boxes)


def crop_boxes(x: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Crops (B, C, size, size) of ``x`` (B, C, H, W) at ``boxes`` (B, 4) (see :func:`region_boxes`)."""
    cx, cy, hw, hh = boxes.unbind(dim=-1)
    zero = torch.zeros_like(cx)
    theta = torch.stack([torch.stack([hw, zero, cx], -1), torch.stack([zero, hh, cy], -1)], dim=1)
    grid = F.affine_grid(theta.to(x.dtype), [x.shape[0], x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class LocalDiscriminators(nn.Module):
    """One conditional discriminator per local region, on region crops, conditioned on the region's AUs."""

    def __init__(self, kind: str, in_channels: int, au_names: Sequence[str], regions: Sequence[str],
                 extra_dim: int = 0, patch_size: int = 32, base_channels: int = 32, max_channels: int = 256,
                 num_down: int = 3, spectral_norm: bool = False, margin: float = 0.15) -> None:
        super().__init__()
        self.index = region_au_indices(tuple(regions), au_names)
        self.regions, self.num_aus, self.patch_size, self.margin = tuple(self.index), len(au_names), patch_size, margin
        self.discs = nn.ModuleDict({
            r: build_discriminator(kind, in_channels, num_aus=len(idx), extra_dim=extra_dim,
                                   base_channels=base_channels, max_channels=max_channels, num_down=num_down,
                                   spectral_norm=spectral_norm, image_size=patch_size)
            for r, idx in self.index.items()})

    def crops(self, x: Tensor, footprints: Tensor) -> dict[str, Tensor]:
        """Region crops ``{region: (B, C, patch_size, patch_size)}`` of maps ``x`` for these footprints."""
        check_shape(footprints, (x.shape[0], self.num_aus, None, None), "local discriminators: footprints")
        masks = region_masks_from_footprints(footprints.float(), self.index, tuple(x.shape[-2:]))
        boxes = region_boxes(masks, self.margin)
        return {r: crop_boxes(x, boxes[:, k], self.patch_size) for k, r in enumerate(self.regions)}

    def forward(self, x: Tensor, au: Tensor, footprints: Tensor, extra: Tensor | None = None) -> dict[str, DOutput]:
        """``{region: DOutput}`` of each local discriminator on its crop, with that region's AUs."""
        check_shape(au, (x.shape[0], self.num_aus), "local discriminators: au")
        crops = self.crops(x, footprints)
        return {r: self.discs[r](crops[r], au[:, idx], extra) for r, idx in self.index.items()}


class GlobalLocalDiscriminator(nn.Module):
    """The global discriminator (called as usual) and :class:`LocalDiscriminators` in one module.

    ``has_local_patches`` tells the loss phases to add the local terms through :meth:`local` and
    :attr:`local_au_index` (see :class:`~aucgan.models.discriminator.PatchDiscriminator`)."""

    has_local_patches: ClassVar[bool] = True

    def __init__(self, glob: PatchDiscriminator, patches: LocalDiscriminators) -> None:
        super().__init__()
        self.glob, self.patches = glob, patches

    def forward(self, x: Tensor, au: Tensor, extra: Tensor | None = None) -> DOutput:
        return self.glob(x, au, extra)

    def local(self, x: Tensor, au: Tensor, footprints: Tensor, extra: Tensor | None = None) -> dict[str, DOutput]:
        """The local discriminators' verdicts ``{region: DOutput}`` (AUs: the full (B, K) vector)."""
        return self.patches(x, au, footprints, extra)

    @property
    def local_au_index(self) -> dict[str, list[int]]:
        """``{region: AU columns}``: which AUs of the full vector each local discriminator judges."""
        return self.patches.index
