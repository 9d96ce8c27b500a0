"""The faces to edit: test samples, synthetic identities and uploaded map sets, with bad uploads refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aucgan.ui import UIError
from aucgan.ui.core import EditorSession
from aucgan.ui.sources import FaceSources

from tests.ui.conftest import TINY_G, write_untrained_run


def test_test_samples_come_with_their_aus_landmarks_and_attributes(ui_session):
    sources = ui_session.sources
    ids = sources.sample_ids()
    src = sources.load_sample(ids[1])
    assert src.label == f"test sample {ids[1]}" and set(src.maps) == {"displacement", "albedo"}
    assert src.au.shape == (17,) and src.landmarks.shape == (68, 2) and "age" in src.attrs
    assert sources.first_source().label == f"test sample {ids[0]}"
    with pytest.raises(UIError, match="nobody"):
        sources.load_sample("nobody")


def _png(path, size, mode="RGB"):
    Image.new(mode, size, 128).save(path)
    return path


def test_bad_uploads_are_refused_with_messages(ui_run, tmp_path):
    s = EditorSession.open(ui_run, max_upload_mb=0.01).sources        # 10 kB limit
    text = tmp_path / "x_albedo.png"
    text.write_text("this is not an image")
    disp = _png(tmp_path / "x_displacement.png", (32, 32), "L")
    with pytest.raises(UIError, match="x_albedo.png: not an image"):
        s.load_map_files([text, disp])
    big = tmp_path / "big_albedo.png"
    big.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(UIError, match="big_albedo.png: .* MB is over the upload limit"):
        s.load_map_files([big, disp])
    small = _png(tmp_path / "y_albedo.png", (48, 48))
    with pytest.raises(UIError, match="differ in size"):
        s.load_map_files([small, disp])
    with pytest.raises(UIError, match="64x32 px; the model's layout is square"):
        s.load_map_files([_png(tmp_path / "v_albedo.png", (64, 32)), _png(tmp_path / "v_displacement.png", (64, 32),
                                                                          "L")])
    with pytest.raises(UIError, match="between 16 and"):
        s.load_map_files([_png(tmp_path / "t_albedo.png", (8, 8)), _png(tmp_path / "t_displacement.png", (8, 8), "L")])
    with pytest.raises(UIError, match=r"needs map\(s\) \['displacement'\]"):
        s.load_map_files([_png(tmp_path / "z_albedo.png", (32, 32))])
    with pytest.raises(UIError, match="greyscale"):
        s.load_map_files([_png(tmp_path / "c_albedo.png", (32, 32)), _png(tmp_path / "c_displacement.png", (32, 32))])
    with pytest.raises(UIError, match="not a map file"):
        s.load_map_files([_png(tmp_path / "face.png", (32, 32))])
    with pytest.raises(UIError, match="no files uploaded"):
        s.load_map_files([])
    ok = s.load_map_files([_png(tmp_path / "ok_albedo.png", (64, 64)), _png(tmp_path / "ok_displacement.png",
                                                                            (64, 64), "L")])
    assert ok.maps["albedo"].shape == (3, 32, 32)         # resized to the model's size


def test_run_without_data_uses_synthetic_identities(tmp_path):
    run = write_untrained_run(tmp_path / "nodata", TINY_G)
    s = EditorSession.open(run)
    assert not s.sources.has_data()
    with pytest.raises(UIError, match="no data.json"):
        s.sources.sample_ids()
    a, b = s.sources.first_source(), s.sources.random_source()
    assert a.label.startswith("synthetic identity 0") and a.maps["albedo"].shape == (3, 32, 32)
    assert not torch.equal(a.maps["albedo"], b.maps["albedo"])
    assert s.update(b, list(b.au)).images["render"].shape == (256, 256, 3)


def test_synthetic_identities_are_seeded(tmp_path):
    a = FaceSources(("displacement", "albedo"), ("AU01", "AU12"), 32, tmp_path, seed=3)
    b = FaceSources(("displacement", "albedo"), ("AU01", "AU12"), 32, tmp_path, seed=3)
    assert torch.equal(a.synthetic_identity(5).maps["albedo"], b.synthetic_identity(5).maps["albedo"])
    assert torch.equal(a.random_source().maps["displacement"], b.random_source().maps["displacement"])
    assert a.synthetic_identity(5).au.shape == (2,)
    with pytest.raises(UIError, match=r"no \['image'\] map"):
        FaceSources(("image",), ("AU01",), 32, tmp_path).synthetic_identity(0)
