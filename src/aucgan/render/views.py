"""How maps are shown to people (training's sample grids, the report's sweeps, ``generate``, the editor, the
synthetic benchmark's previews): albedo, the displacement shaded with exaggerated slopes, and an SH-lit render."""

from __future__ import annotations

import torch

from aucgan.render.normals import displacement_to_normal
from aucgan.render.sh import lighting_preset
from aucgan.render.shaded import Renderer
from aucgan.render.shading import lambert

VIEW_STRENGTH = 3.0  # exaggeration of displacement slopes when shading for viewing
#: The SH-lit render shown beside the raw maps: albedo x shading(normals) x cavity, studio lighting.
VIEW_RENDERER = Renderer(normal_strength=VIEW_STRENGTH, cavity_strength=40.0)
VIEW_LIGHTING = "studio"


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
        shade = lambert(displacement_to_normal(maps["displacement"], VIEW_STRENGTH))
        out.append(shade.expand(-1, 3, -1, -1).clamp(0, 1))
    if "albedo" in maps and "displacement" in maps:
        sh = lighting_preset(VIEW_LIGHTING)
        out.append(VIEW_RENDERER.render(maps["albedo"].float(), maps["displacement"].float(), sh).clamp(0, 1))
    return out
