import json

import numpy as np
import pytest
import torch
from PIL import Image

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.data.datasets import open_dataset

from tests.tiny import TINY

pytest.importorskip("mediapipe", reason="photo extra not installed: pip install 'aucgan[photo]'")
pytest.importorskip("skimage.data", reason="photo extra not installed: pip install 'aucgan[photo]'")


@pytest.fixture(scope="module")
def tiny_run(tiny_bench, tiny_aunet, tmp_path_factory):
    """A generator trained for 2 steps on the tiny synthetic benchmark."""
    run = tmp_path_factory.mktemp("photo") / "run"
    sets = sum((["--set", s] for s in TINY), [])
    assert main(["train", "--config", "improved", "--data", str(tiny_bench), "--aunet", str(tiny_aunet),
                 "--run-dir", str(run), "--steps", "2", "--no-progress", *sets]) == 0
    return run


@pytest.fixture(scope="module")
def photo_file(astronaut, tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


def test_edit_end_to_end(tiny_run, photo_file, astronaut, astronaut_face, tmp_path, capsys):
    out = tmp_path / "smile.png"
    assert main(["edit", str(photo_file), "--checkpoint", str(tiny_run), "--au", "AU12=0,AU06=4,AU04=5",
                 "--sweep", "AU12", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "synthetic benchmark" in err and "domain gap" in err
    edited = np.asarray(Image.open(out).convert("RGB"))
    assert edited.shape == astronaut.shape
    diff = np.abs(edited.astype(int) - astronaut.astype(int)).max(axis=2)
    x0, y0, x1, y1 = astronaut_face.box
    outside = np.ones_like(diff, bool)
    outside[int(y0) - 60:int(y1) + 40, int(x0) - 40:int(x1) + 40] = False
    assert diff[outside].max() <= 1            # the photo is untouched away from the face
    assert (diff > 0).sum() > 500              # and the face was edited (a 2-step model: faintly)
    strip = Image.open(tmp_path / "smile_sweep_AU12.png")
    assert strip.size[1] == 192 and strip.size[0] > 6 * 150
    record = json.loads((tmp_path / "smile.json").read_text())
    assert record["model_domain"] == "synthetic" and "AU04=5" in record["target_au"]
    assert record["estimated_source_au"]["AU12"] > 2 and isinstance(record["estimated_edited_au"], dict)
    assert main(["edit", str(photo_file), "--checkpoint", str(tiny_run), "--au", "AU12=1", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_edit_without_a_face_fails_with_one_line(tiny_run, tmp_path, capsys):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(blank)
    assert main(["edit", str(blank), "--checkpoint", str(tiny_run), "--au", "AU12=3",
                 "--out", str(tmp_path / "o.png")]) == 2
    assert "wall.png: no face found" in capsys.readouterr().err


def _openface_csv(path, frames, low=()):
    cols = ["frame", "face_id", "timestamp", "confidence", "success"] + [f"{a}_r" for a in AU_NAMES]
    lines = [", ".join(cols)]
    for f in frames:
        aus = [round((0.7 * f + 0.3 * k) % 5, 2) for k in range(len(AU_NAMES))]
        lines.append(", ".join(map(str, [f, 0, 0.04 * f, 0.3 if f in low else 0.97, 1, *aus])))
    path.write_text("\n".join(lines) + "\n")
    return {f: aus for f, aus in zip(frames, [[round((0.7 * f + 0.3 * k) % 5, 2) for k in range(17)]
                                              for f in frames])}


def test_prepare_a_photo_folder_then_train_on_it(astronaut, tiny_aunet, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "frame_000001.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(photos / "frame_000002.jpg")
    Image.fromarray(np.full((128, 128, 3), 40, np.uint8)).save(photos / "frame_000003.png")  # no face
    Image.fromarray(astronaut[::2, ::2]).save(photos / "frame_000004.png")                   # no AU row
    (photos / "frame_000005.png").write_bytes(b"not an image")
    Image.fromarray(astronaut).save(photos / "frame_000006.png")                              # OpenFace unsure
    aus = _openface_csv(tmp_path / "photos.csv", [1, 2, 3, 5, 6], low=(6,))
    out = tmp_path / "set"
    args = ["prepare", str(photos), "--aus", str(tmp_path / "photos.csv"), "--out", str(out),
            "--min-au-confidence", "0.8", "--size", "32", "--quiet"]
    assert main(args) == 0
    assert "prepared 2 of 6 photos" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["skipped_by_reason"] == {"no face": 1, "missing AU row": 1, "unreadable": 1, "low confidence": 1}
    ds = open_dataset(out)
    assert len(ds) == 2 and set(ds.map_names) == {"albedo", "displacement", "mask"}
    np.testing.assert_allclose(ds.au_matrix()[0], aus[1], atol=1e-5)
    item = ds.get_by_id("frame_000002")
    assert item["maps"]["albedo"].shape == (3, 32, 32) and float(item["maps"]["mask"].mean()) > 0.3
    assert float(item["maps"]["displacement"].abs().max()) < 1e-4

    # resumable: a rerun with the same inputs does nothing new; an interrupted one finishes the rest
    stamp = (out / "maps" / "frame_000001_albedo.png").stat().st_mtime_ns
    progress = (out / "progress.jsonl").read_text().splitlines()
    (out / "progress.jsonl").write_text("\n".join(progress[:1]) + "\n")
    assert main(args[:-1]) == 0                # not --quiet: a line per photo, progress from the one done before
    shown = capsys.readouterr()
    assert "frame_000002.jpg: ok" in shown.out and "frame_000001.png" not in shown.out
    assert "prepare set: photo 6/6 (100%)" in shown.err
    assert (out / "maps" / "frame_000001_albedo.png").stat().st_mtime_ns == stamp
    assert len((out / "progress.jsonl").read_text().splitlines()) == len(progress)
    assert len(open_dataset(out)) == 2
    # other settings are refused without --force
    assert main([*args[:-2], "64", "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    assert main([*args[:5], str(tmp_path / "other"), "--quiet"]) == 2

    sets = sum((["--set", s] for s in TINY), [])
    run = tmp_path / "run"
    train = ["train", "--config", "improved", "--data", str(out), "--aunet", str(tiny_aunet), "--run-dir", str(run),
             "--steps", "1", "--no-progress", *sets]
    # improved conditions on emotion and valence, which photos do not carry: the error says how to train on AUs alone
    assert main(train) == 2
    assert "no 'emotion'" in (err := capsys.readouterr().err) and "generator.extra_attrs=[]" in err
    assert not run.exists()                    # the refused start left nothing behind: the same --run-dir works
    assert main([*train, "--set", "generator.extra_attrs=[]"]) == 0
    assert list((run / "checkpoints").iterdir())


def test_prepare_reads_an_au_pickle(astronaut, tmp_path):
    import pickle

    photos = tmp_path / "imgs"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "eileen.png")
    with open(tmp_path / "aus.pkl", "wb") as fh:
        pickle.dump({"eileen.png": np.linspace(0, 4, 17), "absent": np.zeros(17)}, fh, protocol=2)
    from aucgan.photo.prepare import prepare_dataset

    report = prepare_dataset(photos, tmp_path / "aus.pkl", tmp_path / "set", size=32)
    assert report["prepared"] == 1
    ds = open_dataset(tmp_path / "set")
    np.testing.assert_allclose(ds.au_matrix()[0], np.linspace(0, 4, 17), atol=1e-4)
    assert torch.is_tensor(ds[0]["maps"]["albedo"])
