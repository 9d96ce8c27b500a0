"""The region atlas: soft facial-region masks and one footprint per AU, derived from 68 landmarks.

Every mask is built from soft geometric primitives (ellipses, capsules around landmark polylines, soft
polygons) whose centres, axes and widths come from the landmarks and are scaled by the face size (the
inter-ocular distance ``s``). Masks therefore follow the landmarks: the same AU lands on different pixels
for different identities. Everything is batched torch over ``(B, 68, 2)`` landmark sets; values lie in
[0, 1], every mask reaches 1 somewhere and is exactly 0 far from its region.

Coordinates are layout units (0..1, x right, y down); "left" is the viewer's left (smaller x).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from aucgan.au import AU_NAMES, AUError, canonical_au
from aucgan.layout.landmarks import Layout, resize_mask

Tensor = torch.Tensor

REGION_NAMES: tuple[str, ...] = (
    "forehead", "glabella", "brow_left", "brow_right", "eye_left", "eye_right", "nose_bridge",
    "cheek_left", "cheek_right", "nasolabial_left", "nasolabial_right", "upper_lip", "mouth", "chin",
)


# ----------------------------------------------------------------------------------------- primitives

def smoothstep(edge0: float | Tensor, edge1: float | Tensor, x: Tensor) -> Tensor:
    """Hermite step: 0 below ``edge0``, 1 above ``edge1``, smooth in between."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def pixel_grid(size: tuple[int, int], device: torch.device | None = None,
               dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates in layout units: ``X`` of shape (1, 1, W) and ``Y`` of shape (1, H, 1)."""
    h, w = int(size[0]), int(size[1])
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h
    return xs.view(1, 1, w), ys.view(1, h, 1)


def _col(t: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1) for broadcasting against (B, H, W)."""
    return t.reshape(-1, 1, 1)


def local_coords(X: Tensor, Y: Tensor, centre: Tensor, axis: Tensor) -> tuple[Tensor, Tensor]:
    """Coordinates (u along ``axis``, v along its perpendicular, pointing down) relative to ``centre``."""
    dx, dy = X - _col(centre[:, 0]), Y - _col(centre[:, 1])
    ax, ay = _col(axis[:, 0]), _col(axis[:, 1])
    return dx * ax + dy * ay, dy * ax - dx * ay


def soft_ellipse(X: Tensor, Y: Tensor, centre: Tensor, radii: Tensor, axis: Tensor,
                 soft: float = 0.35) -> Tensor:
    """An ellipse (B, H, W): 1 inside ``(1 - soft)`` of the radii, 0 beyond ``(1 + soft)``; radii (B, 2)."""
    u, v = local_coords(X, Y, centre, axis)
    d = torch.sqrt((u / _col(radii[:, 0])) ** 2 + (v / _col(radii[:, 1])) ** 2)
    return 1.0 - smoothstep(1.0 - soft, 1.0 + soft, d)


def polyline_distance(X: Tensor, Y: Tensor, points: Tensor) -> Tensor:
    """Distance (B, H, W) from every pixel to the polyline through ``points`` (B, P, 2)."""
    best = None
    for i in range(points.shape[1] - 1):
        a, b = points[:, i], points[:, i + 1]
        ab = b - a
        len2 = (ab * ab).sum(-1).clamp_min(1e-12)
        ax, ay = _col(a[:, 0]), _col(a[:, 1])
        bx, by = _col(ab[:, 0]), _col(ab[:, 1])
        px, py = X - ax, Y - ay
        t = ((px * bx + py * by) / _col(len2)).clamp(0.0, 1.0)
        d2 = (px - t * bx) ** 2 + (py - t * by) ** 2
        best = d2 if best is None else torch.minimum(best, d2)
    return torch.sqrt(best)


def soft_capsule(X: Tensor, Y: Tensor, points: Tensor, radius: Tensor, soft: float = 0.35) -> Tensor:
    """A tube of ``radius`` (B,) around the polyline ``points`` (B, P, 2): 1 near the line, 0 beyond."""
    r = _col(radius)
    return 1.0 - smoothstep(r * (1.0 - soft), r * (1.0 + soft), polyline_distance(X, Y, points))


