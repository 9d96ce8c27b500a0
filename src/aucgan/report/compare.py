"""Build the comparison report over run directories: read their metric lines and stats, render AU sweep
grids with each run's EMA generator on the same test faces, and write the HTML/Markdown report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from aucgan.device import pick_device
from aucgan.report.collect import RunRecord, collect_run, run_names
from aucgan.report.html import slug, write_report
from aucgan.rundir.checkpoints import checkpoint_steps


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


def render_truth_edits(records: Sequence[RunRecord], out_dir: Path, data: str | None, device: torch.device,
                       log: Callable[[str], None] = print) -> Path | None:
    """The add/remove picture against the ground truth (:mod:`aucgan.report.truth_edits`) over the runs that
    share one synthetic benchmark, map encoding and size; None when the data has no ground truth."""
    from aucgan.inference import Editor
    from aucgan.metrics.evaluate import load_split, load_truth, resolve_data_path
    from aucgan.report.truth_edits import edit_figure, edit_grid

    runs = [r for r in records if checkpoint_steps(r.path)]
    if not runs:
        return None
    editors = [(r.name, Editor.from_run(r.path, device)) for r in runs]
    first = editors[0][1]
    path = resolve_data_path(runs[0].path, data)
    truth = load_truth(path, first.codec, first.au_names, first.size)
    if truth is None:
        return None
    same = [(n, e) for n, e in editors if (e.codec, e.au_names, e.size) == (first.codec, first.au_names, first.size)]
    if len(same) < len(editors):
        log("truth edits: runs with another map encoding, AU set or size are left out of the picture")
    splits: dict = {}
    for _, e in same:
        if e.extra_attrs not in splits:
            splits[e.extra_attrs] = load_split(path, first.codec, first.au_names, first.size, "test", 512, 0,
                                               e.extra_attrs)
    td = next(iter(splits.values()))
    grid, rows, cols = edit_grid([(n, e, splits[e.extra_attrs].extra) for n, e in same], td, truth, first.codec,
                                 first.au_names)
    return edit_figure(grid, rows, cols, "Adding and removing each AU on held-out faces: the truth and each run",
                       out_dir / "img" / "truth-edits.png")


def build_comparison(run_dirs: Sequence[str | Path], out_dir: str | Path, data: str | None = None,
                     sweep_faces: int = 2, device: str = "auto", title: str | None = None,
                     names: Sequence[str] | None = None, log: Callable[[str], None] = print) -> Path:
    """Write the report over ``run_dirs`` into ``out_dir``; returns the HTML path. ``title`` by default names
    the runs compared (``a vs b``)."""
    out_dir = Path(out_dir)
    names = list(names) if names is not None else run_names(run_dirs)
    title = title if title is not None else " vs ".join(names)
    records = [collect_run(p, n) for p, n in zip(run_dirs, names)]
    sweeps: dict[str, list[tuple[str, Path]]] = {}
    if sweep_faces > 0:
        dev, cache = pick_device(device), {}
        for r in records:
            if not checkpoint_steps(r.path):
                log(f"{r.name}: no checkpoints, no sweep grids")
                continue
            sweeps[r.name] = render_sweeps(r, out_dir, data, sweep_faces, dev, cache)
    truth_figure = render_truth_edits(records, out_dir, data, pick_device(device), log)
    return write_report(records, out_dir, title=title, sweep_images=sweeps, truth_edits=truth_figure)
