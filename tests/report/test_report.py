"""The comparison report over runs scored on the constructed world of tests/metrics."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser

import pytest

from aucgan.metrics.registry import run_metrics
from aucgan.report.collect import Column, collect_run, fmt, run_names, table
from aucgan.report.html import markdown_table, write_report

from tests.metrics.test_metrics import BlindD, BlindG, OracleG, make_ctx

ALL = ["paired_fidelity", "identity_blind", "au_control", "locality", "identity", "realism", "disc_awareness",
       "sensitivity"]


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


def test_report_leads_with_the_glance_table_and_the_truth_picture(runs, tmp_path):
    """summary.md and index.html open with a 7-column table (explained per edit set and map, D AUC) with the
    no-edit and truth rows, then the add/remove picture; the other headline figures come after, per metric."""
    import re

    from PIL import Image

    recs = [collect_run(r) for r in runs]
    out = tmp_path / "report"
    (out / "img").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(out / "img" / "truth-edits.png")
    write_report(recs, out, title="improved vs baseline", truth_edits=out / "img" / "truth-edits.png")
    md = (out / "summary.md").read_text()
    sections = re.findall(r"^## (.+)$", md, flags=re.M)
    assert sections[:4] == ["At a glance", "Edits against the truth", "Runs", "Other headline figures"]
    first = next(t for t in md.split("\n\n") if t.startswith("| run |"))
    head, _, oracle, blind, no_edit, identity_blind, truth = first.splitlines()
    assert head == ("| run | add: displ. ▲ | add: albedo ▲ | remove: displ. ▲ | remove: albedo ▲ | transfer: displ. ▲ "
                    "| transfer: albedo ▲ | D AUC ▲ |")
    assert oracle.startswith("| oracle | **1** | **1** |") and blind.startswith("| blind | 0 | 0 |")
    assert no_edit.startswith("| _doing nothing") and no_edit.count("_0_") == 6
    assert truth.startswith("| _the ground truth") and truth.count("_1_") == 6
    assert identity_blind.startswith("| _the median change of training people")   # beside every explained column
    assert all(float(v.strip("_ ")) <= 1.0 for v in identity_blind.split("|")[2:8])
    assert identity_blind.split("|")[8].strip() == ""                                   # no D AUC reference
    assert md.index("img/truth-edits.png") < md.index("## Runs") < md.index("outside/albedo/transfer")
    page = (out / "index.html").read_text()
    assert page.index("<h1>improved vs baseline</h1>") < page.index("At a glance") < page.index("truth-edits.png") \
        < page.index("<h2>Runs</h2>") < page.index("Per-AU controllability")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"] == "improved vs baseline" and summary["glance"][-1] == "disc_awareness: auc"
    assert len(summary["glance"]) == 7 and len(summary["runs"][0]["headline"]) > 7


def test_runs_table_names_what_a_run_uses(runs, tmp_path):
    from aucgan.config.loading import load_config, to_dict
    from aucgan.report.html import _run_facts

    rec = collect_run(runs[0])
    facts = _run_facts(rec)                         # the fixture's config: au_loss mse, w_au left at its default
    assert facts["AU loss"] == "mse via aunet, weight 1" and rec.settings["loss"]["w_au"] == 1.0
    assert _run_facts(dataclasses.replace(rec, settings={}))["AU loss"] == "mse via aunet"   # weight not known
    improved = dataclasses.replace(rec, settings=to_dict(load_config("improved")))
    facts = _run_facts(improved)
    assert facts["AU loss"] == "off (loss.w_au 0)"
    assert facts["discriminator"] == "aux_match (deep trunk)"
    assert facts["other G losses"] == "hinge adversarial 0.1, detail consistency 20"
    assert facts["D losses"] == "R1 1, AU head 10, mismatched AUs 1"
    baseline = _run_facts(dataclasses.replace(rec, settings=to_dict(load_config("baseline"))))
    assert baseline["AU loss"] == "bce via aunet, weight 1" and baseline["D losses"] == "R1 1"   # concat D: no AU head
    # an ablation variant's config is named after the variant; the preset it started from is recorded beside it
    variant = tmp_path / "preset=baseline"
    variant.mkdir()
    (variant / "config.json").write_text(json.dumps({**to_dict(load_config("baseline")), "name": "preset=baseline"}))
    (variant / "ablation-variant.json").write_text(json.dumps({"preset": "baseline", "overrides": []}))
    assert _run_facts(collect_run(variant))["preset"] == "baseline"


def test_glance_without_paired_truth_reads_au_control(runs):
    from aucgan.report.collect import glance_columns

    recs = [collect_run(r) for r in runs]
    no_truth = [dataclasses.replace(r, metrics={k: v for k, v in r.metrics.items() if k != "paired_fidelity"})
                for r in recs]
    cols, labels = glance_columns(no_truth)
    assert [(c.metric, c.key) for c in cols] == [("au_control", "mae_changed"), ("au_control", "icc_changed"),
                                                 ("locality", "leakage"), ("disc_awareness", "auc")]
    assert labels[cols[-1]] == "D AUC"


def test_ablation_report_title_says_what_was_compared():
    from aucgan.cli.ablate import report_title

    assert report_title("improved", ["preset=improved", "preset=baseline"], 500, "demo/benchmark") == \
        "improved vs baseline: 500 steps each on benchmark"
    assert report_title("improved", ["au_loss=bce", "au_loss=mse"], 8, "bench") == \
        "improved with au_loss=bce vs au_loss=mse: 8 steps each on bench"
    many = [f"conditioning={c}__au_loss={a}" for c in ("adain", "spade_au", "concat") for a in ("bce", "mse")]
    assert report_title("baseline", many, 8, "b") == \
        "baseline: 6 variants over conditioning, au_loss: 8 steps each on b"



def test_a_discriminator_below_chance_is_never_marked_best(runs, tmp_path):
    from types import SimpleNamespace

    from torch import nn

    from aucgan.report.collect import detail_columns, reference_row

    from tests.metrics.test_metrics import AUAwareD

    class ContraryD(nn.Module):                          # scores a face higher under the wrong AUs: AUC below 0.5
        def __init__(self) -> None:
            super().__init__()
            self.aware = AUAwareD()

        def forward(self, x, au):
            return SimpleNamespace(score=-self.aware(x, au).score, au_pred=None)

    recs = [collect_run(runs[1]), collect_run(_run(tmp_path, "contrary", OracleG(), ContraryD(), 10, "improved"))]
    cols = [c for c in detail_columns(recs, "disc_awareness") if c.key in ("auc", "auc_far", "paired_win")]
    values, best = table(recs, cols)
    assert len(cols) == 3 and reference_row(recs, cols) == [0.5, 0.5, 0.5]     # chance: a D that reads no AUs
    assert all(v < 0.5 for v in values[1]) and all(1 not in b for b in best)


def test_glance_leads_with_the_whole_map_in_the_strain_world(runs):
    """In the strain world an AU's change leaves its footprint: the glance table reads the whole-map figures."""
    from aucgan.report.collect import benchmark_worlds, glance_columns

    recs = [collect_run(r) for r in runs]
    assert benchmark_worlds(recs) == {"default"}
    assert [c.key for c in glance_columns(recs)[0]][0] == "explained/displacement/add"
    strain = [dataclasses.replace(r, metrics={**r.metrics, "paired_fidelity": {
        **r.metrics["paired_fidelity"], "results": {**r.metrics["paired_fidelity"]["results"], "world": "strain"}}})
        for r in recs]
    cols, labels = glance_columns(strain)
    assert [c.key for c in cols] == [f"explained_whole/{m}/{s}" for s in ("add", "remove", "transfer")
                                     for m in ("displacement", "albedo")] + ["auc"]
    assert all(c.no_edit == 0.0 and c.truth == 1.0 for c in cols[:6]) and labels[cols[0]] == "add: displ."
    values, best = table(strain, cols)
    assert values[0][0] == pytest.approx(1.0, abs=1e-4) and best[0] == {0}       # the oracle explains all of it
