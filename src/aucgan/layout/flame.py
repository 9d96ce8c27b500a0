"""FLAME's UV space as an aucgan layout, read from a user's DECA ``data/`` folder.

FLAME has one topology and fixed per-vertex UVs, so the 68 landmarks sit at the same UV for every person.
DECA's files give them: ``landmark_embedding.npy`` names, per landmark, a face of ``head_template.obj`` and
barycentric weights on it (``full_lmk_faces_idx`` (1, 68), ``full_lmk_bary_coords`` (1, 68, 3)); the face's
three ``vt`` indices give the corners' UVs, and ``uv = sum_j bary[j] * vt[corner_j]``. Layout coordinates
are ``x = u``, ``y = 1 - v`` (DECA's image row is ``(1 - v) * 256``). The face mask is
``uv_face_eye_mask.png``'s channel 0 / 255, the mask DECA multiplies ``uv_z`` by.

DECA's licence forbids redistributing these files: aucgan never ships or downloads them; it reads them from
the user's folder. The embedding is a pickle holding torch tensors: it is read through
:func:`aucgan.data.safe_pickle.load_npy` with ``allow_torch=True``, which runs no code from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aucgan.data.errors import DataError  # layer exception: DECA's files fail as data errors do
from aucgan.layout.landmarks import NUM_LANDMARKS, Layout, LayoutError

OBJ_NAME = "head_template.obj"
EMBEDDING_NAME = "landmark_embedding.npy"
MASK_NAME = "uv_face_eye_mask.png"
FACES_KEY, BARY_KEY = "full_lmk_faces_idx", "full_lmk_bary_coords"
#: Per-identity landmark variation of the synthetic benchmark in FLAME UV, relative to the built-in layout's:
#: landmarks sit at fixed UVs, so only fitting error and anatomy move them (at 256 px, about 1-2 px).
FLAME_IDENTITY_JITTER = 0.25


class FlameError(LayoutError):
    """A DECA data file that is missing or does not have the layout DECA's code reads."""


@dataclass(frozen=True, eq=False)
class UVMesh:
    """The UV part of an OBJ: texture coordinates ``vt`` (T, 2) and each triangle's three ``vt`` indices."""

    vt: np.ndarray          # (T, 2) float64 u, v
    face_vt: np.ndarray     # (F, 3) int64, 0-based
    num_vertices: int


def _index(token: str, count: int, what: str, where: str) -> int:
    """A 1-based OBJ index -> 0-based; a negative one counts back from the ``count`` entries read so far.
    Positive indices are checked against the totals once the whole file is read."""
    try:
        i = int(token)
    except ValueError:
        raise FlameError(f"{where}: {what} index {token!r} is not an integer") from None
    if i == 0 or count + i < 0:
        raise FlameError(f"{where}: {what} index {i} is out of range (OBJ indices start at 1)")
    return i - 1 if i > 0 else count + i


