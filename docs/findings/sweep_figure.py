"""Draw docs/findings/sweeps.png: ground truth vs trained generators for single-AU sweeps 0..5.

Usage: python docs/findings/sweep_figure.py BENCH SAMPLE_ID OUT.png NAME=RUN_DIR [NAME=RUN_DIR ...]
Each block is one AU; its rows are the benchmark's exact render and each run's edit of SAMPLE_ID, shown as
shaded displacement (wrinkles and folds are geometry).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from aucgan.data.datasets import open_dataset
from aucgan.inference import Editor
from aucgan.metrics.evaluate import load_truth
from aucgan.render.views import viewable

AUS, LEVELS, SCALE = ("AU04", "AU12", "AU26"), (0, 1, 2, 3, 4, 5), 2


def shaded(maps: dict[str, torch.Tensor]) -> np.ndarray:
    views = viewable({"displacement": maps["displacement"][None]})
    return (views[0][0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def main(bench: str, sample: str, out: str, runs: list[str]) -> None:
    editors = {name: Editor(path) for name, path in (r.split("=", 1) for r in runs)}
    first = next(iter(editors.values()))
    item = open_dataset(bench).get_by_id(sample)
    truth = load_truth(Path(bench), first.codec, first.au_names, first.size)
    source_au = np.asarray(item["au"], np.float32)
    rows: list[tuple[str, list[np.ndarray]]] = []
    for au in AUS:
        k = list(first.au_names).index(au)
        targets = np.repeat(source_au[None], len(LEVELS), 0)
        targets[:, k] = LEVELS
        gt = first.codec.decode(truth.render([sample] * len(LEVELS), torch.as_tensor(targets)).float())
        rows.append((f"{au} truth", [shaded({"displacement": gt["displacement"][i]}) for i in range(len(LEVELS))]))
        for name, ed in editors.items():
            maps = {m: v for m, v in item["maps"].items() if m in ed.codec.maps}
            edits = ed.sweep(maps, source_au, au, LEVELS, item.get("landmarks"))
            rows.append((f"{au} {name}", [shaded(e) for e in edits]))
    cell = first.size * SCALE
    label_w = 120
    fig = Image.new("RGB", (label_w + cell * len(LEVELS), cell * len(rows) + 20), "white")
    draw = ImageDraw.Draw(fig)
    for j, level in enumerate(LEVELS):
        draw.text((label_w + j * cell + cell // 2 - 3, 4), str(level), fill="black")
    for i, (label, cells) in enumerate(rows):
        y = 20 + i * cell
        draw.text((4, y + cell // 2 - 6), label, fill="black")
        for j, c in enumerate(cells):
            fig.paste(Image.fromarray(c).resize((cell, cell), Image.NEAREST), (label_w + j * cell, y))
    fig.convert("L").save(out, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
