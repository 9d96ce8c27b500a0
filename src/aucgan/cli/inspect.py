"""Summarise a data set: sample count, identities, per-AU mean/max/histograms and the problems found.

PATH may be an OpenFace 2.x CSV, a GANimation folder (aus_openface.pkl + imgs/), a folder data set
(manifest.csv / manifest.json, or the manifest file itself) or a synthetic benchmark folder. Problems
(filtered or malformed rows, missing images, mixed sizes) are listed, not fatal; exit status 0.

Examples:
  aucgan inspect data/bench
  aucgan inspect video.csv --min-confidence 0.8 --json
  aucgan inspect celeba_ganimation --plot au_hist.png
"""

from __future__ import annotations

import argparse

HELP = "summarise a data set: samples, identities, per-AU statistics and histograms, problems"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="data set folder or file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--plot", metavar="OUT.png", help="write per-AU intensity histograms to this PNG")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--aus", default="openface17",
                   help="AU set name (openface17, disfa12, bp4d12, fera2015) or comma list (AU06,AU12); "
                        "default openface17")
    p.add_argument("--split", help="summarise one split only (e.g. train, test)")
    p.add_argument("--images", help="OpenFace CSV: the image folder (default: searched beside the CSV)")
    p.add_argument("--join", choices=["frame", "stem"],
                   help="OpenFace CSV: join rows to images by frame number or by the CSV's file stem "
                        "(default: by CSV layout)")
    p.add_argument("--min-confidence", type=float, default=0.0, help="OpenFace CSV: drop rows below this")
    p.add_argument("--keep-unsuccessful", action="store_true",
                   help="OpenFace CSV: keep rows with success = 0")
    p.add_argument("--decode", action="store_true", help="decode every image (default: read headers only)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from aucgan.au import AU_SETS, AUError, au_set
    from aucgan.data.errors import DataError
    from aucgan.data.inspect import format_report, histogram_figure, inspect_dataset
    from aucgan.fsutil import atomic_write, check_output

    try:
        aus = au_set(args.aus) if args.aus.lower() in AU_SETS else au_set(
            [a for a in args.aus.split(",") if a.strip()])
    except AUError as exc:
        raise DataError(f"--aus: {exc}") from None
    out = check_output(Path(args.plot), force=args.force, what="plot") if args.plot else None
    report = inspect_dataset(args.path, au_names=aus, split=args.split, decode=args.decode,
                             images=args.images, join=args.join, min_confidence=args.min_confidence,
                             success_only=not args.keep_unsuccessful)
    if out is not None:
        import matplotlib.pyplot as plt

        fig = histogram_figure(report)
        atomic_write(out, lambda p: fig.savefig(p, format="png", dpi=90))
        plt.close(fig)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
    if out is not None:
        print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    return 0
