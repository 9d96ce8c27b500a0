"""Turn a folder of face photos with AU labels into a training set in aucgan's layout (photo extra).

Each photo's largest face is found (MediaPipe), unwrapped into the canonical layout and written as an albedo
texture, a visibility mask and a neutral displacement map, with its AU intensities, as a folder data set
(``manifest.csv`` + ``maps/``) that ``aucgan train --data OUT`` reads. ``report.json`` lists the photos skipped
and why (no face, low confidence, missing AU row, unreadable, face mostly hidden). An interrupted run resumes
when started again with the same inputs; other existing outputs are refused without --force.

AU labels: an OpenFace 2.x CSV (FeatureExtraction over the photo folder: rows join to photos by the frame
number in the file name, e.g. frame_000012.png or img_12.jpg) or a pickle {image stem: 17 AU intensities}.

Examples:
  aucgan prepare photos/ --aus photos.csv --out photo_set
  aucgan train --config improved --data photo_set --aunet AUNET_RUN
"""

from __future__ import annotations

import argparse

HELP = "make a training set from face photos and their AU labels (OpenFace CSV or AU pickle) (photo extra)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", help="folder of photos")
    p.add_argument("--aus", required=True, help="AU labels: OpenFace CSV (.csv) or {stem: 17 AUs} pickle (.pkl)")
    p.add_argument("--out", required=True, help="output data set folder")
    p.add_argument("--size", type=int, default=128, help="layout size in pixels (default 128)")
    p.add_argument("--min-score", type=float, default=0.5, help="minimum face detector confidence (0..1)")
    p.add_argument("--min-visible", type=float, default=0.5,
                   help="minimum visible share of the layout's face area (0..1)")
    p.add_argument("--min-au-confidence", type=float, default=0.0,
                   help="skip photos whose OpenFace AU row has a lower 'confidence' (0..1)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no line per photo and no progress (by default: a bar on a terminal, else a line per photo "
                        "and a progress line every 30 s)")
    p.add_argument("--force", action="store_true", help="start again, replacing a previous prepare in --out")


def run(args: argparse.Namespace) -> int:
    from aucgan.photo.prepare import prepare_dataset

    report = prepare_dataset(args.photos, args.aus, args.out, size=args.size, min_score=args.min_score,
                             min_visible=args.min_visible, min_au_confidence=args.min_au_confidence,
                             force=args.force,
                             log=None if args.quiet else print, progress="off" if args.quiet else "auto")
    reasons = ", ".join(f"{n} {r}" for r, n in report["skipped_by_reason"].items())
    print(f"prepared {report['prepared']} of {report['photos']} photos into {args.out}"
          + (f"; skipped: {reasons} (see report.json)" if reasons else ""))
    for problem in report["au_file_problems"][:5]:
        print(f"note: {problem}")
    return 0