def polygon_signed_distance(X: Tensor, Y: Tensor, polygon: Tensor) -> Tensor:
    """Signed distance (B, H, W) to a closed polygon (B, P, 2): positive inside (even-odd rule)."""
    closed = torch.cat([polygon, polygon[:, :1]], dim=1)
    dist = polyline_distance(X, Y, closed)
    inside = torch.zeros(dist.shape, dtype=torch.bool, device=dist.device)
    for i in range(polygon.shape[1]):
        a, b = closed[:, i], closed[:, i + 1]
        ax, ay, bx, by = _col(a[:, 0]), _col(a[:, 1]), _col(b[:, 0]), _col(b[:, 1])
        dy = by - ay
        safe = torch.where(dy.abs() < 1e-12, torch.full_like(dy, 1e-12), dy)
        crosses = ((ay > Y) != (by > Y)) & (X < (bx - ax) * (Y - ay) / safe + ax)
        inside ^= crosses
    return torch.where(inside, dist, -dist)


def soft_polygon(X: Tensor, Y: Tensor, polygon: Tensor, width: Tensor, grow: Tensor | float = 0.0) -> Tensor:
    """A polygon (B, P, 2) grown by ``grow`` with soft edges ``width`` (B,): 1 well inside, 0 well outside."""
    sd = polygon_signed_distance(X, Y, polygon)
    g = _col(grow) if isinstance(grow, Tensor) else grow
    w = _col(width)
    return smoothstep(-w, w, sd + g)


def union(*masks: Tensor) -> Tensor:
    """Pointwise maximum of masks."""
    out = masks[0]
    for m in masks[1:]:
        out = torch.maximum(out, m)
    return out


# ------------------------------------------------------------------------------------- face geometry

def as_landmark_batch(landmarks: Tensor | np.ndarray) -> Tensor:
    """(68, 2) or (B, 68, 2) landmarks as a float32 (B, 68, 2) tensor; a clear error for other shapes."""
    lm = torch.as_tensor(landmarks)
    if not lm.is_floating_point():
        lm = lm.float()
    if lm.dim() == 2:
        lm = lm.unsqueeze(0)
    if lm.dim() != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2) or (B, 68, 2), got {tuple(lm.shape)}")
    return lm.float()


