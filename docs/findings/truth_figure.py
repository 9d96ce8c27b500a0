"""Draw docs/findings/truth-edits.png: adding and removing AUs on held-out faces, the truth beside each run.

Usage: python docs/findings/truth_figure.py BENCH OUT.png AU,AU,... NAME=RUN[@STEP] [NAME=RUN[@STEP] ...]
Columns: source | truth (the benchmark's exact render of the same face at the target AUs) | each run's edit
(at checkpoint STEP, else the latest), each as shaded displacement and albedo cropped to the AU's footprint;
per AU one row adding it (to 4) and one removing it. ``aucgan compare`` draws the same picture for all 17 AUs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from aucgan.au import au_set
from aucgan.inference import Editor
from aucgan.metrics.evaluate import load_split, load_truth
from aucgan.models.build import make_codec
from aucgan.report.truth_edits import edit_figure, edit_grid
from aucgan.rundir.files import read_run_layout
from aucgan.runs import load_generator


def main(bench: str, out: str, aus: list[str], specs: list[str]) -> None:
    torch.set_num_threads(1)
    runs = []
    for spec in specs:
        name, _, where = spec.partition("=")
        path, _, step = where.partition("@")
        G, cfg, at = load_generator(path, "cpu", checkpoint=int(step) if step else None)
        editor = Editor(G, make_codec(cfg.data), au_set(cfg.data.au_set), cfg.data.size,
                        extra_attrs=cfg.generator.extra_attrs, layout=read_run_layout(path))
        runs.append((f"{name} ({at * cfg.data.batch_size // 1000}k img)", editor))
    first = runs[0][1]
    truth = load_truth(Path(bench), first.codec, first.au_names, first.size)
    splits = {e.extra_attrs: load_split(Path(bench), first.codec, first.au_names, first.size, "test", 512, 0,
                                        e.extra_attrs) for _, e in runs}
    data = next(iter(splits.values()))
    grid, rows, cols = edit_grid([(n, e, splits[e.extra_attrs].extra) for n, e in runs], data, truth, first.codec,
                                 first.au_names, only=aus)
    edit_figure(grid, rows, cols, "Adding and removing AUs on held-out faces: the truth and each run", Path(out))
    Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)     # a small file for the docs
    print(out)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:])
