"""File-system safety: atomic writes and refusing to overwrite outputs silently."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
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


def claim_folder(path: str | Path, owned: Iterable[str], force: bool = False, what: str = "output") -> Path:
    """A folder to write into: missing or empty, else refused unless ``force``, which first removes the
    ``owned`` names a previous run wrote there (and nothing else); created; returned."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{what} {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise OutputExistsError(f"{what} {path} already exists and is not empty; pass --force to replace it")
        clear_owned(path, owned)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` then rename it over ``path`` atomically.

    The temporary file keeps ``path``'s suffix (``.x.png.abc.tmp.png``), so writers that pick the format by
    extension (image and EXR writers) write the right one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def clear_owned(folder: Path, names: Iterable[str]) -> None:
    """Remove the entries ``names`` (files or folders) that a writer owns inside ``folder``, leaving the rest:
    what ``--force`` replaces in an output folder."""
    for name in names:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (temp file + rename)."""
    return atomic_write(path, lambda p: p.write_text(text))
