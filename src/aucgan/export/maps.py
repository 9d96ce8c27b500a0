"""Writing one generated map set for 3-D tools: the one map-set writer (``export-maps``, ``generate`` and the
browser editor's download all use :func:`write_map_set`).

Files (``prefix`` defaults to ``face``)::

    face_albedo.png          8-bit sRGB albedo (the values the model works in, tagged sRGB)
    face_image.png           8-bit sRGB image (models of aligned face images)
    face_displacement.png    16-bit greyscale: d = v / 65535 * scale + offset (layout units)
    face_displacement.exr    float32 displacement in layout units (only when the OpenEXR package is installed)
    face_normal.png          tangent-space normal map, (n + 1) / 2, x right, y down (layout frame), z out
    face_turntable.png       relit preview strip: the shaded face under a light swinging left to right
    face.json                sidecar: layout (landmarks), units, displacement scale/offset, AU values, files
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE, save_displacement, save_rgb
from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write, atomic_write_text
from aucgan.render.normals import displacement_to_normal, encode_normal
from aucgan.render.shaded import Renderer, turntable

SRGB_INTENT = 0  # perceptual rendering intent, the value of the PNG sRGB chunk
#: The maps of a generated set that :func:`write_map_set` writes (normals are derived from the displacement).
EXPORTED_MAPS: tuple[str, ...] = ("albedo", "image", "displacement")


def have_openexr() -> bool:
    """Whether the optional OpenEXR package can be imported."""
    try:
        import OpenEXR  # noqa: F401
    except ImportError:
        return False
    return True


def write_exr(path: Path, disp: np.ndarray) -> None:
    """Write a (H, W) float32 array as a one-channel ("Y") EXR file with the OpenEXR package."""
    import OpenEXR

    arr = np.ascontiguousarray(disp, dtype=np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Y": arr}) as f:
        f.write(str(path))


def _save_png_srgb(path: Path, rgb: torch.Tensor) -> None:
    arr = (rgb.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", bytes([SRGB_INTENT]))
    Image.fromarray(arr).save(path, format="PNG", pnginfo=info)


def write_map_set(out: str | Path, maps: dict[str, torch.Tensor], *, landmarks: np.ndarray | Sequence | None,
                  au: dict[str, float] | None = None, meta: dict | None = None, prefix: str = "face",
                  disp_scale: float = DEFAULT_DISP_SCALE, disp_offset: float = DEFAULT_DISP_OFFSET,
                  normal_strength: float = 1.0, turntable_views: int = 8, exr: bool | None = None,
                  layout_name: str = "canonical") -> dict:
    """Write ``maps`` (``albedo`` / ``image`` (3, H, W) in [0, 1], ``displacement`` (1, H, W) in layout units)
    into ``out``, each file atomically, with the normal map of the displacement.

    ``exr=None`` writes the EXR when OpenEXR is installed; ``True`` requires it. Returns the sidecar dict
    (also written as ``<prefix>.json``). Existing files are replaced atomically (the caller checks ``--force``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not set(EXPORTED_MAPS) & set(maps):
        raise AucganError(f"nothing to export: the map set has {sorted(maps)}, expected albedo, image and/or "
                          "displacement")
    if exr and not have_openexr():
        raise AucganError("EXR output asked for but the OpenEXR package is not installed (pip install OpenEXR)")
    files: dict[str, str] = {}
    for name in ("albedo", "image"):
        if name in maps:
            files[name] = f"{prefix}_{name}.png"
            atomic_write(out / files[name], lambda p, rgb=maps[name]: _save_png_srgb(p, rgb))
    if "displacement" in maps:
        disp = maps["displacement"].detach().float().cpu()
        files["displacement"] = f"{prefix}_displacement.png"
        atomic_write(out / files["displacement"], lambda p: save_displacement(p, disp, disp_scale, disp_offset))
        if exr or (exr is None and have_openexr()):
            files["displacement_exr"] = f"{prefix}_displacement.exr"
            atomic_write(out / files["displacement_exr"], lambda p: write_exr(p, disp[0].numpy()))
        normal = displacement_to_normal(disp[None], normal_strength)[0]
        files["normal"] = f"{prefix}_normal.png"
        atomic_write(out / files["normal"], lambda p: save_rgb(p, encode_normal(normal)))
        if "albedo" in maps and turntable_views > 0:
            strip = turntable(maps["albedo"].detach().float().cpu(), disp, turntable_views,
                              Renderer(normal_strength=normal_strength))
            files["turntable"] = f"{prefix}_turntable.png"
            atomic_write(out / files["turntable"], lambda p: save_rgb(p, strip))
    any_map = next(iter(maps.values()))
    h, w = any_map.shape[-2:]
    sidecar = {
        "format": "aucgan-maps", "version": 1, "size": [int(h), int(w)],
        "layout": {"name": layout_name, "landmarks": None if landmarks is None else
                   np.asarray(landmarks, np.float64).round(6).tolist(),
                   "frame": "u right, v down, 0..1 over the map"},
        "units": "layout units: 1.0 = the map width",
        "albedo": {"colour_space": "sRGB", "bits": 8},
        "displacement": {"scale": disp_scale, "offset": disp_offset, "bits": 16,
                         "decode": "d = v / 65535 * scale + offset",
                         "range_found": [float(maps["displacement"].min()), float(maps["displacement"].max())]
                         if "displacement" in maps else None},
        "normal": {"space": "tangent", "frame": "x right, y down, z out; stored as (n + 1) / 2",
                   "strength": normal_strength, "green": "down (DirectX convention)"},
        "au": au or {},
        "files": files,
        **(meta or {}),
    }
    atomic_write_text(out / f"{prefix}.json", json.dumps(sidecar, indent=1))
    return sidecar
