"""Layouts: named 68-point iBUG landmarks in layout coordinates (0..1, x right, y down).

A layout is a 2-D map space (a UV layout or an aligned image crop). Nothing else in aucgan knows
pixel positions: region masks and AU footprints are derived from these landmarks. A layout may carry a
face mask: a polygon (relative to the face, so it follows the landmarks) or a raster image fixed to the
map space (a UV space's own mask, such as DECA's ``uv_face_eye_mask.png`` in FLAME UV).
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write_text

NUM_LANDMARKS = 68

#: iBUG 68-point groups. "left"/"right" are as seen in the layout (viewer's left = smaller x).
IBUG_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brow_left": tuple(range(17, 22)),
    "brow_right": tuple(range(22, 27)),
    "nose_bridge": tuple(range(27, 31)),
    "nose_base": tuple(range(31, 36)),
    "eye_left": tuple(range(36, 42)),
    "eye_right": tuple(range(42, 48)),
    "mouth_outer": tuple(range(48, 60)),
    "mouth_inner": tuple(range(60, 68)),
}
CHIN = 8
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 51, 57


class LayoutError(AucganError, ValueError):
    """A layout file or landmark array that does not describe a face layout."""


@dataclass(frozen=True, eq=False)
class Layout:
    """A face layout: a name, a nominal pixel size, 68 landmarks in 0..1 and optional face masks.

    ``mask_polygon`` (P, 2) outlines the face in layout coordinates; it follows the landmarks, so a varied
    layout drops it. ``mask_image`` (H, W) in 0..1 is a raster mask of the map space itself (stored as an
    8-bit PNG in the JSON, so values k/255 round-trip exactly); AU footprints are multiplied by it and it
    stays with every identity varied from the layout. ``identity_jitter`` is the scale of per-identity
    landmark variation the synthetic benchmark uses in this layout (None: its default, 1.0); a UV space of
    a fixed-topology mesh such as FLAME has landmarks at the same UVs for everyone, so it asks for little.
    """

    name: str
    landmarks: np.ndarray = field(repr=False)
    size: tuple[int, int] = (128, 128)
    mask_polygon: np.ndarray | None = field(default=None, repr=False)
    mask_image: np.ndarray | None = field(default=None, repr=False)
    identity_jitter: float | None = None

    def __post_init__(self) -> None:
        pts = np.asarray(self.landmarks, dtype=np.float32)
        validate_landmarks(pts, where=f"layout {self.name!r}")
        object.__setattr__(self, "landmarks", pts)
        if self.mask_polygon is not None:
            poly = np.asarray(self.mask_polygon, dtype=np.float32)
            if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3 or not np.isfinite(poly).all():
                raise LayoutError(f"layout {self.name!r}: mask must be a polygon of >= 3 finite (x, y) points")
            object.__setattr__(self, "mask_polygon", poly)
        if self.mask_image is not None:
            img = np.asarray(self.mask_image, dtype=np.float32)
            if img.ndim != 2 or min(img.shape) < 8 or not np.isfinite(img).all():
                raise LayoutError(f"layout {self.name!r}: mask image must be a finite (H, W) array of >= 8 px, "
                                  f"got shape {img.shape}")
            if img.min() < 0.0 or img.max() > 1.0:
                raise LayoutError(f"layout {self.name!r}: mask image values must lie in 0..1")
            if img.max() <= 0.0:
                raise LayoutError(f"layout {self.name!r}: mask image is empty (all 0)")
            object.__setattr__(self, "mask_image", img)
        if self.identity_jitter is not None:
            jitter = float(self.identity_jitter)
            if not math.isfinite(jitter) or jitter < 0:
                raise LayoutError(f"layout {self.name!r}: identity_jitter must be a number >= 0, got {jitter}")
            object.__setattr__(self, "identity_jitter", jitter)
        if len(self.size) != 2 or min(self.size) < 8:
            raise LayoutError(f"layout {self.name!r}: size must be (height, width) >= 8 px, got {self.size}")

    def _key(self) -> tuple:
        arrays = (self.landmarks, self.mask_polygon, self.mask_image)
        return (self.name, tuple(self.size), self.identity_jitter,
                *(None if a is None else (a.shape, a.tobytes()) for a in arrays))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def to_json(self) -> dict:
        """A JSON-ready dict (the format :func:`load_layout` reads)."""
        out = {
            "name": self.name,
            "convention": "ibug68",
            "size": list(self.size),
            "landmarks": [[round(float(x), 6), round(float(y), 6)] for x, y in self.landmarks],
        }
        if self.mask_polygon is not None:
            out["mask"] = [[round(float(x), 6), round(float(y), 6)] for x, y in self.mask_polygon]
        if self.mask_image is not None:
            out["mask_image"] = encode_mask_image(self.mask_image)
        if self.identity_jitter is not None:
            out["identity_jitter"] = self.identity_jitter
        return out

    def save(self, path: str | Path) -> None:
        """Write the layout JSON atomically (a reader never sees half a file)."""
        atomic_write_text(path, json.dumps(self.to_json(), indent=1))

    def mask_at(self, size: tuple[int, int]) -> torch.Tensor | None:
        """The raster face mask (H, W) float32 at ``size`` (:func:`resize_mask`), or None without a mask image."""
        return None if self.mask_image is None else resize_mask(self.mask_image, size)

    def face_polygon(self) -> np.ndarray:
        """The face outline: the mask polygon, or the jaw line closed by an arc over the forehead."""
        if self.mask_polygon is not None:
            return self.mask_polygon
        return default_face_polygon(self.landmarks)


def resize_mask(mask: torch.Tensor | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A face mask (H', W') or (1, H', W') in 0..1 as a float32 (H, W) tensor at ``size``: bilinear with pixel
    centres aligned (the atlas's pixel grid), antialiased when shrinking; a copy when the size matches."""
    m = torch.as_tensor(mask, dtype=torch.float32)
    if m.dim() == 3 and m.shape[0] == 1:
        m = m[0]
    if m.dim() != 2:
        raise LayoutError(f"a face mask must have shape (H, W), got {tuple(m.shape)}")
    hw = (int(size[0]), int(size[1]))
    if tuple(m.shape) == hw:
        return m.clone()
    shrink = hw[0] < m.shape[0] or hw[1] < m.shape[1]
    out = torch.nn.functional.interpolate(m[None, None], size=hw, mode="bilinear", align_corners=False,
                                          antialias=shrink)
    return out[0, 0].clamp(0.0, 1.0)


