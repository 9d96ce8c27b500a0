"""Edit the AUs of a face photo with a trained generator and paste the result back into the photo.

The face is found with MediaPipe (the largest one when there are several), unwrapped into the model's layout,
edited at the target AUs and pasted back inside the face with a feathered edge (see ``aucgan.photo``; needs the
optional extra ``pip install 'aucgan[photo]'``). Unnamed AUs keep the source's intensities: ``--source-au``
if given, else an approximate estimate from the landmark geometry. ``OUT.json`` records the AUs, the
estimated AUs of the edited photo and any warning (e.g. a model trained on the synthetic benchmark).

Examples:
  aucgan edit face.jpg --checkpoint runs/00001-improved --au AU12=3,AU06=2 --out smile.png
  aucgan edit face.jpg --checkpoint RUN --sweep AU12 --out face.png    # writes face_sweep_AU12.png (0..5)
"""

from __future__ import annotations

import argparse

HELP = "edit the AUs of a face photo (--au AU12=3) and paste the edit back into the photo (photo extra)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", help="photo file (PNG/JPEG ...) with a face")
    p.add_argument("--checkpoint", required=True, help="training run directory (its latest checkpoint, EMA G)")
    p.add_argument("--au", help="target AUs, e.g. AU12=3,AU06=2 (others keep the source values)")
    p.add_argument("--sweep", nargs="+", default=[], metavar="AU",
                   help="AUs to sweep 0..5: each writes OUT_sweep_<AU>.png, a strip of the face")
    p.add_argument("--source-au", help="source AUs (default: the approximate landmark-geometry estimate)")
    p.add_argument("--out", required=True, help="output PNG (edited photo); sweeps and OUT.json go beside it")
    p.add_argument("--min-score", type=float, default=0.5, help="minimum face detector confidence (0..1)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time
    from pathlib import Path

    from aucgan.au import au_vector, canonical_au, format_au, parse_au_spec
    from aucgan.errors import AucganError
    from aucgan.fsutil import atomic_write_text, check_output
    from aucgan.photo.au_estimate import estimate_aus
    from aucgan.photo.edit import PhotoEditor, face_crop, strip
    from aucgan.photo.io import load_photo, save_png
    from aucgan.photo.landmarks import PhotoError

    if not args.au and not args.sweep:
        raise AucganError("nothing to do: give --au AU12=3,... and/or --sweep AU12")
    changes = parse_au_spec(args.au) if args.au else {}
    sweeps = [canonical_au(a) for a in args.sweep]
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise AucganError(f"--out {out}: expected a .png file name")
    outputs = ([out] if changes else []) + [out.with_name(f"{out.stem}_sweep_{a}.png") for a in sweeps]
    for path in [*outputs, out.with_suffix(".json")]:
        check_output(path, force=args.force, what="output file")
    photo = load_photo(args.photo)
    t0 = time.perf_counter()
    editor = PhotoEditor(args.checkpoint, min_score=args.min_score)
    for w in editor.warnings:
        print(f"aucgan edit: warning: {w}", file=sys.stderr)
    pf = editor.analyse(photo, where=str(args.photo))
    source_au = None
    if args.source_au:
        source_au = dict(zip(editor.au_names, au_vector(parse_au_spec(args.source_au), editor.au_names).tolist()))
    record: dict = {"photo": str(args.photo), "checkpoint": str(args.checkpoint), "step": editor.editor.step,
                    "model_domain": editor.domain, "warnings": editor.warnings,
                    "face": {"box": [round(float(v), 1) for v in pf.face.box], "score": round(pf.face.score, 3),
                             "faces_found": pf.face.faces_found},
                    "estimated_source_au": {k: round(v, 2) for k, v in pf.source_au.items()},
                    "source_au_given": args.source_au, "files": []}
    if changes:
        edited, source, target = editor.edit(pf, changes, source_au)
        save_png(out, edited)
        record["source_au"] = format_au(source, editor.au_names)
        record["target_au"] = format_au(target, editor.au_names)
        try:
            after = editor.detector.detect(edited, where="edited photo")
            record["estimated_edited_au"] = {k: round(v, 2) for k, v in estimate_aus(after.ibug68).items()}
        except PhotoError as exc:
            record["estimated_edited_au"] = f"not measured: {exc}"
        record["files"].append(out.name)
    box = face_crop(photo, pf.face)
    for au, path in zip(sweeps, outputs[1 if changes else 0:]):
        frames = editor.sweep(pf, au, source_au=source_au)
        save_png(path, strip([photo, *frames], box))
        record["files"].append(path.name)
        record.setdefault("sweeps", {})[au] = "source photo, then the AU at 0, 1, 2, 3, 4, 5"
    record["seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write_text(out.with_suffix(".json"), json.dumps(record, indent=1))
    print(f"wrote {', '.join(record['files'])} and {out.with_suffix('.json').name} to {out.parent}")
    return 0
