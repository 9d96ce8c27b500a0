"""Sample grids written during training: source | target AUs | output (| attention) per row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from aucgan.data.codec import MapCodec
from aucgan.data.mapio import save_rgb
from aucgan.inference import Editor
from aucgan.render.normals import displacement_to_normal
from aucgan.render.sh import lighting_preset
from aucgan.render.shaded import Renderer
from aucgan.render.shading import lambert

NORMAL_STRENGTH = 3.0  # exaggeration of displacement slopes when shading for viewing
#: The SH-lit render shown beside the raw maps: albedo x shading(normals) x cavity, studio lighting.
VIEW_RENDERER = Renderer(normal_strength=NORMAL_STRENGTH, cavity_strength=40.0)
VIEW_LIGHTING = "studio"


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


def view_labels(map_names) -> list[str]:
    """Names of the :func:`viewable` images of a map set with these maps, in order."""
    order = (("albedo", "albedo"), ("image", "image"), ("displacement", "displacement (shaded)"))
    labels = [label for name, label in order if name in map_names]
    if "albedo" in map_names and "displacement" in map_names:
        labels.append("render (SH-lit)")
    return labels


def viewable(maps: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Images (B, 3, H, W) in [0, 1] for a decoded map set: albedo, shaded displacement and, with both, the
    SH-lit render (albedo x shading of the displacement's normals, :data:`VIEW_RENDERER`)."""
    out = []
    if "albedo" in maps:
        out.append(maps["albedo"].clamp(0, 1))
    if "image" in maps:
        out.append(maps["image"].clamp(0, 1))
    if "displacement" in maps:
        shade = lambert(displacement_to_normal(maps["displacement"], NORMAL_STRENGTH))
        out.append(shade.expand(-1, 3, -1, -1).clamp(0, 1))
    if "albedo" in maps and "displacement" in maps:
        sh = lighting_preset(VIEW_LIGHTING)
        out.append(VIEW_RENDERER.render(maps["albedo"].float(), maps["displacement"].float(), sh).clamp(0, 1))
    return out


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
