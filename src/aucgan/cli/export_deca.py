"""Write decoded uv_z in DECA's convention: per sample a 256x256 float32 .npy in metres, before the mask and
without the fixed displacement (DECA's displacement2normal adds both), a 16-bit PNG preview and export.json
(encoding, AUs used). The samples' own latent codes and AUs come from a data set of `aucgan prepare-deca`;
--au overrides AUs by name.

CHECKPOINT is a deca run directory, or a DECA/EMOCA checkpoint with --deca.

Examples:
  aucgan export-deca runs/00003-deca --data deca_set --sample img_0012 --au AU12=4,AU06=3 --out smile
  aucgan export-deca runs/00003-deca --data deca_set --all --out uv_z_all
"""

from __future__ import annotations

import argparse

#: An AU edit that moves no sample's uv_z by more than this (metres; float32 rounding of DECA's +-1 cm maps is
#: about 1e-9) is taken as a decoder that ignores its AUs.
STILL_M = 1e-8
HELP = "export decoded uv_z (DECA's convention: metres, before the mask) as .npy + 16-bit PNG"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a deca run directory, or deca_model.tar with --deca")
    p.add_argument("--deca", action="store_true", help="CHECKPOINT is a DECA/EMOCA checkpoint")
    p.add_argument("--au-set", default="openface17", help="with --deca: the AUs of an AU-concat checkpoint")
    p.add_argument("--au-input", default="unit", choices=("unit", "intensity"),
                   help="with --deca: the AU scale an AU-concat checkpoint was trained with")
    p.add_argument("--data", required=True, help="a data set from `aucgan prepare-deca`")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", action="append", help="sample name (repeat for several)")
    which.add_argument("--all", action="store_true", help="every sample of the data set")
    p.add_argument("--au", help="AU overrides, e.g. AU12=4,AU06=3 (others: the sample's own)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out")


def run(args: argparse.Namespace) -> int:
    import sys

    from aucgan.au import parse_au_spec
    from aucgan.deca.build import load_decoder
    from aucgan.deca.data import open_deca_data
    from aucgan.deca.export import export_uv_z
    from aucgan.deca.train import check_data
    from aucgan.fsutil import check_output

    out = check_output(args.out, force=args.force, what="output folder")
    au = parse_au_spec(args.au) if args.au else None
    au_names = args.au_set if "," not in args.au_set else args.au_set.split(",")
    dec, info = load_decoder(args.checkpoint, deca=args.deca, au_names=au_names, au_input=args.au_input)
    data = open_deca_data(args.data, au_names=dec.au_names)
    check_data(dec, data, args.data)
    names = data.names if args.all else args.sample
    sidecar = export_uv_z(dec, data, names, out, au=au, info=info)
    clipped = [n for n, s in sidecar["samples"].items() if s["clipped_in_preview"]]
    print(f"wrote {len(names)} uv_z maps ({dec.output_size}x{dec.output_size} float32, metres) to {out}")
    moved = [s["au_edit_moved_max_m"] for s in sidecar["samples"].values() if s["au_edit_moved_max_m"] is not None]
    if moved and max(moved) <= STILL_M:
        print(f"aucgan export-deca: warning: --au {args.au} did not change the decoded uv_z of any sample "
              f"(largest change {max(moved):.1e} m): this decoder's output does not move with the AUs (an imported "
              "DECA checkpoint before fine-tuning, or AU inputs with zero weights); `aucgan diagnose` measures it",
              file=sys.stderr)
    if clipped:
        print(f"note: the 16-bit previews of {', '.join(clipped[:5])} clip (|uv_z| > 1 cm); the .npy files do not")
    return 0