def read_obj_uv(path: str | Path) -> UVMesh:
    """Read ``v``, ``vt`` and triangular ``f v/vt[/vn]`` lines of an OBJ file (other lines, such as the
    ``mtllib template.mtl`` that FLAME's template names but DECA does not ship, are ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise FlameError(f"{path}: no such file (DECA's data/ folder holds {OBJ_NAME})") from None
    except OSError as exc:
        raise FlameError(f"{path}: cannot read ({exc.strerror or exc})") from None
    vt: list[tuple[float, float]] = []
    faces: list[tuple[int, int, int]] = []
    face_lines: list[int] = []
    max_v = -1
    nv = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}: line {line_no}"
        if parts[0] == "v":
            nv += 1
        elif parts[0] == "vt":
            try:
                u, v = float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                raise FlameError(f"{where}: a 'vt' line needs two numbers u v, got {line.strip()!r}") from None
            if not (np.isfinite(u) and np.isfinite(v)):
                raise FlameError(f"{where}: texture coordinate {line.strip()!r} is not finite")
            vt.append((u, v))
        elif parts[0] == "f":
            corners = parts[1:]
            if len(corners) != 3:
                raise FlameError(f"{where}: face with {len(corners)} corners; FLAME's template has only "
                                 "triangles (the landmark embedding indexes triangles)")
            idx = []
            for corner in corners:
                fields = corner.split("/")
                if len(fields) < 2 or not fields[1]:
                    raise FlameError(f"{where}: face corner {corner!r} has no texture index (expected v/vt or "
                                     "v/vt/vn): the OBJ has no UVs")
                max_v = max(max_v, _index(fields[0], nv, "vertex", where))
                idx.append(_index(fields[1], len(vt), "texture", where))
            faces.append((idx[0], idx[1], idx[2]))
            face_lines.append(line_no)
    if not vt:
        raise FlameError(f"{path}: no 'vt' lines: the OBJ has no UVs (expected DECA's {OBJ_NAME})")
    if not faces:
        raise FlameError(f"{path}: no 'f' lines (expected DECA's {OBJ_NAME})")
    face_vt = np.asarray(faces, np.int64)
    if max_v >= nv:
        raise FlameError(f"{path}: a face names vertex {max_v + 1}, but the file has {nv} 'v' lines")
    bad = np.argwhere(face_vt >= len(vt))
    if len(bad):
        f, c = (int(x) for x in bad[0])
        raise FlameError(f"{path}: line {face_lines[f]}: texture index {int(face_vt[f, c]) + 1} is out of range "
                         f"(the file has {len(vt)} 'vt' lines)")
    return UVMesh(vt=np.asarray(vt, np.float64), face_vt=face_vt, num_vertices=nv)


def _as_array(value: object, key: str, path: Path) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise FlameError(f"{path}: entry {key!r} is a {type(value).__name__}, expected an array or a torch tensor")


def read_landmark_embedding(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(faces (68,) int64, barycentric weights (68, 3) float64)`` from DECA's ``landmark_embedding.npy``."""
    from aucgan.data.safe_pickle import load_npy  # layer exception: the one restricted unpickler reads DECA's pickle

    path = Path(path)
    if not path.is_file():
        raise FlameError(f"{path}: no such file (DECA's data/ folder holds {EMBEDDING_NAME})")
    try:
        data = load_npy(path, allow_torch=True)
    except DataError as exc:
        raise FlameError(str(exc)) from None
    if not isinstance(data, dict):
        raise FlameError(f"{path}: expected a pickled dict (np.save of a dict), got {type(data).__name__}")
    missing = [k for k in (FACES_KEY, BARY_KEY) if k not in data]
    if missing:
        found = ", ".join(sorted(map(str, data))) or "none"
        raise FlameError(f"{path}: missing key(s) {', '.join(missing)} (keys found: {found})")
    faces = _as_array(data[FACES_KEY], FACES_KEY, path)
    bary = _as_array(data[BARY_KEY], BARY_KEY, path)
    if faces.shape not in ((1, NUM_LANDMARKS), (NUM_LANDMARKS,)):
        raise FlameError(f"{path}: {FACES_KEY!r} has shape {faces.shape}, expected (1, 68)")
    if bary.shape not in ((1, NUM_LANDMARKS, 3), (NUM_LANDMARKS, 3)):
        raise FlameError(f"{path}: {BARY_KEY!r} has shape {bary.shape}, expected (1, 68, 3)")
    if not np.issubdtype(faces.dtype, np.integer):
        raise FlameError(f"{path}: {FACES_KEY!r} holds {faces.dtype} values, expected integer face indices")
    bary = bary.reshape(NUM_LANDMARKS, 3).astype(np.float64)
    if not np.isfinite(bary).all():
        raise FlameError(f"{path}: {BARY_KEY!r} of landmark {int(np.argwhere(~np.isfinite(bary))[0, 0])} "
                         "is not finite")
    sums = bary.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-3
    if off.any():
        i = int(np.argmax(off))
        raise FlameError(f"{path}: {BARY_KEY!r} of landmark {i} sum to {sums[i]:.4f}, expected 1 "
                         "(barycentric weights)")
    return faces.reshape(NUM_LANDMARKS).astype(np.int64), bary


