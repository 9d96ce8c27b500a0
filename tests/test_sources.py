"""Edit sources: a data set sample with its AUs, landmarks and attributes, or a map set found by file name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.data.mapio import save_displacement, save_rgb
from aucgan.errors import AucganError
from aucgan.layout.landmarks import canonical_layout
from aucgan.sources import MAP_SUFFIXES, load_map_files, load_source, map_name

MAPS = ("displacement", "albedo")


def _write_set(folder, prefix="face", size=24):
    g = torch.Generator().manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    disp = 0.004 * torch.randn(1, size, size, generator=g)
    albedo = torch.rand(3, size, size, generator=g)
    save_displacement(folder / f"{prefix}_displacement.png", disp)
    save_rgb(folder / f"{prefix}_albedo.png", albedo)
    return disp, albedo


def test_map_names():
    assert MAP_SUFFIXES == ("albedo", "displacement", "normal", "image")
    assert map_name("id3_e2_albedo") == "albedo" and map_name("x_displacement") == "displacement"
    assert map_name("albedo") is None and map_name("face") is None


def test_a_file_finds_its_siblings(tmp_path):
    disp, albedo = _write_set(tmp_path)
    for named in ("face_albedo.png", "face_displacement.png"):
        maps = load_map_files(tmp_path / named, MAPS)
        assert list(maps) == list(MAPS) and maps["albedo"].shape == (3, 24, 24)
        assert torch.allclose(maps["albedo"], albedo, atol=0.5 / 255 + 1e-6)
    with pytest.raises(AucganError, match=r"the model needs map 'normal': expected .*face_normal.png"):
        load_map_files(tmp_path / "face_albedo.png", ("albedo", "normal"))
    (tmp_path / "face.png").write_bytes(b"")
    with pytest.raises(AucganError, match="name must end in _albedo"):
        load_map_files(tmp_path / "face.png", MAPS)
    with pytest.raises(AucganError, match="not a sample id of --data and not a file"):
        load_map_files(tmp_path / "nope_albedo.png", MAPS)


def test_file_source_takes_given_aus_and_layout(tmp_path):
    _write_set(tmp_path)
    plain = load_source(str(tmp_path / "face_albedo.png"), MAPS, AU_NAMES, 32)
    assert plain.au is None and plain.landmarks is None and plain.attrs == {} and plain.layout_name == "canonical"
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps(canonical_layout().to_json()))
    given = load_source(str(tmp_path / "face_albedo.png"), MAPS, AU_NAMES, 32, source_au="AU12=2,AU6=1",
                        layout=layout)
    assert given.au[AU_NAMES.index("AU12")] == 2 and given.au.sum() == 3
    assert np.allclose(given.landmarks, canonical_layout().landmarks) and given.layout_name.startswith("user layout")


def test_data_set_source_brings_its_own(tiny_bench):
    sample = next(line.split(",")[0] for line in (tiny_bench / "manifest.csv").read_text().splitlines()[1:])
    src = load_source(sample, MAPS, AU_NAMES, 32, data=tiny_bench)
    assert set(src.maps) == set(MAPS) and src.maps["albedo"].shape == (3, 32, 32)
    assert src.au.shape == (17,) and src.landmarks is not None and "age" in src.attrs
    assert src.layout_name == "synthetic"
    with pytest.raises(AucganError, match="nobody"):
        load_source("nobody", MAPS, AU_NAMES, 32, data=tiny_bench)
