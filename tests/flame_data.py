"""A tiny stand-in for DECA's data/ folder, written by the tests (DECA's own files are never shipped).

Same layout as DECA's files: ``head_template.obj`` (``mtllib template.mtl`` header, ``v``/``vt``/``vn`` lines,
``f v/vt/vn`` triangles), ``landmark_embedding.npy`` (an ``np.save``'d dict mixing numpy arrays and torch
tensors, as DECA's) and ``uv_face_eye_mask.png`` (RGBA, the mask in channel 0). The OBJ is built so that
each landmark's face and barycentric weights land exactly on a known UV: :func:`flame_like_landmarks`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aucgan.layout.landmarks import canonical_layout

MASK_SIZE = 128


def flame_like_landmarks() -> np.ndarray:
    """68 landmarks (layout coordinates) laid out as a smaller face in the middle of a UV square."""
    lm = canonical_layout().landmarks.astype(np.float64)
    return np.stack([0.5 + 0.55 * (lm[:, 0] - 0.5), 0.2 + 0.55 * lm[:, 1]], axis=1)


def mask_image(landmarks: np.ndarray, size: int = MASK_SIZE) -> np.ndarray:
    """(size, size) uint8: an ellipse over the face that stops a little above the brows (as DECA's mask stops
    below the hairline), so the default forehead arc of the atlas reaches above it."""
    jaw = landmarks[:17]
    top = landmarks[17:27, 1].min() - 0.45 * (landmarks[30, 1] - landmarks[27, 1])
    bottom = jaw[:, 1].max() + 0.02
    cx, cy = 0.5 * (jaw[0, 0] + jaw[16, 0]), 0.5 * (top + bottom)
    rx, ry = 0.5 * (jaw[16, 0] - jaw[0, 0]) + 0.03, 0.5 * (bottom - top)
    c = (np.arange(size) + 0.5) / size
    y, x = np.meshgrid(c, c, indexing="ij")
    return np.where(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0, 255, 0).astype(np.uint8)


def obj_text(landmarks: np.ndarray, faces_idx: np.ndarray, bary: np.ndarray, extra_faces: int = 40,
             seed: int = 0) -> str:
    """An OBJ whose face ``faces_idx[i]`` with weights ``bary[i]`` has UV (x, 1 - y) of landmark i."""
    rng = np.random.default_rng(seed)
    n_faces = len(landmarks) + extra_faces
    uv_of_face: dict[int, np.ndarray] = {}
    for i, (x, y) in enumerate(landmarks):
        target = np.array([x, 1.0 - y])
        d = rng.uniform(-0.01, 0.01, size=(2, 2))
        d2 = -(bary[i, 0] * d[0] + bary[i, 1] * d[1]) / bary[i, 2]
        uv_of_face[int(faces_idx[i])] = target + np.stack([d[0], d[1], d2])
    lines = ["# FLAME-like template written by the aucgan tests", "mtllib template.mtl", "o head", "s off"]
    vts: list[np.ndarray] = []
    face_lines = []
    for f in range(n_faces):
        corners = uv_of_face.get(f, rng.uniform(0.0, 1.0, size=(3, 2)))
        base = len(vts)
        vts += list(corners)
        face_lines.append(f"f {3 * f + 1}/{base + 1}/1 {3 * f + 2}/{base + 2}/1 {3 * f + 3}/{base + 3}/1")
    lines += [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in rng.normal(size=(3 * n_faces, 3))]
    lines += [f"vt {u:.17g} {v:.17g}" for u, v in vts]
    lines += ["vn 0 0 1", "usemtl material_0"] + face_lines
    return "\n".join(lines) + "\n"


def write_deca_data(folder: Path, seed: int = 0, faces_as_tensor: bool = True) -> np.ndarray:
    """Write the three files into ``folder``; return the landmarks (68, 2) the layout must come out with."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    landmarks = flame_like_landmarks()
    faces_idx = rng.permutation(68 + 40)[:68]
    bary = rng.uniform(0.2, 1.0, size=(68, 3))
    bary /= bary.sum(axis=1, keepdims=True)
    (folder / "head_template.obj").write_text(obj_text(landmarks, faces_idx, bary, seed=seed))
    faces = torch.as_tensor(faces_idx[None], dtype=torch.int64) if faces_as_tensor else faces_idx[None]
    embedding = {
        "static_lmk_faces_idx": faces_idx[17:],
        "static_lmk_bary_coords": bary[17:],
        "dynamic_lmk_faces_idx": torch.as_tensor(rng.integers(0, 68, size=(4, 17))),
        "dynamic_lmk_bary_coords": torch.rand(4, 17, 3, generator=torch.Generator().manual_seed(seed)),
        "full_lmk_faces_idx": faces,
        "full_lmk_bary_coords": bary[None],
    }
    np.save(folder / "landmark_embedding.npy", embedding, allow_pickle=True)
    grey = mask_image(landmarks)
    rgba = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)
    Image.fromarray(rgba).save(folder / "uv_face_eye_mask.png")
    return landmarks.astype(np.float32)
