"""The error for bad data: missing columns, NaN or out-of-range values, missing images, refused pickles."""

from __future__ import annotations

from aucgan.errors import AucganError


class DataError(AucganError, ValueError):
    """A data set or annotation file that cannot be read as asked; the message names file, row and field."""
