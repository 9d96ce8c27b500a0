"""Build one report over training runs: an at-a-glance table (per run: the share of the true change reproduced
when adding, removing and transferring AUs, and whether the discriminator checks the AUs; the no-edit and
truth rows beneath) with the add/remove picture under it, then what each run uses, every metric's figures
(best per column marked), per-AU controllability and locality bars, sensitivity heatmaps with footprint
outlines, AU sweep grids (rows AUs, columns intensity 0..5) on the same test faces, and training curves.
Writes DIR/index.html (images in DIR/img), DIR/summary.md and DIR/summary.json. Score the runs first with
`aucgan eval`.

Example:
  aucgan compare runs/00001-baseline runs/00002-improved --out report
"""

from __future__ import annotations

import argparse

HELP = "build the HTML/Markdown comparison report over evaluated runs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="training run directories (evaluated)")
    p.add_argument("--out", required=True, help="report folder (refused if it exists and is not empty)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--data", help="data set for the sweep grids (default: each run's own, from data.json)")
    p.add_argument("--sweep-faces", type=int, default=2, help="test faces per run in sweep grids (0: none)")
    p.add_argument("--title", help="the report's title (default: the runs compared, 'A vs B')")
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from aucgan.fsutil import check_output
    from aucgan.report.compare import build_comparison

    out = check_output(args.out, force=args.force, what="report folder")
    page = build_comparison(args.runs, out, data=args.data, sweep_faces=args.sweep_faces, device=args.device,
                            title=args.title, log=lambda m: print(m, flush=True))
    print(f"report: {page} (table: {page.parent / 'summary.md'})")
    return 0
