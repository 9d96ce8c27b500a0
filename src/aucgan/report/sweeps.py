"""AU sweep grids for the report: rows = AUs, columns = target intensity 0..5, one grid per source face.

Each cell shows the generator's output for the source with one AU set to the column's intensity (the others
kept), as viewable images side by side (albedo, shaded displacement, SH-lit render). Sources are chosen from the data
alone (per identity, its least expressive sample), so every run of a comparison is shown the same faces.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aucgan.data.codec import MapCodec
from aucgan.training.samples import view_labels, viewable

SWEEP_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)


def panel_labels(codec: MapCodec) -> list[str]:
    """Names of the views in each cell, in :func:`aucgan.training.samples.viewable` order."""
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


@torch.no_grad()
def sweep_grid(G: torch.nn.Module, codec: MapCodec, x: torch.Tensor, au_unit: torch.Tensor, fp: torch.Tensor,
               levels: Sequence[float] = SWEEP_LEVELS, device: torch.device | str = "cpu",
               batch_size: int = 32, extra: torch.Tensor | None = None) -> torch.Tensor:
    """The sweep grid image (3, K*H, L*P*W) for one source: x (C, H, W), au (K,) unit scale, fp (K, H, W),
    ``extra`` (D,) the source's extra conditions for generators that take them."""
    k, h = au_unit.numel(), x.shape[-2]
    targets = au_unit.reshape(1, 1, k).repeat(k, len(levels), 1)
    for i in range(k):
        targets[i, :, i] = torch.tensor(levels, dtype=targets.dtype) / 5.0
    targets = targets.reshape(k * len(levels), k)
    G.eval()
    outs = []
    for s in range(0, targets.shape[0], batch_size):
        t = targets[s:s + batch_size].to(device)
        n = t.shape[0]
        out = G(x[None].expand(n, -1, -1, -1).to(device), t, fp[None].expand(n, -1, -1, -1).to(device),
                source_au=au_unit[None].expand(n, -1).to(device),
                **({} if extra is None else {"extra": extra[None].expand(n, -1).to(device)}))["out"]
        outs.append(out.float().cpu())
    views = viewable(codec.decode(torch.cat(outs)))
    cells = torch.cat(views, dim=3)                                   # (K*L, 3, H, P*W)
    cw = cells.shape[-1]
    cells = cells.reshape(k, len(levels), 3, h, cw)
    return cells.permute(2, 0, 3, 1, 4).reshape(3, k * h, len(levels) * cw)
