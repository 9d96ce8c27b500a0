"""Summaries of a data set for ``aucgan inspect``: counts, per-AU statistics and histograms, problems found.

Inspection reads leniently (``strict=False``): malformed rows, filtered rows, missing or unreadable images
and mixed image sizes become lines in ``problems`` rather than errors, so one run shows everything that is
wrong. Only a path that cannot be read as any data set kind raises :class:`~aucgan.data.errors.DataError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aucgan.au import AU_MAX, AU_MIN, AU_NAMES
from aucgan.data.datasets import MapDataset, open_dataset

#: Histogram bin edges on the raw 0..5 intensity scale (0.5 wide).
HIST_EDGES: tuple[float, ...] = tuple(float(x) for x in np.linspace(AU_MIN, AU_MAX, 11))
#: Intensity from which an AU counts as active in ``au_active`` (FACS "A" level and above).
ACTIVE_THRESHOLD = 1.0


def summarize(ds: MapDataset, check_files: bool = True, decode: bool = False) -> dict:
    """A JSON-ready summary of ``ds``: ``kind``, ``samples``, ``identities``, ``splits``, ``maps``,
    ``image_sizes``, ``au_mean``/``au_max``/``au_active`` (AU name -> value, raw 0..5 scale; None when
    empty), ``au_hist`` (``edges`` and per-AU ``counts``), ``landmarks`` and ``attributes`` (sample counts)
    and ``problems`` (strings). ``check_files`` reads every image header (``decode``: every image)."""
    au = ds.au_matrix().astype(np.float64)
    n = au.shape[0]
    names = list(ds.au_names)
    problems = list(ds.problems)
    if check_files:
        problems += ds.check_files(decode=decode)
    if n == 0:
        problems.append(f"{ds.root}: no samples")
    counts, active = {}, {}
    for k, code in enumerate(names):
        active[code] = float((au[:, k] >= ACTIVE_THRESHOLD).mean()) if n else None
        hist, _ = np.histogram(au[:, k], bins=np.asarray(HIST_EDGES))
        counts[code] = [int(c) for c in hist]
    attributes: dict[str, int] = {}
    for meta in ds.samples_meta:
        for key in meta.attrs:
            attributes[key] = attributes.get(key, 0) + 1
    sizes = ds.image_sizes() if check_files else {}
    return {
        "path": str(ds.root),
        "kind": ds.kind,
        "samples": n,
        "identities": len(ds.identities()),
        "splits": ds.splits(),
        "maps": list(ds.map_names),
        "image_sizes": {f"{h}x{w}": c for (h, w), c in sorted(sizes.items())},
        "au_names": names,
        "au_mean": {c: (float(au[:, k].mean()) if n else None) for k, c in enumerate(names)},
        "au_max": {c: (float(au[:, k].max()) if n else None) for k, c in enumerate(names)},
        "au_active": active,
        "au_hist": {"edges": list(HIST_EDGES), "counts": counts},
        "landmarks": sum(1 for m in ds.samples_meta if m.landmarks is not None or m.landmarks_px is not None),
        "layout": None if ds.layout is None else {
            "name": ds.layout.name, "size": list(ds.layout.size),
            "mask_coverage": None if ds.layout.mask_image is None else float((ds.layout.mask_image > 0.5).mean())},
        "attributes": attributes,
        "problems": problems,
    }


def inspect_dataset(path: str | Path, au_names: Sequence[str] = AU_NAMES, split: str | None = None,
                    check_files: bool = True, decode: bool = False, **open_kwargs) -> dict:
    """Open ``path`` leniently (any kind :func:`~aucgan.data.datasets.open_dataset` reads) and summarise it.

    ``open_kwargs`` go to :func:`open_dataset` (``images``, ``join``, ``min_confidence``, ``success_only``).
    """
    ds = open_dataset(path, split=split, au_names=au_names, strict=False, **open_kwargs)
    return summarize(ds, check_files=check_files, decode=decode)


def histogram_figure(report: dict):
    """A matplotlib figure with one intensity histogram per AU of a :func:`summarize` report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["au_names"]
    edges = np.asarray(report["au_hist"]["edges"])
    cols = 6
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows + 0.6), squeeze=False)
    total = max(report["samples"], 1)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    for ax, code in zip(axes.flat, names):
        frac = np.asarray(report["au_hist"]["counts"][code], np.float64) / total
        ax.bar(edges[:-1], frac, width=np.diff(edges), align="edge", color="tab:blue", edgecolor="white")
        mean = report["au_mean"][code]
        ax.set_title(f"{code}  mean {mean:.2f}" if mean is not None else code, fontsize=9)
        ax.set_xlim(AU_MIN, AU_MAX)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of samples", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("intensity (0..5)", fontsize=8)
    fig.suptitle(f"{report['path']} ({report['kind']}): {report['samples']} samples, "
                 f"{report['identities']} identities", fontsize=11)
    fig.tight_layout()
    return fig


def format_report(report: dict) -> str:
    """The human-readable form of a :func:`summarize` report."""
    splits = ", ".join(f"{k} {v}" for k, v in report["splits"].items())
    sizes = ", ".join(f"{k} ({v} files)" for k, v in report["image_sizes"].items()) or "unknown"
    lines = [
        f"data set    {report['path']} (kind: {report['kind']})",
        f"samples     {report['samples']}" + (f" (splits: {splits})" if splits else ""),
        f"identities  {report['identities']}",
        f"maps        {', '.join(report['maps']) or 'none'}; sizes {sizes}",
        f"landmarks   {report['landmarks']} samples",
    ]
    layout = report.get("layout")
    if layout:
        cover = layout["mask_coverage"]
        mask = "no face mask" if cover is None else f"face mask {cover:.0%} of the map"
        lines.append(f"layout      {layout['name']} ({mask})")
    if report["attributes"]:
        lines.append("attributes  " + ", ".join(f"{k} ({v})" for k, v in report["attributes"].items()))
    lines.append(f"{'AU':<6}{'mean':>7}{'max':>7}{'>=1':>7}")
    for code in report["au_names"]:
        mean, top, active = report["au_mean"][code], report["au_max"][code], report["au_active"][code]
        if mean is None:
            lines.append(f"{code:<6}{'-':>7}{'-':>7}{'-':>7}")
        else:
            lines.append(f"{code:<6}{mean:7.2f}{top:7.2f}{active:7.0%}")
    problems = report["problems"]
    lines.append(f"problems    {len(problems) or 'none'}")
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)
