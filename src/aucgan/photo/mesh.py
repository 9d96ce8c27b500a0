"""Canonical layout positions for every face-mesh vertex, and the triangles the warps use.

aucgan derives these itself, in two steps:

1. **Frontal mesh** (:func:`derive_frontal_mesh`, run once by ``python -m aucgan.photo.mesh``): the 468-vertex
   face mesh of a real photo (scikit-image's ``astronaut``) rotated to face the camera (x along the eye and
   mouth corners, y from forehead to chin, z towards the back of the head) and scaled to unit inter-ocular
   distance. The result is committed as ``photo/data/frontal_mesh.json`` (12 KB) with the script's name, the
   MediaPipe version and the photo it came from.
2. **Layout positions** (:func:`mesh_layout`, at run time): a thin-plate spline (``scipy.interpolate.
   RBFInterpolator``) fitted so the frontal mesh's 68 iBUG vertices (:data:`~aucgan.photo.landmarks.
   MP_TO_IBUG68`) land exactly on the layout's landmarks maps all 468 vertices into the layout. The
   triangles are the Delaunay triangulation of those layout positions, so they tile the layout without overlap
   (mouth and eye openings included); a photo's warp is affine inside each triangle.

Because the iBUG subset lands on the layout's landmarks, the region atlas, the AU footprints and models trained
on the synthetic benchmark apply to unwrapped photo textures unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.interpolate import RBFInterpolator
from scipy.spatial import Delaunay

from aucgan.layout.landmarks import Layout, canonical_layout
from aucgan.photo.landmarks import MP_TO_IBUG68, NUM_MESH, PhotoError

FRONTAL_MESH_FILE = Path(__file__).resolve().parent / "data" / "frontal_mesh.json"

# Symmetric landmark pairs that fix the frontal frame: outer eye corners and mouth corners (left, right).
_X_PAIRS = ((33, 263), (133, 362), (61, 291), (234, 454))
_TOP, _CHIN = 10, 152


def frontalise(mesh: np.ndarray) -> np.ndarray:
    """Rotate a (N, 3) mesh (x right, y down, z away from the camera) to face the camera; unit eye distance.

    Returns (N, 3) float64 centred on the vertex mean, with the outer eye corners 1 apart.
    """
    p = np.asarray(mesh, np.float64)[:, :3]
    ex = sum(p[r] - p[left] for left, r in _X_PAIRS)
    ex /= np.linalg.norm(ex)
    down = p[_CHIN] - p[_TOP]
    ey = down - down.dot(ex) * ex
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    q = (p - p.mean(axis=0)) @ np.stack([ex, ey, ez]).T
    eye = np.linalg.norm(q[263, :2] - q[33, :2])
    return q / eye


def derive_frontal_mesh() -> tuple[np.ndarray, dict]:
    """The frontal 468-vertex mesh of scikit-image's ``astronaut`` photo and a provenance record."""
    try:
        import skimage
        import skimage.data
    except ImportError:
        raise PhotoError("deriving the frontal mesh needs scikit-image (pip install 'aucgan[photo]')") from None
    from aucgan.photo.landmarks import FaceMeshDetector, _import_mediapipe

    with FaceMeshDetector() as det:
        face = det.detect(skimage.data.astronaut(), where="skimage.data.astronaut()")
    info = {"source": "skimage.data.astronaut()", "scikit-image": skimage.__version__,
            "mediapipe": _import_mediapipe().__version__, "script": "python -m aucgan.photo.mesh",
            "frame": "x: eye/mouth corners, y: forehead (10) to chin (152), unit outer-eye-corner distance"}
    return frontalise(face.mesh[:NUM_MESH]).astype(np.float32), info


def write_frontal_mesh(path: str | Path = FRONTAL_MESH_FILE) -> Path:
    """Derive the frontal mesh and write it as JSON (5 decimals; about 12 KB)."""
    verts, info = derive_frontal_mesh()
    data = {**info, "vertices": [[round(float(v), 5) for v in row] for row in verts]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")))
    return path


@lru_cache(maxsize=1)
def load_frontal_mesh() -> np.ndarray:
    """(468, 3) float32 frontal mesh from ``photo/data/frontal_mesh.json``."""
    try:
        data = json.loads(FRONTAL_MESH_FILE.read_text())
        verts = np.asarray(data["vertices"], np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise PhotoError(f"{FRONTAL_MESH_FILE}: unreadable frontal mesh ({exc}); re-create it with "
                         "`python -m aucgan.photo.mesh`") from None
    if verts.shape != (NUM_MESH, 3):
        raise PhotoError(f"{FRONTAL_MESH_FILE}: expected {NUM_MESH} (x, y, z) vertices, got {verts.shape}")
    return verts


@dataclass(frozen=True, eq=False)
class MeshLayout:
    """Mesh vertices in a layout (0..1) and the triangles over them."""

    layout: Layout
    vertices: np.ndarray = field(repr=False)    # (468, 2) float64, layout coordinates 0..1
    triangles: np.ndarray = field(repr=False)   # (T, 3) int64 vertex indices, counter-clockwise in layout
    delaunay: Delaunay = field(repr=False)


def _fit_vertices(layout: Layout) -> np.ndarray:
    frontal = load_frontal_mesh()[:, :2].astype(np.float64)
    src = frontal[list(MP_TO_IBUG68)]
    tps = RBFInterpolator(src, layout.landmarks.astype(np.float64), kernel="thin_plate_spline", smoothing=0.0)
    out = tps(frontal)
    out[list(MP_TO_IBUG68)] = layout.landmarks  # exact (the spline interpolates; this removes round-off)
    return out


_CACHE: dict[bytes, MeshLayout] = {}


def mesh_layout(layout: Layout | None = None) -> MeshLayout:
    """Mesh vertex positions in ``layout`` (default: the canonical layout) and their Delaunay triangles."""
    layout = layout or canonical_layout()
    key = layout.landmarks.tobytes()
    if key not in _CACHE:
        verts = _fit_vertices(layout)
        tri = Delaunay(verts)
        _CACHE[key] = MeshLayout(layout, verts, tri.simplices.astype(np.int64), tri)
    return _CACHE[key]


def main() -> None:
    """Re-derive ``photo/data/frontal_mesh.json`` (needs the photo extra)."""
    path = write_frontal_mesh()
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
