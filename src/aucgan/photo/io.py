"""Reading photos and writing PNGs atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aucgan.data.mapio import load_rgb
from aucgan.fsutil import atomic_write


def load_photo(path: str | Path) -> torch.Tensor:
    """A photo file as a (3, H, W) float tensor in 0..1 (:class:`aucgan.data.mapio.MapIOError` if unreadable)."""
    return load_rgb(path)


def save_png(path: str | Path, image: torch.Tensor) -> Path:
    """Write a (C, H, W) tensor in 0..1 (C = 1 or 3) as an 8-bit PNG, atomically."""
    arr = (image.detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    pil = Image.fromarray(arr[0]) if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0))
    return atomic_write(path, lambda p: pil.save(p, format="PNG", optimize=True))
