import numpy as np
import pytest
import torch

from aucgan.layout.landmarks import canonical_layout
from aucgan.photo.landmarks import MP_TO_IBUG68
from aucgan.photo.mesh import derive_frontal_mesh, load_frontal_mesh, mesh_layout
from aucgan.photo.warp import PhotoWarp

pytest.importorskip("mediapipe", reason="photo extra not installed: pip install 'aucgan[photo]'")
pytest.importorskip("skimage.data", reason="photo extra not installed: pip install 'aucgan[photo]'")


def _photo(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255.0


def test_committed_frontal_mesh_is_what_the_script_derives():
    derived, info = derive_frontal_mesh()
    assert info["source"] == "skimage.data.astronaut()"
    np.testing.assert_allclose(load_frontal_mesh(), derived, atol=2e-3)


def test_mesh_layout_puts_the_ibug_subset_on_the_layout_landmarks():
    m = mesh_layout()
    np.testing.assert_allclose(m.vertices[list(MP_TO_IBUG68)], canonical_layout().landmarks, atol=1e-6)
    assert ((m.vertices > -0.05) & (m.vertices < 1.05)).all()
    assert m.triangles.shape[1] == 3 and len(m.triangles) > 800


def test_unwrap_rewarp_round_trip_on_a_real_photo(astronaut, astronaut_face):
    photo = _photo(astronaut)
    warp = PhotoWarp(128)
    tex, vis = warp.unwrap(photo, astronaut_face)
    assert tex.shape == (3, 128, 128) and vis.shape == (1, 128, 128)
    assert 0.35 < float((vis > 0).float().mean()) < 0.7
    back, cover = warp.rewarp(tex, astronaut_face, vis)
    inside = cover[0] > 0.99
    assert int(inside.sum()) > 4000                                   # most of her face
    err = (back - photo).abs().mean(dim=0)[inside].mean()
    assert float(err) < 0.03, float(err)
    outside = cover[0] == 0
    assert float(back[:, outside].abs().max()) == 0.0


def test_layout_landmarks_where_expected(astronaut, astronaut_face, detector):
    """The face mesh run again on the unwrapped texture finds her landmarks at the layout's landmarks."""
    warp = PhotoWarp(256)
    tex, vis = warp.unwrap(_photo(astronaut), astronaut_face)
    canvas = torch.full((3, 512, 512), 0.5)
    canvas[:, 128:384, 128:384] = torch.where(vis > 0, tex, torch.full_like(tex, 0.5))
    again = detector.detect(canvas, where="unwrapped texture")
    found = (again.ibug68 - 128.0) / 256.0
    expected = canonical_layout().landmarks
    core = list(range(17, 68))  # brows, nose, eyes, mouth (the jaw line is a guess on any detector)
    assert float(np.linalg.norm(found[core] - expected[core], axis=1).mean()) < 0.03


def test_paste_back_of_the_unchanged_texture_leaves_the_photo(astronaut, astronaut_face):
    photo = _photo(astronaut)
    warp = PhotoWarp(128)
    tex, vis = warp.unwrap(photo, astronaut_face)
    same = warp.paste_back(photo, tex, astronaut_face, source_texture=tex, valid=vis)
    assert torch.equal(same, photo.clamp(0, 1))
    brighter = warp.paste_back(photo, (tex + 0.2).clamp(0, 1), astronaut_face, source_texture=tex, valid=vis)
    changed = (brighter - photo).abs().amax(dim=0) > 0.05
    ys, xs = torch.nonzero(changed, as_tuple=True)
    x0, y0, x1, y1 = astronaut_face.box
    assert changed.sum() > 3000 and xs.min() > x0 - 30 and xs.max() < x1 + 30 and ys.max() < y1 + 30
