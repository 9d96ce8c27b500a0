"""Edit a map set with a trained generator and write the edited maps and AU sweep strips.

The source is a sample of a data set (``--data DIR --source SAMPLE_ID``) or map files on disk
(``--source maps/x_albedo.png``: the sibling ``x_displacement.png`` is found by name). Unnamed AUs keep
the source's intensities (absolute targets, as GANimation).

Examples:
  aucgan generate --checkpoint runs/00001-improved --data bench --source id0003_e0002 --au AU12=3,AU06=2 --out edit
  aucgan generate --checkpoint RUN --source maps/id0003_e0002_albedo.png --au AU04=4 --out edit2
"""

from __future__ import annotations

import argparse

HELP = "edit maps with a trained generator (--au AU12=3,AU06=2) and write them plus AU sweep strips"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="training run directory (its latest checkpoint, EMA G)")
    p.add_argument("--data", help="data set holding --source (a sample id)")
    p.add_argument("--source", required=True, help="sample id in --data, or a map file such as x_albedo.png")
    p.add_argument("--au", required=True, help="target AUs, e.g. AU12=3,AU06=2 (others keep the source values)")
    p.add_argument("--source-au", help="source AUs for a file source (default: neutral)")
    p.add_argument("--attr", default=None,
                   help="extra conditions for models that take them, e.g. emotion=happiness,age=40 "
                        "(default: the source sample's own)")
    p.add_argument("--layout", help="layout JSON with the source's landmarks (file sources; default: the run's "
                                   "layout, RUN/layout.json, else the built-in one)")
    p.add_argument("--sweep", nargs="*", default=None, metavar="AU",
                   help="AUs to sweep 0..5 in strips (default: the AUs named in --au)")
    p.add_argument("--out", required=True, help="output folder (refused if it exists and is not empty)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")


def run(args: argparse.Namespace) -> int:
    import torch

    from aucgan.au import format_au, parse_au_spec
    from aucgan.data.conditions import parse_attrs
    from aucgan.data.mapio import save_rgb
    from aucgan.errors import AucganError
    from aucgan.export.maps import EXPORTED_MAPS, write_map_set
    from aucgan.fsutil import atomic_write, check_output
    from aucgan.inference import Editor
    from aucgan.render.views import VIEW_STRENGTH as NORMAL_STRENGTH
    from aucgan.render.views import viewable
    from aucgan.sources import load_source

    changes = parse_au_spec(args.au)
    out = check_output(args.out, force=args.force, what="output folder")
    editor = Editor.from_run(args.checkpoint)
    src = load_source(args.source, editor.codec.maps, editor.au_names, editor.size, data=args.data,
                      source_au=args.source_au, layout=args.layout, run_layout=editor.layout)
    missing = [m for m in editor.codec.maps if m not in src.maps]
    if missing:
        raise AucganError(f"the source lacks map(s) {missing} that the model needs")
    target = editor.target_vector(src.au, changes)
    attrs = {**src.attrs, **(parse_attrs(args.attr) if args.attr else {})}
    edited = editor.edit(src.maps, target, src.landmarks, src.au, attrs=attrs,
                         source_attrs=editor.source_attrs(src.attrs))
    out.mkdir(parents=True, exist_ok=True)
    sweeps = {}
    for au in (args.sweep if args.sweep is not None else list(changes)):
        strip = editor.sweep(src.maps, src.au, au, landmarks=src.landmarks, attrs=attrs)
        views = [viewable({k: v[None] for k, v in m.items() if k != "attention"}) for m in strip]
        rows = torch.cat([torch.cat([v[r][0] for v in views], dim=2) for r in range(len(views[0]))], dim=1)
        name = f"sweep_{au.upper()}.png"
        atomic_write(out / name, lambda path, img=rows: save_rgb(path, img))
        sweeps[au.upper()] = name
    meta = {"checkpoint": str(args.checkpoint), "step": editor.step, "source": args.source,
            "source_au": None if src.au is None else format_au(src.au, editor.au_names),
            "target_au": dict(zip(editor.au_names, [round(float(v), 3) for v in target])),
            "attributes": attrs, "sweeps": sweeps, "sweep_strength_for_view": NORMAL_STRENGTH}
    lm = editor.default_landmarks if src.landmarks is None else src.landmarks
    sidecar = write_map_set(out, {k: v for k, v in edited.items() if k in EXPORTED_MAPS}, landmarks=lm,
                            au=meta["target_au"], meta=meta, prefix="edited", turntable_views=0, exr=False,
                            layout_name=src.layout_name)
    print(f"wrote {', '.join([*sidecar['files'].values(), *sweeps.values()])} and edited.json to {out}")
    return 0
