"""Checks of what a page visitor uploads: size limits, image headers, map-set file names and sizes, side JSON.

Every check raises :class:`aucgan.ui.UIError` with a message for the page that names the file (never its
server-side folder) and what was expected. Nothing here decodes a whole image before its header is checked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aucgan.au import AUError, au_vector
from aucgan.errors import AucganError
from aucgan.sources import MAP_SUFFIXES
from aucgan.ui import UIError

#: Uploads larger than this are refused (the page's server refuses them too).
MAX_UPLOAD_MB = 20.0
MIN_MAP_SIDE = 16
MAX_MAP_SIDE = 4096
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def short(exc: Exception, folder: Path) -> str:
    """An error message without the upload folder's path (the page names files only)."""
    return str(exc).replace(str(folder) + "/", "")


def check_upload(path: str | Path, max_bytes: int) -> Path:
    """An uploaded file that exists and is at most ``max_bytes``; otherwise :class:`UIError`."""
    p = Path(path)
    if not p.is_file():
        raise UIError(f"{p.name}: the upload did not arrive (no such file)")
    size = p.stat().st_size
    if size > max_bytes:
        raise UIError(f"{p.name}: {size / 2**20:.1f} MB is over the upload limit of {max_bytes / 2**20:.0f} MB")
    return p


def check_image_header(path: Path) -> tuple[int, int]:
    """(height, width) of an image file from its header; :class:`UIError` for non-images and absurd sizes."""
    from PIL import Image

    from aucgan.data.mapio import image_size

    try:
        h, w = image_size(path)
    except AucganError:
        raise UIError(f"{path.name}: not an image (expected a PNG or JPEG file)") from None
    except Image.DecompressionBombError:
        raise UIError(f"{path.name}: the image is far too large (more than {MAX_MAP_SIDE} px a side)") from None
    if max(h, w) > MAX_MAP_SIDE or min(h, w) < MIN_MAP_SIDE:
        raise UIError(f"{path.name}: {w}x{h} px; maps must be between {MIN_MAP_SIDE} and {MAX_MAP_SIDE} px a side")
    return h, w


def sort_uploads(files: Sequence[Path]) -> tuple[dict[str, Path], list[Path]]:
    """Uploaded files -> ({map name: image file}, [JSON files]); map files are named ``NAME_<map>.png``
    (:data:`aucgan.sources.MAP_SUFFIXES`) or just ``<map>.png``."""
    found: dict[str, Path] = {}
    side: list[Path] = []
    for f in files:
        if f.suffix.lower() == ".json":
            side.append(f)
            continue
        stem = f.stem.lower()
        name = next((s for s in MAP_SUFFIXES if stem.endswith("_" + s) or stem == s), None)
        if name is None or f.suffix.lower() not in IMAGE_SUFFIXES:
            raise UIError(f"{f.name}: not a map file (names end in _albedo, _displacement, _normal or _image, "
                          "with .png or .jpg; or .json for a layout or AU vector)")
        if name in found:
            raise UIError(f"two {name} maps uploaded ({found[name].name}, {f.name})")
        found[name] = f
    return found, side


def check_map_set(found: dict[str, Path], maps: Sequence[str], size: int) -> None:
    """The uploaded map files hold every map in ``maps``, as square images of one size (any side; they are
    resized to the model's ``size``)."""
    missing = [m for m in maps if m not in found]
    if missing:
        raise UIError(f"the model needs map(s) {missing}; uploaded: {sorted(found) or 'none'}")
    sizes = {m: check_image_header(found[m]) for m in maps}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{found[m].name} {w}x{h}" for m, (h, w) in sizes.items())
        raise UIError(f"the maps differ in size ({listed}); a map set shares one size")
    h, w = next(iter(sizes.values()))
    if h != w:
        raise UIError(f"the maps are {w}x{h} px; the model's layout is square ({size}x{size})")


def read_side_json(f: Path, au_names: Sequence[str], landmarks: np.ndarray | None,
                   source_au: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(landmarks, source AUs) updated from a side JSON file: a layout (``landmarks``) or an AU vector saved by
    the editor (``au``, by AU name; AUs the model lacks are ignored)."""
    try:
        data = json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UIError(f"{f.name}: not a readable JSON file ({exc})") from None
    if isinstance(data, dict) and "landmarks" in data:
        from aucgan.layout.landmarks import load_layout

        try:
            return load_layout(f).landmarks, source_au
        except AucganError as exc:
            raise UIError(short(exc, f.parent)) from None
    if isinstance(data, dict) and isinstance(data.get("au"), dict):
        try:
            return landmarks, au_vector({k: v for k, v in data["au"].items() if k in au_names}, au_names)
        except AUError as exc:
            raise UIError(f"{f.name}: {exc}") from None
    raise UIError(f"{f.name}: expected a layout JSON (with 'landmarks') or an AU JSON (with 'au')")
