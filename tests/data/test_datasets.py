"""open_dataset: kind detection, the item structure, splits, resizing, preload, and lazy/eager file checks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from aucgan.au import AU_NAMES
from aucgan.data.datasets import detect_kind, open_dataset
from aucgan.data.errors import DataError
from aucgan.data.mapio import save_rgb

from tests.data.test_folder import write_images, write_synth_folder
from tests.data.test_ganimation import write_ganimation_folder
from tests.data.test_openface import face_landmarks, write_openface_csv


@pytest.fixture
def synth(tmp_path):
    root = tmp_path / "bench"
    return root, write_synth_folder(root, identities=3, expressions=2, size=32, scale=0.02, offset=-0.01)


def _manifest(root, names, sizes=None, header_extra=(), extra=()) -> None:
    root.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    for k, name in enumerate(names):
        s = 32 if sizes is None else sizes[k]
        save_rgb(root / name, torch.rand(3, s, s, generator=gen))
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *AU_NAMES, *header_extra])
        for k, name in enumerate(names):
            writer.writerow([name, *[f"{(k + i) % 6 * 0.5:g}" for i in range(17)], *extra])


def test_synth_items_decode_displacement_with_the_card_encoding(synth):
    root, truth = synth
    ds = open_dataset(root)
    assert ds.kind == "synth" and len(ds) == 6 and ds.identities() == ["id0000", "id0001", "id0002"]
    item = ds[3]
    assert item["id"] == "id0001_e0001" and item["identity"] == "id0001"
    assert set(item["maps"]) == {"albedo", "displacement", "normal"}
    assert item["maps"]["albedo"].shape == (3, 32, 32) and item["maps"]["displacement"].shape == (1, 32, 32)
    disp = truth["displacement"][item["id"]]
    assert torch.allclose(item["maps"]["displacement"], disp, atol=0.02 / 65535 + 1e-7)
    assert item["au"].dtype == torch.float32 and item["au"].shape == (17,)
    np.testing.assert_allclose(item["au"].numpy(), truth["au"][item["id"]], atol=1e-6)
    np.testing.assert_allclose(item["landmarks"].numpy(), truth["landmarks"]["id0001"], atol=1e-6)
    assert float(item["attrs"]["age"]) == truth["attrs"][item["id"]]["age"]
    np.testing.assert_allclose(ds.au_matrix(), np.stack(list(truth["au"].values())), atol=1e-6)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["maps"]["normal"].shape == (4, 3, 32, 32) and batch["landmarks"].shape == (4, 68, 2)


def test_splits_by_identity_preload_and_resize(synth):
    root, truth = synth
    test = open_dataset(root, split="test", size=(16, 24), preload=True)
    assert [m.identity for m in test.samples_meta] == ["id0002", "id0002"]
    assert test[0]["maps"]["albedo"].shape == (3, 16, 24)
    assert test[1]["maps"]["displacement"].shape == (1, 16, 24)
    assert test.get_by_id("id0002_e0001")["id"] == "id0002_e0001"
    with pytest.raises(DataError, match="no sample with id 'nope'"):
        test.get_by_id("nope")
    with pytest.raises(DataError, match=r"no samples in split 'val' \(splits present: test, train\)"):
        open_dataset(root, split="val")
    assert len(open_dataset(root, split="train", au_names=["AU12", "AU06"])[0]["au"]) == 2


def test_detects_every_kind(tmp_path, synth):
    root, _ = synth
    ga = write_ganimation_folder(tmp_path / "ga", {"a": np.ones(17), "b": np.zeros(17)}, train=["a.jpg"],
                                 test=["b.jpg"])
    csv_path = tmp_path / "of" / "clip.csv"
    csv_path.parent.mkdir()
    write_openface_csv(csv_path, [{"frame": 1}])
    _manifest(tmp_path / "man", ["x.png"])
    (tmp_path / "man" / "list.json").write_text(json.dumps([{"path": "x.png", **dict.fromkeys(AU_NAMES, 1)}]))
    assert detect_kind(root) == ("synth", root)
    assert detect_kind(root / "dataset.json") == ("synth", root)
    assert detect_kind(ga) == ("ganimation", ga)
    assert detect_kind(ga / "aus_openface.pkl") == ("ganimation", ga)
    assert detect_kind(csv_path) == ("openface", csv_path)
    assert detect_kind(tmp_path / "man") == ("manifest", tmp_path / "man")
    assert detect_kind(tmp_path / "man" / "manifest.csv")[0] == "manifest"
    assert open_dataset(tmp_path / "man" / "list.json")[0]["maps"]["image"].shape == (3, 32, 32)
    assert [open_dataset(ga, split=s)[0]["id"] for s in ("train", "test")] == ["a", "b"]
    with pytest.raises(DataError, match=r"not a recognised data set folder: looked for dataset.json"):
        detect_kind(tmp_path / "of")
    with pytest.raises(DataError, match="no such file or folder"):
        open_dataset(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="not a recognised data set file"):
        open_dataset(tmp_path / "notes.txt")


def test_openface_rows_joined_by_frame_with_normalised_landmarks(tmp_path):
    csv_path = tmp_path / "clip.csv"
    lm = face_landmarks(scale=60.0)
    rows = [{"frame": f, "au": np.full(17, f * 0.5), "landmarks": lm} for f in (1, 2, 3)]
    write_openface_csv(csv_path, [*rows, {"frame": 4, "confidence": 0.2}])
    write_images(tmp_path / "clip_aligned", ["frame_det_00_000001.png", "frame_det_00_000002.png"], size=64)
    ds = open_dataset(csv_path, min_confidence=0.5)
    assert ds.kind == "openface" and len(ds) == 3 and ds.identities() == ["clip"]
    assert any("confidence < 0.5" in p for p in ds.problems)
    item = ds[1]
    assert item["id"] == "clip_000002" and item["maps"]["image"].shape == (3, 64, 64)
    np.testing.assert_allclose(item["au"].numpy(), np.full(17, 1.0))
    np.testing.assert_allclose(item["landmarks"].numpy(), lm / 64.0, atol=1e-5)
    with pytest.raises(DataError, match=r"no image for frame 3 face 0 .*clip.csv: line 4"):
        ds[2]
    problems = ds.check_files()
    assert len(problems) == 1 and problems[0].startswith("samples without an image: 1")
    with pytest.raises(DataError, match="no test split|no 'test' split"):
        open_dataset(csv_path, split="test")
    assert len(open_dataset(csv_path, split="train")) == 4


def test_openface_landmarks_of_another_frame_are_not_attached(tmp_path):
    csv_path = tmp_path / "clip.csv"
    write_openface_csv(csv_path, [{"frame": 1, "landmarks": face_landmarks(scale=900.0)}])
    write_images(tmp_path / "crops", ["000001.png"], size=32)
    ds = open_dataset(csv_path, images=tmp_path / "crops")
    assert "landmarks" not in ds[0]
    assert any("landmarks fall outside their image" in p for p in ds.check_files())


def test_openface_without_image_folder_still_has_annotations(tmp_path):
    csv_path = tmp_path / "clip.csv"
    write_openface_csv(csv_path, [{"frame": 1, "au": np.full(17, 2.0)}])
    ds = open_dataset(csv_path)
    assert any("no image folder found" in p and "clip_aligned" in p for p in ds.problems)
    np.testing.assert_allclose(ds.au_matrix(), np.full((1, 17), 2.0))
    with pytest.raises(DataError, match=r"no image for frame 1 face 0 \(no image folder\)"):
        ds[0]


def test_face_landmark_img_csv_joins_its_image_by_stem(tmp_path):
    csv_path = tmp_path / "portrait.csv"
    write_openface_csv(csv_path, [{"face": 0, "au": np.full(17, 2.0), "landmarks": face_landmarks(scale=40)}],
                       layout="FaceLandmarkImg")
    write_images(tmp_path, ["portrait.jpg", "other.jpg"], size=40)
    ds = open_dataset(csv_path)
    item = ds[0]
    assert item["id"] == "portrait" and item["identity"] == "" and item["maps"]["image"].shape == (3, 40, 40)
    np.testing.assert_allclose(item["landmarks"].numpy(), face_landmarks(scale=40) / 40, atol=1e-5)


def test_missing_and_unreadable_images_are_named(tmp_path):
    _manifest(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "b.png").unlink()
    (tmp_path / "c.png").write_text("not an image")
    ds = open_dataset(tmp_path)
    assert ds[0]["maps"]["image"].shape == (3, 32, 32)
    with pytest.raises(DataError, match=r"b.png: no such image file \[sample b \(.*manifest.csv: line 3\)\]"):
        ds[1]
    with pytest.raises(DataError, match=r"c.png: not a readable image"):
        ds[2]
    problems = ds.check_files()
    assert any(p.startswith("missing image files: 1") and "b.png" in p for p in problems)
    assert any(p.startswith("unreadable image files: 1") and "c.png" in p for p in problems)
    with pytest.raises(DataError, match="b.png: no such image file"):
        open_dataset(tmp_path, preload=True)


def test_mixed_sizes_need_an_explicit_size(tmp_path):
    _manifest(tmp_path, ["a.png", "b.png"], sizes=[32, 48])
    ds = open_dataset(tmp_path)
    ds[0]
    with pytest.raises(DataError, match=r"mixed image sizes: .*b.png is 48x48 but .*a.png is 32x32; pass"):
        ds[1]
    assert any(p.startswith("mixed image sizes") for p in ds.check_files())
    resized = open_dataset(tmp_path, size=40, preload=True)
    assert [resized[i]["maps"]["image"].shape for i in range(2)] == [(3, 40, 40)] * 2
    assert resized.check_files() == []


def test_manifest_without_split_column_is_all_train(tmp_path):
    _manifest(tmp_path, ["a.png", "b.png"])
    assert len(open_dataset(tmp_path, split="train")) == 2
    with pytest.raises(DataError, match="no split information"):
        open_dataset(tmp_path, split="test")
