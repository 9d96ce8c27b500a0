"""End to end in FLAME UV: DECA-layout fixtures -> `aucgan layout flame` -> atlas -> synth --layout -> train-au,
train, generate, eval on that benchmark; every step uses the layout (landmarks, mask) the folder records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.data.codec import MapCodec
from aucgan.data.datasets import open_dataset
from aucgan.layout.landmarks import load_layout
from aucgan.metrics.truth import SynthTruth
from aucgan.training.data import TrainData

from tests.flame_data import write_deca_data
from tests.tiny import TINY, TINY_AUNET

SIZE = 64


def _sets(items):
    return sum((["--set", s] for s in items), [])


@pytest.fixture(scope="module")
def flame(tmp_path_factory):
    """DECA fixtures, the layout JSON written by the CLI, and a 64 px benchmark in that layout."""
    root = tmp_path_factory.mktemp("flame")
    expected = write_deca_data(root / "deca")
    layout_json = root / "flame.json"
    assert main(["layout", "flame", "--deca-data", str(root / "deca"), "--out", str(layout_json)]) == 0
    bench = root / "bench"
    assert main(["synth", "--layout", str(layout_json), "--size", str(SIZE), "--identities", "4",
                 "--expressions", "3", "--test-fraction", "0.5", "--out", str(bench), "--quiet"]) == 0
    return {"root": root, "expected": expected, "layout_json": layout_json, "bench": bench}


def test_layout_command_writes_the_layout_and_refuses_to_overwrite(flame, capsys):
    layout = load_layout(flame["layout_json"])
    np.testing.assert_allclose(layout.landmarks, flame["expected"], atol=1e-6)
    assert layout.mask_image is not None and layout.identity_jitter == 0.25
    args = ["layout", "flame", "--deca-data", str(flame["root"] / "deca"), "--out", str(flame["layout_json"])]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    out = flame["root"] / "noeyes.json"
    assert main([*args[:-1], str(out), "--mask", "none", "--identity-jitter", "0.1"]) == 0
    plain = load_layout(out)
    assert plain.mask_image is None and plain.identity_jitter == 0.1
    assert main([*args, "--force"]) == 0
    assert "68 of 68 landmarks inside it" in capsys.readouterr().out


def test_layout_command_errors_are_one_line(tmp_path, capsys):
    assert main(["layout", "flame", "--deca-data", str(tmp_path / "none"), "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "Traceback" not in err and err.count("\n") == 1
    folder = tmp_path / "deca"
    write_deca_data(folder)
    (folder / "landmark_embedding.npy").unlink()
    assert main(["layout", "flame", "--deca-data", str(folder), "--out", str(tmp_path / "x.json")]) == 2
    assert "landmark_embedding.npy: no such file" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_atlas_draws_the_flame_layout(flame):
    out = flame["root"] / "atlas.png"
    assert main(["atlas", "--layout", str(flame["layout_json"]), "--size", "64", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_benchmark_records_its_layout_and_varies_little_around_it(flame):
    bench = flame["bench"]
    card = json.loads((bench / "dataset.json").read_text())
    assert card["layout_file"] == "layout.json" and card["layout"] == "flame"
    assert card["params"]["layout_jitter"] == 0.25
    layout = load_layout(flame["layout_json"])
    assert load_layout(bench / "layout.json") == layout
    ds = open_dataset(bench, size=(SIZE, SIZE))
    assert ds.layout == layout
    lms = np.stack([m.landmarks for m in ds.samples_meta])
    shift = np.abs(lms - layout.landmarks).max(axis=(1, 2))
    assert (shift > 0).all() and shift.max() < 0.02          # FLAME UV: a pixel or two at 64 px
    assert main(["inspect", str(bench)]) == 0


def test_ground_truth_renders_in_the_layout_and_no_au_acts_outside_the_mask(flame):
    bench = flame["bench"]
    codec = MapCodec(maps=("displacement", "albedo"), disp_scale=0.02)
    ds = open_dataset(bench, split="test", size=(SIZE, SIZE), au_names=AU_NAMES, preload=True)
    data = TrainData(ds, codec, AU_NAMES, SIZE)
    truth = SynthTruth(bench, codec, AU_NAMES, SIZE)
    ids = data.ids[:4]
    assert torch.allclose(truth.render(ids, data.au[:4] * 5.0, ids), data.x[:4], atol=1e-6)
    full = truth.render(ids, torch.full((4, len(AU_NAMES)), 5.0), ids)
    change = (full - truth.render(ids, torch.zeros(4, len(AU_NAMES)), ids))[:, :1].abs()   # displacement
    outside = ds.layout.mask_at((SIZE, SIZE)) == 0
    assert float(change[:, 0][:, outside].max()) == 0.0 and float(change.max()) > 1e-3
    assert float(data.footprints[:, :, outside].max()) == 0.0       # training footprints are masked too


@pytest.fixture(scope="module")
def flame_run(flame):
    aunet = flame["root"] / "aunet"
    assert main(["train-au", "--data", str(flame["bench"]), "--run-dir", str(aunet), "--steps", "3",
                 "--no-progress", *_sets(TINY_AUNET)]) == 0
    run = flame["root"] / "run"
    assert main(["train", "--config", "improved", "--data", str(flame["bench"]), "--aunet", str(aunet),
                 "--run-dir", str(run), "--steps", "2", "--no-progress", *_sets(TINY)]) == 0
    return {"aunet": aunet, "run": run}


def test_train_records_the_layout_and_the_editor_uses_it(flame, flame_run):
    from aucgan.inference import Editor

    run = flame_run["run"]
    layout = load_layout(flame["layout_json"])
    assert load_layout(run / "layout.json") == layout
    editor = Editor.from_run(run)
    assert editor.layout == layout
    fp = editor.footprints(None)[0]
    assert fp.shape[-1] == 32 and float(fp[:, layout.mask_at((32, 32)) == 0].max()) == 0.0
    np.testing.assert_array_equal(editor.default_landmarks, layout.landmarks)


def test_generate_and_eval_run_on_the_flame_benchmark(flame, flame_run, capsys):
    bench, run = flame["bench"], flame_run["run"]
    source = next(line.split(",")[0] for line in (bench / "manifest.csv").read_text().splitlines()[1:])
    out = flame["root"] / "edit"
    assert main(["generate", "--checkpoint", str(run), "--data", str(bench), "--source", source,
                 "--au", "AU12=3,AU01=4", "--out", str(out)]) == 0
    assert (out / "sweep_AU01.png").is_file() and (out / "edited_displacement.png").is_file()
    file_out = flame["root"] / "edit-file"
    assert main(["generate", "--checkpoint", str(run), "--source", str(bench / "maps" / f"{source}_albedo.png"),
                 "--au", "AU04=4", "--out", str(file_out)]) == 0
    assert main(["eval", str(run), "--data", str(bench), "--judge", str(flame_run["aunet"]),
                 "--metrics", "paired_fidelity,locality", "--samples", "6", "--sweep-samples", "1",
                 "--batch-size", "8"]) == 0, capsys.readouterr().err
    line = json.loads((run / "metric-paired_fidelity.jsonl").read_text().splitlines()[-1])
    s = line["results"]["summary"]
    assert line["step"] == 2 and line["data"] == str(bench)
    assert s["source_l1_footprint/displacement"] > 0   # the true edits move the displacement in the FLAME footprints
    assert s["l1_footprint/displacement"] > 0          # a 2-step generator does not reproduce them exactly
    assert s["explained/displacement/transfer"] == pytest.approx(
        1 - s["l1_footprint/displacement"] / s["source_l1_footprint/displacement"], abs=1e-4)
    assert (run / "metric-locality.jsonl").is_file()


def test_the_editor_page_works_in_the_run_layout(flame, flame_run):
    from aucgan.ui.core import EditorSession

    layout = load_layout(flame["layout_json"])
    session = EditorSession.open(flame_run["run"], data=flame["bench"])
    synthetic = session.sources.synthetic_identity(12345)         # a fresh identity, rendered in FLAME UV
    assert np.abs(synthetic.landmarks - layout.landmarks).max() < 0.02
    sample = session.sources.load_sample(session.sources.sample_ids()[0])
    target = np.zeros(len(AU_NAMES), np.float32)
    target[AU_NAMES.index("AU01")] = 5.0
    for source in (synthetic, sample):
        src, out = session.edit(source, target)
        assert out.shape == src.shape and torch.isfinite(out).all()
    assert "built-in layout" in session.sources.photo_unavailable()     # photos unwrap into the canonical layout
