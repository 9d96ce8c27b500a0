"""Upload checks: size limit, image headers, map-set names and sizes, side JSON files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from aucgan.au import AU_NAMES
from aucgan.layout.landmarks import canonical_layout
from aucgan.ui import UIError
from aucgan.ui.uploads import check_image_header, check_map_set, check_upload, read_side_json, sort_uploads


def _png(path, size, mode="RGB"):
    Image.new(mode, size, 128).save(path)
    return path


def test_size_limit_and_headers(tmp_path):
    big = tmp_path / "big_albedo.png"
    big.write_bytes(b"\0" * 3000)
    assert check_upload(big, 3000) == big
    with pytest.raises(UIError, match=r"big_albedo.png: 0.0 MB is over the upload limit of 0 MB"):
        check_upload(big, 2999)
    with pytest.raises(UIError, match="gone.png: the upload did not arrive"):
        check_upload(tmp_path / "gone.png", 10)
    with pytest.raises(UIError, match="big_albedo.png: not an image"):
        check_image_header(big)
    assert check_image_header(_png(tmp_path / "a.png", (40, 20))) == (20, 40)
    with pytest.raises(UIError, match="8x8 px; maps must be between 16"):
        check_image_header(_png(tmp_path / "tiny.png", (8, 8)))


def test_map_files_are_sorted_by_name_and_checked_as_a_set(tmp_path):
    files = [tmp_path / "Face_Albedo.PNG", tmp_path / "face_displacement.png", tmp_path / "normal.png",
             tmp_path / "layout.json"]
    found, side = sort_uploads(files)
    assert found == {"albedo": files[0], "displacement": files[1], "normal": files[2]} and side == [files[3]]
    with pytest.raises(UIError, match="two albedo maps uploaded"):
        sort_uploads([tmp_path / "a_albedo.png", tmp_path / "b_albedo.png"])
    with pytest.raises(UIError, match="face.txt: not a map file"):
        sort_uploads([tmp_path / "face.txt"])
    maps = ("displacement", "albedo")
    ok = {"albedo": _png(tmp_path / "x_albedo.png", (64, 64)), "displacement": _png(tmp_path / "x_d.png", (64, 64))}
    check_map_set(ok, maps, 32)
    with pytest.raises(UIError, match=r"needs map\(s\) \['displacement'\]; uploaded: \['albedo'\]"):
        check_map_set({"albedo": ok["albedo"]}, maps, 32)
    with pytest.raises(UIError, match="differ in size"):
        check_map_set({**ok, "albedo": _png(tmp_path / "y_albedo.png", (48, 48))}, maps, 32)
    wide = {m: _png(tmp_path / f"w_{m}.png", (64, 32)) for m in maps}
    with pytest.raises(UIError, match="64x32 px; the model's layout is square"):
        check_map_set(wide, maps, 32)


def test_side_json_gives_landmarks_or_source_aus(tmp_path):
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps(canonical_layout().to_json()))
    lm, au = read_side_json(layout, AU_NAMES, None, None)
    assert np.allclose(lm, canonical_layout().landmarks) and au is None
    saved = tmp_path / "au.json"
    saved.write_text(json.dumps({"au": {"AU12": 3.0, "AU24": 2.0}}))     # AU24 is not in the model's set
    lm2, au = read_side_json(saved, AU_NAMES, lm, None)
    assert lm2 is lm and au[AU_NAMES.index("AU12")] == 3.0 and au.sum() == 3.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"au": {"AU12": 9}}))
    with pytest.raises(UIError, match="bad.json: .*outside 0..5"):
        read_side_json(bad, AU_NAMES, None, None)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(UIError, match="other.json: expected a layout JSON"):
        read_side_json(other, AU_NAMES, None, None)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UIError, match="broken.json: not a readable JSON file"):
        read_side_json(broken, AU_NAMES, None, None)
