"""The comparison report over runs scored on the constructed world of tests/metrics."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from aucgan.metrics.registry import run_metrics
from aucgan.report.collect import Column, collect_run, fmt, run_names, table
from aucgan.report.html import markdown_table, write_report

from tests.metrics.test_metrics import BlindD, BlindG, OracleG, make_ctx

ALL = ["paired_fidelity", "au_control", "locality", "identity", "realism", "disc_awareness", "sensitivity"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.text: list[str] = []
        self.best_cells = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        if tag == "td" and a.get("class") == "best":
            self.best_cells += 1

    def handle_data(self, data):
        self.text.append(data)


def _run(root, name, G, D, step, preset):
    run = root / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"name": preset, "generator": {"conditioning": ["adain"]},
                                                  "discriminator": {"kind": "projection"},
                                                  "loss": {"au_loss": "mse", "au_source": "aunet"},
                                                  "data": {"size": 32}}))
    rows = [{"step": s, "G/total": 1.0 / s, "D/total": 0.5 + s / 100, "perf/images_per_s": 10.0}
            for s in (1, 2, 3)]
    (run / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_metrics(run, ALL, make_ctx(G, n=24, D=D, step=step))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return [_run(root, "oracle", OracleG(), BlindD(), 10, "improved"),
            _run(root, "blind", BlindG(), BlindD(), 12, "baseline")]


def test_collect_run_reads_newest_metric_lines_and_stats(runs):
    rec = collect_run(runs[0])
    assert rec.name == "oracle" and rec.step == 10 and rec.config["name"] == "improved"
    assert set(rec.metrics) == set(ALL) and len(rec.stats) == 3
    assert rec.summary("locality")["leakage"] == pytest.approx(0.0, abs=1e-6)
    assert rec.arrays_path("sensitivity") is not None and rec.arrays_path("au_control") is None


def test_best_per_column_follows_the_direction(runs):
    recs = [collect_run(r) for r in runs]
    cols = [Column("au_control", "mae", "min"), Column("au_control", "icc", "max"),
            Column("locality", "change", None)]
    values, best = table(recs, cols)
    assert best[0] == {0} and best[1] == {0} and best[2] == set()
    assert values[1][0] > values[0][0]
    md = markdown_table(recs, cols)
    assert md.splitlines()[2].startswith("| oracle | **") and "**" not in md.splitlines()[3]


def test_report_page_references_existing_images_and_every_run(runs, tmp_path):
    recs = [collect_run(r) for r in runs]
    out = tmp_path / "report"
    page_path = write_report(recs, out, title="toy comparison")
    page = _Page()
    page.feed(page_path.read_text())
    text = " ".join(page.text)
    for r in recs:
        assert r.name in text
    assert page.images, "the report shows figures"
    for src in page.images:
        assert (out / src).is_file(), src
    names = {p.split("/")[-1] for p in page.images}
    assert "training-curves.png" in names and "sensitivity-oracle.png" in names
    assert any(n.startswith("bars-locality") for n in names)
    assert any(n.startswith("bars-au_control") for n in names)
    assert page.best_cells > 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["oracle", "blind"]
    assert summary["best"]["au_control: mae"] == ["oracle"]
    assert summary["best"]["locality: leakage"] == ["oracle"]        # the blind run's leakage is undefined
    md = (out / "summary.md").read_text()
    assert "| oracle |" in md and "| blind |" in md and "FID/KID skipped" in md


def test_run_names_are_unique_and_short(tmp_path):
    assert run_names([tmp_path / "a" / "run", tmp_path / "b" / "run"]) == ["a/run", "b/run"]
    assert run_names([tmp_path / "x", tmp_path / "y"]) == ["x", "y"]


def test_fmt():
    assert fmt(None) == "—" and fmt(0.5) == "0.5" and fmt(1234.5678) == "1235" and fmt(1e-5) == "1.000e-05"


def test_sweep_grid_rows_are_aus_and_columns_intensities(tmp_path):
    import torch

    from aucgan.au import AU_NAMES
    from aucgan.inference import Editor
    from aucgan.report.plots import sweep_figure
    from aucgan.report.sweeps import SWEEP_LEVELS, panel_labels, pick_sweep_sources, sweep_grid

    from tests.metrics.test_metrics import CODEC, SIZE, toy_data

    data = toy_data(20, seed=1)
    picks = pick_sweep_sources(data.au, data.identity, 3)
    assert len(picks) == 3 and len({int(data.identity[i]) for i in picks}) == 3
    for i in picks:   # the least expressive sample of its identity
        same = data.identity == data.identity[i]
        assert float(data.au[i].sum()) == float(data.au[same].sum(dim=1).min())
    i = picks[0]
    grid = sweep_grid(Editor(OracleG(), CODEC, AU_NAMES, SIZE), data.x[i], data.au[i], data.footprints[0],
                      SWEEP_LEVELS)
    k, cells, p = len(AU_NAMES), len(SWEEP_LEVELS), len(panel_labels(CODEC))
    assert grid.shape == (3, k * SIZE, cells * p * SIZE)
    blind = sweep_grid(Editor(BlindG(), CODEC, AU_NAMES, SIZE), data.x[i], data.au[i], data.footprints[0],
                       SWEEP_LEVELS, batch_size=7)
    first = blind[:, :, : p * SIZE]
    assert all(torch.equal(blind[:, :, j * p * SIZE:(j + 1) * p * SIZE], first) for j in range(cells))
    assert not torch.equal(grid[:, :SIZE, :p * SIZE], grid[:, :SIZE, -p * SIZE:])   # AU01 at 0 vs 5 differ
    path = sweep_figure(grid, AU_NAMES, SWEEP_LEVELS, "toy", tmp_path / "sweep.png", panel_labels(CODEC))
    assert path.is_file() and panel_labels(CODEC) == ["albedo", "displacement (shaded)", "render (SH-lit)"]