def validate_landmarks(points: np.ndarray, where: str = "landmarks") -> None:
    """Check that ``points`` are 68 finite (x, y) pairs in 0..1 arranged like a face (brows above eyes ...)."""
    if points.shape != (NUM_LANDMARKS, 2):
        raise LayoutError(f"{where}: expected 68 (x, y) landmarks (iBUG convention), got shape {points.shape}")
    if not np.isfinite(points).all():
        bad = int(np.argwhere(~np.isfinite(points))[0, 0])
        raise LayoutError(f"{where}: landmark {bad} is not finite")
    if (points < 0).any() or (points > 1).any():
        bad = int(np.argwhere((points < 0) | (points > 1))[0, 0])
        raise LayoutError(f"{where}: landmark {bad} = {points[bad].tolist()} is outside 0..1 layout coordinates")
    g = {k: points[list(v)] for k, v in IBUG_GROUPS.items()}
    checks = [
        (g["brow_left"][:, 1].mean() < g["eye_left"][:, 1].mean(), "left brow (17-21) must lie above left eye (36-41)"),
        (g["brow_right"][:, 1].mean() < g["eye_right"][:, 1].mean(),
         "right brow (22-26) must lie above right eye (42-47)"),
        (g["eye_left"][:, 0].mean() < g["eye_right"][:, 0].mean(),
         "left eye (36-41) must have smaller x than right eye (42-47)"),
        (points[NOSE_TIP, 1] < g["mouth_outer"][:, 1].mean(), "nose tip (30) must lie above the mouth (48-59)"),
        (g["eye_left"][:, 1].mean() < points[NOSE_TIP, 1], "eyes must lie above the nose tip (30)"),
        (g["mouth_outer"][:, 1].mean() < points[CHIN, 1], "mouth (48-59) must lie above the chin (8)"),
        (points[MOUTH_LEFT, 0] < points[MOUTH_RIGHT, 0], "mouth corner 48 must have smaller x than 54"),
        (points[0, 0] < points[16, 0], "jaw point 0 must have smaller x than 16"),
    ]
    for ok, message in checks:
        if not ok:
            raise LayoutError(f"{where}: {message} (y grows downward, x to the right)")


