"""Build the comparison report over run directories: read their metric lines and stats, render AU sweep
grids with each run's EMA generator on the same test faces, and write the HTML/Markdown report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from aucgan.report.collect import RunRecord, collect_run, run_names
from aucgan.report.html import slug, write_report
from aucgan.runs import checkpoint_steps, pick_device


def render_sweeps(record: RunRecord, out_dir: Path, data: str | None, count: int, device: torch.device,
                  cache: dict) -> list[tuple[str, Path]]:
    """Sweep-grid figures for ``count`` test faces with the run's EMA generator: [(caption, path)]."""
    from aucgan.inference import Editor
    from aucgan.metrics.evaluate import load_split, resolve_data_path
    from aucgan.report.plots import sweep_figure
    from aucgan.report.sweeps import SWEEP_LEVELS, panel_labels, pick_sweep_sources, sweep_grid

    editor = Editor.from_run(record.path, device)
    cfg, step, codec, au_names, size = editor.config, editor.step, editor.codec, editor.au_names, editor.size
    path = resolve_data_path(record.path, data)
    key = (str(path), codec, au_names, size, tuple(cfg.generator.extra_attrs))
    if key not in cache:
        cache[key] = load_split(path, codec, au_names, size, "test", 512, 0, cfg.generator.extra_attrs)
    td = cache[key]
    figures = []
    for i in pick_sweep_sources(td.au, td.identity, count):
        fp = td.footprints[td.layout_index[i]]
        grid = sweep_grid(editor, td.x[i], td.au[i], fp, SWEEP_LEVELS,
                          extra=None if td.extra is None else td.extra[i])
        caption = f"{record.name} (step {step}): AU sweeps of test sample {td.ids[i]}"
        target = out_dir / "img" / f"sweep-{slug(record.name)}-{slug(td.ids[i])}.png"
        p = sweep_figure(grid, au_names, SWEEP_LEVELS, caption, target, panel_labels(codec))
        figures.append((caption, p))
    return figures


def build_comparison(run_dirs: Sequence[str | Path], out_dir: str | Path, data: str | None = None,
                     sweep_faces: int = 2, device: str = "auto", title: str = "aucgan comparison",
                     names: Sequence[str] | None = None, log: Callable[[str], None] = print) -> Path:
    """Write the report over ``run_dirs`` into ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    names = list(names) if names is not None else run_names(run_dirs)
    records = [collect_run(p, n) for p, n in zip(run_dirs, names)]
    sweeps: dict[str, list[tuple[str, Path]]] = {}
    if sweep_faces > 0:
        dev, cache = pick_device(device), {}
        for r in records:
            if not checkpoint_steps(r.path):
                log(f"{r.name}: no checkpoints, no sweep grids")
                continue
            sweeps[r.name] = render_sweeps(r, out_dir, data, sweep_faces, dev, cache)
    return write_report(records, out_dir, title=title, sweep_images=sweeps)
