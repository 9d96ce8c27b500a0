"""The decomposed generator: AUs drive the displacement (geometry), attributes drive the albedo (appearance).

Wrinkles and folds are geometry and follow single AUs; skin colour (blood flow) follows emotion/valence more
than AUs (Benitez-Quiroz et al. 2018). So two :class:`MapGenerator` heads share the input maps but not their
conditions:

* **geometry** writes the displacement channels, conditioned on the AUs only (with its footprints, relative
  mode, any conditioning layer);
* **appearance** writes the albedo channels, conditioned on the ``extra`` attributes (emotion, valence,
  age, gender) and on the few ``albedo_aus`` whose visible change is colour rather than relief: lids and
  lips opening or closing (AU05, AU07, AU25, AU26, AU45 by default) uncover the eye or the mouth interior.

A wrinkle-AU edit thus cannot repaint the albedo, and an emotion edit cannot carve wrinkles. The call
signature is :class:`MapGenerator`'s; outputs add ``"geometry"`` and ``"appearance"`` (each head's maps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aucgan.au import au_indices
from aucgan.models.generator import Encoded, MapGenerator
from aucgan.nn.conditioning import CONDITIONING
from aucgan.nn.layers import NetworkConfigError

#: AUs whose visible change is mostly colour (an aperture opening or closing), not skin relief.
APERTURE_AUS: tuple[str, ...] = ("AU05", "AU07", "AU25", "AU26", "AU45")


@dataclass(frozen=True)
class DecomposedEncoded:
    """Encodings of both heads."""

    source: Tensor
    geometry: Encoded
    appearance: Encoded


class DecomposedGenerator(nn.Module):
    """Geometry head (displacement from AUs) + appearance head (albedo from attributes and ``albedo_aus``).

    ``geometry``: a MapGenerator with ``out_channels`` = the displacement channels and ``extra_dim`` 0.
    ``appearance``: a MapGenerator with ``out_channels`` = the albedo channels, ``num_aus`` =
    ``max(1, len(albedo_aus))`` and the model's ``extra_dim``; its conditioning must not be spatial (the
    footprints are those of all AUs). ``disp_channels``/``albedo_channels``: where each head's output goes in
    the stacked map tensor (:meth:`aucgan.data.codec.MapCodec.slices`), which they must cover exactly.
    """

    def __init__(self, geometry: MapGenerator, appearance: MapGenerator, au_names: Sequence[str],
                 disp_channels: slice, albedo_channels: slice, albedo_aus: Sequence[str] = APERTURE_AUS) -> None:
        super().__init__()
        channels = geometry.in_channels
        if appearance.in_channels != channels:
            raise NetworkConfigError(f"decomposed generator: both heads read the same maps, got in_channels "
                                     f"{geometry.in_channels} and {appearance.in_channels}")
        d0, d1 = disp_channels.indices(channels)[:2]
        a0, a1 = albedo_channels.indices(channels)[:2]
        if geometry.out_channels != d1 - d0 or appearance.out_channels != a1 - a0 or \
                sorted([(d0, d1), (a0, a1)]) not in ([(0, d1), (d1, channels)], [(0, a1), (a1, channels)]):
            raise NetworkConfigError(f"decomposed generator: displacement channels {d0}:{d1} and albedo channels "
                                     f"{a0}:{a1} must split the {channels} map channels between heads with "
                                     f"{geometry.out_channels} and {appearance.out_channels} outputs")
        if geometry.extra_dim:
            raise NetworkConfigError("decomposed generator: the geometry head takes AUs only (extra_dim 0), got "
                                     f"extra_dim {geometry.extra_dim}")
        if geometry.num_aus != len(au_names):
            raise NetworkConfigError(f"decomposed generator: {len(au_names)} AU names for a geometry head with "
                                     f"{geometry.num_aus} AUs")
        spatial = [n for n in appearance.conditioning if CONDITIONING.get(n).injection == "spatial"]
        if spatial:
            raise NetworkConfigError(f"decomposed generator: the appearance head cannot use spatial "
                                     f"conditioning {spatial}: its conditions are attributes, not AU footprints")
        self.albedo_aus = tuple(albedo_aus)
        self.register_buffer("albedo_index", torch.tensor(au_indices(self.albedo_aus, au_names) if self.albedo_aus
                                                          else [], dtype=torch.long), persistent=False)
        if appearance.num_aus != max(1, len(self.albedo_aus)):
            raise NetworkConfigError(f"decomposed generator: the appearance head must take {max(1, len(albedo_aus))} "
                                     f"AU inputs (albedo_aus {list(albedo_aus)}), got {appearance.num_aus}")
        if not self.albedo_aus and appearance.extra_dim == 0:
            raise NetworkConfigError("decomposed generator: the appearance head has no condition: give it extra "
                                     "attributes (generator.extra_attrs) or albedo_aus")
        if appearance.needs_source_au:
            raise NetworkConfigError("decomposed generator: the appearance head must be absolute with a direct head")
        self.geometry, self.appearance = geometry, appearance
        self.disp_first = d0 == 0
        self.in_channels, self.out_channels = channels, channels
        self.num_aus, self.extra_dim = geometry.num_aus, appearance.extra_dim
        self.image_size, self.au_mode, self.head_kind = geometry.image_size, geometry.au_mode, geometry.head_kind
        self.uses_footprints = geometry.uses_footprints
        self.residual_extra: tuple[int, ...] = ()   # the appearance head edits its attributes absolutely

    @property
    def needs_source_au(self) -> bool:
        return self.geometry.needs_source_au

    def _appearance_au(self, au: Tensor) -> Tensor:
        if len(self.albedo_aus):
            return au[:, self.albedo_index]
        return au.new_zeros(au.shape[0], 1)

    def encode(self, x: Tensor) -> DecomposedEncoded:
        """Encodings of both heads."""
        return DecomposedEncoded(source=x, geometry=self.geometry.encode(x), appearance=self.appearance.encode(x))

    def decode(self, enc: DecomposedEncoded, au: Tensor, footprints: Tensor | None = None,
               extra: Tensor | None = None, source: Tensor | None = None,
               source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """Maps from a :class:`DecomposedEncoded`: geometry from ``au`` (and ``source_au``), appearance from
        ``extra`` and the albedo AUs. ``source`` (default the encoded maps) feeds blending heads. ``source_extra``
        is accepted for the interface and not needed: the appearance head is absolute in its attributes."""
        src = enc.source if source is None else source
        d0 = 0 if self.disp_first else self.appearance.out_channels
        a0 = self.geometry.out_channels if self.disp_first else 0
        geo_src = src[:, d0:d0 + self.geometry.out_channels]
        geo = self.geometry.decode(enc.geometry, au, footprints, None, source=geo_src, source_au=source_au)
        app = self.appearance.decode(enc.appearance, self._appearance_au(au), None, extra,
                                     source=src[:, a0:a0 + self.appearance.out_channels])
        parts = [geo["out"], app["out"]] if self.disp_first else [app["out"], geo["out"]]
        return {"out": torch.cat(parts, dim=1), "geometry": geo["out"], "appearance": app["out"]}

    def edit(self, enc: DecomposedEncoded, au: Tensor, footprints: Tensor | None = None,
             extra: Tensor | None = None, source_au: Tensor | None = None,
             source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """The whole edit from a :class:`DecomposedEncoded` (one pass of each head)."""
        return self.decode(enc, au, footprints, extra, source_au=source_au)

    def forward(self, x: Tensor, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
                source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        return self.edit(self.encode(x), au, footprints, extra, source_au=source_au)
