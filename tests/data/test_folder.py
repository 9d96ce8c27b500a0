"""Manifest data sets (CSV, JSON, AU spellings, attributes, landmarks) and the synthetic folder format."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES, EMOTIONS
from aucgan.data.errors import DataError
from aucgan.data.folder import find_manifest, is_synth_folder, read_manifest, read_synth_folder
from aucgan.data.mapio import save_displacement, save_rgb
from aucgan.layout.landmarks import canonical_layout


def write_synth_folder(root, identities: int = 3, expressions: int = 2, size: int = 32, seed: int = 0,
                       scale: float = 0.02, offset: float = -0.01, test_ids: tuple[int, ...] = (2,)) -> dict:
    """A synthetic benchmark folder in the documented format (random maps); returns the truth written."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "maps").mkdir()
    (root / "landmarks").mkdir()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    base = canonical_layout(size).landmarks
    ids = [f"id{k:04d}" for k in range(identities)]
    header = ["sample_id", "identity", "split", *AU_NAMES, "age", "gender", "emotion", "valence",
              "albedo", "displacement", "normal", "landmarks"]
    rows, truth = [], {"au": {}, "displacement": {}, "landmarks": {}, "attrs": {}}
    for k, ident in enumerate(ids):
        lm = (base + rng.uniform(-0.01, 0.01, base.shape)).astype(np.float32)
        truth["landmarks"][ident] = lm
        record = {"identity": ident, "landmarks": lm.tolist()}
        (root / "landmarks" / f"{ident}.json").write_text(json.dumps(record))
        for e in range(expressions):
            sid = f"{ident}_e{e:04d}"
            au = np.where(rng.random(17) < 0.3, rng.uniform(0, 5, 17), 0.0).round(3)
            disp = offset + scale * torch.rand(1, size, size, generator=gen)
            save_rgb(root / "maps" / f"{sid}_albedo.png", torch.rand(3, size, size, generator=gen))
            save_displacement(root / "maps" / f"{sid}_displacement.png", disp, scale=scale, offset=offset)
            save_rgb(root / "maps" / f"{sid}_normal.png", torch.rand(3, size, size, generator=gen))
            attrs = {"age": float(20 + 5 * k), "gender": float(k % 2), "emotion": e % len(EMOTIONS),
                     "valence": 0.5 - 0.25 * e}
            truth["au"][sid], truth["displacement"][sid], truth["attrs"][sid] = au, disp, attrs
            split = "test" if k in test_ids else "train"
            rows.append([sid, ident, split, *[f"{v:g}" for v in au], attrs["age"], attrs["gender"],
                         attrs["emotion"], attrs["valence"], f"maps/{sid}_albedo.png",
                         f"maps/{sid}_displacement.png", f"maps/{sid}_normal.png", f"landmarks/{ident}.json"])
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    card = {"format": "aucgan-synth", "format_version": 1, "generator_version": "test", "seed": seed,
            "size": size, "identities": identities, "expressions": expressions, "au_names": list(AU_NAMES),
            "displacement": {"scale": scale, "offset": offset},
            "splits": {"train": [i for k, i in enumerate(ids) if k not in test_ids],
                       "test": [i for k, i in enumerate(ids) if k in test_ids]}, "params": {}}
    (root / "dataset.json").write_text(json.dumps(card))
    save_rgb(root / "preview.png", torch.rand(3, 8, 8, generator=gen))
    return truth


