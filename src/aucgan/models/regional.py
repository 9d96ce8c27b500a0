"""Local branches (Cascade EF-GAN, Wu et al. CVPR 2020): per-region sub-generators beside the global one.

Expressions act in a few places (brows, eyes, nose, mouth), and a global generator spends most of its
capacity on skin that does not change. Cascade EF-GAN adds small *local* generators, one per facial region,
whose outputs are fused with the global output; and it applies a large expression change as several
smaller steps (the *cascade*).

Regions. A local region is a group of AUs (DESIGN.md section 2: which AUs act where); its soft mask is the
union (max) of those AUs' atlas footprints (:func:`aucgan.layout.atlas.au_footprints`), so it follows the
landmarks of every face exactly as the atlas does, and the generator needs no input besides the footprints
it already receives. :data:`LOCAL_REGIONS` lists the regions; AUs missing from a model's AU set are skipped.

Fusion. With region masks ``m_r`` (B, 1, H, W) in [0, 1] and local outputs ``L_r``:
``local = sum_r m_r L_r / sum_r m_r`` and ``out = global + max_r(m_r) * (local - global)``: the global branch
alone outside every region, the local branches inside them, a soft blend at the edges.

Cascade. With ``cascade_steps = N > 1`` and the source AUs known (``source_au``), ``forward`` edits towards
``a_i = a_src + (i / N) (a_target - a_src)`` for i = 1..N, each step starting from the previous output
(and its AUs). Without ``source_au`` a single step is taken. :meth:`RegionalGenerator.decode` is always a
single step; :meth:`RegionalGenerator.edit` runs the cascade from an encoding of the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aucgan.au import canonical_au
from aucgan.models.generator import Encoded, MapGenerator
from aucgan.nn.layers import NetworkConfigError, ShapeError, check_shape

#: Local regions and the AUs that act in them (DESIGN.md section 2).
LOCAL_REGIONS: dict[str, tuple[str, ...]] = {
    "brows": ("AU01", "AU02", "AU04"),
    "eyes": ("AU05", "AU06", "AU07", "AU45"),
    "nose": ("AU09",),
    "mouth": ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28"),
}

__all__ = ["LOCAL_REGIONS", "RegionalEncoded", "RegionalGenerator", "region_au_indices", "region_masks_from_footprints"]


def region_au_indices(regions: Sequence[str], au_names: Sequence[str]) -> dict[str, list[int]]:
    """``{region: indices into au_names of the region's AUs}``; unknown regions and regions with none of
    their AUs in ``au_names`` raise :class:`NetworkConfigError`."""
    codes = [canonical_au(n) for n in au_names]
    out: dict[str, list[int]] = {}
    for region in regions:
        if region not in LOCAL_REGIONS:
            raise NetworkConfigError(f"unknown local region {region!r}; valid: {', '.join(LOCAL_REGIONS)}")
        idx = [i for i, c in enumerate(codes) if c in LOCAL_REGIONS[region]]
        if not idx:
            raise NetworkConfigError(f"local region {region!r}: none of its AUs "
                                     f"({', '.join(LOCAL_REGIONS[region])}) is in the model's AU set")
        out[region] = idx
    if len(set(regions)) != len(regions) or not regions:
        raise NetworkConfigError(f"local regions must be one or more distinct names, got {list(regions)}")
    return out


def region_masks_from_footprints(footprints: Tensor, index: dict[str, list[int]],
                                 size: tuple[int, int] | None = None) -> Tensor:
    """Soft region masks (B, R, H, W): per region the max of its AUs' footprints (B, K, h, w), resized."""
    masks = torch.stack([footprints[:, idx].amax(dim=1) for idx in index.values()], dim=1)
    if size is not None and tuple(masks.shape[-2:]) != tuple(size):
        masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
    return masks.clamp(0.0, 1.0)


@dataclass(frozen=True)
class RegionalEncoded:
    """:meth:`RegionalGenerator.encode`'s result: the global encoding and one per local branch."""

    source: Tensor
    glob: Encoded
    local: tuple[Encoded, ...]


class RegionalGenerator(nn.Module):
    """A global :class:`MapGenerator` plus one small MapGenerator per local region, fused by region masks.

    Each local branch sees the whole map set but only its region's AUs (and footprints, and ``extra``); it
    is a ``skip`` generator with ``local_channels`` base width and ``local_num_down`` levels. The call
    signature is :class:`MapGenerator`'s; outputs add ``"global"`` (the global branch's maps) and
    ``"local_weight"`` (B, 1, H, W), the fusion weight ``max_r m_r``.
    """

    def __init__(self, glob: MapGenerator, au_names: Sequence[str], regions: Sequence[str] = tuple(LOCAL_REGIONS),
                 local_channels: int = 16, local_num_down: int = 2,
                 local_conditioning: str | Sequence[str] = "adain", cascade_steps: int = 1) -> None:
        super().__init__()
        if len(au_names) != glob.num_aus:
            raise NetworkConfigError(f"regional generator: {len(au_names)} AU names for a global generator with "
                                     f"{glob.num_aus} AUs")
        if cascade_steps < 1:
            raise NetworkConfigError(f"cascade_steps must be >= 1, got {cascade_steps}")
        if cascade_steps > 1 and glob.in_channels != glob.out_channels:
            raise NetworkConfigError(f"a cascade feeds each step's output back as input: in_channels "
                                     f"({glob.in_channels}) must equal out_channels ({glob.out_channels})")
        self.glob = glob
        self.index = region_au_indices(tuple(regions), au_names)
        self.regions = tuple(self.index)
        self.cascade_steps = int(cascade_steps)
        self.local = nn.ModuleDict({
            r: MapGenerator(glob.in_channels, glob.out_channels, num_aus=len(idx), extra_dim=glob.extra_dim,
                            conditioning=local_conditioning, base_channels=local_channels,
                            max_channels=4 * local_channels, num_down=local_num_down, architecture="skip",
                            head="direct", image_size=glob.image_size, au_mode=glob.au_mode)
            for r, idx in self.index.items()})
        for name in ("in_channels", "out_channels", "num_aus", "extra_dim", "image_size", "au_mode", "head_kind",
                     "residual_extra"):
            setattr(self, name, getattr(glob, name))
        self.uses_footprints = True

    @property
    def needs_source_au(self) -> bool:
        return self.glob.needs_source_au or any(g.needs_source_au for g in self.local.values())

    def encode(self, x: Tensor) -> RegionalEncoded:
        """Encodings of the global and every local branch."""
        local = tuple(g.encode(x) for g in self.local.values())
        return RegionalEncoded(source=x, glob=self.glob.encode(x), local=local)

    def decode(self, enc: RegionalEncoded, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
               source: Tensor | None = None, source_au: Tensor | None = None,
               source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """One fused edit step from a :class:`RegionalEncoded` (``decode(encode(x), ...)`` is one step)."""
        if footprints is None:
            raise ShapeError(f"regional generator: needs the AU footprints (B, {self.num_aus}, H, W) for its "
                             "region masks; got None")
        check_shape(footprints, (enc.source.shape[0], self.num_aus, None, None), "regional generator: footprints")
        out = dict(self.glob.decode(enc.glob, au, footprints, extra, source=source, source_au=source_au,
                                    source_extra=source_extra))
        g = out["out"]
        masks = region_masks_from_footprints(footprints.to(g.dtype), self.index, tuple(g.shape[-2:]))
        num = torch.zeros_like(g)
        for k, ((region, idx), branch_enc) in enumerate(zip(self.index.items(), enc.local)):
            sub_src = None if source_au is None else source_au[:, idx]
            local = self.local[region].decode(branch_enc, au[:, idx], footprints[:, idx], extra, source=source,
                                              source_au=sub_src, source_extra=source_extra)["out"]
            num = num + masks[:, k:k + 1] * local
        den = masks.sum(dim=1, keepdim=True)
        weight = masks.amax(dim=1, keepdim=True)
        local_mix = num / den.clamp_min(1e-6)
        out.update({"out": g + weight * (local_mix - g), "global": g, "local_weight": weight})
        return out

    def edit(self, enc: RegionalEncoded, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
             source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """The whole edit from a :class:`RegionalEncoded`: the cascade's steps (the first from ``enc``, each later
        one from the previous step's output, re-encoded), or one step without a cascade or ``source_au``."""
        if self.cascade_steps == 1 or source_au is None:
            return self.decode(enc, au, footprints, extra, source_au=source_au, source_extra=source_extra)
        cur_au, cur_extra, out = source_au.to(au.dtype), source_extra, {}
        for i in range(1, self.cascade_steps + 1):
            frac = i / self.cascade_steps
            step_au = source_au + (au - source_au) * frac
            step_extra = (extra if source_extra is None or extra is None
                          else source_extra + (extra - source_extra) * frac)
            out = self.decode(enc, step_au, footprints, step_extra, source_au=cur_au, source_extra=cur_extra)
            cur_au, cur_extra = step_au, step_extra
            if i < self.cascade_steps:
                enc = self.encode(out["out"])
        return out

    def forward(self, x: Tensor, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
                source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        return self.edit(self.encode(x), au, footprints, extra, source_au=source_au, source_extra=source_extra)