def read_uv_mask(path: str | Path) -> np.ndarray:
    """The face mask (H, W) float32 in 0..1 of a DECA mask PNG: channel 0 / 255, as DECA reads it."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "LA", "RGB", "RGBA", "P", "1"):
                raise FlameError(f"{path}: image mode {img.mode}; expected an 8-bit PNG (DECA's masks are RGBA)")
            arr = np.asarray(img.convert("RGBA"))[..., 0].astype(np.float32) / 255.0
    except FileNotFoundError:
        raise FlameError(f"{path}: no such file (DECA's data/ folder holds {MASK_NAME}; pass --mask FILE for "
                         "another mask PNG in that folder, or --mask none for a layout without a mask)") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise FlameError(f"{path}: not a readable image ({exc})") from None
    if arr.shape[0] != arr.shape[1] or arr.shape[0] < 8:
        raise FlameError(f"{path}: the mask is {arr.shape[1]}x{arr.shape[0]} px; a UV mask is square "
                         "(DECA's are 256x256)")
    if arr.max() <= 0.0:
        raise FlameError(f"{path}: channel 0 is all 0: an empty mask")
    return arr


def landmark_uv(mesh: UVMesh, faces: np.ndarray, bary: np.ndarray, where: str = "landmark embedding") -> np.ndarray:
    """UVs (68, 2) of the landmarks: ``sum_j bary[i, j] * vt[face_vt[faces[i], j]]``."""
    bad = (faces < 0) | (faces >= len(mesh.face_vt))
    if bad.any():
        i = int(np.argmax(bad))
        raise FlameError(f"{where}: landmark {i} names face {int(faces[i])}, but the OBJ has "
                         f"{len(mesh.face_vt)} faces (0..{len(mesh.face_vt) - 1}); is it FLAME's head_template.obj?")
    corners = mesh.vt[mesh.face_vt[faces]]            # (68, 3, 2)
    return (bary[..., None] * corners).sum(axis=1)


def read_flame_layout(deca_data: str | Path, mask: str | None = MASK_NAME, name: str = "flame",
                      identity_jitter: float = FLAME_IDENTITY_JITTER) -> Layout:
    """The FLAME UV layout of a DECA ``data/`` folder: 68 landmarks (x = u, y = 1 - v) and, unless ``mask``
    is None, the face mask of that PNG in the folder (default DECA's ``uv_face_eye_mask.png``)."""
    folder = Path(deca_data)
    if not folder.is_dir():
        raise FlameError(f"{folder}: no such folder (pass DECA's data/ folder)")
    mesh = read_obj_uv(folder / OBJ_NAME)
    faces, bary = read_landmark_embedding(folder / EMBEDDING_NAME)
    uv = landmark_uv(mesh, faces, bary, where=str(folder / EMBEDDING_NAME))
    points = np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1)
    image = None if mask is None else read_uv_mask(folder / mask)
    size = (256, 256) if image is None else (int(image.shape[0]), int(image.shape[1]))
    try:
        return Layout(name=name, landmarks=points, size=size, mask_image=image, identity_jitter=identity_jitter)
    except LayoutError as exc:
        raise FlameError(f"{folder}: the landmarks of {OBJ_NAME} + {EMBEDDING_NAME} do not form a face layout "
                         f"(x = u, y = 1 - v): {exc}") from None


def landmarks_inside_mask(layout: Layout, threshold: float = 0.5) -> int:
    """How many of the layout's landmarks fall on mask pixels above ``threshold`` (a sanity figure)."""
    if layout.mask_image is None:
        return NUM_LANDMARKS
    h, w = layout.mask_image.shape
    cols = np.clip((layout.landmarks[:, 0] * w).astype(int), 0, w - 1)
    rows = np.clip((layout.landmarks[:, 1] * h).astype(int), 0, h - 1)
    return int((layout.mask_image[rows, cols] > threshold).sum())
