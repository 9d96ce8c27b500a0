"""Export an edited map set for 3-D tools: albedo PNG (sRGB), 16-bit displacement PNG (and float EXR when the
OpenEXR package is installed), tangent-space normal map, a relit turntable strip, a JSON sidecar (layout,
scale, AU values) and, for the synthetic benchmark's layout, a face height-field mesh (OBJ + MTL with UVs).

Examples:
  aucgan export-maps runs/00001-improved --data bench --source id0003_e0002 --au AU12=3,AU06=2 --out face
  aucgan export-maps RUN --data bench --source id0003_e0002 --au AU04=4 --attr emotion=anger --out angry
"""

from __future__ import annotations

import argparse

HELP = "export an edited map set (PNG/EXR, normal map, turntable, JSON sidecar, OBJ mesh) for 3-D tools"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="training run directory (its latest checkpoint, EMA G)")
    p.add_argument("--data", help="data set holding --source (a sample id)")
    p.add_argument("--source", required=True, help="sample id in --data, or a map file such as x_albedo.png")
    p.add_argument("--au", default=None, help="target AUs, e.g. AU12=3,AU06=2 (others keep the source values; "
                                              "default: the source's own AUs)")
    p.add_argument("--source-au", help="source AUs for a file source (default: neutral)")
    p.add_argument("--attr", default=None,
                   help="extra conditions for models that take them, e.g. emotion=happiness,valence=0.8 "
                        "(default: the source's own)")
    p.add_argument("--layout", help="layout JSON with the source's landmarks (file sources; default: the run's "
                                   "layout, RUN/layout.json, else the built-in one)")
    p.add_argument("--views", type=int, default=8, help="light directions in the turntable strip (0: none)")
    p.add_argument("--mesh-grid", type=int, default=128, help="mesh vertices per side (synthetic layout only)")
    p.add_argument("--no-mesh", action="store_true", help="do not write the OBJ mesh")
    p.add_argument("--out", required=True, help="output folder (refused if it exists and is not empty)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from aucgan.au import parse_au_spec
    from aucgan.data.conditions import parse_attrs
    from aucgan.errors import AucganError
    from aucgan.export.maps import EXPORTED_MAPS, write_map_set
    from aucgan.export.mesh import write_obj
    from aucgan.fsutil import check_output
    from aucgan.inference import Editor
    from aucgan.sources import load_source

    out = check_output(args.out, force=args.force, what="output folder")
    if args.views < 0 or args.mesh_grid < 4:
        raise AucganError("--views must be >= 0 and --mesh-grid >= 4")
    editor = Editor.from_run(args.run_dir)
    src = load_source(args.source, editor.codec.maps, editor.au_names, editor.size, data=args.data,
                      source_au=args.source_au, layout=args.layout, run_layout=editor.layout)
    target = editor.target_vector(src.au, parse_au_spec(args.au) if args.au else {})
    attrs = {**src.attrs, **(parse_attrs(args.attr) if args.attr else {})}
    edited = editor.edit(src.maps, target, src.landmarks, src.au, attrs=attrs)
    lm = np.asarray(editor.default_landmarks if src.landmarks is None else src.landmarks, np.float64)
    sidecar = write_map_set(
        out, {k: v for k, v in edited.items() if k in EXPORTED_MAPS}, landmarks=lm,
        au=dict(zip(editor.au_names, [round(float(v), 3) for v in target])), turntable_views=args.views,
        layout_name=src.layout_name,
        meta={"checkpoint": str(args.run_dir), "step": editor.step, "source": args.source,
              "source_au": None if src.au is None else [round(float(v), 3) for v in src.au],
              "attributes": attrs},
    )
    written = list(sidecar["files"].values())
    mesh_ok = src.layout_name in ("synthetic", "canonical")
    if not args.no_mesh and mesh_ok and "displacement" in edited:
        written += list(write_obj(out, lm, edited["displacement"], sidecar["files"], grid=args.mesh_grid).values())
    elif not args.no_mesh and not mesh_ok:
        print(f"no mesh: the height-field mesh needs the synthetic/canonical layout ({src.layout_name}); maps only")
    print(f"wrote {', '.join(written)} and face.json to {out}")
    return 0
