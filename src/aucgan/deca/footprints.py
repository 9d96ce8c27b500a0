"""AU footprints in the decoder's UV space (FLAME UV for DECA), from a layout and an optional face mask.

FLAME has one topology with fixed per-vertex UVs, so the 68 landmarks sit at the same UV position for every
person: one footprint set serves every sample. The layout is aucgan's layout JSON (``aucgan layout flame``
writes DECA's; x = u, y = 1 - v, so footprint rows are DECA's UV image rows); the region atlas
(:mod:`aucgan.layout.atlas`) derives the footprints from its landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aucgan.au import AU_NAMES
from aucgan.layout.atlas import RegionAtlas
from aucgan.layout.landmarks import Layout, LayoutError, canonical_layout, load_layout
from aucgan.nn.layers import resize_to


def as_layout(layout: Layout | str | Path | np.ndarray | None) -> Layout:
    """A :class:`Layout` from a layout, a layout JSON path, a (68, 2) landmark array, or None (aucgan's
    canonical layout, which is not FLAME UV: pass DECA's layout for DECA's maps)."""
    if layout is None:
        return canonical_layout()
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, (str, Path)):
        return load_layout(layout)
    pts = np.asarray(layout, np.float32)
    return Layout(name="landmarks", landmarks=pts)


def uv_footprints(layout: Layout | str | Path | np.ndarray | None, au_names: Sequence[str] = AU_NAMES,
                  size: int = 256, mask: np.ndarray | Tensor | None = None) -> Tensor:
    """(K, size, size) footprints in [0, 1], in ``au_names`` order, times ``mask`` when given.

    ``mask``: (H, W) in [0, 1] (e.g. DECA's ``uv_face_eye_mask.png`` channel 0 / 255), resized to ``size``.
    """
    fp = RegionAtlas(as_layout(layout)).footprints((size, size), au_names)
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask, np.float32))
        if m.dim() != 2 or not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
            raise LayoutError(f"footprint mask must be a finite (H, W) array in [0, 1], got shape {tuple(m.shape)}")
        fp = fp * resize_to(m[None, None], (size, size))[0]
    return fp.float().contiguous()