def default_face_polygon(landmarks: np.ndarray, n_arc: int = 15) -> np.ndarray:
    """Jaw line (0..16) closed by an elliptic arc over the forehead, as high above the brows as the nose is long."""
    jaw = landmarks[:17]
    brow_top = landmarks[17:27, 1].min()
    nose_len = landmarks[NOSE_TIP, 1] - landmarks[27, 1]
    top = max(0.0, brow_top - 1.6 * nose_len)
    cx = 0.5 * (jaw[0, 0] + jaw[16, 0])
    rx = 0.5 * (jaw[16, 0] - jaw[0, 0])
    y0 = 0.5 * (jaw[0, 1] + jaw[16, 1])
    ry = y0 - top
    angles = np.linspace(0.0, math.pi, n_arc + 2)[1:-1]
    arc = np.stack([cx + rx * np.cos(angles), y0 - ry * np.sin(angles)], axis=1)
    return np.concatenate([jaw, arc.astype(np.float32)], axis=0)


def _canonical_points() -> np.ndarray:
    pts = np.zeros((NUM_LANDMARKS, 2), np.float64)
    theta = math.pi * (1.0 - np.arange(17) / 16.0)
    pts[0:17, 0] = 0.5 + 0.40 * np.cos(theta)
    pts[0:17, 1] = 0.42 + 0.52 * np.sin(theta)
    t = np.linspace(0.0, 1.0, 5)
    pts[17:22, 0] = 0.20 + 0.24 * t
    pts[17:22, 1] = 0.31 - 0.035 * np.sin(math.pi * (0.15 + 0.7 * t))
    pts[22:27, 0] = 1.0 - pts[17:22, 0][::-1]
    pts[22:27, 1] = pts[17:22, 1][::-1]
    pts[27:31] = [[0.5, 0.37], [0.5, 0.43], [0.5, 0.49], [0.5, 0.55]]
    pts[31:36] = [[0.44, 0.585], [0.47, 0.595], [0.5, 0.60], [0.53, 0.595], [0.56, 0.585]]
    pts[36:42] = [[0.26, 0.385], [0.31, 0.36], [0.37, 0.36], [0.42, 0.39], [0.37, 0.405], [0.31, 0.405]]
    right_eye = pts[36:42].copy()
    right_eye[:, 0] = 1.0 - right_eye[:, 0]
    pts[42:48] = right_eye[[3, 2, 1, 0, 5, 4]]
    pts[48:60] = [[0.37, 0.74], [0.41, 0.715], [0.46, 0.70], [0.5, 0.705], [0.54, 0.70], [0.59, 0.715],
                  [0.63, 0.74], [0.59, 0.77], [0.54, 0.785], [0.5, 0.79], [0.46, 0.785], [0.41, 0.77]]
    pts[60:68] = [[0.39, 0.74], [0.45, 0.733], [0.5, 0.735], [0.55, 0.733], [0.61, 0.74],
                  [0.55, 0.75], [0.5, 0.752], [0.45, 0.75]]
    return pts.astype(np.float32)