class FaceGeometry:
    """Anchor points, scale and face frame of a batch of landmark sets, with a pixel grid.

    ``s`` is the inter-ocular distance (between eye centres); ``ex`` points from the left to the right
    eye and ``ey`` is perpendicular to it, pointing down the face. Offsets are in units of ``s``.
    """

    def __init__(self, landmarks: Tensor | np.ndarray, size: tuple[int, int]) -> None:
        self.lm = as_landmark_batch(landmarks)
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 1:
            raise ValueError(f"mask size must be positive, got {size}")
        self.X, self.Y = pixel_grid(self.size, self.lm.device)
        lm = self.lm
        self.eye_c = torch.stack([lm[:, 36:42].mean(1), lm[:, 42:48].mean(1)], dim=1)   # (B, 2 sides, 2)
        d = self.eye_c[:, 1] - self.eye_c[:, 0]
        self.s = d.norm(dim=-1).clamp_min(1e-4)
        self.ex = d / self.s[:, None]
        self.ey = torch.stack([-self.ex[:, 1], self.ex[:, 0]], dim=-1)
        self.eye_w = torch.stack([(lm[:, 39] - lm[:, 36]).norm(dim=-1),
                                  (lm[:, 45] - lm[:, 42]).norm(dim=-1)], dim=1)
        self.mouth_w = (lm[:, 54] - lm[:, 48]).norm(dim=-1)
        self._cache: dict[object, Tensor] = {}

    # points and offsets
    def p(self, i: int) -> Tensor:
        return self.lm[:, i]

    def outward(self, side: int) -> Tensor:
        """Unit vector pointing away from the face midline on ``side`` (0 = left, 1 = right)."""
        return -self.ex if side == 0 else self.ex

    def off(self, point: Tensor, side: int, out: float, down: float) -> Tensor:
        """``point`` moved ``out`` (away from the midline) and ``down`` (along ``ey``), both in units of s."""
        s = self.s[:, None]
        return point + self.outward(side) * (out * s) + self.ey * (down * s)

    def axis(self, a: Tensor, b: Tensor) -> Tensor:
        d = b - a
        return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    # primitives on this grid
    def ellipse(self, centre: Tensor, rx: Tensor, ry: Tensor, axis: Tensor | None = None,
                soft: float = 0.35) -> Tensor:
        radii = torch.stack([rx, ry], -1)
        return soft_ellipse(self.X, self.Y, centre, radii, self.ex if axis is None else axis, soft)

    def capsule(self, points: Tensor, radius: Tensor, soft: float = 0.35) -> Tensor:
        return soft_capsule(self.X, self.Y, points, radius, soft)

    def polygon(self, points: Tensor, width: Tensor, grow: Tensor | float = 0.0) -> Tensor:
        return soft_polygon(self.X, self.Y, points, width, grow)

    def cached(self, key: object, build: Callable[[], Tensor]) -> Tensor:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # shared shapes
    def face_polygon(self) -> Tensor:
        """The default face outline (B, 32, 2): jaw line closed by an arc over the forehead, as Layout's."""
        lm = self.lm
        jaw = lm[:, :17]
        brow_top = lm[:, 17:27, 1].min(dim=1).values
        nose_len = lm[:, 30, 1] - lm[:, 27, 1]
        top = (brow_top - 1.6 * nose_len).clamp_min(0.0)
        cx = 0.5 * (jaw[:, 0, 0] + jaw[:, 16, 0])
        rx = 0.5 * (jaw[:, 16, 0] - jaw[:, 0, 0])
        y0 = 0.5 * (jaw[:, 0, 1] + jaw[:, 16, 1])
        ry = y0 - top
        ang = torch.linspace(0.0, torch.pi, 17, device=lm.device, dtype=lm.dtype)[1:-1]
        arc = torch.stack([cx[:, None] + rx[:, None] * torch.cos(ang),
                           y0[:, None] - ry[:, None] * torch.sin(ang)], dim=-1)
        return torch.cat([jaw, arc], dim=1)

    def face(self) -> Tensor:
        return self.cached("face", lambda: self.polygon(self.face_polygon(), 0.04 * self.s))

    def brow_height(self) -> Tensor:
        """Height above the brow line (B, H, W) in layout units: a parabola fitted to points 17-26."""
        def build() -> Tensor:
            pts = self.lm[:, 17:27]
            x, y = pts[..., 0], pts[..., 1]
            A = torch.stack([torch.ones_like(x), x, x * x], -1)
            At = A.transpose(1, 2)
            coef = torch.linalg.solve(At @ A + 1e-6 * torch.eye(3, device=pts.device), At @ y[..., None])
            c = coef[..., 0]
            ybrow = _col(c[:, 0]) + _col(c[:, 1]) * self.X + _col(c[:, 2]) * self.X * self.X
            return ybrow - self.Y
        return self.cached("brow_height", build)

    def mouth(self, grow: float) -> Tensor:
        return self.cached(("mouth", grow),
                           lambda: self.polygon(self.lm[:, 48:60], 0.03 * self.s, grow * self.s))

    def nasolabial_line(self, side: int) -> Tensor:
        """Three points (B, 3, 2) along the nasolabial fold: by the nostril wing, bow, by the mouth corner."""
        ala, corner = (31, 48) if side == 0 else (35, 54)
        a = self.off(self.p(ala), side, 0.12, -0.08)
        c = self.off(self.p(corner), side, 0.14, 0.12)
        m = 0.5 * (a + c) + self.outward(side) * (0.05 * self.s[:, None])
        return torch.stack([a, m, c], dim=1)

    def eye(self, side: int, rx: float, ry: float, down: float = 0.0) -> Tensor:
        """An ellipse around one eye: radii in that eye's widths, centre moved ``down`` eye widths."""
        def build() -> Tensor:
            w = self.eye_w[:, side]
            i0, i1 = (36, 39) if side == 0 else (42, 45)
            centre = self.eye_c[:, side] + self.ey * (down * w)[:, None]
            return self.ellipse(centre, rx * w, ry * w, self.axis(self.p(i0), self.p(i1)))
        return self.cached(("eye", side, rx, ry, down), build)

    def chin(self, scale: float = 1.0) -> Tensor:
        def build() -> Tensor:
            top, bottom = self.p(57), self.p(8)
            centre = top + 0.55 * (bottom - top)
            height = (bottom - top).norm(dim=-1)
            return self.ellipse(centre, 0.45 * scale * self.mouth_w, 0.42 * scale * height)
        return self.cached(("chin", scale), build)

    def both(self, build: Callable[[int], Tensor]) -> Tensor:
        return torch.maximum(build(0), build(1))


# ------------------------------------------------------------------------------------------ regions

