"""The error for bad data: missing columns, NaN or out-of-range values, missing images, refused pickles."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from aucgan.errors import AucganError


class DataError(AucganError, ValueError):
    """A data set or annotation file that cannot be read as asked; the message names file, row and field."""


def open_csv(path: Path, what: str) -> TextIO:
    """Open a CSV for reading (BOM-tolerant), turning I/O errors into :class:`DataError` naming the file."""
    try:
        return path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
