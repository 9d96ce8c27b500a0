"""Training statistics: append-only ``stats.jsonl`` (one JSON object per call, stylegan3 style), an
optional TensorBoard mirror, a NaN/Inf guard, and PNG sample grids.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write

STATS_FILE = "stats.jsonl"
_TB_WARNED = False


class NonFiniteLossError(AucganError, FloatingPointError):
    """A loss (or logged scalar) became NaN or infinite."""


class StatsError(AucganError, ValueError):
    """An unreadable stats file or an image grid with inconsistent tiles."""


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
    """The records of a ``stats.jsonl`` (or of ``run_dir/stats.jsonl``), in order.

    A malformed line is an error naming file and line, except a truncated *last* line (a run killed
    mid-write), which is skipped with a warning.
    """
    path = Path(path)
    if path.is_dir():
        path = path / STATS_FILE
    if not path.is_file():
        raise StatsError(f"{path}: no such stats file")
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
            raise StatsError(f"{path}:{i}: not a JSON object per line ({exc})") from None
        out.append(record)
    return out


def check_finite(scalars: Mapping[str, float], step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming every scalar that is NaN or infinite at ``step``."""
    bad = []
    for key, value in scalars.items():
        v = float(value)
        if not math.isfinite(v):
            bad.append(f"{key}={v}")
    if bad:
        raise NonFiniteLossError(f"loss became NaN/Inf at step {step}: {', '.join(bad)}; stopping (the last "
                                 "good checkpoint is kept; try a lower learning rate or loss weight)")


# --------------------------------------------------------------------------------------------- image grid
def _tile(t: torch.Tensor, where: str) -> np.ndarray:
    t = t.detach().float().cpu()
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise StatsError(f"image grid {where}: expected (1|3, H, W) or (H, W), got {tuple(t.shape)}")
    t = t.expand(3, -1, -1).clamp(0, 1).nan_to_num(0.0)
    return (t.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def save_image_grid(path: str | Path, tensor_rows: Sequence[Sequence[torch.Tensor] | torch.Tensor],
                    labels: Sequence[str] | None = None, pad: int = 2) -> Path:
    """Write rows of maps as one PNG (atomically) and return its path.

    ``tensor_rows``: a sequence of rows, each a sequence of (1|3, H, W) maps in 0..1 or an (N, C, H, W)
    tensor; one-channel maps are shown grey. All tiles share H and W; rows may differ in length (short
    rows are padded white). ``labels``, if given, caption the columns in a header strip.
    """
    from PIL import Image, ImageDraw

    rows = [[_tile(t, f"row {r} column {c}") for c, t in enumerate(row)] for r, row in enumerate(tensor_rows)]
    if not rows or not any(rows):
        raise StatsError("image grid: no tiles")
    h, w = next(t for row in rows for t in row).shape[:2]
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            if t.shape[:2] != (h, w):
                raise StatsError(f"image grid row {r} column {c}: tile is {t.shape[0]}x{t.shape[1]}, "
                                 f"the first is {h}x{w}")
    cols = max(len(row) for row in rows)
    if labels is not None and len(labels) > cols:
        raise StatsError(f"image grid: {len(labels)} labels for {cols} columns")
    header = 14 if labels else 0
    canvas = np.full((header + pad + len(rows) * (h + pad), pad + cols * (w + pad), 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            y, x = header + pad + r * (h + pad), pad + c * (w + pad)
            canvas[y:y + h, x:x + w] = t
    image = Image.fromarray(canvas)
    if labels:
        draw = ImageDraw.Draw(image)
        for c, text in enumerate(labels):
            draw.text((pad + c * (w + pad) + 1, 1), str(text), fill=(0, 0, 0))
    return atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"))
