"""Build a DECA detail data set: per image its latent code (jaw pose, expression, detail code, in DECA's
order) and its uv_z (1 x 256 x 256, metres), joined with OpenFace 2.x AUs by image name.

uv_z comes from DECA's --saveMat output (displacement_map minus your data/fixed_displacement_256.npy) or is
decoded from EMOCA's --save_codes codes by your decoder checkpoint. Codes come from EMOCA's folders, or from
the .mat files when your DECA demo saved codedict's pose, exp and detail into them (docs/deca.md). With --mat
and --decoder, every sample's |D(latent) - uv_z| is measured and a set of two encoders' codes and maps refused.

Names: outputs join to the OpenFace rows by the image's name as DECA and EMOCA give it (the part of the file
name before the first dot). EMOCA's image demo writes <output folder>/<model name>/<image name><face index:02d>/;
--codes may point at either folder; one face is kept per image (report.json says which).
Identities: --identities CSV (columns name, identity; keyed by image name), or one output folder per person
(ROOT/<identity>/<name>/..., ROOT/<identity>/<model name>/<name>/...), else none.
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
    p.add_argument("--codes", help="EMOCA --save_codes output folder (<model name>/<image name><face index>/pose.npy, "
                                   "exp.npy, detail.npy; or <name>/...)")
    p.add_argument("--decoder", help="DECA/EMOCA checkpoint (deca_model.tar) that decodes uv_z from the codes "
                                     "(when there are no .mat files); with --mat it checks that the codes decode "
                                     "to the .mat's uv_z")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="with --mat and --decoder: prepare the set even when the codes do not decode to the "
                        ".mat's uv_z (codes and maps of two different encoders)")
    p.add_argument("--decoder-au-input", default="unit", choices=("unit", "intensity"),
                   help="AU scale the decoder's AU inputs were trained with, for their AU-concat variant "
                        "(unit: AU / 5, intensity: 0..5)")
    p.add_argument("--aus", required=True, help="OpenFace 2.x output: a folder of per-image CSVs, or one CSV")
    p.add_argument("--images", help="the image folder OpenFace read (for a FeatureExtraction CSV: frame join)")
    p.add_argument("--identities", help="CSV with columns name (the image's name, not EMOCA's folder), identity")
    p.add_argument("--au-set", default="openface17", help="AU set (openface17, disfa12, ... or AU01,AU12)")
    p.add_argument("--min-confidence", type=float, default=0.0, help="minimum OpenFace confidence of an AU row")
    p.add_argument("--presence-gate", action="store_true",
                   help="set an AU's intensity to 0 where OpenFace's presence column (AUxx_c) is 0: absent AUs are "
                        "read as small positive intensities otherwise (train-deca's data.au_gate thresholds instead)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace a prepared data set in --out")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress and no notes (the summary lines stay)")


def run(args: argparse.Namespace) -> int:
    import sys

    from aucgan.deca.prepare import prepare_deca

    au_names = args.au_set if "," not in args.au_set else args.au_set.split(",")
    report = prepare_deca(args.out, args.aus, mat=args.mat, codes=args.codes,
                          fixed_displacement=args.fixed_displacement, decoder=args.decoder,
                          decoder_au_input=args.decoder_au_input, identities=args.identities, images=args.images,
                          au_names=au_names, min_confidence=args.min_confidence, force=args.force,
                          allow_mismatch=args.allow_mismatch, progress="off" if args.quiet else "auto",
                          log=None if args.quiet else print, presence_gate=args.presence_gate)
    for warning in report["warnings"]:
        print(f"aucgan prepare-deca: warning: {warning}", file=sys.stderr)
    reasons = ", ".join(f"{n} {r}" for r, n in report["skipped_by_reason"].items())
    print(f"prepared {report['prepared']} samples ({report['identities']} identities) into {args.out}"
          + (f"; skipped: {reasons} (see report.json)" if reasons else ""))
    check = report["decoder_check"]
    if check is not None:
        print(f"decoder check: median |D(latent) - uv_z| {check['median_abs_m'] * 1e3:.4f} mm, "
              f"{100 * check['median_relative']:.2f}% of |uv_z| (per sample in report.json)")
    if report["emoca_faces"]:
        several = sum(1 for f in report["emoca_faces"].values() if f["others"])
        print(f"EMOCA faces: {len(report['emoca_faces'])} images by their face folders"
              + (f", {several} with several faces (one kept each, see report.json)" if several else ""))
    for problem in report["au_file_problems"][:5]:
        print(f"note: {problem}")
    return 0
