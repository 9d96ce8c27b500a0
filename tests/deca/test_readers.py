"""Readers of DECA/EMOCA/OpenFace outputs: DECA's image names, EMOCA's nested folders, OpenFace rows joined by
those names, and what a wrong --fixed-displacement file says."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aucgan.data.errors import DataError
from aucgan.deca.readers import (
    codes_marker,
    find_outputs,
    image_name,
    read_fixed_displacement,
    read_identities,
    read_openface_aus,
)

from tests.deca.fakes import au_values, write_emoca_codes, write_openface_per_image


def test_image_name_is_decas():
    assert image_name("img_0001.jpg") == "img_0001"
    assert image_name("img.v2.jpg") == "img"                   # not Path.stem's "img.v2"
    assert image_name("/a/b.c/face.cropped.png") == "face"


def test_find_outputs_walks_person_and_model_folders(tmp_path):
    write_emoca_codes(tmp_path / "anna" / "EMOCA", ["a00"])
    write_emoca_codes(tmp_path / "ben", ["b"])
    write_emoca_codes(tmp_path, ["c"])
    found = find_outputs(tmp_path, codes_marker, "codes")
    assert [(o.name, o.folders) for o in found] == [("a00", ("anna", "EMOCA")), ("b", ("ben",)), ("c", ())]
    write_emoca_codes(tmp_path / "ben" / "EMOCA", ["c"])
    with pytest.raises(DataError, match="output name 'c' appears twice"):
        find_outputs(tmp_path, codes_marker, "codes")


def test_openface_rows_keyed_by_decas_name(tmp_path):
    write_openface_per_image(tmp_path / "of", ["a.v1", "b", "c.x", "c.y"])
    rows, problems = read_openface_aus(tmp_path / "of")
    assert sorted(rows) == ["a", "b"]                          # c.x and c.y both give "c": neither is used
    np.testing.assert_allclose(rows["a"].au, au_values(0), atol=1e-4)
    assert len(problems) == 1 and "'c.x' and 'c.y' both get DECA's name 'c'" in problems[0]


def test_presence_gate_zeroes_absent_aus(tmp_path):
    """--presence-gate: an AU OpenFace's AUxx_c calls absent reads 0, a present one keeps its intensity; a CSV
    without the presence columns is refused with their names."""
    write_openface_per_image(tmp_path / "of", ["a", "b"])
    plain, _ = read_openface_aus(tmp_path / "of")
    gated, _ = read_openface_aus(tmp_path / "of", presence_gate=True)
    both = np.concatenate([au_values(0), au_values(1)])
    assert (both <= 1).any() and (both > 1).any()          # the fixture has absent and present AUs
    for i, name in enumerate(["a", "b"]):
        vals = au_values(i)
        np.testing.assert_allclose(gated[name].au, np.where(vals > 1, vals, 0.0), atol=1e-4)
        np.testing.assert_allclose(plain[name].au, vals, atol=1e-4)
    csv_path = tmp_path / "of" / "a.csv"
    header, row = (line.split(", ") for line in csv_path.read_text().splitlines())
    keep = [k for k, h in enumerate(header) if h != "AU12_c"]
    csv_path.write_text(", ".join(header[k] for k in keep) + "\n" + ", ".join(row[k] for k in keep) + "\n")
    with pytest.raises(DataError, match="a.csv: no presence column for AU12_c"):
        read_openface_aus(tmp_path / "of", presence_gate=True)


def test_identities_csv_accepts_file_names(tmp_path):
    (tmp_path / "ids.csv").write_text("name,identity\nimg.v2.jpg,p1\nother,p2\n")
    assert read_identities(tmp_path / "ids.csv") == {"img": "p1", "other": "p2"}


def test_fixed_displacement_that_is_a_png(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "fixed_displacement_256.png")
    with pytest.raises(DataError, match=r"expected DECA's data/fixed_displacement_256.npy \(a .npy array of "
                                        r"256x256 floats, metres\), got a .png file") as info:
        read_fixed_displacement(tmp_path / "fixed_displacement_256.png")
    assert "pickle" not in str(info.value)
