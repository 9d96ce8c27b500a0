"""Write aucgan layout JSON files from other tools' UV spaces.

flame: FLAME's UV space from a DECA data/ folder (your own copy; aucgan never ships or downloads
DECA's files): the 68 landmarks from head_template.obj + landmark_embedding.npy (x = u, y = 1 - v) and the
face mask uv_face_eye_mask.png (channel 0 / 255, the mask DECA multiplies uv_z by). The layout JSON is what
--layout takes in `aucgan atlas`, `aucgan synth` and `aucgan generate`.

Examples:
  aucgan layout flame --deca-data ~/DECA/data --out flame_layout.json
  aucgan layout flame --deca-data ~/DECA/data --mask uv_face_mask.png --out flame_noeyes.json --force
  aucgan atlas --layout flame_layout.json --out flame_atlas.png
"""

from __future__ import annotations

import argparse

HELP = "write a layout JSON from another tool's UV space (flame: DECA's data/ folder)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="layout_kind", metavar="KIND")
    sub.required = True
    flame = sub.add_parser("flame", help="FLAME UV from a DECA data/ folder",
                           description="FLAME UV layout from DECA's head_template.obj, landmark_embedding.npy "
                                       "and uv_face_eye_mask.png")
    flame.add_argument("--deca-data", required=True, metavar="DIR",
                       help="DECA's data/ folder (head_template.obj, landmark_embedding.npy, uv_face_eye_mask.png)")
    flame.add_argument("--mask", default="uv_face_eye_mask.png", metavar="FILE",
                       help="mask PNG inside --deca-data (default uv_face_eye_mask.png; 'none' for no mask)")
    flame.add_argument("--name", default="flame", help="layout name (default flame)")
    flame.add_argument("--identity-jitter", type=float, default=None,
                       help="per-identity landmark variation the synthetic benchmark uses in this layout, "
                            "relative to the built-in layout's (default 0.25: FLAME's landmarks sit at fixed UVs)")
    flame.add_argument("--out", required=True, help="output layout JSON")
    flame.add_argument("--force", action="store_true", help="overwrite an existing --out")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from aucgan.fsutil import atomic_write_text, check_output
    from aucgan.layout.flame import FLAME_IDENTITY_JITTER, landmarks_inside_mask, read_flame_layout
    from aucgan.layout.landmarks import LayoutError

    out = check_output(Path(args.out), force=args.force, what="layout file")
    if out.is_dir():
        raise LayoutError(f"--out {out} is a folder; give a .json file path")
    jitter = FLAME_IDENTITY_JITTER if args.identity_jitter is None else args.identity_jitter
    mask = None if args.mask.lower() == "none" else args.mask
    layout = read_flame_layout(args.deca_data, mask=mask, name=args.name, identity_jitter=jitter)
    atomic_write_text(out, json.dumps(layout.to_json(), indent=1))
    x0, y0 = layout.landmarks.min(axis=0)
    x1, y1 = layout.landmarks.max(axis=0)
    print(f"wrote {out} (layout {layout.name!r}, {layout.size[1]}x{layout.size[0]} px, 68 landmarks in "
          f"x {x0:.3f}..{x1:.3f}, y {y0:.3f}..{y1:.3f})")
    if layout.mask_image is not None:
        inside = landmarks_inside_mask(layout)
        print(f"  mask {mask}: {float((layout.mask_image > 0.5).mean()):.1%} of the map; "
              f"{inside} of 68 landmarks inside it")
    return 0
