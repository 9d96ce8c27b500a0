"""Reading and writing maps as PNG: 8-bit sRGB for colour maps, 16-bit greyscale for displacement.

Displacement is stored as ``uint16 = round((d - offset) / scale * 65535)`` with ``scale``/``offset`` recorded
beside it (dataset card or JSON sidecar), so it round-trips to within ``scale / 65535``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from aucgan.errors import AucganError

DEFAULT_DISP_SCALE = 0.1     # displacement range covered by 16 bits (layout units)
DEFAULT_DISP_OFFSET = -0.05  # displacement value stored as 0


class MapIOError(AucganError, ValueError):
    """An unreadable or malformed map file."""


def save_rgb(path: str | Path, rgb: torch.Tensor) -> None:
    """Save a 3xHxW tensor in [0, 1] as an 8-bit RGB PNG."""
    arr = (rgb.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(arr).save(path)


def save_displacement(path: str | Path, disp: torch.Tensor, scale: float = DEFAULT_DISP_SCALE,
                      offset: float = DEFAULT_DISP_OFFSET) -> None:
    """Save a 1xHxW displacement tensor as a 16-bit greyscale PNG (values outside the range are clipped)."""
    q = ((disp.detach().float()[0].cpu().numpy() - offset) / scale).clip(0.0, 1.0) * 65535.0 + 0.5
    Image.fromarray(q.astype(np.uint16)).save(path)


def load_rgb(path: str | Path, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Load an image file as a 3xHxW float tensor in [0, 1]; ``size=(H, W)`` resizes (bilinear)."""
    img = _open(path)
    if img.mode not in ("RGB", "L", "RGBA", "P", "I;16", "I"):
        raise MapIOError(f"{path}: unsupported image mode {img.mode}")
    if img.mode in ("I;16", "I"):
        arr = np.asarray(img, np.float32) / 65535.0
        img = Image.fromarray((arr * 255).astype(np.uint8))
    img = img.convert("RGB")
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    arr = np.asarray(img, np.uint8).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32) / 255.0)


def load_displacement(path: str | Path, scale: float = DEFAULT_DISP_SCALE, offset: float = DEFAULT_DISP_OFFSET,
                      size: tuple[int, int] | None = None) -> torch.Tensor:
    """Load a 16-bit (or 8-bit) greyscale displacement PNG as a 1xHxW float tensor in layout units."""
    img = _open(path)
    if img.mode in ("I;16", "I;16B", "I"):
        arr = np.asarray(img, np.float32) / 65535.0
    elif img.mode == "L":
        arr = np.asarray(img, np.float32) / 255.0
    else:
        raise MapIOError(f"{path}: displacement must be a greyscale PNG (16-bit preferred), got mode {img.mode}")
    t = torch.from_numpy(arr * scale + offset)[None]
    if size is not None and tuple(t.shape[1:]) != tuple(size):
        t = torch.nn.functional.interpolate(t[None], size=size, mode="bilinear", align_corners=False)[0]
    return t


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header without decoding the pixels."""
    img = _open(path, decode=False)
    return img.size[1], img.size[0]


def _open(path: str | Path, decode: bool = True) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise MapIOError(f"{path}: no such image file")
    try:
        img = Image.open(path)
        if decode:
            img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise MapIOError(f"{path}: not a readable image ({exc})") from None
    return img
