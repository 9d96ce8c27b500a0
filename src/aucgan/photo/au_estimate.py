"""An approximate AU estimate from landmark geometry, for photos without AU labels.

**Approximate by design.** It measures a few distances on the 68 iBUG landmarks after a similarity alignment to
the layout's landmarks (so head size, in-plane rotation and position cancel) and compares them with the
layout's own neutral face; a change of a fixed fraction of the inter-ocular distance counts as intensity 5.
It knows nothing of wrinkles, texture or a person's resting face (a wide mouth reads as lip stretch), and head
rotation out of the image plane biases it. Use it to pick sensible source AUs for an edit and to check that
an edit moved the right landmarks (:func:`score_edit`), not as a FACS coder.

Measured (full-scale change in inter-ocular distances in brackets):

- AU01 inner / AU02 outer brow raise: brow height above the eye (0.15); AU04 brow lowerer: brows lowered (0.10)
- AU05 upper lid raiser / AU45 blink: eye aperture widened (0.06) / closed (aperture 0 = 5)
- AU12 lip corner puller / AU15 depressor: mouth corners above / below the lip centre line (0.10)
- AU20 lip stretcher: mouth width (0.25); AU25 lips part: gap between the inner lips (0.12)
- AU26 jaw drop: nose-to-chin length (0.35)
"""

from __future__ import annotations

import numpy as np

from aucgan.au import AU_MAX, AU_MIN
from aucgan.layout.landmarks import Layout, canonical_layout

ESTIMATED_AUS: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU05", "AU12", "AU15", "AU20", "AU25", "AU26", "AU45")
_ALIGN = [27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45]  # eye corners and nose: little expression movement
FULL_SCALE = {"AU01": 0.15, "AU02": 0.15, "AU04": 0.10, "AU05": 0.06, "AU12": 0.10, "AU15": 0.10,
              "AU20": 0.25, "AU25": 0.12, "AU26": 0.35}


def align_to_layout(points: np.ndarray, layout: Layout | None = None) -> np.ndarray:
    """Similarity-align (68, 2) landmarks (any units) to the layout's landmarks on stable points."""
    target = (layout or canonical_layout()).landmarks.astype(np.float64)
    src = np.asarray(points, np.float64)
    a, b = src[_ALIGN], target[_ALIGN]
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ac, bc = a - ma, b - mb
    u, s, vt = np.linalg.svd(ac.T @ bc)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    scale = (s * [1.0, d]).sum() / (ac**2).sum()
    return (src - ma) @ rot * scale + mb


def _features(p: np.ndarray) -> dict[str, float]:
    iod = float(np.linalg.norm(p[45] - p[36]))
    eye_top = 0.5 * (p[[37, 38], 1].mean() + p[[43, 44], 1].mean())
    aperture = np.mean([p[41, 1] - p[37, 1], p[40, 1] - p[38, 1], p[47, 1] - p[43, 1], p[46, 1] - p[44, 1]])
    lip_mid = 0.5 * (p[[61, 62, 63], 1].mean() + p[[65, 66, 67], 1].mean())
    return {
        "inner_brow": (eye_top - p[[20, 21, 22, 23], 1].mean()) / iod,
        "outer_brow": (eye_top - p[[17, 18, 25, 26], 1].mean()) / iod,
        "aperture": aperture / iod,
        "corner_lift": (lip_mid - p[[48, 54], 1].mean()) / iod,
        "mouth_width": (p[54, 0] - p[48, 0]) / iod,
        "lip_gap": max(0.0, p[[65, 66, 67], 1].mean() - p[[61, 62, 63], 1].mean()) / iod,
        "jaw": (p[8, 1] - p[33, 1]) / iod,
    }


def estimate_aus(landmarks: np.ndarray, layout: Layout | None = None) -> dict[str, float]:
    """Approximate intensities 0..5 of :data:`ESTIMATED_AUS` from (68, 2) iBUG landmarks (pixels or units)."""
    layout = layout or canonical_layout()
    f = _features(align_to_layout(landmarks, layout))
    n = _features(layout.landmarks.astype(np.float64))

    def scaled(delta: float, au: str) -> float:
        return float(np.clip(AU_MAX * delta / FULL_SCALE[au], AU_MIN, AU_MAX))

    brow = 0.5 * ((f["inner_brow"] - n["inner_brow"]) + (f["outer_brow"] - n["outer_brow"]))
    return {
        "AU01": scaled(f["inner_brow"] - n["inner_brow"], "AU01"),
        "AU02": scaled(f["outer_brow"] - n["outer_brow"], "AU02"),
        "AU04": scaled(-brow, "AU04"),
        "AU05": scaled(f["aperture"] - n["aperture"], "AU05"),
        "AU12": scaled(f["corner_lift"] - n["corner_lift"], "AU12"),
        "AU15": scaled(n["corner_lift"] - f["corner_lift"], "AU15"),
        "AU20": scaled(f["mouth_width"] - n["mouth_width"], "AU20"),
        "AU25": scaled(f["lip_gap"] - n["lip_gap"], "AU25"),
        "AU26": scaled(f["jaw"] - n["jaw"], "AU26"),
        "AU45": float(np.clip(AU_MAX * (1.0 - f["aperture"] / n["aperture"]), AU_MIN, AU_MAX)),
    }


def score_edit(before: np.ndarray, after: np.ndarray, layout: Layout | None = None) -> dict[str, float]:
    """Estimated AU change (after - before) between the landmarks of a photo and of its edit."""
    a, b = estimate_aus(before, layout), estimate_aus(after, layout)
    return {k: round(b[k] - a[k], 3) for k in a}
