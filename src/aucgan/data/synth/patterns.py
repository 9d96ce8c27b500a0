"""Per-identity displacement patterns: the wrinkle/fold pattern of every AU and the static (age) lines.

Every AU ``k`` gets two basis maps anchored to the identity's landmarks and multiplied by its footprint:
a *core* (scaled by ``u = intensity / 5``) and an *extension* (scaled by ``u ** 2``: strong AUs spread
further, e.g. more forehead lines, the orange-peel chin of a strong AU17). Rendering an AU vector is then
one weighted sum over the bases. The patterns follow FACS (DESIGN.md section 2): lines are narrow furrows
between flat skin, folds are grooves with a bulge beside them, raised tissue is a smooth bump.
"""

from __future__ import annotations

import math

import torch

from aucgan.au import AU_NAMES
from aucgan.data.synth.config import SynthConfig
from aucgan.layout.atlas import FaceGeometry, local_coords, polyline_distance, smoothstep

Tensor = torch.Tensor


def _col(t: Tensor) -> Tensor:
    return t.reshape(-1, 1, 1)


def furrows(coord: Tensor, sharp: float = 3.0) -> Tensor:
    """Parallel lines: -1 at integer ``coord``, ~0 between (narrow furrows separated by flat skin)."""
    return -((0.5 + 0.5 * torch.cos((2.0 * math.pi) * coord)) ** sharp)


#: Gaussians are cut at exp(-GAUSS_CUT) (~1e-13): far tails would otherwise underflow into denormal floats,
#: which the CPU handles tens of times slower.
GAUSS_CUT = 30.0


def gauss(x2: Tensor) -> Tensor:
    """``exp(-x2)`` for a squared, scaled distance ``x2 >= 0`` (tail cut, see :data:`GAUSS_CUT`)."""
    return torch.exp(-x2.clamp(max=GAUSS_CUT))


def bump(dist: Tensor, width: Tensor | float) -> Tensor:
    """A Gaussian profile of ``dist`` (1 at 0); used for grooves (negated) and ridges."""
    return gauss((dist / width) ** 2)


