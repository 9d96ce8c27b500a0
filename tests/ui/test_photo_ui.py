"""Photos in the editor (needs the photo extra: MediaPipe): unwrap, edit, paste back; no face is a message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aucgan.au import au_indices
from aucgan.ui import UIError
from aucgan.ui.views import PHOTO_VIEW_HEIGHT

pytest.importorskip("mediapipe", reason="the photo extra is not installed (pip install 'aucgan[photo]')")
skimage_data = pytest.importorskip("skimage.data")


def test_photo_is_edited_and_pasted_back(ui_session, tmp_path):
    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    assert ui_session.sources.photo_unavailable() is None
    src = ui_session.sources.load_photo(path)
    assert src.photo is not None and src.maps["albedo"].shape == (3, 32, 32) and src.label == "photo astronaut.png"
    same = ui_session.update(src, list(src.au))
    target = src.au.copy()
    k = au_indices(["AU01"])[0]
    target[k] = 5.0 if target[k] < 2.5 else 0.0
    moved = ui_session.update(src, list(target))
    assert same.images["photo"].shape[0] == PHOTO_VIEW_HEIGHT and same.images["photo"].dtype == np.uint8
    assert not np.array_equal(same.images["photo"], moved.images["photo"])


def test_photo_without_a_face_or_not_an_image(ui_session, tmp_path):
    grey = tmp_path / "wall.png"
    Image.new("RGB", (256, 256), (128, 128, 128)).save(grey)
    with pytest.raises(UIError, match="face"):
        ui_session.sources.load_photo(grey)
    text = tmp_path / "notes.png"
    text.write_text("not a photo")
    with pytest.raises(UIError, match="notes.png: not an image"):
        ui_session.sources.load_photo(text)
