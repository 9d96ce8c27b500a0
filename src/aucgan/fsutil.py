"""File-system safety: atomic writes and refusing to overwrite outputs silently."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from aucgan.errors import AucganError


class OutputExistsError(AucganError, FileExistsError):
    """An output path exists and overwriting was not asked for."""


def check_output(path: str | Path, force: bool = False, what: str = "output") -> Path:
    """Refuse an existing non-empty output file/folder unless ``force``; return the path."""
    path = Path(path)
    if path.exists() and not force:
        if path.is_dir() and not any(path.iterdir()):
            return path
        raise OutputExistsError(f"{what} {path} already exists; pass --force to overwrite it")
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` then rename it over ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (temp file + rename)."""
    return atomic_write(path, lambda p: p.write_text(text))