class Patterns:
    """Builds the AU bases (B, K, 2, H, W) and the static displacement of a batch of identities."""

    def __init__(self, g: FaceGeometry, footprints: Tensor, chin_noise: Tensor, config: SynthConfig) -> None:
        self.g = g
        self.fp = footprints
        self.noise = chin_noise            # (B, H, W), unit variance, bumps ~3 % of the layout
        self.c = config
        s = _col(g.s)
        self.s = s
        centre = g.eye_c.mean(1)
        u, v = local_coords(g.X, g.Y, centre, g.ex)
        self.U, self.V = u / s, v / s       # face frame in inter-ocular units, origin between the eyes

    # ------------------------------------------------------------------ geometry helpers
    def dist(self, points: Tensor) -> Tensor:
        """Distance to a polyline, in inter-ocular units."""
        return polyline_distance(self.g.X, self.g.Y, points) / self.s

    def blob(self, centre: Tensor, sigma: float) -> Tensor:
        d2 = (self.g.X - _col(centre[:, 0])) ** 2 + (self.g.Y - _col(centre[:, 1])) ** 2
        return gauss(d2 / (sigma * self.s) ** 2)

    def shift(self, points: Tensor, down: float) -> Tensor:
        return points + self.g.ey[:, None] * (down * self.g.s)[:, None, None]

    def sides(self, fn) -> Tensor:
        return fn(0) + fn(1)

    def corner(self, k: int) -> Tensor:
        return self.g.p(48 if k == 0 else 54)

    def upper_lid(self, k: int) -> Tensor:
        return self.g.lm[:, [36, 37, 38, 39]] if k == 0 else self.g.lm[:, [42, 43, 44, 45]]

    def lower_lid(self, k: int) -> Tensor:
        return self.g.lm[:, [36, 41, 40, 39]] if k == 0 else self.g.lm[:, [42, 47, 46, 45]]

    def forehead_lines(self) -> Tensor:
        bh = self.g.brow_height() / self.s
        return furrows((bh - 0.1) / 0.17) * smoothstep(0.05, 0.12, bh)

    def mentolabial(self) -> Tensor:
        top, bottom = self.g.p(57), self.g.p(8)
        y = top + 0.2 * (bottom - top)
        half = 0.3 * self.g.mouth_w[:, None] * self.g.ex
        return self.dist(torch.stack([y - half, y + half], 1))

    # ------------------------------------------------------------------ components
    def crow(self, k: int, reach: float) -> Tensor:
        g = self.g
        c = g.off(g.p(36 if k == 0 else 45), k, 0.02, 0.0)
        dx, dy = g.X - _col(c[:, 0]), g.Y - _col(c[:, 1])
        out = g.outward(k)
        uo = dx * _col(out[:, 0]) + dy * _col(out[:, 1])
        vo = dx * _col(g.ey[:, 0]) + dy * _col(g.ey[:, 1])
        r = torch.sqrt(uo * uo + vo * vo) / self.s
        theta = torch.atan2(vo, uo)
        fan = 1.0 - smoothstep(0.8, 1.25, theta.abs())
        ring = smoothstep(0.08, 0.16, r) * (1.0 - smoothstep(reach - 0.1, reach, r))
        return furrows(theta / 0.3 + 0.5) * fan * ring

    def nasolabial_groove(self, upper_only: bool = False) -> Tensor:
        def side(k: int) -> Tensor:
            line = self.g.nasolabial_line(k)
            return -bump(self.dist(line[:, :2] if upper_only else line), 0.035)
        return self.sides(side)

    def glabellar(self) -> Tensor:
        win = smoothstep(-0.62, -0.45, self.V) * (1.0 - smoothstep(-0.14, -0.02, self.V))
        return -bump(self.U.abs() - 0.09, 0.03) * win

    def lid_crease(self) -> Tensor:
        return self.sides(lambda k: -bump(self.dist(self.shift(self.upper_lid(k), -0.1)), 0.025))

    # ------------------------------------------------------------------ AU patterns (core, extension)
    def au_pattern(self, code: str) -> tuple[Tensor, Tensor | None]:
        W, F, B = self.c.wrinkle_depth, self.c.fold_depth, self.c.bulge_height
        g, U, V = self.g, self.U, self.V
        if code == "AU01":
            lines = self.forehead_lines()
            low = 1.0 - smoothstep(0.4, 0.6, g.brow_height() / self.s)
            return W * lines * low * bump(U, 0.35), W * lines
        if code == "AU02":
            lines = self.forehead_lines()
            return W * lines * (1.0 - smoothstep(0.4, 0.6, g.brow_height() / self.s)), W * lines
        if code == "AU04":
            inner = torch.minimum(self.dist(g.lm[:, 19:22]), self.dist(g.lm[:, 22:25]))
            core = F * 0.8 * self.glabellar() + B * 0.6 * bump(inner, 0.07)
            v27 = _col(((g.p(27) - g.eye_c.mean(1)) * g.ey).sum(-1)) / self.s
            root = furrows((V - v27) / 0.07) * bump(U, 0.12) * bump(V - v27 - 0.03, 0.08)
            return core, W * root
        if code == "AU05":
            fold = self.sides(lambda k: bump(self.dist(self.shift(self.upper_lid(k), -0.1)), 0.04))
            return B * 0.4 * fold, None
        if code == "AU06":
            core = self.sides(lambda k: W * self.crow(k, 0.4)
                              + B * 0.9 * self.blob(g.off(g.eye_c[:, k], k, 0.05, 0.5), 0.2))
            ext = self.sides(lambda k: W * 0.6 * self.crow(k, 0.6)
                             + B * 0.6 * bump(self.dist(self.shift(self.lower_lid(k), 0.1)), 0.04)
                             - F * 0.4 * bump(self.dist(self.shift(self.lower_lid(k), 0.19)), 0.025))
            return core, ext
        if code == "AU07":
            core = B * 0.8 * self.sides(lambda k: bump(self.dist(self.shift(self.lower_lid(k), 0.05)), 0.035))
            below = self.sides(lambda k: self.dist(self.lower_lid(k)) * (V > 0).float())
            band = smoothstep(0.07, 0.1, below) * (1.0 - smoothstep(0.2, 0.26, below))
            ext = W * 0.5 * furrows(below / 0.06) * band
            return core, ext
        if code == "AU09":
            a, b = g.p(27), g.p(30)
            axis = g.axis(a, b)
            tb, cross = local_coords(g.X, g.Y, a, axis)
            tb, cross = tb / self.s, cross / self.s
            lines = furrows(tb / 0.075) * (1.0 - smoothstep(0.1, 0.2, cross.abs()))
            lines = lines * smoothstep(0.02, 0.08, tb) * (1.0 - smoothstep(0.3, 0.42, tb))
            return W * lines, F * self.nasolabial_groove(upper_only=True)
        if code == "AU10":
            lip = self.blob(0.5 * (g.p(33) + g.p(51)), 0.16) + 0.6 * self.blob(g.p(51), 0.1)
            return F * self.nasolabial_groove(upper_only=True), B * 0.6 * lip
        if code == "AU12":
            def side(k: int) -> Tensor:
                line = g.nasolabial_line(k)
                outer = line + g.outward(k)[:, None] * (0.09 * g.s)[:, None, None]
                return B * 0.7 * bump(self.dist(outer), 0.07)
            core = F * self.nasolabial_groove() + self.sides(side)
            return core, B * self.sides(lambda k: self.blob(g.off(g.eye_c[:, k], k, 0.1, 0.62), 0.2))
        if code == "AU14":
            fold = self.sides(lambda k: -bump(self.dist(torch.stack(
                [g.off(self.corner(k), k, 0.1, -0.08), g.off(self.corner(k), k, 0.11, 0.1)], 1)), 0.025))
            pit = self.sides(lambda k: -self.blob(g.off(self.corner(k), k, 0.12, 0.0), 0.05))
            return F * 0.8 * fold, F * 0.6 * pit
        if code == "AU15":
            fold = self.sides(lambda k: -bump(self.dist(torch.stack(
                [g.off(self.corner(k), k, 0.03, 0.05), g.off(self.corner(k), k, 0.1, 0.38)], 1)), 0.03))
            bulge = self.sides(lambda k: self.blob(g.off(self.corner(k), k, -0.03, 0.12), 0.08))
            return F * fold, B * 0.6 * bulge
        if code == "AU17":
            top, bottom = g.p(57), g.p(8)
            boss = self.blob(top + 0.55 * (bottom - top), 0.25)
            core = -F * 0.8 * bump(self.mentolabial(), 0.035) + B * 0.8 * boss
            return core, -W * 0.5 * smoothstep(-0.2, 1.4, self.noise)
        if code == "AU20":
            win = self.sides(lambda k: self.blob(g.off(self.corner(k), k, 0.3, 0.12), 0.18))
            core = W * 0.7 * furrows(V / 0.09) * win - B * 0.4 * g.mouth(0.0)
            return core, B * 0.5 * self.sides(lambda k: self.blob(g.off(self.corner(k), k, 0.2, 0.25), 0.1))
        if code == "AU23":
            mc = 0.5 * (g.p(48) + g.p(54))
            um = local_coords(g.X, g.Y, mc, g.axis(g.p(48), g.p(54)))[0] / self.s
            band = (g.mouth(0.1) - g.mouth(0.0)).clamp_min(0.0)
            rim = self.dist(torch.cat([g.lm[:, 48:60], g.lm[:, 48:49]], 1))
            core = -B * 0.5 * g.mouth(0.0) + B * 0.4 * bump(rim, 0.02)
            return core, W * 0.7 * furrows(um / 0.055) * band
        if code == "AU25":
            lower = 0.5 * (g.p(57) + g.p(66))
            return B * 0.3 * self.blob(lower, 0.1), None
        if code == "AU26":
            top, bottom = g.p(57), g.p(8)
            chin = self.blob(top + 0.55 * (bottom - top), 0.25)
            return F * 0.5 * bump(self.mentolabial(), 0.04), -B * 0.3 * chin
        if code == "AU45":
            core = -F * 0.4 * self.lid_crease()
            return core, -W * 0.5 * self.sides(lambda k: bump(self.dist(self.lower_lid(k)), 0.02))
        raise KeyError(f"no synthetic pattern for {code}; patterns exist for {', '.join(AU_NAMES)}")

    def bases(self) -> Tensor:
        """(B, K, 2, H, W): footprint x (core, extension) for every AU in AU_NAMES order."""
        out = []
        for k, code in enumerate(AU_NAMES):
            core, ext = self.au_pattern(code)
            ext = torch.zeros_like(core) if ext is None else ext
            fp = self.fp[:, k]
            out.append(torch.stack([fp * core, fp * ext], dim=1))
        return torch.stack(out, dim=1)

    def static(self, age_factor: Tensor, face: Tensor) -> Tensor:
        """Static lines (B, H, W): lid creases always, age lines growing with ``age_factor``."""
        W, F = self.c.wrinkle_depth, self.c.fold_depth
        k01, k02, k04, k06 = (AU_NAMES.index(c) for c in ("AU01", "AU02", "AU04", "AU06"))
        forehead = torch.maximum(self.fp[:, k01], self.fp[:, k02]) * self.forehead_lines()
        crows = self.fp[:, k06] * self.sides(lambda k: self.crow(k, 0.45))
        lines = (W * forehead + W * 0.8 * crows + F * 0.7 * self.nasolabial_groove()
                 + F * 0.3 * self.fp[:, k04] * self.glabellar())
        return (F * 0.3 * self.lid_crease() + self.c.age_lines * _col(age_factor) * lines) * face