def _region_builders(g: FaceGeometry) -> dict[str, Callable[[], Tensor]]:
    s = g.s

    def forehead() -> Tensor:
        lo = torch.minimum(g.p(17)[:, 0], g.p(26)[:, 0]) - 0.1 * s
        hi = torch.maximum(g.p(17)[:, 0], g.p(26)[:, 0]) + 0.1 * s
        sc = _col(s)
        across = smoothstep(0.0, 0.1, (g.X - _col(lo)) / sc) * smoothstep(0.0, 0.1, (_col(hi) - g.X) / sc)
        up = smoothstep(_col(0.04 * s), _col(0.16 * s), g.brow_height())
        return g.face() * up * across

    def glabella() -> Tensor:
        mid = 0.5 * (g.p(21) + g.p(22))
        rx = 0.35 * (g.p(22) - g.p(21)).norm(dim=-1) + 0.05 * s
        return g.ellipse(mid + g.ey * (0.06 * s)[:, None], rx, 0.22 * s)

    def brow(side: int) -> Callable[[], Tensor]:
        idx = slice(17, 22) if side == 0 else slice(22, 27)
        return lambda: g.capsule(g.lm[:, idx], 0.1 * s)

    def eye(side: int) -> Callable[[], Tensor]:
        return lambda: g.eye(side, 0.65, 0.4)

    def nose() -> Tensor:
        bridge = g.capsule(g.lm[:, 27:31], 0.13 * s)
        rx = 0.5 * (g.p(35) - g.p(31)).norm(dim=-1) + 0.04 * s
        base = g.ellipse(g.p(33) - g.ey * (0.03 * s)[:, None], rx, 0.13 * s)
        return torch.maximum(bridge, base)

    def cheek(side: int) -> Callable[[], Tensor]:
        return lambda: g.face() * g.ellipse(g.off(g.eye_c[:, side], side, 0.1, 0.62), 0.3 * s, 0.3 * s)

    def nasolabial(side: int) -> Callable[[], Tensor]:
        return lambda: g.capsule(g.nasolabial_line(side), 0.1 * s)

    def upper_lip() -> Tensor:
        lm = g.lm
        poly = torch.cat([lm[:, 31:36], g.off(lm[:, 54], 1, 0.04, 0.0)[:, None], lm[:, [64, 63, 62, 61, 60]],
                          g.off(lm[:, 48], 0, 0.04, 0.0)[:, None]], dim=1)
        return g.polygon(poly, 0.03 * s, 0.02 * s)

    return {
        "forehead": forehead, "glabella": glabella, "brow_left": brow(0), "brow_right": brow(1),
        "eye_left": eye(0), "eye_right": eye(1), "nose_bridge": nose, "cheek_left": cheek(0),
        "cheek_right": cheek(1), "nasolabial_left": nasolabial(0), "nasolabial_right": nasolabial(1),
        "upper_lip": upper_lip, "mouth": lambda: g.mouth(0.03), "chin": lambda: g.face() * g.chin(),
    }


#: Pixels (batch x height x width) processed at once; chunks this small stay in cache and run several times
#: faster than one pass over a large batch.
CHUNK_PIXELS = 1 << 18


