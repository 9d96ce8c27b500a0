"""The picture that shows whether edits reproduce the true detail: per AU, a row adding it and a row removing it,
columns source | ground truth | each run, on held-out faces of the synthetic benchmark.

Each cell is a crop around the AU's footprint (so 1-2 px wrinkles stay visible), shown as shaded displacement
beside the albedo. The same sources and targets are used for every run: for adding, the most neutral test
sample whose AU is inactive; for removing, the test sample where that AU is strongest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from aucgan.au import from_unit, to_unit
from aucgan.data.codec import MapCodec
from aucgan.inference import Editor
from aucgan.render.normals import displacement_to_normal
from aucgan.render.shading import lambert
from aucgan.render.views import VIEW_STRENGTH as SHADE_STRENGTH

#: Intensity (0..5) an AU is added at; sources must have it below ADD_BELOW, and at least REMOVE_FROM to remove.
ADD_LEVEL, ADD_BELOW, REMOVE_FROM = 4.0, 0.5, 1.5
CELL = 64            # pixels per panel in the picture


@dataclass(frozen=True)
class EditRow:
    """One row of the picture: edit ``au`` of sample ``index`` to ``target`` (unit scale, all AUs)."""

    au: str
    kind: str            # "add" | "remove"
    index: int
    target: torch.Tensor
    label: str


def pick_rows(au: torch.Tensor, identity: torch.Tensor, au_names: Sequence[str],
              only: Sequence[str] | None = None) -> list[EditRow]:
    """Add and remove rows for every AU (or the AUs in ``only``) from the evaluation data (``au`` (N, K) unit
    scale): deterministic. Adding starts from the first identity's least active face without the AU; removing
    from the face where the AU is strongest."""
    au5 = from_unit(au)
    first = identity == identity[0]
    rows = []
    for k, name in enumerate(au_names):
        if only is not None and name not in only:
            continue
        cand = torch.nonzero(first & (au5[:, k] < ADD_BELOW)).flatten()
        if cand.numel() == 0:
            cand = torch.nonzero(au5[:, k] < ADD_BELOW).flatten()
        if cand.numel():
            i = int(cand[au5[cand].sum(1).argmin()])
            t = au[i].clone()
            t[k] = to_unit(ADD_LEVEL)
            rows.append(EditRow(name, "add", i, t, f"{name} +{ADD_LEVEL:g}"))
        i = int(au5[:, k].argmax())
        if float(au5[i, k]) >= REMOVE_FROM:
            t = au[i].clone()
            t[k] = 0.0
            rows.append(EditRow(name, "remove", i, t, f"{name} {float(au5[i, k]):.1f}→0"))
    return rows


def footprint_box(fp: torch.Tensor, margin: int = 3, threshold: float = 0.05) -> tuple[int, int, int, int]:
    """A square box (top, left, side, side) around footprint ``fp`` (H, W), clipped to the map."""
    h, w = fp.shape
    ys, xs = torch.nonzero(fp > threshold, as_tuple=True)
    if ys.numel() == 0:
        return 0, 0, h, w
    y0, y1 = int(ys.min()) - margin, int(ys.max()) + 1 + margin
    x0, x1 = int(xs.min()) - margin, int(xs.max()) + 1 + margin
    side = min(max(y1 - y0, x1 - x0), h, w)
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    top = min(max(cy - side // 2, 0), h - side)
    left = min(max(cx - side // 2, 0), w - side)
    return top, left, side, side


def panels(maps: dict[str, torch.Tensor], box: tuple[int, int, int, int]) -> torch.Tensor:
    """(3, CELL, P*CELL): shaded displacement and albedo of one decoded map set (1, C, H, W), cropped to ``box``."""
    top, left, hh, ww = box
    views = []
    if "displacement" in maps:
        shade = lambert(displacement_to_normal(maps["displacement"].float(), SHADE_STRENGTH)).expand(-1, 3, -1, -1)
        views.append(shade)
    if "albedo" in maps:
        views.append(maps["albedo"].float())
    out = []
    for v in views:
        crop = v[:, :, top:top + hh, left:left + ww].clamp(0, 1)
        out.append(F.interpolate(crop, size=(CELL, CELL), mode="nearest")[0])
    return torch.cat(out, dim=2)


@torch.no_grad()
def edit_grid(runs: Sequence[tuple[str, Editor, torch.Tensor | None]], data, truth, codec: MapCodec,
              au_names: Sequence[str], only: Sequence[str] | None = None) -> tuple[torch.Tensor, list[str], list[str]]:
    """The picture (3, R*CELL, (2 + len(runs))*P*CELL), its row labels and column labels. ``data`` holds the
    evaluation samples (``x``, ``au``, ``footprints``, ``layout_index``, ``identity``, ``ids``), ``truth``
    renders (identity, AU vector) pairs; each run is (name, its :class:`~aucgan.inference.Editor`, the extra
    conditions (N, D) of ``data``'s samples for that generator, or None). The edits keep each source's
    attributes (the truth keeps its emotion). ``only`` restricts the rows to some AUs."""
    rows = pick_rows(data.au, data.identity, au_names, only)
    index = torch.tensor([r.index for r in rows])
    target = torch.stack([r.target for r in rows])
    fp = data.footprints[data.layout_index[index]]
    src = data.x[index]
    ids = [data.ids[i] for i in index.tolist()]
    gt = truth.render(ids, from_unit(target), ids).float()
    outs = [editor.generate(src, target, fp, data.au[index], None if extra is None else extra[index])["out"]
            for _, editor, extra in runs]
    columns = [src, gt, *outs]
    decoded = [codec.decode(c) for c in columns]
    lines = []
    for r_i, row in enumerate(rows):
        k = list(au_names).index(row.au)
        box = footprint_box(fp[r_i, k])
        cells = [panels({n: m[r_i:r_i + 1] for n, m in d.items()}, box) for d in decoded]
        lines.append(torch.cat(cells, dim=2))
    grid = torch.cat(lines, dim=1)
    return grid, [r.label for r in rows], ["source", "truth", *[name for name, _, _ in runs]]


def edit_figure(grid: torch.Tensor, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
                path: Path, panel_names: Sequence[str] = ("shaded displacement", "albedo")) -> Path:
    """Save the labelled picture of :func:`edit_grid`."""
    from aucgan.report.plots import grid_axes, save_figure

    fig, ax = grid_axes(grid, row_labels, col_labels, px_per_inch=70, row_line=("white", 0.5),
                        col_line=("black", 1.5), col_fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xlabel(f"each cell: {' | '.join(panel_names)}, cropped around the AU's footprint", fontsize=8)
    ax.set_title(title, fontsize=9, pad=18)
    return save_figure(fig, path)
