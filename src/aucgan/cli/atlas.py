"""Draw the region atlas of a layout: numbered landmarks, region masks and the AU footprints.

With a layout that has a face mask (e.g. FLAME UV from `aucgan layout flame`), regions and footprints are
drawn over the mask and multiplied by it, as everything else in aucgan uses them.

With --changes BENCH it draws, instead, where a benchmark's true change falls against the footprints: each
AU's mean |displacement change| (alone at intensity 5) over the benchmark's first identities, the footprint
outlined, and the share of the true change outside the footprints of the changed AUs (per AU, over the
benchmark's expressions, overall), printed and written beside the figure as JSON (OUT with suffix .json).

Examples:
  aucgan atlas --out atlas.png
  aucgan atlas --changes strain_bench --out strain_changes.png
  aucgan atlas --layout my_uv_layout.json --size 512 --out atlas.png --force
  aucgan atlas --layout flame_layout.json --out flame_atlas.png
"""

from __future__ import annotations

import argparse

HELP = "draw a layout's landmarks, region masks and AU footprints (a PNG figure)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layout", help="layout JSON (name, size, 68 landmarks, optional face mask), e.g. from "
                                   "`aucgan layout flame`; default: the built-in layout")
    p.add_argument("--size", type=int, default=None, help="mask resolution in pixels (default 256)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--changes", metavar="BENCH",
                   help="a synthetic benchmark folder: draw its true change against the footprints instead")
    p.add_argument("--identities", type=int, default=8,
                   help="with --changes: the benchmark's first N identities (default 8)")
    p.add_argument("--expressions", type=int, default=12,
                   help="with --changes: their first M expressions (default 12; at most the benchmark's)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file (and its .json)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aucgan.errors import AucganError
    from aucgan.fsutil import atomic_write, check_output
    from aucgan.layout.landmarks import canonical_layout, load_layout

    if args.changes:
        if args.layout or args.size is not None:
            raise AucganError("--changes draws the benchmark in its own layout and size; drop --layout and --size")
        return run_changes(args)
    args.size = 256 if args.size is None else args.size
    if not 16 <= args.size <= 2048:
        raise AucganError(f"--size must be between 16 and 2048 pixels, got {args.size}")
    out = check_output(Path(args.out), force=args.force, what="atlas image")
    layout = load_layout(args.layout) if args.layout else canonical_layout(args.size)
    fig = atlas_figure(layout, args.size)
    atomic_write(out, lambda p: fig.savefig(p, format="png", dpi=100))
    print(f"wrote {out} (layout {layout.name!r}, {args.size} px)")
    return 0


def run_changes(args: argparse.Namespace) -> int:
    """``--changes BENCH``: the benchmark's true change against the footprints (figure and JSON)."""
    import json
    from pathlib import Path

    from aucgan.data.synth import SynthError
    from aucgan.data.synth.changes import footprint_changes, read_benchmark
    from aucgan.fsutil import atomic_write, atomic_write_text, check_output

    seed, config, n_ids, n_expressions = read_benchmark(args.changes)
    if not 1 <= args.identities:
        raise SynthError(f"--identities must be >= 1, got {args.identities}")
    if args.expressions < 0:
        raise SynthError(f"--expressions must be >= 0, got {args.expressions}")
    out = check_output(Path(args.out), force=args.force, what="changes figure")
    out_json = check_output(out.with_suffix(".json"), force=args.force, what="changes JSON")
    ids = range(min(args.identities, n_ids))
    expressions = min(args.expressions, n_expressions)
    result = footprint_changes(seed, config, ids, expressions)
    fig = changes_figure(result, args.changes)
    atomic_write(out, lambda p: fig.savefig(p, format="png", dpi=100))
    summary = {k: v for k, v in result.items() if k not in ("mean_change", "mean_footprint")}
    summary["benchmark"] = str(args.changes)
    atomic_write_text(out_json, json.dumps(summary, indent=1))
    ov, ex = result["overall"], result["expressions_share"]
    print(f"{args.changes}: world {result['world']}, {len(result['identities'])} identities, "
          f"{expressions} expressions each")
    for m in ("displacement", "albedo"):
        line = f"  {m}: {100 * ov[m]['outside']:.1f} % of the true change outside the changed AUs' footprints"
        if m in ex:
            line += f" ({100 * ex[m]['outside']:.1f} % over the expressions"
            line += f", {100 * ex[m]['beyond']:.1f} % where no changed AU's footprint reaches)"
        print(line)
    print(f"wrote {out} and {out_json}")
    return 0


def changes_figure(result: dict, name: str):
    """Per AU: mean |displacement change| alone at 5 (normalised per AU), footprint outlined, outside share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aucgan.au import AU_CATALOGUE, AU_NAMES

    change, fp = result["mean_change"].numpy(), result["mean_footprint"].numpy()
    size = change.shape[-1]
    centres = [i + 0.5 for i in range(size)]
    fig = plt.figure(figsize=(18, 10.5))
    grid = fig.add_gridspec(3, 6)
    for k, code in enumerate(AU_NAMES):
        ax = fig.add_subplot(grid[k // 6, k % 6])
        peak = float(change[k].max()) or 1.0
        ax.imshow(change[k] / peak, cmap="magma", vmin=0, vmax=1, extent=(0, size, size, 0))
        ax.contour(centres, centres, fp[k], levels=[0.05, 0.5], colors=["cyan", "white"], linewidths=0.8)
        share = result["single"][code]["displacement"]["outside"]
        ax.set_title(f"{code} {AU_CATALOGUE[code].name}\n{100 * share:.0f} % outside", fontsize=9)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[2, 5])
    ax.set_axis_off()
    ov, ex = result["overall"]["displacement"], result["expressions_share"].get("displacement")
    text = (f"{name}\nworld {result['world']}\n{len(result['identities'])} identities\n\n"
            f"mean |displacement change| of\neach AU alone at 5 (per-AU scale)\n"
            f"footprint: cyan 0.05, white 0.5\n\noutside the changed AUs'\nfootprints: {100 * ov['outside']:.0f} %")
    if ex:
        text += f"\n(expressions: {100 * ex['outside']:.0f} %)"
    ax.text(0.0, 0.5, text, fontsize=9, va="center")
    fig.tight_layout()
    return fig


def atlas_figure(layout, size: int):
    """A matplotlib figure: landmarks numbered over the face outline, region overlay, AU footprint grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    from aucgan.au import AU_CATALOGUE, AU_NAMES
    from aucgan.layout.atlas import REGION_NAMES, RegionAtlas

    atlas = RegionAtlas(layout)
    hw = (size, size)
    regions = atlas.regions(hw).numpy()
    prints = atlas.footprints(hw, AU_NAMES).numpy()
    face = atlas.face(hw)[0].numpy()
    lm = layout.landmarks * size

    fig = plt.figure(figsize=(18, 13))
    grid = fig.add_gridspec(4, 6, height_ratios=[2.2, 1, 1, 1])
    ax = fig.add_subplot(grid[0, 0:3])
    ax.imshow(face, cmap="Greys", vmin=0, vmax=3, extent=(0, size, size, 0))
    if layout.mask_image is not None:  # the map space's own mask: outline it where it crosses one half
        centres = (np.arange(size) + 0.5)
        ax.contour(centres, centres, face, levels=[0.5], colors="0.5", linewidths=1)
    else:
        poly = np.vstack([layout.face_polygon(), layout.face_polygon()[:1]]) * size
        ax.plot(poly[:, 0], poly[:, 1], "-", color="0.5", lw=1)
    ax.plot(lm[:, 0], lm[:, 1], ".", color="tab:red", ms=4)
    for i, (x, y) in enumerate(lm):
        ax.annotate(str(i), (x, y), fontsize=6, color="tab:blue", xytext=(2, 2), textcoords="offset points")
    ax.set_title(f"layout {layout.name!r}: 68 iBUG landmarks")
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)
    ax.set_aspect("equal")

    ax = fig.add_subplot(grid[0, 3:6])
    cmap = plt.get_cmap("tab20")
    colours = np.array([cmap(i % 20)[:3] for i in range(len(REGION_NAMES))])
    idx = regions.argmax(0)
    alpha = regions.max(0)
    overlay = colours[idx] * alpha[..., None] + (1 - alpha[..., None]) * (0.15 + 0.6 * face[..., None])
    ax.imshow(overlay.clip(0, 1), extent=(0, size, size, 0))
    ax.plot(lm[:, 0], lm[:, 1], ".", color="white", ms=2)
    ax.legend(handles=[Patch(color=colours[i], label=n) for i, n in enumerate(REGION_NAMES)], fontsize=7,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("region masks (colour = strongest region, brightness = mask value)")
    ax.set_axis_off()

    for k, code in enumerate(AU_NAMES):
        ax = fig.add_subplot(grid[1 + k // 6, k % 6])
        ax.imshow(0.35 * face, cmap="gray", vmin=0, vmax=1, extent=(0, size, size, 0))
        ax.imshow(prints[k], cmap="magma", vmin=0, vmax=1, alpha=0.75 * (prints[k] > 0.005),
                  extent=(0, size, size, 0))
        ax.plot(lm[:, 0], lm[:, 1], ".", color="cyan", ms=1)
        ax.set_title(f"{code} {AU_CATALOGUE[code].name}", fontsize=9)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[3, 5])
    ax.set_axis_off()
    note = "\nand multiplied by the\nlayout's face mask" if layout.mask_image is not None else ""
    ax.text(0.0, 0.5, "AU footprints: where each AU\nchanges the face (0..1),\nderived from the landmarks" + note,
            fontsize=9, va="center")
    fig.tight_layout()
    return fig