def _chunked(landmarks: Tensor | np.ndarray, size: tuple[int, int],
             build: Callable[[FaceGeometry], Tensor]) -> Tensor:
    lm = as_landmark_batch(landmarks)
    step = max(1, CHUNK_PIXELS // max(1, int(size[0]) * int(size[1])))
    parts = [build(FaceGeometry(lm[i:i + step], size)) for i in range(0, lm.shape[0], step)]
    return torch.cat(parts, dim=0).clamp(0.0, 1.0)


def region_masks(landmarks: Tensor | np.ndarray, size: tuple[int, int]) -> Tensor:
    """Soft masks (B, R, H, W) in [0, 1] of the facial regions :data:`REGION_NAMES` for landmarks in 0..1."""
    def build(g: FaceGeometry) -> Tensor:
        builders = _region_builders(g)
        return torch.stack([builders[name]() for name in REGION_NAMES], dim=1)
    return _chunked(landmarks, size, build)


def face_mask(landmarks: Tensor | np.ndarray, size: tuple[int, int]) -> Tensor:
    """The soft face mask (B, 1, H, W): inside the jaw line closed by an arc over the forehead."""
    return _chunked(landmarks, size, lambda g: g.face().unsqueeze(1))


# ---------------------------------------------------------------------------------------- footprints

def _footprint_builders(g: FaceGeometry) -> dict[str, Callable[[], Tensor]]:
    s = g.s
    lm = g.lm

    def inner_brows() -> Tensor:
        return torch.maximum(g.capsule(lm[:, 19:22], 0.12 * s), g.capsule(lm[:, 22:25], 0.12 * s))

    def au01() -> Tensor:
        mid = 0.5 * (g.p(21) + g.p(22))
        centre = mid - g.ey * (0.45 * s)[:, None]
        return g.face() * torch.maximum(g.ellipse(centre, 0.45 * s, 0.42 * s), inner_brows())

    def au02() -> Tensor:
        def side(k: int) -> Tensor:
            pts = lm[:, 17:20] if k == 0 else lm[:, 24:27]
            centre = g.off(pts.mean(1), k, 0.05, -0.42)
            return torch.maximum(g.ellipse(centre, 0.33 * s, 0.42 * s), g.capsule(pts, 0.12 * s))
        return g.face() * g.both(side)

    def au04() -> Tensor:
        mid = 0.5 * (g.p(21) + g.p(22))
        glabella = g.ellipse(mid + g.ey * (0.05 * s)[:, None], 0.3 * s, 0.3 * s)
        root = g.ellipse(g.p(27) + g.ey * (0.05 * s)[:, None], 0.15 * s, 0.12 * s)
        return union(glabella, root, inner_brows())

    def au06() -> Tensor:
        def side(k: int) -> Tensor:
            corner = g.p(36) if k == 0 else g.p(45)
            fan = g.ellipse(g.off(corner, k, 0.25, 0.0), 0.25 * s, 0.3 * s)
            cheek = g.ellipse(g.off(g.eye_c[:, k], k, 0.05, 0.5), 0.36 * s, 0.24 * s)
            lid = lm[:, [36, 41, 40, 39]] if k == 0 else lm[:, [42, 47, 46, 45]]
            bag = g.capsule(lid + g.ey[:, None] * (0.14 * s)[:, None, None], 0.1 * s)
            return union(fan, cheek, bag)
        return g.face() * g.both(side)

    def au09() -> Tensor:
        bridge = g.capsule(lm[:, 27:31], 0.2 * s)
        sides = g.both(lambda k: g.ellipse(g.off(g.p(31 if k == 0 else 35), k, 0.06, -0.12),
                                           0.14 * s, 0.16 * s))
        upper_nl = g.both(lambda k: g.capsule(g.nasolabial_line(k)[:, :2], 0.1 * s))
        return union(bridge, sides, upper_nl)

    def au10() -> Tensor:
        poly = torch.cat([lm[:, 31:36], g.off(lm[:, 54], 1, 0.04, 0.0)[:, None], lm[:, [64, 63, 62, 61, 60]],
                          g.off(lm[:, 48], 0, 0.04, 0.0)[:, None]], dim=1)
        lip = g.polygon(poly, 0.03 * s, 0.05 * s)
        return torch.maximum(lip, g.both(lambda k: g.capsule(g.nasolabial_line(k)[:, :2], 0.12 * s)))

    def au12() -> Tensor:
        def side(k: int) -> Tensor:
            corner = g.ellipse(g.p(48 if k == 0 else 54), 0.18 * s, 0.18 * s)
            fold = g.capsule(g.nasolabial_line(k), 0.12 * s)
            cheek = g.ellipse(g.off(g.eye_c[:, k], k, 0.1, 0.62), 0.3 * s, 0.3 * s)
            return union(corner, fold, cheek)
        return g.face() * g.both(side)

    def au14() -> Tensor:
        return g.both(lambda k: g.ellipse(g.off(g.p(48 if k == 0 else 54), k, 0.14, 0.0), 0.13 * s, 0.17 * s))

    def au15() -> Tensor:
        def side(k: int) -> Tensor:
            c = g.p(48 if k == 0 else 54)
            return g.capsule(torch.stack([g.off(c, k, 0.02, 0.02), g.off(c, k, 0.12, 0.42)], 1), 0.14 * s)
        return g.face() * g.both(side)

    def au17() -> Tensor:
        top, bottom = g.p(57), g.p(8)
        y = top + 0.2 * (bottom - top)
        half = 0.3 * g.mouth_w[:, None] * g.ex
        furrow = g.capsule(torch.stack([y - half, y + half], 1), 0.08 * s)
        return g.face() * torch.maximum(g.chin(1.1), furrow)

    def au20() -> Tensor:
        cheeks = g.both(lambda k: g.ellipse(g.off(g.p(48 if k == 0 else 54), k, 0.3, 0.15),
                                            0.3 * s, 0.25 * s))
        return g.face() * torch.maximum(g.mouth(0.05), cheeks)

    return {
        "AU01": au01,
        "AU02": au02,
        "AU04": au04,
        "AU05": lambda: g.both(lambda k: g.eye(k, 0.65, 0.42, down=-0.2)),
        "AU06": au06,
        "AU07": lambda: g.both(lambda k: g.eye(k, 0.65, 0.36, down=0.12)),
        "AU09": au09,
        "AU10": au10,
        "AU12": au12,
        "AU14": au14,
        "AU15": au15,
        "AU17": au17,
        "AU20": au20,
        "AU23": lambda: g.mouth(0.12),
        "AU24": lambda: g.mouth(0.15),
        "AU25": lambda: g.mouth(0.02),
        "AU26": lambda: g.face() * torch.maximum(g.mouth(0.04), g.chin()),
        "AU28": lambda: g.mouth(0.06),
        "AU45": lambda: g.both(lambda k: g.eye(k, 0.68, 0.55)),
    }


#: The AUs that have a footprint (the 17 of :data:`aucgan.au.AU_NAMES` plus AU24 and AU28).
FOOTPRINT_AUS: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10",
                                  "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26",
                                  "AU28", "AU45")


