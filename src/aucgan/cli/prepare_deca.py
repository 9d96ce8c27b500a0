"""Build a DECA detail data set: per image its latent code (jaw pose, expression, detail code, in DECA's
order) and its uv_z (1 x 256 x 256, metres), joined with OpenFace 2.x AUs by image name.

uv_z comes from DECA's --saveMat output (displacement_map minus your data/fixed_displacement_256.npy) or is
decoded from EMOCA's --save_codes codes by your decoder checkpoint. Codes come from EMOCA's folders, or from
the .mat files when your DECA demo saved codedict's pose, exp and detail into them. Identities: --identities
CSV (columns name, identity), or one output folder per person (ROOT/<identity>/<name>/...), else none.
The folder is also an aucgan manifest data set (`aucgan inspect OUT`, `aucgan train-au`); see docs/deca.md.

Examples:
  aucgan prepare-deca --mat deca_out/ --fixed-displacement DECA/data/fixed_displacement_256.npy \\
      --codes emoca_codes/ --aus openface_csvs/ --out deca_set
  aucgan prepare-deca --codes emoca_codes/ --decoder DECA/data/deca_model.tar --aus openface_csvs/ --out deca_set
"""

from __future__ import annotations

import argparse

HELP = "make a DECA detail data set (latent codes + uv_z + OpenFace AUs) from DECA/EMOCA outputs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mat", help="DECA --saveMat output folder (<name>/<name>.mat)")
    p.add_argument("--fixed-displacement", help="DECA's data/fixed_displacement_256.npy (needed with --mat)")
    p.add_argument("--codes", help="EMOCA --save_codes output folder (<name>/pose.npy, exp.npy, detail.npy)")
    p.add_argument("--decoder", help="DECA/EMOCA checkpoint (deca_model.tar) that decodes uv_z from the codes "
                                     "(when there are no .mat files)")
    p.add_argument("--decoder-au-input", default="unit", choices=("unit", "intensity"),
                   help="AU scale the decoder's AU inputs were trained with, for their AU-concat variant "
                        "(unit: AU / 5, intensity: 0..5)")
    p.add_argument("--aus", required=True, help="OpenFace 2.x output: a folder of per-image CSVs, or one CSV")
    p.add_argument("--images", help="the image folder OpenFace read (for a FeatureExtraction CSV: frame join)")
    p.add_argument("--identities", help="CSV with columns name, identity")
    p.add_argument("--au-set", default="openface17", help="AU set (openface17, disfa12, ... or AU01,AU12)")
    p.add_argument("--min-confidence", type=float, default=0.0, help="minimum OpenFace confidence of an AU row")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace a prepared data set in --out")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from aucgan.deca.prepare import prepare_deca

    au_names = args.au_set if "," not in args.au_set else args.au_set.split(",")
    report = prepare_deca(args.out, args.aus, mat=args.mat, codes=args.codes,
                          fixed_displacement=args.fixed_displacement, decoder=args.decoder,
                          decoder_au_input=args.decoder_au_input, identities=args.identities, images=args.images,
                          au_names=au_names, min_confidence=args.min_confidence, force=args.force,
                          log=None if args.quiet else print)
    reasons = ", ".join(f"{n} {r}" for r, n in report["skipped_by_reason"].items())
    print(f"prepared {report['prepared']} samples ({report['identities']} identities) into {args.out}"
          + (f"; skipped: {reasons} (see report.json)" if reasons else ""))
    for problem in report["au_file_problems"][:5]:
        print(f"note: {problem}")
    return 0
