"""Per-region style codes (SEAN, Zhu et al. CVPR 2020) on top of the AU-conditioned map generator.

A style encoder turns the source maps into a feature map ``F`` (B, S, H, W); average pooling of ``F`` inside
each region's soft mask gives one style code per region (B, R, S). At the chosen decoder levels each code
becomes a per-channel scale/shift (``gamma_r, beta_r``), broadcast inside its region only:

    h <- h + alpha_l * (h * sum_r m_r gamma_r + sum_r m_r beta_r)

where ``h`` are the features already modulated by the AU conditioning and ``alpha_l`` a learned blend per
level (SEAN blends its style and semantic modulations the same way). Outside every region the term is 0.

Regions are :data:`aucgan.models.regional.LOCAL_REGIONS`, masks the union of their AUs' atlas footprints, so
they follow each face's landmarks. By default the codes act at the finest decoder level only: a code then
changes the output only inside its region (plus the 3x3 output head's one-pixel reach), which makes
:func:`swap_region_codes` - one region's code taken from another identity - a local edit. Coarser levels
(``style_levels``) give the codes more reach and less locality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aucgan.models.generator import Encoded, MapGenerator
from aucgan.models.regional import LOCAL_REGIONS, region_au_indices, region_masks_from_footprints
from aucgan.nn.layers import NetworkConfigError, ShapeError, act, check_shape, conv3x3

__all__ = ["RegionStyleGenerator", "StyleEncoded", "region_mask", "swap_region_codes"]

INIT_STD = 0.05


@dataclass(frozen=True)
class StyleEncoded:
    """:meth:`RegionStyleGenerator.encode`'s result: the base generator's encoding and the source maps."""

    source: Tensor
    base: Encoded


class RegionStyleGenerator(nn.Module):
    """A :class:`MapGenerator` whose decoder is also modulated by per-region style codes of the source.

    Same call signature as MapGenerator plus ``codes=`` (B, R, style_dim) to decode with given region codes
    (default: the source's own, :meth:`style_codes`).
    """

    def __init__(self, base: MapGenerator, au_names: Sequence[str], regions: Sequence[str] = tuple(LOCAL_REGIONS),
                 style_dim: int = 32, style_levels: Sequence[int] | None = None) -> None:
        super().__init__()
        if len(au_names) != base.num_aus:
            raise NetworkConfigError(f"region style generator: {len(au_names)} AU names for a generator with "
                                     f"{base.num_aus} AUs")
        if style_dim < 1:
            raise NetworkConfigError(f"style_dim must be >= 1, got {style_dim}")
        self.base = base
        self.index = region_au_indices(tuple(regions), au_names)
        self.regions, self.style_dim = tuple(self.index), int(style_dim)
        levels = (base.num_levels - 1,) if style_levels is None else tuple(int(v) for v in style_levels)
        if not levels or any(not 0 <= v < base.num_levels for v in levels) or len(set(levels)) != len(levels):
            raise NetworkConfigError(f"style_levels must be distinct decoder levels in 0..{base.num_levels - 1} "
                                     f"(0 = coarsest), got {list(levels)}")
        self.style_levels = tuple(sorted(levels))
        self.encoder = nn.Sequential(conv3x3(base.in_channels, style_dim), act(), conv3x3(style_dim, style_dim), act())
        r = len(self.regions)
        self.weight = nn.ParameterDict()
        self.bias = nn.ParameterDict()
        self.alpha = nn.ParameterDict()
        for level in self.style_levels:
            width = base.level_convs[level].out_channels
            self.weight[str(level)] = nn.Parameter(torch.randn(r, style_dim, 2 * width) * INIT_STD)
            self.bias[str(level)] = nn.Parameter(torch.zeros(r, 2 * width))
            self.alpha[str(level)] = nn.Parameter(torch.zeros(()))
        for name in ("in_channels", "out_channels", "num_aus", "extra_dim", "image_size", "au_mode", "head_kind",
                     "needs_source_au", "residual_extra"):
            setattr(self, name, getattr(base, name))
        self.uses_footprints = True

    # ------------------------------------------------------------------------------------------ codes
    def region_masks(self, footprints: Tensor, size: tuple[int, int]) -> Tensor:
        """Soft region masks (B, R, *size) from the AU footprints."""
        return region_masks_from_footprints(footprints, self.index, size)

    def style_codes(self, x: Tensor, footprints: Tensor) -> Tensor:
        """Region style codes (B, R, style_dim): the style features averaged inside each region's mask."""
        check_shape(footprints, (x.shape[0], self.num_aus, None, None), "region style generator: footprints")
        feats = self.encoder(x)
        masks = self.region_masks(footprints.to(feats.dtype), tuple(feats.shape[-2:]))
        num = torch.einsum("bshw,brhw->brs", feats, masks)
        return num / masks.sum(dim=(-2, -1))[..., None].clamp_min(1e-6)

    def _modulator(self, codes: Tensor, footprints: Tensor):
        cache: dict[tuple[int, int], Tensor] = {}

        def modulate(level: int, h: Tensor) -> Tensor:
            key = str(level)
            if key not in self.weight:
                return h
            size = (h.shape[-2], h.shape[-1])
            if size not in cache:
                cache[size] = self.region_masks(footprints.to(h.dtype), size)
            gb = torch.einsum("brs,rsc->brc", codes.to(h.dtype), self.weight[key]) + self.bias[key]
            gb_map = torch.einsum("brhw,brc->bchw", cache[size], gb)
            gamma, beta = gb_map.chunk(2, dim=1)
            return h + torch.sigmoid(self.alpha[key]) * (h * gamma + beta)

        return modulate

    # ---------------------------------------------------------------------------------------- forward
    def encode(self, x: Tensor) -> StyleEncoded:
        return StyleEncoded(source=x, base=self.base.encode(x))

    def decode(self, enc: StyleEncoded, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
               source: Tensor | None = None, source_au: Tensor | None = None,
               codes: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """Decode with region ``codes`` (default: those of ``enc.source``)."""
        if footprints is None:
            raise ShapeError(f"region style generator: needs the AU footprints (B, {self.num_aus}, H, W) for its "
                             "region masks; got None")
        if codes is None:
            codes = self.style_codes(enc.source, footprints)
        check_shape(codes, (enc.source.shape[0], len(self.regions), self.style_dim), "region style generator: codes")
        out = self.base.decode(enc.base, au, footprints, extra, source=source, source_au=source_au,
                               modulate=self._modulator(codes, footprints), source_extra=source_extra)
        return {**out, "codes": codes}

    def edit(self, enc: StyleEncoded, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
             source_au: Tensor | None = None, codes: Tensor | None = None,
             source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """The whole edit from a :class:`StyleEncoded` (one decoder pass)."""
        return self.decode(enc, au, footprints, extra, source_au=source_au, codes=codes, source_extra=source_extra)

    def forward(self, x: Tensor, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
                source_au: Tensor | None = None, codes: Tensor | None = None,
                source_extra: Tensor | None = None) -> dict[str, Tensor]:
        return self.edit(self.encode(x), au, footprints, extra, source_au=source_au, codes=codes,
                         source_extra=source_extra)


def swap_region_codes(G: RegionStyleGenerator, x: Tensor, donor: Tensor, au: Tensor, footprints: Tensor,
                      donor_footprints: Tensor, region: str, extra: Tensor | None = None,
                      source_au: Tensor | None = None) -> dict[str, Tensor]:
    """Edit ``x`` towards ``au`` with region ``region``'s style code taken from ``donor`` (another identity).

    Everything else (the other regions' codes, the encoding, the AU condition) is ``x``'s own, so the output
    differs from the plain edit only inside that region (see the module notes on ``style_levels``).
    """
    if region not in G.regions:
        raise NetworkConfigError(f"unknown style region {region!r}; this generator has {', '.join(G.regions)}")
    k = G.regions.index(region)
    codes = G.style_codes(x, footprints)
    donor_codes = G.style_codes(donor, donor_footprints)
    mixed = torch.cat([codes[:, :k], donor_codes[:, k:k + 1], codes[:, k + 1:]], dim=1)
    return G(x, au, footprints, extra, source_au=source_au, codes=mixed)


def region_mask(G: RegionStyleGenerator, footprints: Tensor, region: str, size: tuple[int, int]) -> Tensor:
    """The soft mask (B, 1, *size) of one of ``G``'s style regions."""
    k = G.regions.index(region)
    return G.region_masks(footprints, size)[:, k:k + 1]

