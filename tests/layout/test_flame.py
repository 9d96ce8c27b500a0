"""FLAME UV layouts from a DECA data/ folder (tiny fixtures of DECA's file layout), and masked footprints."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from aucgan.au import AU_NAMES
from aucgan.layout.atlas import RegionAtlas, au_footprints
from aucgan.layout.flame import (
    FLAME_IDENTITY_JITTER,
    FlameError,
    landmark_uv,
    read_flame_layout,
    read_obj_uv,
)
from aucgan.layout.landmarks import (
    Layout,
    LayoutError,
    LayoutVariation,
    canonical_layout,
    load_layout,
    vary_layout,
)

from tests.flame_data import MASK_SIZE, write_deca_data


@pytest.fixture()
def deca(tmp_path):
    folder = tmp_path / "data"
    return folder, write_deca_data(folder)


def test_layout_from_deca_files_has_the_landmark_uvs_and_the_mask(deca):
    folder, expected = deca
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # no template.mtl or TypedStorage warnings
        layout = read_flame_layout(folder)
    np.testing.assert_allclose(layout.landmarks, expected, atol=1e-6)
    grey = np.asarray(Image.open(folder / "uv_face_eye_mask.png"))[..., 0]
    np.testing.assert_array_equal(layout.mask_image, grey.astype(np.float32) / 255.0)
    assert layout.size == (MASK_SIZE, MASK_SIZE) and layout.identity_jitter == FLAME_IDENTITY_JITTER
    assert read_flame_layout(folder, mask=None).mask_image is None


def test_landmark_uv_is_the_barycentric_sum_of_the_face_corners(deca):
    folder, _ = deca
    mesh = read_obj_uv(folder / "head_template.obj")
    faces = np.array([0, 5, 7] + [1] * 65)
    bary = np.tile([0.2, 0.3, 0.5], (68, 1))
    uv = landmark_uv(mesh, faces, bary)
    np.testing.assert_allclose(uv[1], bary[1] @ mesh.vt[mesh.face_vt[5]])
    assert mesh.face_vt.shape == (108, 3) and mesh.num_vertices == 324


def test_plain_numpy_face_indices_also_load(tmp_path):
    expected = write_deca_data(tmp_path / "data", seed=3, faces_as_tensor=False)
    np.testing.assert_allclose(read_flame_layout(tmp_path / "data").landmarks, expected, atol=1e-6)


def test_layout_json_round_trips_the_mask_exactly(deca, tmp_path):
    layout = read_flame_layout(deca[0])
    path = tmp_path / "flame.json"
    path.write_text(json.dumps(layout.to_json()))
    back = load_layout(path)
    np.testing.assert_allclose(back.landmarks, layout.landmarks, atol=1e-6)   # JSON keeps 6 decimals
    np.testing.assert_array_equal(back.mask_image, layout.mask_image)
    path.write_text(json.dumps(back.to_json()))
    assert load_layout(path) == back                    # and a loaded layout round-trips exactly
    assert len(path.read_text()) < 20_000               # the mask is a compact PNG, not a pixel list
    varied = vary_layout(back, LayoutVariation(offset=(0.01, 0.0)))
    assert varied.mask_image is back.mask_image and varied != back


def test_old_layout_json_without_the_new_fields_still_loads(tmp_path):
    data = canonical_layout(64).to_json()
    assert "mask_image" not in data and "identity_jitter" not in data
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    old = load_layout(path)
    assert old.mask_image is None and old.identity_jitter is None and old.mask_at((32, 32)) is None


def test_malformed_mask_image_fields_are_named(tmp_path):
    data = canonical_layout(64).to_json()
    path = tmp_path / "bad.json"
    for bad, message in [({"format": "raw"}, "must be"), ({"format": "png-base64", "data": "@@@"}, "not a readable"),
                         ({"format": "png-base64", "size": [3, 3], "data": _png_b64(np.zeros((8, 8), np.uint8) + 9)},
                          "says size")]:
        path.write_text(json.dumps({**data, "mask_image": bad}))
        with pytest.raises(LayoutError, match=re.escape(str(path)) + ".*" + message):
            load_layout(path)
    path.write_text(json.dumps({**data, "mask_image": {"format": "png-base64", "size": [8, 8],
                                                       "data": _png_b64(np.zeros((8, 8), np.uint8))}}))
    with pytest.raises(LayoutError, match="empty"):
        load_layout(path)


def _png_b64(arr: np.ndarray) -> str:
    import base64
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# ---------------------------------------------------------------------------------------------- errors

def _rewrite_obj(folder, transform):
    obj = folder / "head_template.obj"
    obj.write_text(transform(obj.read_text()))


@pytest.mark.parametrize("name", ["head_template.obj", "landmark_embedding.npy", "uv_face_eye_mask.png"])
def test_missing_files_are_named(deca, name):
    folder, _ = deca
    (folder / name).unlink()
    with pytest.raises(FlameError, match=re.escape(str(folder / name)) + ": no such file"):
        read_flame_layout(folder)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FlameError, match="no such folder"):
        read_flame_layout(tmp_path / "nowhere")


def test_obj_without_uvs_is_refused(deca):
    folder, _ = deca
    _rewrite_obj(folder, lambda t: re.sub(r"(f| )(\d+)/\d+/(\d+)", r"\1\2//\3", t))
    with pytest.raises(FlameError, match="no texture index.*the OBJ has no UVs"):
        read_flame_layout(folder)
    _rewrite_obj(folder, lambda t: "\n".join(x for x in t.splitlines() if not x.startswith(("vt", "f "))) + "\n")
    with pytest.raises(FlameError, match="no 'vt' lines"):
        read_flame_layout(folder)


def test_non_triangular_face_is_refused_with_its_line(deca):
    folder, _ = deca
    _rewrite_obj(folder, lambda t: t.replace("/1\n", "/1 1/1/1\n", 1))
    with pytest.raises(FlameError, match=r"line \d+: face with 4 corners"):
        read_flame_layout(folder)


def test_texture_index_out_of_range_is_refused(deca):
    folder, _ = deca
    _rewrite_obj(folder, lambda t: t.replace("f 1/1/1", "f 1/99999/1", 1))
    with pytest.raises(FlameError, match="texture index 99999 is out of range"):
        read_flame_layout(folder)


def _rewrite_embedding(folder, change):
    path = folder / "landmark_embedding.npy"
    from aucgan.data.safe_pickle import load_npy

    data = load_npy(path, allow_torch=True)
    change(data)
    np.save(path, data, allow_pickle=True)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("full_lmk_bary_coords"), "missing key.*full_lmk_bary_coords"),
    (lambda d: d.update(full_lmk_faces_idx=torch.zeros(1, 51, dtype=torch.int64)), r"shape .*\(1, 51\).*\(1, 68\)"),
    (lambda d: d.update(full_lmk_bary_coords=np.ones((1, 68, 2))), r"shape .*expected \(1, 68, 3\)"),
    (lambda d: d.update(full_lmk_bary_coords=np.ones((1, 68, 3))), "sum to 3.0000, expected 1"),
    (lambda d: d.update(full_lmk_faces_idx=torch.full((1, 68), 500, dtype=torch.int64)),
     "landmark 0 names face 500, but the OBJ has 108 faces"),
    (lambda d: d.update(full_lmk_faces_idx=np.zeros((1, 68))), "expected integer face indices"),
    (lambda d: d.update(full_lmk_faces_idx=[0] * 68), "is a list, expected an array"),
])
def test_malformed_embedding_is_named(deca, change, message):
    folder, _ = deca
    _rewrite_embedding(folder, change)
    with pytest.raises(FlameError, match=message) as err:
        read_flame_layout(folder)
    assert "landmark_embedding.npy" in str(err.value)


def test_embedding_that_is_not_a_dict_or_names_other_globals_is_refused(deca):
    folder, _ = deca
    path = folder / "landmark_embedding.npy"
    np.save(path, np.zeros((1, 68)))
    with pytest.raises(FlameError, match="expected a pickled dict"):
        read_flame_layout(folder)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    np.save(path, {"full_lmk_faces_idx": Evil()}, allow_pickle=True)
    with pytest.raises(FlameError, match="refused to unpickle global"):
        read_flame_layout(folder)


def test_bad_masks_are_refused(deca):
    folder, _ = deca
    Image.fromarray(np.zeros((16, 16, 4), np.uint8)).save(folder / "uv_face_eye_mask.png")
    with pytest.raises(FlameError, match="all 0"):
        read_flame_layout(folder)
    Image.fromarray(np.full((16, 24, 4), 255, np.uint8)).save(folder / "uv_face_eye_mask.png")
    with pytest.raises(FlameError, match="square"):
        read_flame_layout(folder)
    (folder / "uv_face_eye_mask.png").write_bytes(b"not a png")
    with pytest.raises(FlameError, match="not a readable image"):
        read_flame_layout(folder)


def test_uvs_that_do_not_form_a_face_are_named(deca):
    folder, _ = deca
    _rewrite_obj(folder, lambda t: "\n".join(_mirror_vt(x) for x in t.splitlines()) + "\n")
    with pytest.raises(FlameError, match="do not form a face layout.*left eye"):
        read_flame_layout(folder)


def _mirror_vt(line: str) -> str:
    if not line.startswith("vt "):
        return line
    _, u, v = line.split()
    return f"vt {1.0 - float(u)!r} {v}"


# ------------------------------------------------------------------------------------ masked footprints

def test_footprints_are_multiplied_by_the_mask_and_the_forehead_arc_is_cut(deca):
    layout = read_flame_layout(deca[0])
    size = (64, 64)
    mask = layout.mask_at(size)
    bare = au_footprints(layout.landmarks, size, AU_NAMES)[0]
    masked = RegionAtlas(layout).footprints(size)
    torch.testing.assert_close(masked, bare * mask)
    outside = mask == 0
    assert float(masked[:, outside].abs().max()) == 0.0
    au01 = AU_NAMES.index("AU01")
    assert float(bare[au01][outside].sum()) > 0.5            # the forehead arc reaches above the mask ...
    assert float(masked[au01].sum()) > 0.5                   # ... and the masked footprint keeps the rest
    regions = RegionAtlas(layout).regions(size)
    assert float(regions[:, outside].abs().max()) == 0.0
    torch.testing.assert_close(RegionAtlas(layout).face(size)[0], mask)


def test_without_a_mask_footprints_are_bit_identical():
    layout = canonical_layout(32)
    a = RegionAtlas(layout).footprints()
    b = au_footprints(layout.landmarks, (32, 32), AU_NAMES)[0]
    assert torch.equal(a, b)
    assert torch.equal(RegionAtlas(layout).regions(), RegionAtlas(Layout("x", layout.landmarks, (32, 32))).regions())


def test_mask_resizing_keeps_pixel_centres_and_values():
    arr = np.zeros((32, 32), np.float32)
    arr[8:24, 8:24] = 1.0
    layout = Layout("m", canonical_layout().landmarks, (32, 32), mask_image=arr)
    torch.testing.assert_close(layout.mask_at((32, 32)), torch.from_numpy(arr))
    up = layout.mask_at((64, 64))
    assert float(up[17:47, 17:47].min()) == 1.0 and float(up[:15].max()) == 0.0 and float(up[16, 20]) == 0.75
    down = layout.mask_at((16, 16))
    assert float(down[5:11, 5:11].min()) == pytest.approx(1.0) and float(down[0].max()) == 0.0
