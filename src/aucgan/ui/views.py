"""What the editor page shows: AU slider groups, the light, and the views of an edit as uint8 images.

Views (:data:`VIEWS`): the albedo, the displacement shaded under the page's light, the normal map, a relit
render (second-order SH lighting), the change heatmap |output - source| with the moved AUs' footprints
outlined, and, for photos, the photo with the change pasted back (made by the session, which holds the photo).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.au import au_indices

#: Views are enlarged (nearest neighbour) to at least this many pixels a side.
DISPLAY_SIZE = 256
#: Change (mean over channels of |output - source| in network units, about [-1, 1]) drawn at full colour.
HEAT_VMAX = 0.5
#: Default light: azimuth (degrees, 0 = from above, 90 = from the viewer's right) and tilt from the view axis.
DEFAULT_AZIMUTH = -40.0
DEFAULT_TILT = 40.0
#: Names of the views, in the page's order.
VIEWS: tuple[str, ...] = ("albedo", "shaded", "normal", "render", "change", "photo")
#: Height of the face crop shown for photo sources.
PHOTO_VIEW_HEIGHT = 384
#: Outline colours of moved AUs' footprints in the change heatmap (cycled).
OUTLINE_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("cyan", (0, 255, 255)), ("lime", (120, 255, 0)), ("white", (255, 255, 255)), ("magenta", (255, 0, 255)),
    ("blue", (80, 140, 255)), ("yellow", (255, 255, 0)),
)

#: The AUs by face region, in slider order.
AU_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Forehead and brows", ("AU01", "AU02", "AU04")),
    ("Eyes and lids", ("AU05", "AU06", "AU07", "AU45")),
    ("Nose", ("AU09",)),
    ("Upper lip and cheeks", ("AU10", "AU12", "AU14")),
    ("Lips and mouth", ("AU15", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28")),
    ("Chin", ("AU17",)),
)


def group_aus(au_names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The model's AUs grouped by face region (:data:`AU_GROUPS` order); AUs of no group go to ``Other``."""
    groups = [(title, [c for c in codes if c in au_names]) for title, codes in AU_GROUPS]
    placed = {c for _, codes in groups for c in codes}
    rest = [c for c in au_names if c not in placed]
    return [(t, c) for t, c in groups if c] + ([("Other", rest)] if rest else [])


def light_direction(azimuth: float, tilt: float) -> tuple[float, float, float]:
    """Unit direction towards the light (layout frame: x right, y down, z out of the face).

    ``azimuth`` in degrees: 0 = from above, 90 = from the viewer's right, -90 = from the left; ``tilt`` in
    degrees from the view axis: 0 = head on, 90 = grazing.
    """
    a, t = math.radians(float(azimuth)), math.radians(min(max(float(tilt), 0.0), 89.0))
    return (math.sin(t) * math.sin(a), -math.sin(t) * math.cos(a), math.cos(t))


def _magma_lut() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["magma"](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


_LUT: np.ndarray | None = None


def heat_colours(values: torch.Tensor, vmax: float = HEAT_VMAX) -> np.ndarray:
    """A (H, W) tensor of non-negative values -> uint8 (H, W, 3) magma colours, ``vmax`` at full colour."""
    global _LUT
    if _LUT is None:
        _LUT = _magma_lut()
    idx = (values.float() / vmax).clamp(0.0, 1.0).mul(255.0).round().to(torch.int64).numpy()
    return _LUT[idx]


def to_uint8(img: torch.Tensor, scale: int) -> np.ndarray:
    """(3, H, W) in [0, 1] -> uint8 (H*scale, W*scale, 3)."""
    arr = (img.float().clamp(0.0, 1.0).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return enlarge(arr, scale)


def enlarge(arr: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W, ...) array by an integer factor."""
    return arr if scale == 1 else np.repeat(np.repeat(arr, scale, axis=0), scale, axis=1)


def outline(mask: torch.Tensor) -> torch.Tensor:
    """The boundary pixels (bool (H, W)) of a bool mask (H, W): inside pixels with an outside 4-neighbour."""
    m = mask.float()[None, None]
    inner = -F.max_pool2d(-F.pad(m, (1, 1, 1, 1), value=1.0), 3, stride=1)
    return mask & (inner[0, 0] < 0.5)


def view_normal(maps: Mapping[str, torch.Tensor], strength: float) -> torch.Tensor | None:
    """Normals (B, 3, H, W) to shade for viewing: of the displacement with slopes x ``strength``, else the
    decoded normal map; None when the model has neither."""
    from aucgan.render.normals import decode_normal, displacement_to_normal

    if "displacement" in maps:
        return displacement_to_normal(maps["displacement"], strength)
    if "normal" in maps:
        return decode_normal(maps["normal"])
    return None


def relight(albedo: torch.Tensor | None, normal: torch.Tensor | None, light: Sequence[float], size: int,
            ambient: float = 0.3) -> torch.Tensor:
    """Albedo (grey when the model has none) under second-order SH lighting (an ambient term plus a distant
    light from ``light``, scaled so a flat surface keeps its albedo) over the normals (flat when None)."""
    from aucgan.render.sh import ambient_sh, directional_sh, flat_shading, shade

    if albedo is None:
        albedo = torch.full((1, 3, size, size), 0.7)
    if normal is None:
        normal = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, size, size)
    sh = ambient_sh(ambient) + directional_sh(light)
    sh = sh / flat_shading(sh).mean()
    return shade(albedo.float(), normal.float(), sh).clamp(0.0, 1.0)


def map_views(maps: Mapping[str, torch.Tensor], light: Sequence[float], strength: float, size: int,
              scale: int) -> dict[str, np.ndarray | None]:
    """The albedo, shaded, normal and render views of decoded maps (each (1, C, S, S); None where the model
    lacks what a view needs)."""
    from aucgan.render.normals import encode_normal
    from aucgan.render.shading import lambert

    images: dict[str, np.ndarray | None] = {"albedo": None, "shaded": None, "normal": None}
    albedo = maps.get("albedo", maps.get("image"))
    if albedo is not None:
        images["albedo"] = to_uint8(albedo[0], scale)
    normal = view_normal(maps, float(strength))
    if normal is not None:
        images["shaded"] = to_uint8(lambert(normal, light)[0].expand(3, -1, -1), scale)
        images["normal"] = to_uint8(encode_normal(normal)[0], scale)
    images["render"] = to_uint8(relight(albedo, normal, light, size)[0], scale)
    return images


def change_view(x: torch.Tensor, y: torch.Tensor, footprints: torch.Tensor, au_names: Sequence[str],
                moved: Sequence[str], scale: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """|y - x| (network tensors (1, C, S, S); mean over channels) in magma, with the footprints (K, S, S) of
    the ``moved`` AUs outlined; returns the image and the (AU, colour) legend."""
    heat = enlarge(heat_colours((y - x).abs().mean(dim=1)[0]), scale)
    legend = []
    if moved:
        idx = au_indices(moved, au_names)
        big = F.interpolate(footprints[idx][None], scale_factor=scale, mode="bilinear", align_corners=False)[0]
        for j, (code, mask) in enumerate(zip(moved, big)):
            name, rgb = OUTLINE_COLOURS[j % len(OUTLINE_COLOURS)]
            heat[outline(mask > 0.5).numpy()] = rgb
            legend.append((code, name))
    return heat, legend
