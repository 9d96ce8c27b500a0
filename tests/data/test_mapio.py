import pytest
import torch

from aucgan.data import mapio


def test_displacement_16bit_round_trip(tmp_path):
    d = torch.linspace(-0.04, 0.04, 32 * 32).reshape(1, 32, 32)
    mapio.save_displacement(tmp_path / "d.png", d)
    back = mapio.load_displacement(tmp_path / "d.png")
    assert back.shape == d.shape
    assert (back - d).abs().max() <= mapio.DEFAULT_DISP_SCALE / 65535


def test_rgb_round_trip_and_resize(tmp_path):
    rgb = torch.rand(3, 16, 20)
    mapio.save_rgb(tmp_path / "a.png", rgb)
    assert (mapio.load_rgb(tmp_path / "a.png") - rgb).abs().max() <= 0.5 / 255 + 1e-6
    assert mapio.load_rgb(tmp_path / "a.png", size=(8, 8)).shape == (3, 8, 8)
    assert mapio.image_size(tmp_path / "a.png") == (16, 20)


def test_bad_files_are_named(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(mapio.MapIOError, match="x.png"):
        mapio.load_rgb(tmp_path / "x.png")
    with pytest.raises(mapio.MapIOError, match="no such image"):
        mapio.load_rgb(tmp_path / "y.png")
    mapio.save_rgb(tmp_path / "c.png", torch.rand(3, 4, 4))
    with pytest.raises(mapio.MapIOError, match="greyscale"):
        mapio.load_displacement(tmp_path / "c.png")
