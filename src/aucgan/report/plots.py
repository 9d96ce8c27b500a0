"""The report's figures (matplotlib, Agg backend): training curves, per-AU bars, sensitivity heatmaps with
footprint overlays, and labelled AU sweep grids. Each function writes one PNG and returns its path."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from aucgan.report.collect import RunRecord  # noqa: E402

#: Training-curve keys shown first when present.
PREFERRED_CURVES = ("G/total", "D/total", "G/adv", "D/adv", "G/aunet_mse", "G/aunet_bce", "G/dau_mse",
                    "G/rec", "G/cycle", "G/detail", "G/locality", "D/r1", "D/gp", "D/au", "D/mismatch")
SKIP_PREFIXES = ("perf/", "dist/", "lr", "time", "images", "kimg", "step")
MAX_CURVES = 9


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (folders made) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def curve_keys(records: Sequence[RunRecord], limit: int = MAX_CURVES) -> list[str]:
    """The stats keys to plot: preferred losses first, then other numeric keys, at most ``limit``."""
    present: dict[str, None] = {}
    for r in records:
        for row in r.stats:
            for k, v in row.items():
                numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
                if numeric and not k.startswith(SKIP_PREFIXES):
                    present[k] = None
    keys = [k for k in PREFERRED_CURVES if k in present]
    keys += sorted(k for k in present if k not in PREFERRED_CURVES)
    return keys[:limit]


def training_curves(records: Sequence[RunRecord], path: Path) -> Path | None:
    """Small multiples of the training losses over steps, one line per run; None when no run has stats."""
    keys = curve_keys(records)
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for r in records:
            pts = [(row["step"], row[key]) for row in r.stats
                   if "step" in row and isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
            if pts:
                steps, vals = zip(*pts)
                ax.plot(steps, vals, label=r.name, lw=1.2)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("step", fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


#: Learning-curve panels: (map, edit set) of paired_fidelity's ``explained``.
CURVE_PANELS = tuple((m, e) for m in ("displacement", "albedo") for e in ("add", "remove", "transfer"))


def learning_points(record: RunRecord, key: str, metric: str = "paired_fidelity") -> list[tuple[float, float]]:
    """(images seen, value of summary ``key``) of every scored checkpoint of a run, in order of images (the
    newest line per step). Images: the line's ``images``, else step x the run's batch size."""
    from aucgan.metrics.registry import read_metric_lines

    batch = int(record.config.get("data", {}).get("batch_size", 1) or 1)
    by_step: dict[int, dict] = {}
    for line in read_metric_lines(record.path, metric):
        by_step[int(line.get("step", 0))] = line
    pts = []
    for step, line in sorted(by_step.items()):
        v = line.get("results", {}).get("summary", {}).get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            pts.append((float(line.get("images") or step * batch), float(v)))
    return pts


def learning_curves(records: Sequence[RunRecord], path: Path) -> Path | None:
    """``explained`` (paired_fidelity) against the images each run's generator had seen, per map and edit set,
    one line per run; the do-nothing level (0) dashed. None unless some run has two or more scored checkpoints
    (``aucgan eval RUN --checkpoint all``)."""
    series = {(r.name, m, e): learning_points(r, f"explained/{m}/{e}") for r in records for m, e in CURVE_PANELS}
    if not any(len(p) >= 2 for p in series.values()):
        return None
    fig, axes = plt.subplots(2, 3, figsize=(12.6, 6.0), squeeze=False, sharex=True)
    for ax, (m, e) in zip(axes.flat, CURVE_PANELS):
        for r in records:
            pts = series[(r.name, m, e)]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, marker="o", ms=3, lw=1.2, label=r.name)
        ax.axhline(0.0, color="grey", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"explained, {m}, {e}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=max(-1.0, ax.get_ylim()[0]), top=1.0)
    for ax in axes[-1]:
        ax.set_xlabel("images seen by the generator", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def per_au_bars(records: Sequence[RunRecord], metric: str, section: str, key: str, title: str, path: Path,
                ylim: tuple[float, float] | None = None) -> Path | None:
    """Grouped bars per AU of ``results[section][key][AU]`` for each run (None when no run has it)."""
    series = []
    for r in records:
        line = r.metrics.get(metric)
        vals = (line or {}).get("results", {}).get(section, {}).get(key) if line else None
        if isinstance(vals, dict) and vals:
            series.append((r.name, vals))
    if not series:
        return None
    aus = list(dict.fromkeys(au for _, vals in series for au in vals))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(aus) * max(1, len(series)) ** 0.5), 3.2))
    x = np.arange(len(aus))
    for j, (name, vals) in enumerate(series):
        ys = [np.nan if vals.get(a) is None else vals[a] for a in aus]
        ax.bar(x + (j - (len(series) - 1) / 2) * width, ys, width, label=name)
    ax.set_xticks(x, aus, rotation=60, fontsize=7)
    ax.set_title(title, fontsize=10)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def sensitivity_heatmaps(sens: torch.Tensor, footprints: torch.Tensor, au_names: Sequence[str], title: str,
                         path: Path, threshold: float = 0.05, label: str = "|dG/dAU| (network units)") -> Path:
    """One heatmap of mean |dG/dAU_k| per AU (shared colour scale) with AU k's footprint outlined."""
    k = sens.shape[0]
    cols = min(6, k)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows + 0.4), squeeze=False)
    vmax = float(sens.max()) or 1.0
    im = None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= k:
            continue
        im = ax.imshow(sens[i].numpy(), cmap="magma", vmin=0.0, vmax=vmax)
        fp = footprints[i].numpy()
        if fp.max() > threshold:
            ax.contour(fp, levels=[threshold], colors="cyan", linewidths=0.8)
        ax.set_title(au_names[i] if i < len(au_names) else str(i), fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat), shrink=0.6, label=label)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def grid_axes(grid: torch.Tensor, row_labels: Sequence[str], col_labels: Sequence[str], px_per_inch: float,
              row_line: tuple[str, float] = ("white", 0.6), col_line: tuple[str, float] = ("white", 0.6),
              col_fontsize: float = 7):
    """(figure, axes) showing ``grid`` (3, H, W) as equal cells, a label per row and per column, lines between."""
    img = grid.permute(1, 2, 0).clamp(0, 1).numpy()
    rows, cols = len(row_labels), len(col_labels)
    h, w = img.shape[0] / rows, img.shape[1] / cols
    fig, ax = plt.subplots(figsize=(max(4.0, img.shape[1] / px_per_inch), max(3.0, img.shape[0] / px_per_inch)))
    ax.imshow(img, interpolation="nearest")
    for i in range(1, rows):
        ax.axhline(i * h - 0.5, color=row_line[0], lw=row_line[1])
    for j in range(1, cols):
        ax.axvline(j * w - 0.5, color=col_line[0], lw=col_line[1])
    ax.set_yticks([(i + 0.5) * h for i in range(rows)], list(row_labels), fontsize=7)
    ax.set_xticks([(j + 0.5) * w for j in range(cols)], list(col_labels), fontsize=col_fontsize)
    return fig, ax


def sweep_figure(grid: torch.Tensor, au_names: Sequence[str], levels: Sequence[float], title: str, path: Path,
                 panel_labels: Sequence[str] = ()) -> Path:
    """A labelled AU sweep grid image (3, rows*H, cols*W'): AU names on rows, intensities on columns."""
    fig, ax = grid_axes(grid, au_names, [f"{v:g}" for v in levels], px_per_inch=60)
    ax.set_xlabel("target intensity" + (f"  (each cell: {' | '.join(panel_labels)})" if panel_labels else ""),
                  fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
