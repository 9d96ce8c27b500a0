"""The error for bad data (missing columns, NaN or out-of-range values, missing images, refused pickles) and the
file openers that raise it naming the file."""

from __future__ import annotations

import json
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


def read_json(path: Path, what: str) -> object:
    """Parse a JSON file, turning I/O and syntax errors into :class:`DataError` naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: the {what} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
