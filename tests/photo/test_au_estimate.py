import numpy as np

from aucgan.layout.landmarks import canonical_layout
from aucgan.photo.au_estimate import ESTIMATED_AUS, estimate_aus, score_edit


def test_the_layout_itself_is_neutral_at_any_scale_and_rotation():
    lm = canonical_layout().landmarks.astype(np.float64)
    c, s = np.cos(0.3), np.sin(0.3)
    moved = (lm - 0.5) @ np.array([[c, -s], [s, c]]) * 300 + 250
    est = estimate_aus(moved)
    assert set(est) == set(ESTIMATED_AUS) and max(est.values()) < 1e-3


def test_lifted_mouth_corners_read_as_au12_and_lowered_as_au15():
    lm = canonical_layout().landmarks.copy()
    up, down = lm.copy(), lm.copy()
    up[[48, 54, 60, 64], 1] -= 0.04
    down[[48, 54, 60, 64], 1] += 0.04
    assert estimate_aus(up)["AU12"] > 3 and estimate_aus(up)["AU15"] == 0
    assert estimate_aus(down)["AU15"] > 3 and estimate_aus(down)["AU12"] == 0
    assert score_edit(lm, up)["AU12"] > 3


def test_a_real_smile(astronaut_face):
    est = estimate_aus(astronaut_face.ibug68)
    assert est["AU12"] > 2.5 and est["AU15"] == 0 and est["AU25"] > 1  # broad smile, lips apart
    assert est["AU45"] < 1
