"""The sample structure every reader and the synthetic benchmark yield (DESIGN.md section 1), and what the readers
know of a sample before its maps are decoded (:class:`SampleMeta`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aucgan.au import AU_NAMES

#: Attribute names a sample may carry (all optional). ``emotion`` is an index into ``aucgan.au.EMOTIONS``.
ATTRIBUTES: tuple[str, ...] = ("age", "gender", "emotion", "valence")

#: Map names and their channel counts. ``albedo``/``image``/``normal`` are RGB in [0, 1] (normals encoded
#: as (n + 1) / 2); ``displacement`` is signed, in layout units scaled by the dataset's displacement scale.
MAP_CHANNELS: dict[str, int] = {"albedo": 3, "displacement": 1, "normal": 3, "image": 3, "mask": 1}


@dataclass
class Sample:
    """One face: named maps (CxHxW float tensors), AU intensities 0..5 and optional attributes."""

    id: str
    maps: dict[str, torch.Tensor]
    au: torch.Tensor
    identity: str | None = None
    split: str | None = None
    attrs: dict[str, float] = field(default_factory=dict)
    landmarks: torch.Tensor | None = None
    au_names: tuple[str, ...] = AU_NAMES

    def __post_init__(self) -> None:
        if self.au.shape != (len(self.au_names),):
            raise ValueError(f"sample {self.id}: AU vector has shape {tuple(self.au.shape)}, "
                             f"expected ({len(self.au_names)},)")
        for name, m in self.maps.items():
            if m.dim() != 3:
                raise ValueError(f"sample {self.id}: map {name!r} must be CxHxW, got shape {tuple(m.shape)}")
            expected = MAP_CHANNELS.get(name)
            if expected is not None and m.shape[0] != expected:
                raise ValueError(f"sample {self.id}: map {name!r} must have {expected} channels, got {m.shape[0]}")
        if self.landmarks is not None and self.landmarks.shape != (68, 2):
            raise ValueError(f"sample {self.id}: landmarks must be 68x2, got {tuple(self.landmarks.shape)}")

    def to_dict(self) -> dict:
        """A collatable dict: ``id``, ``maps``, ``au``, ``attrs`` (float tensor per name), ``landmarks`` if set."""
        out: dict = {"id": self.id, "identity": self.identity or "", "maps": dict(self.maps), "au": self.au}
        out["attrs"] = {k: torch.tensor(float(v)) for k, v in self.attrs.items()}
        if self.landmarks is not None:
            out["landmarks"] = self.landmarks
        return out


@dataclass(frozen=True, eq=False)
class SampleMeta:
    """Everything known about a sample without decoding its maps.

    ``maps``: map name -> image file. ``missing``: why the sample has no image file (OpenFace/GANimation rows
    whose image was not found), reported when the sample is loaded or its files are checked. ``landmarks``: (68, 2) in
    0..1; ``landmarks_px``: (68, 2) pixels of the sample's maps, normalised by their size when loaded.
    ``source``: the file (and line) the annotation came from, for error messages.
    """

    id: str
    au: np.ndarray
    maps: dict[str, Path]
    identity: str | None = None
    split: str | None = None
    attrs: dict[str, float] = field(default_factory=dict)
    landmarks: np.ndarray | None = None
    landmarks_px: np.ndarray | None = None
    source: str = ""
    missing: str | None = None
