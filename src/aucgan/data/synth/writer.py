"""Writing the benchmark folder (dataset.json, manifest.csv, maps/, landmarks/, preview.png) and its preview.

Folder contract (read by the dataset readers)::

    DIR/dataset.json    card: format, versions, seed, size, counts, AU names, displacement scale/offset,
                        splits (identity ids), generator parameters
    DIR/manifest.csv    sample_id,identity,split,AU01..AU45,age,gender,emotion,valence,albedo,displacement,
                        normal,landmarks (paths relative to DIR)
    DIR/maps/<sample_id>_{albedo,displacement,normal}.png
    DIR/landmarks/<identity>.json
    DIR/preview.png
    (card fields ``world``, ``world_version``, ``world_params`` only for a world other than the default)
    DIR/layout.json     only for a benchmark rendered in another layout than the built-in one (card fields
                        ``layout``: its name, ``layout_file``: this file); identities vary around its landmarks,
                        its mask bounds the AUs, and every reader (ground truth, training, editing) takes the
                        layout from it

The card is written last, so a folder without one is an interrupted write.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import torch

from aucgan.au import AU_MAX, AU_NAMES, EMOTIONS
from aucgan.data.mapio import save_displacement, save_rgb
from aucgan.data.synth.config import GENERATOR_VERSION, SynthConfig, SynthError
from aucgan.data.synth.dataset import identity_expressions, sample_name, split_identities
from aucgan.data.synth.identity import IdentityBatch, identity_name, make_identities
from aucgan.data.synth.render import render
from aucgan.fsutil import atomic_write, atomic_write_text, claim_folder
from aucgan.render.normals import displacement_to_normal, encode_normal
from aucgan.render.shading import shade_for_view
from aucgan.render.views import VIEW_STRENGTH as PREVIEW_STRENGTH

FORMAT = "aucgan-synth"
FORMAT_VERSION = 1
#: Samples rendered per batch while writing.
WRITE_BATCH = 64
MANIFEST_COLUMNS = ("sample_id", "identity", "split", *AU_NAMES, "age", "gender", "emotion", "valence",
                    "albedo", "displacement", "normal", "landmarks")
LAYOUT_FILE = "layout.json"
_OWN = ("dataset.json", "manifest.csv", "preview.png", "maps", "landmarks", LAYOUT_FILE)


def _prepare(out: Path, force: bool) -> None:
    """Refuse a non-empty folder unless ``force``; with ``force``, remove a previous benchmark's own files."""
    claim_folder(out, _OWN, force, "output folder")
    (out / "maps").mkdir(exist_ok=True)
    (out / "landmarks").mkdir(exist_ok=True)