def _footprint_codes(au_names: Sequence[str]) -> list[str]:
    codes = [canonical_au(n) for n in au_names]
    unknown = [c for c in codes if c not in FOOTPRINT_AUS]
    if unknown:
        raise AUError(f"no footprint for {', '.join(unknown)}; "
                      f"AUs with footprints: {', '.join(FOOTPRINT_AUS)}")
    return codes


def footprints_on(g: FaceGeometry, au_names: Sequence[str] = AU_NAMES) -> Tensor:
    """AU footprints (B, K, H, W) on an existing :class:`FaceGeometry` (sharing its cached shapes)."""
    builders = _footprint_builders(g)
    return torch.stack([builders[c]() for c in _footprint_codes(au_names)], dim=1).clamp(0.0, 1.0)


def au_footprints(landmarks: Tensor | np.ndarray, size: tuple[int, int],
                  au_names: Sequence[str] = AU_NAMES, mask: Tensor | np.ndarray | None = None) -> Tensor:
    """One soft footprint per AU (B, K, H, W) in [0, 1]: where that AU changes the face (DESIGN.md 2).

    ``mask``: the layout's raster face mask (:attr:`Layout.mask_image`, any resolution, resized to ``size``);
    footprints are multiplied by it, so no AU acts where the map space has no face (e.g. above DECA's mask).
    """
    _footprint_codes(au_names)
    out = _chunked(landmarks, size, lambda g: footprints_on(g, au_names))
    return out if mask is None else out * resize_mask(mask, size).to(out.device)


class RegionAtlas:
    """The atlas of one :class:`~aucgan.layout.landmarks.Layout`: regions, AU footprints and face mask.

    With a raster face mask (:attr:`Layout.mask_image`) regions and footprints are multiplied by it and
    :meth:`face` is that mask; without one, nothing of the mask path runs.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.landmarks = torch.as_tensor(layout.landmarks, dtype=torch.float32)

    def mask(self, size: tuple[int, int] | None = None) -> Tensor | None:
        """The layout's raster face mask (H, W) at ``size`` (default: the layout's), or None."""
        return self.layout.mask_at(size or self.layout.size)

    def regions(self, size: tuple[int, int] | None = None) -> Tensor:
        """Region masks (R, H, W) in the order of :data:`REGION_NAMES` (default size: the layout's)."""
        hw = size or self.layout.size
        out = region_masks(self.landmarks, hw)[0]
        mask = self.mask(hw)
        return out if mask is None else out * mask

    def footprints(self, size: tuple[int, int] | None = None, au_names: Sequence[str] = AU_NAMES) -> Tensor:
        """AU footprints (K, H, W) in ``au_names`` order (times the layout's face mask, if it has one)."""
        hw = size or self.layout.size
        return au_footprints(self.landmarks, hw, au_names, mask=self.mask(hw))[0]

    def face(self, size: tuple[int, int] | None = None) -> Tensor:
        """Face mask (1, H, W): the layout's mask image, else its mask polygon, else the default outline."""
        hw = size or self.layout.size
        mask = self.mask(hw)
        if mask is not None:
            return mask[None]
        g = FaceGeometry(self.landmarks, hw)
        poly = torch.as_tensor(self.layout.face_polygon(), dtype=torch.float32)[None]
        return g.polygon(poly, 0.04 * g.s).clamp(0.0, 1.0)
