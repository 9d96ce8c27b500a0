import json

import numpy as np
import pytest

from aucgan.layout.landmarks import (
    Layout,
    LayoutError,
    LayoutVariation,
    canonical_layout,
    load_layout,
    vary_layout,
)


def test_canonical_layout_is_valid_and_round_trips(tmp_path):
    lay = canonical_layout(64)
    path = tmp_path / "layout.json"
    lay.save(path)
    back = load_layout(path)
    np.testing.assert_allclose(back.landmarks, lay.landmarks, atol=1e-6)
    assert back.size == (64, 64) and back.name == lay.name
    poly = lay.face_polygon()
    assert poly.shape[1] == 2 and poly[:, 1].min() < lay.landmarks[17:27, 1].min()


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "layout.json"
    canonical_layout(64).save(path)
    before = path.read_text()

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        canonical_layout(32).save(path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["layout.json"]


def test_variation_moves_features():
    base = canonical_layout()
    var = vary_layout(base, LayoutVariation(eye_distance=0.02, mouth_width=1.2, offset=(0.01, 0.0)))
    eye_l_base, eye_l_var = base.landmarks[36:42, 0].mean(), var.landmarks[36:42, 0].mean()
    assert eye_l_var == pytest.approx(eye_l_base - 0.02 + 0.01, abs=1e-5)
    mouth_w = lambda p: p[54, 0] - p[48, 0]  # noqa: E731
    assert mouth_w(var.landmarks) == pytest.approx(1.2 * mouth_w(base.landmarks), rel=1e-4)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d.pop("landmarks"), "missing field 'landmarks'"),
    (lambda d: d.update(landmarks=d["landmarks"][:60]), "expected 68"),
    (lambda d: d["landmarks"].__setitem__(5, [1.5, 0.2]), "landmark 5"),
    (lambda d: d.update(landmarks=[[x, 1 - y] for x, y in d["landmarks"]]), "above"),
    (lambda d: d.update(convention="mediapipe"), "convention"),
])
def test_bad_layout_files_name_the_problem(tmp_path, mutate, fragment):
    data = canonical_layout().to_json()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LayoutError, match=fragment) as info:
        load_layout(path)
    assert str(path) in str(info.value)


def test_unreadable_layout(tmp_path):
    with pytest.raises(LayoutError, match="no such layout"):
        load_layout(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(LayoutError, match="not a readable JSON"):
        load_layout(tmp_path / "x.json")


def test_layout_rejects_nan():
    pts = canonical_layout().landmarks.copy()
    pts[3, 0] = np.nan
    with pytest.raises(LayoutError, match="landmark 3 is not finite"):
        Layout("x", pts)
