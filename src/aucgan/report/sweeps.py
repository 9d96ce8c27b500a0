"""AU sweep grids for the report: rows = AUs, columns = target intensity 0..5, one grid per source face.

Each cell shows the generator's output for the source with one AU set to the column's intensity (the others
kept), as viewable images side by side (albedo, shaded displacement, SH-lit render). Sources are chosen from the data
alone (per identity, its least expressive sample), so every run of a comparison is shown the same faces.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aucgan.au import to_unit
from aucgan.data.codec import MapCodec
from aucgan.inference import Editor
from aucgan.render.views import view_labels, viewable

SWEEP_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)


def panel_labels(codec: MapCodec) -> list[str]:
    """Names of the views in each cell, in :func:`aucgan.render.views.viewable` order."""
    return view_labels(codec.maps)


def pick_sweep_sources(au: torch.Tensor, identity: torch.Tensor, count: int) -> list[int]:
    """Up to ``count`` sample indices: for the first identities (in index order), the sample with the
    smallest total AU intensity (the most neutral face of that identity)."""
    out: list[int] = []
    for ident in dict.fromkeys(identity.tolist()):
        members = torch.nonzero(identity == ident).flatten()
        out.append(int(members[au[members].sum(dim=1).argmin()]))
        if len(out) == count:
            break
    return out


def sweep_grid(editor: Editor, x: torch.Tensor, au_unit: torch.Tensor, fp: torch.Tensor,
               levels: Sequence[float] = SWEEP_LEVELS, batch_size: int = 32,
               extra: torch.Tensor | None = None) -> torch.Tensor:
    """The sweep grid image (3, K*H, L*P*W) for one source with the editor's generator: x (C, H, W), au (K,)
    unit scale, fp (K, H, W), ``extra`` (D,) the source's extra conditions for generators that take them."""
    k, h = au_unit.numel(), x.shape[-2]
    targets = au_unit.reshape(1, 1, k).repeat(k, len(levels), 1)
    for i in range(k):
        targets[i, :, i] = to_unit(torch.tensor(levels, dtype=targets.dtype))
    targets = targets.reshape(k * len(levels), k)
    out = editor.generate(x[None], targets, fp[None], au_unit[None], None if extra is None else extra[None],
                          batch_size=batch_size)["out"]
    views = viewable(editor.codec.decode(out))
    cells = torch.cat(views, dim=3)                                   # (K*L, 3, H, P*W)
    cw = cells.shape[-1]
    cells = cells.reshape(k, len(levels), 3, h, cw)
    return cells.permute(2, 0, 3, 1, 4).reshape(3, k * h, len(levels) * cw)
