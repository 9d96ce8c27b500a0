"""Map sets <-> the single tensor the networks see.

Networks read and write one ``(B, C, H, W)`` tensor: the chosen maps stacked in a fixed order, each
scaled to about [-1, 1] (albedo/normal/image: ``2x - 1``; displacement: ``d / disp_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aucgan.data.sample import MAP_CHANNELS
from aucgan.errors import AucganError


@dataclass(frozen=True)
class MapCodec:
    """Stacks named maps into the network tensor and splits it back."""

    maps: tuple[str, ...] = ("displacement", "albedo")
    disp_scale: float = 0.02

    def __post_init__(self) -> None:
        unknown = [m for m in self.maps if m not in MAP_CHANNELS or m == "mask"]
        if unknown or not self.maps:
            valid = ", ".join(m for m in MAP_CHANNELS if m != "mask")
            raise AucganError(f"unknown map name(s) {unknown or '(none given)'}; valid maps: {valid}")
        if self.disp_scale <= 0:
            raise AucganError(f"disp_scale must be > 0, got {self.disp_scale}")

    @property
    def channels(self) -> int:
        return sum(MAP_CHANNELS[m] for m in self.maps)

    def slices(self) -> dict[str, slice]:
        """Channel range of each map inside the stacked tensor."""
        out, start = {}, 0
        for m in self.maps:
            out[m] = slice(start, start + MAP_CHANNELS[m])
            start += MAP_CHANNELS[m]
        return out

    def encode(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack ``maps`` (each (B, c, H, W) or (c, H, W)) into the scaled network tensor."""
        parts = []
        for m in self.maps:
            if m not in maps:
                raise AucganError(f"the model needs map {m!r} but the data has {sorted(maps)}")
            t = maps[m].float()
            parts.append(t / self.disp_scale if m == "displacement" else t * 2.0 - 1.0)
        return torch.cat(parts, dim=-3)

    def decode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split the network tensor back into named maps in their natural units."""
        out = {}
        for m, sl in self.slices().items():
            t = x[..., sl, :, :]
            out[m] = t * self.disp_scale if m == "displacement" else ((t + 1.0) * 0.5).clamp(0.0, 1.0)
        return out
