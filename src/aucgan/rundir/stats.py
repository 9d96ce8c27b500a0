"""Training statistics: append-only ``RUN/stats.jsonl`` (one JSON object per line, stylegan3 style) with an
optional TensorBoard mirror (:class:`StatsWriter`, its one writer), and :func:`read_stats`, its one reader.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from aucgan.errors import AucganError
from aucgan.rundir.files import STATS_FILE, RunError

_TB_WARNED = False


class StatsError(AucganError, ValueError):
    """Scalars that cannot be written to the stats file."""


def _summary_writer(log_dir: Path) -> Any | None:
    """A TensorBoard SummaryWriter, or None (with one warning per process) when TensorBoard is unusable."""
    global _TB_WARNED
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(log_dir))
    except Exception as exc:  # ImportError, or a broken tensorboard/protobuf install
        if not _TB_WARNED:
            warnings.warn(f"TensorBoard unavailable ({type(exc).__name__}: {exc}); writing stats.jsonl only",
                          RuntimeWarning, stacklevel=3)
            _TB_WARNED = True
        return None


def _json_value(v: Any) -> Any:
    v = float(v)
    return v if math.isfinite(v) else None


class StatsWriter:
    """Append ``{"step", "time", "time_elapsed", "images", "kimg", <scalars>}`` lines to ``stats.jsonl``.

    ``time`` is the Unix time of the call; ``time_elapsed`` the seconds since the writer was created plus
    ``time_offset`` (e.g. the elapsed time of the run being resumed).
    Non-finite scalars are written as ``null`` (strict JSON). With ``tensorboard`` the scalars and images
    are mirrored to TensorBoard event files in ``run_dir``; if TensorBoard cannot be imported a warning is
    issued once and only the JSONL is written.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, filename: str = STATS_FILE,
                 time_offset: float = 0.0) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / filename
        self._fh = self.path.open("a", encoding="utf-8")
        self._t0 = time.perf_counter() - time_offset
        self.tb = _summary_writer(self.run_dir) if tensorboard else None

    def write(self, step: int, scalars: Mapping[str, float], images: int | None = None) -> dict[str, Any]:
        """Append one line for ``step`` (``images``: training images seen so far) and return it."""
        record: dict[str, Any] = {"step": int(step), "time": round(time.time(), 3),
                                  "time_elapsed": round(time.perf_counter() - self._t0, 3)}
        if images is not None:
            record["images"] = int(images)
            record["kimg"] = images / 1000.0
        for key, value in scalars.items():
            if key in record:
                raise StatsError(f"scalar name {key!r} is reserved in stats.jsonl")
            record[key] = _json_value(value)
        self._fh.write(json.dumps(record, allow_nan=False) + "\n")
        self._fh.flush()
        if self.tb is not None:
            for key, value in scalars.items():
                self.tb.add_scalar(key, float(value), int(step))
            self.tb.flush()
        return record

    def event(self, step: int, **fields: Any) -> dict[str, Any]:
        """Append one line that records an event of the run at ``step`` (``{"step", "time", **fields}``: a run
        extended, the replicas' divergence) rather than training scalars."""
        record = {"step": int(step), "time": round(time.time(), 3), **fields}
        self._fh.write(json.dumps(record, allow_nan=False) + "\n")
        self._fh.flush()
        return record

    def add_image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        """Mirror an image (C, H, W) or (H, W) in 0..1 to TensorBoard (no-op without TensorBoard)."""
        if self.tb is None:
            return
        img = grid.detach().float().cpu().clamp(0, 1)
        self.tb.add_image(tag, img, int(step), dataformats="HW" if img.dim() == 2 else "CHW")
        self.tb.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def __enter__(self) -> StatsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_stats(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``stats.jsonl`` (or of ``RUN/stats.jsonl``), in order.

    A malformed line is an error naming file and line, except a truncated *last* line (a run killed
    mid-write, or one still writing), which is skipped with a warning.
    """
    path = Path(path)
    if path.is_dir():
        path = path / STATS_FILE
    if not path.is_file():
        raise RunError(f"{path}: no such stats file")
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if i == len(lines):
                warnings.warn(f"{path}:{i}: skipping a truncated last line", RuntimeWarning, stacklevel=2)
                break
            raise RunError(f"{path}:{i}: not a JSON object per line ({exc})") from None
        out.append(record)
    return out
