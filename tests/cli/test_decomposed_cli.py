"""End to end: an AU estimator on shaded renders, the decomposed preset trained a few steps, then exports."""

import json

import numpy as np
import pytest

from aucgan.cli import main
from aucgan.inference import Editor

from tests.tiny import TINY, TINY_AUNET


def _sets(items):
    return sum((["--set", s] for s in items), [])


def test_decomposed_train_then_export_maps_mesh_onnx(tiny_bench, tmp_path, capsys):
    aunet = tmp_path / "aunet-shaded"
    assert main(["train-au", "--data", str(tiny_bench), "--run-dir", str(aunet), "--steps", "2", "--no-progress",
                 *_sets([*TINY_AUNET, "aunet.input=shaded"])]) == 0
    run = tmp_path / "decomposed"
    assert main(["train", "--config", "decomposed", "--data", str(tiny_bench), "--aunet", str(aunet),
                 "--run-dir", str(run), "--steps", "2", "--no-progress",
                 *_sets([*TINY, "generator.decomposed.albedo_channels=8", "render.cavity_strength=40"])]) == 0
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert any("G/shaded_rec" in s for s in stats)

    # a wrinkle-AU edit leaves the albedo untouched; an emotion edit leaves the displacement untouched
    editor = Editor.from_run(run)
    source = next(line.split(",")[0] for line in (tiny_bench / "manifest.csv").read_text().splitlines()[1:])
    from aucgan.data.datasets import open_dataset

    item = open_dataset(tiny_bench, size=(32, 32)).get_by_id(source)
    maps, au = item["maps"], np.asarray(item["au"], np.float32)
    attrs = {k: float(v) for k, v in item["attrs"].items()}
    frown = au.copy()
    frown[2] = 5.0                                                           # AU04
    a, b = editor.edit(maps, au, source_au=au, attrs=attrs), editor.edit(maps, frown, source_au=au, attrs=attrs)
    assert np.array_equal(a["albedo"].numpy(), b["albedo"].numpy())
    assert not np.array_equal(a["displacement"].numpy(), b["displacement"].numpy())
    happy = editor.edit(maps, au, source_au=au, attrs={**attrs, "emotion": 1.0, "valence": 0.9})
    assert np.array_equal(a["displacement"].numpy(), happy["displacement"].numpy())

    out = tmp_path / "export"
    assert main(["export-maps", str(run), "--data", str(tiny_bench), "--source", source, "--au", "AU04=4",
                 "--attr", "emotion=anger,valence=-0.7", "--views", "4", "--mesh-grid", "24",
                 "--out", str(out)]) == 0
    for name in ("face_albedo.png", "face_displacement.png", "face_normal.png", "face_turntable.png", "face.obj",
                 "face.mtl", "face.json"):
        assert (out / name).is_file(), name
    card = json.loads((out / "face.json").read_text())
    assert card["au"]["AU04"] == 4.0 and card["attributes"]["emotion"] == 5.0 and card["attributes"]["valence"] == -0.7
    assert main(["export-maps", str(run), "--data", str(tiny_bench), "--source", source, "--attr", "mood=1",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "--attr" in capsys.readouterr().err

    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'aucgan[onnx]')")
    onnx_path = tmp_path / "g.onnx"
    assert main(["export-onnx", str(run), "--out", str(onnx_path), "--check"]) == 0
    printed = capsys.readouterr().out
    err = float(printed.split("max |difference|")[1].split()[0])
    assert err < 1e-4
    side = json.loads((tmp_path / "g.onnx.json").read_text())
    assert {"maps", "au", "footprints", "extra"} <= set(side["inputs"])
    assert side["inputs"]["extra"]["shape"] == ["batch", 10]
