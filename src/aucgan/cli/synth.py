"""Write the synthetic UV face benchmark: identities x expressions, exact ground truth (docs/benchmark.md).

The folder holds dataset.json (card), manifest.csv, maps/ (albedo, 16-bit displacement, normal PNGs),
landmarks/ (one JSON per identity) and preview.png (identities x AUs). Identity NNNN of a seed is the same
whatever the other arguments, so any (identity, AU vector) pair can be re-rendered later.

With --layout the benchmark is rendered in that map space (e.g. FLAME UV from `aucgan layout flame`):
identities vary around the layout's landmarks (--layout-jitter; FLAME layouts ask for little), its face mask
bounds every AU, and the folder keeps the layout (layout.json) for the ground truth and every reader.

With --world strain the AU change comes from skin strain instead of the atlas footprints: muscle fields move
the skin, wrinkles form where it compresses, the neutral detail moves with the tissue, and the landmarks carry
a tracker error (docs/benchmark.md). The world is recorded in dataset.json.

Examples:
  aucgan synth --out bench --identities 200 --expressions 20
  aucgan synth --out strain_bench --world strain --identities 40 --expressions 24 --size 64
  aucgan synth --out bench64 --identities 50 --expressions 10 --size 64 --seed 3 --force
  aucgan synth --out flame_bench --layout flame_layout.json --size 256
"""

from __future__ import annotations

import argparse

HELP = "write the synthetic UV face benchmark (maps, manifest, card, preview sheet)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (must be new or empty unless --force)")
    p.add_argument("--identities", type=int, default=100, help="number of identities (default 100)")
    p.add_argument("--expressions", type=int, default=10, help="expressions per identity (default 10)")
    p.add_argument("--size", type=int, default=128, help="map size in pixels (default 128)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="fraction of identities held out as the test split (default 0.2)")
    p.add_argument("--layout", help="layout JSON to render in (e.g. from `aucgan layout flame`); default: the "
                                   "built-in layout")
    p.add_argument("--layout-jitter", type=float, default=None,
                   help="scale of the per-identity landmark variation (default: the layout's identity_jitter, "
                        "else 1.0)")
    p.add_argument("--world", default="default",
                   help="how AUs change the face: default (patterns in the atlas footprints) or strain (skin "
                        "strain: muscle fields, wrinkles where the skin compresses; docs/benchmark.md)")
    p.add_argument("--force", action="store_true", help="overwrite an existing benchmark folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from dataclasses import replace
    from pathlib import Path

    from aucgan.data.synth import WORLDS, SynthError, write_dataset
    from aucgan.data.synth.config import in_layout
    from aucgan.layout.landmarks import load_layout

    if args.identities < 1 or args.expressions < 1:
        raise SynthError(f"--identities and --expressions must be >= 1, "
                         f"got {args.identities} and {args.expressions}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise SynthError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if not 16 <= args.size <= 2048:
        raise SynthError(f"--size must be between 16 and 2048 pixels, got {args.size}")
    if args.layout_jitter is not None and not args.layout_jitter >= 0:
        raise SynthError(f"--layout-jitter must be >= 0, got {args.layout_jitter}")
    if args.world not in WORLDS:
        raise SynthError(f"--world must be one of {', '.join(WORLDS)}, got {args.world!r}")
    layout = load_layout(args.layout) if args.layout else None
    config = replace(in_layout(layout, args.layout_jitter), world=args.world)
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"  {done}/{total} samples ({time.perf_counter() - t0:.1f}s)", file=sys.stderr, flush=True)

    out = write_dataset(Path(args.out), identities=args.identities, expressions=args.expressions,
                        size=args.size, seed=args.seed, test_fraction=args.test_fraction, force=args.force,
                        config=config, progress=progress)
    total = args.identities * args.expressions
    where = "" if layout is None else f", layout {layout.name!r}, jitter {config.layout_jitter:g}"
    where += "" if args.world == "default" else f", world {args.world}"
    print(f"wrote {total} samples ({args.identities} identities x {args.expressions} expressions, "
          f"{args.size} px, seed {args.seed}{where}) to {out} in {time.perf_counter() - t0:.1f}s")
    print(f"  card {out / 'dataset.json'}, manifest {out / 'manifest.csv'}, maps in {out / 'maps'}, "
          f"landmarks in {out / 'landmarks'}")
    print(f"  preview sheet {out / 'preview.png'} (rows: identities, columns: neutral and each AU at 5)")
    return 0
