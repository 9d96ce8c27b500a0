"""Sample grids written during training: source | target AUs | output (| attention) per row (the views of the
maps are :mod:`aucgan.render.views`')."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from aucgan.data.codec import MapCodec
from aucgan.data.mapio import save_rgb
from aucgan.inference import Editor
from aucgan.render.views import viewable


def au_bars(au_unit: torch.Tensor, size: int) -> torch.Tensor:
    """Draw AU intensities (B, K) in 0..1 as bar charts: (B, 3, size, size) images (one bar per AU)."""
    b, k = au_unit.shape
    img = torch.full((b, 3, size, size), 0.12)
    width = max(1, size // k)
    rows = torch.arange(size).view(1, size, 1)
    heights = (au_unit.clamp(0, 1) * (size - 2)).round().long()
    for j in range(k):
        x0 = j * width
        filled = rows >= (size - 1 - heights[:, j]).view(b, 1, 1)
        shade = torch.tensor([0.95, 0.6 + 0.3 * (j % 2), 0.2])
        img[:, :, :, x0:x0 + max(1, width - 1)] = torch.where(
            filled.unsqueeze(1).expand(b, 3, size, 1), shade.view(1, 3, 1, 1), img[:, :, :, x0:x0 + 1])
    return img


def render_rows(editor: Editor, x: torch.Tensor, au: torch.Tensor, fp: torch.Tensor, target: torch.Tensor,
                extra: torch.Tensor | None = None) -> torch.Tensor:
    """One image (3, B*H, W') with a row per sample: source maps | target AU bars | output maps | attention;
    AUs ``au`` (the sources') and ``target`` in unit scale."""
    out = editor.generate(x, target, fp, au, extra, keys=("out", "attention"))
    size = x.shape[-1]
    codec = editor.codec
    cols = viewable(codec.decode(x.float().cpu())) + [au_bars(target.float().cpu(), size)]
    cols += viewable(codec.decode(out["out"]))
    if "attention" in out:
        cols.append(out["attention"].expand(-1, 3, -1, -1))
    rows = torch.cat(cols, dim=3)
    return torch.cat(list(rows), dim=1)


def save_sample_grid(path: Path, G: torch.nn.Module, batch, codec: MapCodec, au_names: Sequence[str],
                     stats_writer=None, step: int = 0) -> Path:
    """Write the sample grid PNG for ``batch`` (and mirror it to TensorBoard when a writer is given)."""
    editor = Editor(G, codec, au_names, batch.x.shape[-1], device=batch.x.device)
    grid = render_rows(editor, batch.x, batch.au, batch.fp, batch.target, getattr(batch, "target_extra", None))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_rgb(path, grid)
    if stats_writer is not None:
        stats_writer.add_image("samples", grid, step)
    return path