def canonical_layout(size: int | tuple[int, int] = 128) -> Layout:
    """aucgan's built-in frontal face layout (the synthetic benchmark's UV layout)."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    return Layout(name="aucgan-canonical", landmarks=_canonical_points(), size=hw)


@dataclass(frozen=True)
class LayoutVariation:
    """Per-identity geometric changes of a layout, in layout units (1.0 = the layout width/height)."""

    face_width: float = 1.0       # horizontal scale about the face centre
    face_height: float = 1.0      # vertical scale about the face centre
    eye_distance: float = 0.0     # extra half-distance between the eyes (and brows), + = apart
    mouth_width: float = 1.0      # scale of the mouth about its centre
    brow_raise: float = 0.0       # brows moved up (+) or down (-)
    nose_length: float = 0.0      # nose tip/base moved down (+)
    mouth_drop: float = 0.0       # mouth moved down (+)
    offset: tuple[float, float] = (0.0, 0.0)  # whole-face shift (x, y)


def vary_landmarks(points: np.ndarray, v: LayoutVariation) -> np.ndarray:
    """Apply a :class:`LayoutVariation` to 68 landmarks (works on one (68, 2) array)."""
    p = np.asarray(points, np.float64).copy()
    center = np.array([0.5 * (p[0, 0] + p[16, 0]), p[NOSE_TIP, 1]])
    groups = IBUG_GROUPS
    for side, sign in (("left", -1.0), ("right", 1.0)):
        idx = list(groups[f"eye_{side}"]) + list(groups[f"brow_{side}"])
        p[idx, 0] += sign * v.eye_distance
    brows = list(groups["brow_left"]) + list(groups["brow_right"])
    p[brows, 1] -= v.brow_raise
    p[list(groups["nose_base"]) + [NOSE_TIP], 1] += v.nose_length
    p[list(groups["nose_bridge"][1:3]), 1] += 0.5 * v.nose_length
    mouth = list(groups["mouth_outer"]) + list(groups["mouth_inner"])
    mc = p[mouth].mean(axis=0)
    p[mouth, 0] = mc[0] + (p[mouth, 0] - mc[0]) * v.mouth_width
    p[mouth, 1] += v.mouth_drop
    p = center + (p - center) * np.array([v.face_width, v.face_height])
    p += np.asarray(v.offset, np.float64)
    return p.astype(np.float32)


def vary_layout(layout: Layout, variation: LayoutVariation, name: str | None = None) -> Layout:
    """A per-identity variant of ``layout`` (landmarks moved; the mask polygon is dropped and re-derived, the
    mask image, fixed to the map space, is kept)."""
    pts = vary_landmarks(layout.landmarks, variation)
    return replace(layout, name=name or f"{layout.name}+var", landmarks=pts, mask_polygon=None)


MASK_IMAGE_FORMAT = "png-base64"


def encode_mask_image(mask: np.ndarray) -> dict:
    """A raster mask (H, W) in 0..1 as JSON: an 8-bit greyscale PNG, base64 (lossless for values k/255)."""
    from PIL import Image

    arr = (np.clip(np.asarray(mask, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return {"format": MASK_IMAGE_FORMAT, "size": [int(arr.shape[0]), int(arr.shape[1])],
            "data": base64.b64encode(buf.getvalue()).decode("ascii")}


def decode_mask_image(data: object, where: str) -> np.ndarray:
    """The (H, W) float32 mask of a ``mask_image`` JSON field; :class:`LayoutError` naming ``where``."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, dict) or data.get("format") != MASK_IMAGE_FORMAT or not isinstance(data.get("data"), str):
        raise LayoutError(f"{where}: field 'mask_image' must be {{\"format\": \"{MASK_IMAGE_FORMAT}\", "
                          "\"size\": [H, W], \"data\": base64 PNG}")
    try:
        raw = base64.b64decode(data["data"], validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            if img.mode != "L":
                raise ValueError(f"PNG mode {img.mode}, expected 8-bit greyscale (L)")
            arr = np.asarray(img, dtype=np.float32) / 255.0
        size = [int(v) for v in data.get("size", arr.shape)]
    except (ValueError, TypeError, OSError, UnidentifiedImageError) as exc:
        raise LayoutError(f"{where}: field 'mask_image' is not a readable PNG mask ({exc})") from None
    if list(arr.shape) != size:
        raise LayoutError(f"{where}: field 'mask_image' holds a {arr.shape[0]}x{arr.shape[1]} image but says "
                          f"size {size}")
    return arr


def load_layout(path: str | Path) -> Layout:
    """Read a layout JSON file: ``{"name", "size": [H, W], "landmarks": [[x, y] x 68], "mask": [[x, y], ...]?,
    "mask_image": {"format": "png-base64", "size": [H, W], "data": ...}?, "identity_jitter": float?}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LayoutError(f"{path}: no such layout file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{path}: not a readable JSON layout ({exc})") from None
    if not isinstance(data, dict):
        raise LayoutError(f"{path}: expected a JSON object with 'name', 'size' and 'landmarks'")
    for key in ("name", "landmarks"):
        if key not in data:
            raise LayoutError(f"{path}: missing field {key!r}")
    if data.get("convention", "ibug68") != "ibug68":
        raise LayoutError(f"{path}: field 'convention' must be 'ibug68', got {data['convention']!r}")
    size = data.get("size", [128, 128])
    if isinstance(size, int):
        size = [size, size]
    try:
        pts = np.asarray(data["landmarks"], dtype=np.float32)
        mask = None if data.get("mask") is None else np.asarray(data["mask"], dtype=np.float32)
        hw = (int(size[0]), int(size[1]))
        jitter = data.get("identity_jitter")
        jitter = None if jitter is None else float(jitter)
    except (TypeError, ValueError, IndexError) as exc:
        raise LayoutError(f"{path}: field 'landmarks', 'mask', 'size' or 'identity_jitter' is malformed "
                          f"({exc})") from None
    image = None if data.get("mask_image") is None else decode_mask_image(data["mask_image"], str(path))
    try:
        return Layout(name=str(data["name"]), landmarks=pts, size=hw, mask_polygon=mask, mask_image=image,
                      identity_jitter=jitter)
    except LayoutError as exc:
        raise LayoutError(f"{path}: {exc}") from None