def write_images(folder, names, size: int = 32, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for name in names:
        save_rgb(folder / name, torch.rand(3, size, size, generator=gen))


def write_csv(path, header, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _au_row(value: float = 0.0) -> list[str]:
    return [f"{value:g}"] * 17


def test_synth_folder_card_manifest_and_landmarks(tmp_path):
    truth = write_synth_folder(tmp_path / "bench", identities=3, expressions=2, scale=0.02, offset=-0.01)
    assert is_synth_folder(tmp_path / "bench") and not is_synth_folder(tmp_path)
    data = read_synth_folder(tmp_path / "bench")
    assert (data.disp_scale, data.disp_offset) == (0.02, -0.01)
    assert [m.id for m in data.samples] == list(truth["au"])
    assert [m.split for m in data.samples] == ["train"] * 4 + ["test"] * 2
    for m in data.samples:
        np.testing.assert_allclose(m.au, truth["au"][m.id], atol=1e-6)
        np.testing.assert_allclose(m.landmarks, truth["landmarks"][m.identity], atol=1e-6)
        assert m.attrs == pytest.approx(truth["attrs"][m.id])
        assert set(m.maps) == {"albedo", "displacement", "normal"}
        assert all(p.is_file() for p in m.maps.values())
    assert data.samples[0].landmarks is data.samples[1].landmarks  # one landmark file per identity, read once


def test_synth_card_problems(tmp_path):
    write_synth_folder(tmp_path / "b")
    card_path = tmp_path / "b" / "dataset.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "format_version": 2}))
    with pytest.raises(DataError, match="field 'format_version' is 2; this aucgan reads 1"):
        read_synth_folder(tmp_path / "b")
    card_path.write_text(json.dumps({k: v for k, v in card.items() if k != "displacement"}))
    with pytest.raises(DataError, match="field 'displacement' must be"):
        read_synth_folder(tmp_path / "b")
    swapped = {"train": card["splits"]["test"], "test": card["splits"]["train"]}
    card_path.write_text(json.dumps({**card, "splits": swapped}))
    with pytest.raises(DataError, match=r"manifest.csv: line 2, field 'split': 'train' but dataset.json"):
        read_synth_folder(tmp_path / "b")


def test_manifest_csv_with_path_column_and_au_spellings(tmp_path):
    write_images(tmp_path / "imgs", ["a.png", "b.png"])
    spellings = [code if k % 3 == 0 else (f"{code}_r" if k % 3 == 1 else f"AU{int(code[2:])}")
                 for k, code in enumerate(AU_NAMES)]
    assert "AU6" in spellings or "AU06_r" in spellings
    values = [np.arange(17) * 0.25, np.full(17, 5.0)]
    header = ["path", "identity", "split", "gender", "emotion", "AU12_c", *spellings[::-1]]
    rows = [["imgs/a.png", "p1", "train", "female", "happiness", "1", *[f"{v:g}" for v in values[0][::-1]]],
            ["imgs/b.png", "p2", "test", "0.7", "3", "0", *[f"{v:g}" for v in values[1][::-1]]]]
    write_csv(tmp_path / "manifest.csv", header, rows)
    data = read_manifest(tmp_path)
    assert [m.id for m in data.samples] == ["a", "b"] and [m.identity for m in data.samples] == ["p1", "p2"]
    assert data.samples[0].maps == {"image": tmp_path / "imgs" / "a.png"}
    np.testing.assert_allclose(data.samples[0].au, values[0], atol=1e-6)
    np.testing.assert_allclose(data.samples[1].au, values[1], atol=1e-6)
    assert data.samples[0].attrs == {"gender": 0.0, "emotion": float(EMOTIONS.index("happiness"))}
    assert data.samples[1].attrs == {"gender": pytest.approx(0.7), "emotion": 3.0}
    assert [m.split for m in data.samples] == ["train", "test"]


def test_manifest_json_with_map_columns_and_landmarks(tmp_path):
    write_images(tmp_path / "maps", ["s1_albedo.png", "s2_albedo.png"])
    lm = canonical_layout(32).landmarks
    (tmp_path / "px.json").write_text(json.dumps({"landmarks": (lm * 64).tolist(), "units": "pixels"}))
    items = [{"id": "s1", "albedo": "maps/s1_albedo.png", "displacement": "maps/s1_disp.png",
              "landmarks": lm.tolist(), "age": 31, "valence": -0.5, **{a: 1.0 for a in AU_NAMES}},
             {"id": "s2", "albedo": "maps/s2_albedo.png", "displacement": "maps/s2_disp.png",
              "landmarks": "px.json", **{f"{a}_r": 2 for a in AU_NAMES}}]
    (tmp_path / "manifest.json").write_text(json.dumps(items))
    data = read_manifest(tmp_path / "manifest.json")
    s1, s2 = data.samples
    assert set(s1.maps) == {"albedo", "displacement"} and s1.attrs == {"age": 31.0, "valence": -0.5}
    np.testing.assert_allclose(s1.landmarks, lm)
    assert s2.landmarks is None
    np.testing.assert_allclose(s2.landmarks_px, lm * 64, atol=1e-4)
    np.testing.assert_allclose(s2.au, np.full(17, 2.0))


@pytest.mark.parametrize("header, row, message", [
    (["path", *AU_NAMES[:-1]], ["a.png", *_au_row()[:-1]], r"missing AU column\(s\) AU45"),
    (["path", *AU_NAMES, "AU1_r"], ["a.png", *_au_row(), "1"], r"columns 'AU01' and 'AU1_r' both give AU01"),
    (["identity", *AU_NAMES], ["p", *_au_row()], r"no map file column \(looked for albedo, displacement"),
    (["path", "image", *AU_NAMES], ["a.png", "a.png", *_au_row()], r"both 'path' and 'image' columns"),
    (["path", *AU_NAMES], ["a.png", *_au_row()[:8], "nan", *_au_row()[9:]],
     r"manifest.csv: line 2, field 'AU12': 'nan' is not finite"),
    (["path", *AU_NAMES], ["a.png", *_au_row()[:4], "7", *_au_row()[5:]],
     r"manifest.csv: line 2, field 'AU06': 7 is outside 0..5"),
    (["path", *AU_NAMES], ["a.png", *_au_row()[:4], "", *_au_row()[5:]], r"line 2, field 'AU06': empty"),
    (["path", "gender", *AU_NAMES], ["a.png", "2", *_au_row()], r"field 'gender': gender 2 is outside"),
    (["path", "emotion", *AU_NAMES], ["a.png", "joy", *_au_row()], r"'emotion': emotion 'joy' is neither"),
    (["path", "valence", *AU_NAMES], ["a.png", "1.5", *_au_row()], r"'valence': valence 1.5 is outside"),
    (["path", *AU_NAMES], ["", *_au_row()], r"line 2, field 'path': empty \(expected a file path\)"),
    (["path", "AU99", *AU_NAMES], ["a.png", "0", *_au_row()], r"column 'AU99': unknown AU"),
])
def test_manifest_errors_name_file_row_and_field(tmp_path, header, row, message):
    write_csv(tmp_path / "manifest.csv", header, [row])
    with pytest.raises(DataError, match=message):
        read_manifest(tmp_path)


def test_duplicate_ids_and_lenient_reading(tmp_path):
    header = ["path", *AU_NAMES]
    rows = [["a.png", *_au_row(1)], ["b.png", *_au_row(9)], ["a.png", *_au_row(2)], ["c.png", *_au_row(3)]]
    write_csv(tmp_path / "manifest.csv", header, rows)
    with pytest.raises(DataError, match=r"line 3, field 'AU01': 9 is outside"):
        read_manifest(tmp_path)
    data = read_manifest(tmp_path, strict=False)
    assert [m.id for m in data.samples] == ["a", "c"]
    assert len(data.problems) == 2
    assert "line 4: sample id 'a' repeats line 2 (duplicate id)" in data.problems[1]


def test_manifest_subset_and_landmark_errors(tmp_path):
    write_csv(tmp_path / "manifest.csv", ["file", "AU6", "AU12", "landmarks"],
              [["a.png", "1", "2", "[[0.5, 0.5]]"]])
    with pytest.raises(DataError, match=r"expected 68 \[x, y\] landmarks"):
        read_manifest(tmp_path, au_names=["AU12", "AU06"])
    write_csv(tmp_path / "manifest.csv", ["file", "AU6", "AU12"], [["a.png", "1", "2"]])
    data = read_manifest(tmp_path, au_names=["AU12", "AU06"])
    np.testing.assert_allclose(data.samples[0].au, [2.0, 1.0])


def test_manifest_lookup(tmp_path):
    assert find_manifest(tmp_path) is None
    (tmp_path / "manifest.csv").write_text("path\n")
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(DataError, match="both manifest.csv and manifest.json"):
        find_manifest(tmp_path)
    (tmp_path / "manifest.csv").unlink()
    (tmp_path / "manifest.json").write_text(json.dumps({"samples": []}))
    with pytest.raises(DataError, match="must be a list of objects"):
        read_manifest(tmp_path)


def test_a_card_may_name_the_layout_of_its_maps(tmp_path):
    from aucgan.data.datasets import open_dataset
    from aucgan.layout.landmarks import Layout, load_layout

    write_synth_folder(tmp_path / "b")
    assert read_synth_folder(tmp_path / "b").layout is None and open_dataset(tmp_path / "b").layout is None
    card_path = tmp_path / "b" / "dataset.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "layout": "aucgan-canonical"}))   # a name only, as prepare writes
    assert read_synth_folder(tmp_path / "b").layout is None
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 4:12] = 1.0
    layout = Layout("uv", canonical_layout().landmarks, (16, 16), mask_image=mask)
    layout.save(tmp_path / "b" / "uv.json")
    card_path.write_text(json.dumps({**card, "layout": "uv", "layout_file": "uv.json"}))
    expected = load_layout(tmp_path / "b" / "uv.json")
    assert read_synth_folder(tmp_path / "b").layout == expected
    assert open_dataset(tmp_path / "b", split="test").layout == expected
    manifest_card = {"displacement": card["displacement"], "layout_file": "uv.json"}   # a plain manifest folder too
    card_path.write_text(json.dumps(manifest_card))
    assert read_manifest(tmp_path / "b").layout == expected
    for bad, message in [("missing.json", "field 'layout_file': .*no such layout file"),
                         (3, "field 'layout_file' must name a layout")]:
        card_path.write_text(json.dumps({**card, "layout_file": bad}))
        with pytest.raises(DataError, match=f"dataset.json: {message}"):
            read_synth_folder(tmp_path / "b")
