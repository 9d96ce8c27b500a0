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

MAP_SUFFIXES = ("albedo", "displacement", "normal", "image")


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


def _load_file_source(path_str: str, editor) -> dict:
    from pathlib import Path

    from aucgan.data.mapio import load_displacement, load_rgb
    from aucgan.errors import AucganError

    path = Path(path_str)
    if not path.is_file():
        raise AucganError(f"--source {path}: not a sample id of --data and not a file")
    stem = path.stem
    prefix = next((stem[: -len(s) - 1] for s in MAP_SUFFIXES if stem.endswith("_" + s)), None)
    if prefix is None:
        raise AucganError(f"--source {path}: name must end in _albedo/_displacement/_normal/_image (.png)")
    maps = {}
    for name in editor.codec.maps:
        f = path.with_name(f"{prefix}_{name}{path.suffix}")
        if not f.is_file():
            raise AucganError(f"the model needs map {name!r}: expected {f}")
        maps[name] = load_displacement(f) if name == "displacement" else load_rgb(f)
    return maps


def load_source(args: argparse.Namespace, editor) -> tuple[dict, object, object, dict, str]:
    """The source of an edit from ``--data/--source`` (a sample id) or map files (``--source``, with
    ``--source-au`` and ``--layout``): ``(maps, source AUs or None, landmarks or None, attributes,
    layout description)``. Shared by ``generate`` and ``export-maps``."""
    from pathlib import Path

    import numpy as np

    from aucgan.au import au_vector, parse_au_spec
    from aucgan.layout.landmarks import load_layout

    landmarks, source_au, attrs = None, None, {}
    layout_name = "canonical" if editor.layout is None else f"run layout {editor.layout.name!r}"
    if args.data and not Path(args.source).is_file():
        from aucgan.data.datasets import open_dataset

        ds = open_dataset(args.data, size=(editor.size, editor.size), au_names=editor.au_names)
        item = ds.get_by_id(args.source)
        maps = {k: v for k, v in item["maps"].items() if k in editor.codec.maps}
        source_au = np.asarray(item["au"], np.float32)
        landmarks = item.get("landmarks")
        attrs = {k: float(v) for k, v in item.get("attrs", {}).items()}
        layout_name = "synthetic" if ds.kind == "synth" else f"{ds.kind} data set"
        if ds.layout is not None:
            layout_name += f" in layout {ds.layout.name!r}"
    else:
        maps = _load_file_source(args.source, editor)
        if args.source_au:
            source_au = au_vector(parse_au_spec(args.source_au), editor.au_names)
        if args.layout:
            landmarks, layout_name = load_layout(args.layout).landmarks, f"user layout {args.layout}"
    return maps, source_au, landmarks, attrs, layout_name


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from aucgan.au import format_au, parse_au_spec
    from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE, save_displacement, save_rgb
    from aucgan.errors import AucganError
    from aucgan.fsutil import atomic_write_text, check_output
    from aucgan.inference import Editor
    from aucgan.render.normals import displacement_to_normal, encode_normal
    from aucgan.training.samples import NORMAL_STRENGTH, viewable

    changes = parse_au_spec(args.au)
    out = check_output(args.out, force=args.force, what="output folder")
    editor = Editor(args.checkpoint)
    maps, source_au, landmarks, attrs, _ = load_source(args, editor)
    missing = [m for m in editor.codec.maps if m not in maps]
    if missing:
        raise AucganError(f"the source lacks map(s) {missing} that the model needs")
    target = editor.target_vector(source_au, changes)
    if args.attr:
        from aucgan.cli.export_maps import parse_attrs

        attrs.update(parse_attrs(args.attr))
    edited = editor.edit(maps, target, landmarks, source_au, attrs=attrs)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "albedo" in edited:
        save_rgb(out / "edited_albedo.png", edited["albedo"])
        written.append("edited_albedo.png")
    if "displacement" in edited:
        save_displacement(out / "edited_displacement.png", edited["displacement"])
        normal = displacement_to_normal(edited["displacement"][None], 1.0)[0]
        save_rgb(out / "edited_normal.png", encode_normal(normal))
        written += ["edited_displacement.png", "edited_normal.png"]
    sweeps = args.sweep if args.sweep is not None else list(changes)
    for au in sweeps:
        strip = editor.sweep(maps, source_au, au, landmarks=landmarks, attrs=attrs)
        views = [viewable({k: v[None] for k, v in m.items() if k != "attention"}) for m in strip]
        rows = [torch.cat([v[r][0] for v in views], dim=2) for r in range(len(views[0]))]
        name = f"sweep_{au.upper()}.png"
        save_rgb(out / name, torch.cat(rows, dim=1))
        written.append(name)
    sidecar = {"checkpoint": str(args.checkpoint), "step": editor.step, "source": args.source,
               "source_au": None if source_au is None else format_au(source_au, editor.au_names),
               "target_au": dict(zip(editor.au_names, [round(float(v), 3) for v in target])),
               "displacement": {"scale": DEFAULT_DISP_SCALE, "offset": DEFAULT_DISP_OFFSET},
               "normal_strength": 1.0, "sweep_strength_for_view": NORMAL_STRENGTH, "files": written}
    atomic_write_text(out / "edited.json", json.dumps(sidecar, indent=1))
    print(f"wrote {', '.join(written)} and edited.json to {out}")
    return 0
