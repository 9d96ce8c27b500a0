"""A face height-field mesh with UVs (OBJ + MTL referencing the exported maps), for the canonical layout.

The synthetic benchmark's layout is a frontal face on a flat UV square, so a simple 3-D face can be made
from its landmarks: a half-ellipsoid over the face oval, a ridge along the nose, plus the displacement
map itself (layout units, the same units as x and y: the mesh spans 1.0 across). Vertices outside the face
mask are dropped. For other layouts (a FLAME/DECA UV, an image crop) this base shape means nothing, so
aucgan exports maps only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write_text
from aucgan.layout.atlas import face_mask

FACE_DEPTH = 0.28      # depth of the half-ellipsoid, in face half-widths
NOSE_HEIGHT = 0.06     # nose ridge height, in layout units


def base_shape(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(height (size, size), mask (size, size) bool) of the base face over a ``size`` grid of vertices."""
    lm = np.asarray(landmarks, np.float64).reshape(68, 2)
    c = (np.arange(size) + 0.5) / size
    y, x = np.meshgrid(c, c, indexing="ij")
    jaw, brows = lm[0:17], lm[17:27]
    cx = 0.5 * (jaw[:, 0].min() + jaw[:, 0].max())
    rx = 0.5 * (jaw[:, 0].max() - jaw[:, 0].min())
    top = brows[:, 1].min() - 0.6 * (lm[30, 1] - brows[:, 1].min())
    cy, ry = 0.5 * (top + jaw[:, 1].max()), 0.5 * (jaw[:, 1].max() - top)
    r2 = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
    height = FACE_DEPTH * rx * np.sqrt(np.clip(1.0 - r2, 0.0, None))
    bridge, tip = lm[27], lm[30]
    t = np.clip(((x - bridge[0]) * (tip[0] - bridge[0]) + (y - bridge[1]) * (tip[1] - bridge[1]))
                / max(float(np.sum((tip - bridge) ** 2)), 1e-9), 0.0, 1.0)
    px, py = bridge[0] + t * (tip[0] - bridge[0]), bridge[1] + t * (tip[1] - bridge[1])
    width = 0.25 * np.linalg.norm(lm[35] - lm[31]) + 1e-6
    height = height + NOSE_HEIGHT * (0.4 + 0.6 * t) * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * width ** 2))
    mask = face_mask(torch.as_tensor(lm, dtype=torch.float32)[None], (size, size))[0, 0].numpy() > 0.5
    return height, mask


def height_field(landmarks: np.ndarray, displacement: torch.Tensor, grid: int = 128,
                 displacement_gain: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (N, 3), UVs (N, 2) and triangles (M, 3) (0-based) of the face height field.

    x = u - 0.5, y = 0.5 - v (up), z = base height + ``displacement_gain`` x displacement (resampled to
    ``grid`` x ``grid`` vertices).
    """
    if displacement.dim() != 3 or displacement.shape[0] != 1:
        raise AucganError(f"displacement must be (1, H, W), got {tuple(displacement.shape)}")
    if grid < 4:
        raise AucganError(f"the mesh grid needs at least 4 vertices a side, got {grid}")
    height, mask = base_shape(landmarks, grid)
    disp = F.interpolate(displacement[None].float(), size=(grid, grid), mode="bilinear",
                         align_corners=False)[0, 0].numpy()
    c = (np.arange(grid) + 0.5) / grid
    v, u = np.meshgrid(c, c, indexing="ij")
    z = height + displacement_gain * disp
    index = -np.ones((grid, grid), np.int64)
    index[mask] = np.arange(int(mask.sum()))
    verts = np.stack([u[mask] - 0.5, 0.5 - v[mask], z[mask]], axis=1)
    uvs = np.stack([u[mask], 1.0 - v[mask]], axis=1)
    a, b = index[:-1, :-1], index[:-1, 1:]
    cc, d = index[1:, :-1], index[1:, 1:]
    quad = (a >= 0) & (b >= 0) & (cc >= 0) & (d >= 0)
    tris = np.concatenate([np.stack([a[quad], cc[quad], b[quad]], 1), np.stack([b[quad], cc[quad], d[quad]], 1)])
    return verts, uvs, tris


def vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (N, 3)."""
    n = np.zeros_like(verts)
    fn = np.cross(verts[tris[:, 1]] - verts[tris[:, 0]], verts[tris[:, 2]] - verts[tris[:, 0]])
    for k in range(3):
        np.add.at(n, tris[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def write_obj(out: str | Path, landmarks: np.ndarray, displacement: torch.Tensor, files: dict[str, str],
              name: str = "face", grid: int = 128, displacement_gain: float = 1.0) -> dict[str, str]:
    """Write ``<name>.obj`` and ``<name>.mtl`` into ``out``; the material uses ``files`` (albedo as the diffuse
    map, the normal map as bump/normal map). Returns the written file names."""
    out = Path(out)
    verts, uvs, tris = height_field(landmarks, displacement, grid, displacement_gain)
    if len(tris) == 0:
        raise AucganError("the face mask left no triangles: are the landmarks those of this layout?")
    normals = vertex_normals(verts, tris)
    lines = ["# aucgan face height field (layout units; x right, y up, z towards the viewer)",
             f"mtllib {name}.mtl", f"o {name}"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"vt {s:.6f} {t:.6f}" for s, t in uvs]
    lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in normals]
    lines += ["usemtl face", "s 1"]
    lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in (tris + 1)]
    mtl = ["newmtl face", "Ka 0 0 0", "Kd 1 1 1", "Ks 0.04 0.04 0.04", "Ns 20", "illum 2"]
    if "albedo" in files:
        mtl.append(f"map_Kd {files['albedo']}")
    if "normal" in files:
        mtl.append(f"norm {files['normal']}")
        mtl.append(f"map_Bump -bm 1.0 {files['normal']}")
    atomic_write_text(out / f"{name}.obj", "\n".join(lines) + "\n")
    atomic_write_text(out / f"{name}.mtl", "\n".join(mtl) + "\n")
    return {"obj": f"{name}.obj", "mtl": f"{name}.mtl"}