def _write_chunk(out: Path, chunk: list[int], expressions: int, seed: int, cfg: SynthConfig,
                 split_of: dict[int, str], pool: ThreadPoolExecutor) -> tuple[list[list[str]], int]:
    """Render and write all samples of the identities ``chunk``; returns manifest rows, clipped pixels."""
    ids = make_identities(chunk, seed, cfg)
    ex = [identity_expressions(seed, i, expressions) for i in chunk]
    au = torch.cat([e["au"] for e in ex])
    emotion = torch.cat([e["emotion"] for e in ex])
    valence = torch.cat([e["valence"] for e in ex])
    row_of = torch.arange(len(chunk)).repeat_interleave(expressions)
    lo, hi = cfg.disp_offset, cfg.disp_offset + cfg.disp_scale
    rows: list[list[str]] = []
    clipped = 0
    for start in range(0, len(row_of), WRITE_BATCH):
        sl = slice(start, start + WRITE_BATCH)
        maps = render(ids, au[sl], emotion[sl], valence[sl], index=row_of[sl])
        disp = maps["displacement"]
        clipped += int(((disp < lo) | (disp > hi)).sum())
        normal = encode_normal(maps["normal"])
        jobs: list[tuple] = []
        for b in range(disp.shape[0]):
            n = start + b
            ident, j = chunk[n // expressions], n % expressions
            p = ids.params[n // expressions]
            name = sample_name(ident, j)
            files = {k: f"maps/{name}_{k}.png" for k in ("albedo", "displacement", "normal")}
            jobs += [(save_rgb, out / files["albedo"], maps["albedo"][b]),
                     (save_displacement, out / files["displacement"], disp[b], cfg.disp_scale,
                      cfg.disp_offset),
                     (save_rgb, out / files["normal"], normal[b])]
            rows.append([name, p.name, split_of[ident], *(f"{v:.2f}" for v in au[n].tolist()), f"{p.age:.1f}",
                         f"{p.gender:g}", str(int(emotion[n])), f"{float(valence[n]):.2f}", files["albedo"],
                         files["displacement"], files["normal"], f"landmarks/{p.name}.json"])
        list(pool.map(lambda job: job[0](*job[1:]), jobs))
    for k, p in enumerate(ids.params):
        lm = [[round(float(x), 6), round(float(y), 6)] for x, y in ids.landmarks[k].tolist()]
        (out / "landmarks" / f"{p.name}.json").write_text(json.dumps({"identity": p.name, "landmarks": lm}))
    return rows, clipped


def write_dataset(out: Path | str, identities: int, expressions: int, size: int = 128, seed: int = 0,
                  test_fraction: float = 0.2, force: bool = False, config: SynthConfig | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """Render ``identities`` x ``expressions`` samples into the folder ``out`` (format above); return it.

    ``config`` sets generator parameters other than ``size`` (its ``layout``: the map space, written to
    ``layout.json``); ``progress(done, total)`` is called after each batch. Refuses an existing non-empty
    folder unless ``force``.
    """
    if identities < 1 or expressions < 1:
        raise SynthError(f"need at least one identity and one expression, got {identities} x {expressions}")
    cfg = replace(config or SynthConfig(), size=size)
    splits = split_identities(identities, seed, test_fraction)
    split_of = {i: name for name, ids in splits.items() for i in ids}
    out = Path(out)
    _prepare(out, force)

    rows: list[list[str]] = []
    clipped = 0
    per_batch = max(1, WRITE_BATCH // expressions)
    total = identities * expressions
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PNG encoding releases the GIL
        for first in range(0, identities, per_batch):
            chunk = list(range(first, min(identities, first + per_batch)))
            chunk_rows, chunk_clipped = _write_chunk(out, chunk, expressions, seed, cfg, split_of, pool)
            rows += chunk_rows
            clipped += chunk_clipped
            if progress is not None:
                progress(len(rows), total)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(out / "manifest.csv", buf.getvalue())
    write_preview(out / "preview.png", seed, size, n_identities=min(4, identities), config=cfg)
    card = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "generator_version": GENERATOR_VERSION,
        "seed": int(seed), "size": int(size), "identities": int(identities), "expressions": int(expressions),
        "au_names": list(AU_NAMES), "emotions": list(EMOTIONS),
        "displacement": {"scale": cfg.disp_scale, "offset": cfg.disp_offset, "clipped_pixels": clipped},
        "normal": {"strength": cfg.normal_strength, "frame": "x right, y down, z out; stored as (n + 1) / 2"},
        "splits": {k: [identity_name(i) for i in v] for k, v in splits.items()},
        "test_fraction": test_fraction,
        "params": cfg.to_dict(),
        **cfg.world_card(),
    }
    if cfg.layout is not None:
        atomic_write_text(out / LAYOUT_FILE, json.dumps(cfg.layout.to_json(), indent=1))
        card["layout"] = cfg.layout.name
        card["layout_file"] = LAYOUT_FILE
    atomic_write_text(out / "dataset.json", json.dumps(card, indent=1))
    return out


def preview_grid(ids: IdentityBatch) -> torch.Tensor:
    """The preview image (3, B * size, 18 * size): identity rows x (neutral, each AU at intensity 5)."""
    cols = len(AU_NAMES) + 1
    au = torch.zeros(cols, len(AU_NAMES))
    au[1:] = AU_MAX * torch.eye(len(AU_NAMES))
    rows = []
    for i in range(len(ids)):
        out = render(ids.take([i] * cols), au)
        view = shade_for_view(out["albedo"], displacement_to_normal(out["displacement"], PREVIEW_STRENGTH))
        rows.append(torch.cat(list(view), dim=2))
    return torch.cat(rows, dim=1)


def write_preview(out_png: Path | str, seed: int, size: int, n_identities: int = 4,
                  config: SynthConfig | None = None) -> Path:
    """Write the labelled preview sheet: rows are identities 0..n-1 of ``seed`` (id, age, sex), columns the
    neutral face and each of the 17 AUs at intensity 5 alone; cells show the albedo lit by the shaded
    displacement (slopes x3), so wrinkles and folds are visible where each AU acts."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    if n_identities < 1:
        raise SynthError(f"the preview needs at least one identity, got {n_identities}")
    ids = make_identities(range(n_identities), seed, replace(config or SynthConfig(), size=size))
    grid = preview_grid(ids)
    cell = max(size, 64)
    top, left = 22, 110
    arr = (grid.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(arr).resize(((len(AU_NAMES) + 1) * cell, n_identities * cell), Image.NEAREST)
    sheet = Image.new("RGB", (img.width + left, img.height + top), (255, 255, 255))
    sheet.paste(img, (left, top))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for c, label in enumerate(("neutral", *AU_NAMES)):
        draw.text((left + c * cell + 4, 4), f"{label}=5" if c else label, fill=(0, 0, 0), font=font)
    for r, p in enumerate(ids.params):
        sex = "male" if p.gender else "female"
        draw.text((4, top + r * cell + 4), f"{p.name}\nage {p.age:.0f}\n{sex}", fill=(0, 0, 0), font=font)
    out_png = Path(out_png)
    atomic_write(out_png, lambda p: sheet.save(p, format="PNG"))
    return out_png
