import numpy as np
import pytest

from aucgan.layout.landmarks import validate_landmarks
from aucgan.photo.landmarks import MP_TO_IBUG68, NoFaceError, PhotoError, as_rgb_uint8

pytest.importorskip("mediapipe", reason="photo extra not installed: pip install 'aucgan[photo]'")
pytest.importorskip("skimage.data", reason="photo extra not installed: pip install 'aucgan[photo]'")


def test_mapping_is_68_distinct_mesh_vertices():
    assert len(MP_TO_IBUG68) == 68 and len(set(MP_TO_IBUG68)) == 68 and max(MP_TO_IBUG68) < 468


def test_astronaut_face_found_with_a_plausible_ibug_subset(astronaut_face):
    face = astronaut_face
    assert face.mesh.shape == (478, 3) and face.score > 0.8 and face.faces_found == 1
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face, not the flag or the helmet
    pts = face.ibug68
    assert ((pts >= [x0 - 20, y0 - 40]) & (pts <= [x1 + 20, y1 + 20])).all()
    unit = (pts - pts.min(axis=0)) / np.ptp(pts, axis=0).max()
    validate_landmarks(unit.astype(np.float32))  # brows above eyes, eyes above nose, mouth above chin ...
    assert 40 < face.face_size < 90


@pytest.mark.parametrize("kind", ["flat", "noise"])
def test_no_face_is_a_clear_error(detector, kind):
    rng = np.random.default_rng(0)
    img = np.full((160, 160, 3), 128, np.uint8) if kind == "flat" else rng.integers(0, 256, (160, 160, 3), np.uint8)
    with pytest.raises(NoFaceError, match="synthetic.png: no face"):
        detector.detect(img, where="synthetic.png")


@pytest.mark.parametrize("big_on_the_right", [True, False])
def test_largest_face_is_chosen(astronaut, detector, big_on_the_right):
    from PIL import Image

    crop = astronaut[30:330, 80:380]                                  # her head, face ~100 px wide
    small = np.asarray(Image.fromarray(crop).resize((200, 200)))     # the same head at 2/3 size
    canvas = np.full((400, 800, 3), 180, np.uint8)
    big_x, small_x = (450, 60) if big_on_the_right else (50, 540)
    canvas[50:350, big_x:big_x + 300] = crop
    canvas[100:300, small_x:small_x + 200] = small
    face = detector.detect(canvas)
    assert face.faces_found == 2
    assert big_x < face.box[0] < big_x + 300 and face.face_size > 50


def test_tiny_or_malformed_images_are_refused(detector):
    with pytest.raises(PhotoError, match="at least 32 px"):
        detector.detect(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(PhotoError, match="RGB image"):
        as_rgb_uint8(np.zeros((4, 5, 6, 7)))
