"""Photo path speed: face detection + mesh, unwrap, rewarp, paste back and a whole AU edit of a 512 px photo.

Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_photo.py [--checkpoint RUN] [--size 128] [--repeats 15]
     [--example docs/photo_edit_au12.png]

Needs the photo extra. The photo is scikit-image's ``astronaut`` (512 x 512). Without ``--checkpoint`` an
untrained generator of the ``improved`` preset at ``--size`` stands in (the time does not depend on the
weights). Figures are medians after warm-up, in ms per photo:

  detect    face detection (both BlazeFace ranges) + the 478-point face mesh on the face crop
  unwrap    photo -> layout texture + visibility at the model's size (gather + grid_sample)
  rewarp    layout -> photo (triangle raster with OpenCV, inverse affine per pixel, grid_sample)
  paste     rewarp of the change + feathered blend into the photo
  edit      the whole ``aucgan edit`` path after model load: detect, unwrap, hole fill, the generator at the
            source and target AUs (one batch of 2), paste back
  generator the generator's share of ``edit``

``--example PATH`` (with a trained ``--checkpoint``) also writes the AU12 sweep of the astronaut as a small
PNG: the photo then AU12 = 0..5 on top, the amplified change below.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import machine_line  # noqa: E402
from benchmarks.runs import untrained_run  # noqa: E402


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(1000.0 * statistics.median(times), 1)


def measure(checkpoint: str | Path | None = None, size: int = 128, repeats: int = 15) -> dict:
    """ms per photo of each stage (see the module docstring) on the astronaut photo."""
    import numpy as np
    import skimage.data

    from aucgan.photo.edit import PhotoEditor

    img = skimage.data.astronaut()
    photo = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0
    with tempfile.TemporaryDirectory(prefix="bench-photo-") as tmp:
        run = checkpoint or untrained_run(Path(tmp) / "run", "improved", size)
        editor = PhotoEditor(run)
        warp, det = editor.warp, editor.detector
        face = det.detect(img)
        tex, vis = warp.unwrap(photo, face)
        pf = editor.analyse(photo)
        source = editor.source_vector(pf)
        target = editor.editor.target_vector(source, {"AU12": 0.0})
        x = editor.editor.prepare(editor.model_maps(pf))
        batch = np.stack([source, target])
        out = {
            "photo_px": f"{img.shape[1]}x{img.shape[0]}", "layout_px": warp.size,
            "detect_ms": _median_ms(lambda: det.detect(img), repeats),
            "unwrap_ms": _median_ms(lambda: warp.unwrap(photo, face), repeats),
            "rewarp_ms": _median_ms(lambda: warp.rewarp(tex, face, vis), repeats),
            "paste_ms": _median_ms(lambda: warp.paste_back(photo, tex, face, source_texture=tex, valid=vis), repeats),
            "edit_ms": _median_ms(lambda: editor.edit(editor.analyse(photo), {"AU12": 0.0}), max(3, repeats // 3)),
            "generator_ms": _median_ms(lambda: editor.editor.edit_batch(x, batch, source_au=source[None]), repeats),
            "threads": torch.get_num_threads(),
            "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        }
        editor.detector.close()
    return out


def write_example(checkpoint: str | Path, path: str | Path, height: int = 160, gain: float = 8.0) -> Path:
    """The AU12 sweep of the astronaut as a palette PNG: top row the photo then AU12 = 0..5, bottom row the
    change |edit - photo| x ``gain`` (magma colour map; black = unchanged)."""
    import numpy as np
    import skimage.data
    from matplotlib import colormaps
    from PIL import Image

    from aucgan.photo.edit import PhotoEditor, face_crop, strip

    photo = torch.from_numpy(np.ascontiguousarray(skimage.data.astronaut())).permute(2, 0, 1).float() / 255.0
    editor = PhotoEditor(checkpoint)
    pf = editor.analyse(photo)
    frames = editor.sweep(pf, "AU12")
    box = face_crop(photo, pf.face, margin=1.3)
    top = strip([photo, *frames], box, height=height)
    change = [((f - photo).abs().amax(dim=0, keepdim=True) * gain).clamp(0, 1) for f in [photo, *frames]]
    heat = strip(change, box, height=height)[0].numpy()
    bottom = torch.from_numpy(colormaps["magma"](heat)[..., :3].astype(np.float32)).permute(2, 0, 1)
    image = torch.cat([top, bottom], dim=1)
    arr = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(arr).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return Path(path)


def suite(quick: bool = False) -> dict:
    """Figures for ``python -m benchmarks`` (fewer repeats when ``quick``)."""
    r = measure(size=64 if quick else 128, repeats=3 if quick else 15)
    return {k: r[k] for k in ("detect_ms", "unwrap_ms", "rewarp_ms", "paste_ms", "edit_ms", "generator_ms")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="trained run (default: an untrained improved generator)")
    p.add_argument("--size", type=int, default=128, help="model/layout size without --checkpoint")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--example", help="write the AU12 sweep strip of the astronaut here (needs --checkpoint)")
    args = p.parse_args(argv)
    print(machine_line())
    r = measure(args.checkpoint, args.size, args.repeats)
    print(f"photo {r['photo_px']} -> layout {r['layout_px']} px, {r['threads']} torch threads, "
          f"load average {r['load_average']} (ms per photo, medians)")
    for k in ("detect", "unwrap", "rewarp", "paste", "edit", "generator"):
        print(f"  {k:10s} {r[f'{k}_ms']:8.1f} ms")
    if args.example:
        if not args.checkpoint:
            p.error("--example needs a trained --checkpoint")
        out = write_example(args.checkpoint, args.example)
        print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
