"""The strain world: expression detail from skin mechanics, not from the atlas (docs/benchmark.md).

The default world paints each AU's pattern inside its atlas footprint. Here nothing reads the footprints:

* every AU is a smooth displacement field of the skin in the map plane, muscle pulls and ring contractions
  between anatomical points of the identity's own landmarks (moved per identity, strengths varied);
  the fields of the active AUs add;
* the skin is sampled through the summed field (``grid_sample``), so the neutral face's own detail (age
  lines, pores, albedo, brows) moves with the tissue; the eyelids and lips are two sheets each (upper,
  lower) whose fields differ near the aperture, so lids and lips open and close through the same fields;
* wrinkles form where the field compresses the skin (the smaller principal value of the small-strain
  tensor from the field's Jacobian, finite differences): beyond the identity's threshold, as lines across
  the direction of compression (an identity's own line bank, one band-pass orientation per 15 degrees,
  carried by the tissue), with a depth that saturates (tanh of the excess strain) and grows with age;
  existing detail deepens under compression and flattens under stretch; compressed tissue bulges;
* albedo darkens in the new creases and flushes with the emotion as in the default world;
* the landmarks handed out (manifest, ``render(...)["landmarks"]``) are the anatomy plus a tracker error.

So an AU's intensity response is thresholded and saturating, AUs that compress the same skin interact, and
much of the true change falls outside the atlas footprints (``aucgan atlas --changes``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.au import AU_NAMES, NUM_AUS, to_unit
from aucgan.data.synth.config import STREAM_STRAIN, STREAM_TRACKER, SynthConfig, SynthError, generator
from aucgan.data.synth.identity import (
    EPS_HAEMOGLOBIN,
    MOUTH_INTERIOR,
    TEETH,
    WORLD_BUILDERS,
    Identity,
    IdentityRows,
    _eye_albedo,
    _eye_fields,
    _mouth_fields,
    _noise,
    age_factor,
    flush_regions,
    neutral_pores,
    neutral_skin,
    sample_identity,
)
from aucgan.data.synth.patterns import Patterns, furrows, gauss
from aucgan.data.synth.render import WORLD_RENDERERS, flush_weights
from aucgan.layout.atlas import FaceGeometry, local_coords, smoothstep
from aucgan.render.normals import displacement_to_normal

Tensor = torch.Tensor

#: Orientations of the wrinkle-line bank (one per 180 / ORIENTATIONS degrees).
ORIENTATIONS = 12
#: The line bank is drawn and filtered on this fixed grid, so an identity's lines are the same at every size.
BANK_GRID = 128
#: Element slots per AU for the per-identity anchor jitter and strength draws.
SLOTS = 6
#: The habitual expression whose strain sets the static age lines (AU intensities 0..5).
HABITUAL = {"AU01": 2.5, "AU02": 2.5, "AU04": 2.5, "AU06": 3.0, "AU12": 3.0, "AU09": 1.0, "AU15": 1.0}
#: Material channels: static displacement, skin albedo, flush regions, then the sides and windows below.
_STATIC, _SKIN, _FLUSH = slice(0, 1), slice(1, 4), slice(4, 8)
_UP_SIDE, _LOW_SIDE, _LASH, _LASH_WIN, _LIP, _TEETH_WIN = 8, 9, 10, 11, 12, 13
_BANK = 14
#: Pixels (samples x height x width) rendered at once.
CHUNK_PIXELS = 1 << 18
#: The parts of an expression's change, all rendered by default; studies switch some off (``render_strain``'s
#: ``parts``, docs/findings/strain_ceiling.py): ``advection`` (the skin's detail, lids and lips carried by the
#: tissue), ``deepening`` (existing detail deepened under compression, flattened under stretch), ``lines`` (new
#: wrinkles) and ``bulges`` (compressed tissue raised).
STRAIN_PARTS = frozenset({"advection", "deepening", "lines", "bulges"})


@dataclass(frozen=True, eq=False)
class StrainIdentities(IdentityRows):
    """B identities of the strain world, precomputed at one size for :func:`render_strain`.

    ``landmarks`` (B, 68, 2) are what a tracker reports (``anatomy`` plus error); ``material`` (B, C, H, W)
    the neutral skin's maps that the fields carry (static displacement, albedo, flush regions, the lid and
    lip sides, the line bank); ``fields`` (B, K, 2 sheets, 2, H, W) every AU's displacement at intensity 5
    for the upper and the lower sheet (they differ only near the lid and lip apertures); ``eye`` the eye
    interior albedo; ``eye_region`` 1 above the nose tip (where an opening is the eye, else the mouth);
    ``detail`` where lines and bulges may form (the face, times the layout's mask); ``bound`` the layout's
    mask (ones without one), outside which the displacement never changes; ``traits`` (B, 3) wrinkle
    threshold (strain), depth (layout units) and line spacing (layout units).
    """

    params: tuple[Identity, ...]
    config: SynthConfig
    landmarks: Tensor
    anatomy: Tensor
    scale: Tensor
    material: Tensor
    fields: Tensor
    eye: Tensor
    eye_region: Tensor
    detail: Tensor
    bound: Tensor
    traits: Tensor
    basis_field: ClassVar[str] = "fields"


# ------------------------------------------------------------------------------------------ muscles

def _col(t: Tensor) -> Tensor:
    return t.reshape(-1, 1, 1)


class _Muscles:
    """Builds the AU displacement fields of a batch from its anatomy and per-identity muscle draws.

    ``jitter`` (B, K, SLOTS, 3): standard-normal anchor offsets (2, scaled by ``anchor_jitter`` s) and a
    uniform -1..1 strength draw (scaled by ``strength_spread``) per AU and element slot.
    """

    def __init__(self, g: FaceGeometry, eye: Tensor, mouth: Tensor, jitter: Tensor, config: SynthConfig) -> None:
        self.g, self.c = g, config
        self.s = _col(g.s)
        self.jitter = jitter
        self.up = -g.ey
        t, v, hu, hl = eye.unbind(1)
        shape = (1.0 - t * t).clamp_min(0.0)
        self.v_eye, self.v_up, self.v_low, self.shape = v, -hu * shape, hl * shape, shape
        self.hu, self.hl = hu, hl
        tm, vm = mouth.unbind(1)
        self.tm, self.vm = tm, vm
        self.m_t = torch.sqrt((1.0 - tm * tm).clamp_min(0.0))

    def _anchor(self, k: int, slot: int, point: Tensor) -> Tensor:
        j = self.jitter[:, k, slot]
        return point + j[:, :2] * (self.c.strain.anchor_jitter * self.g.s)[:, None]

    def _strength(self, k: int, slot: int) -> Tensor:
        return _col(1.0 + self.c.strain.strength_spread * self.jitter[:, k, slot, 2])

    def _vec(self, weight: Tensor, direction: Tensor) -> Tensor:
        """(B, 2, H, W) field ``weight`` (B, H, W) along ``direction`` (B, 2)."""
        return weight[:, None] * direction[:, :, None, None]

    def pull(self, k: int, slot: int, centre: Tensor, direction: Tensor, radius: float | tuple[float, float],
             amp: float) -> Tensor:
        """A muscle pulling the skin around ``centre`` (radius in s; (along, across) the face frame for an
        ellipse) by ``amp`` s along ``direction`` (towards its origin)."""
        c = self._anchor(k, slot, centre)
        ru, rv = (radius, radius) if isinstance(radius, float) else radius
        u, v = local_coords(self.g.X, self.g.Y, c, self.g.ex)
        w = gauss((u / (ru * self.s)) ** 2 + (v / (rv * self.s)) ** 2)
        unit = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return self._vec(amp * self.s * self._strength(k, slot) * w, unit)

    def towards(self, k: int, slot: int, insertion: Tensor, origin: Tensor, radius: float | tuple[float, float],
                amp: float) -> Tensor:
        """:meth:`pull` at ``insertion`` towards ``origin`` (both anatomical points)."""
        return self.pull(k, slot, insertion, origin - insertion, radius, amp)

    def ring(self, k: int, slot: int, centre: Tensor, r0: float, width: float, amp: float,
             lateral: int | None = None) -> Tensor:
        """A ring muscle (sphincter) drawing the skin of a band round ``centre`` inwards: ``amp`` s at radius
        ``r0`` s, a Gaussian band of ``width`` s. Beyond the band the skin is compressed round the circle
        and stretched along the radius, so lines run radially (crow's feet, lines round the lips).
        ``lateral`` (a side) weights the part away from the midline more (orbicularis oculi)."""
        c = self._anchor(k, slot, centre)
        dx, dy = self.g.X - _col(c[:, 0]), self.g.Y - _col(c[:, 1])
        r = torch.sqrt(dx * dx + dy * dy) / self.s
        w = amp * self._strength(k, slot) * gauss(((r - r0) / width) ** 2) / r.clamp_min(0.02)
        if lateral is not None:
            out = self.g.outward(lateral)
            along = (dx * _col(out[:, 0]) + dy * _col(out[:, 1])) / self.s
            w = w * (0.1 + 0.9 * smoothstep(-0.1, 0.3, along))
        return -torch.stack([w * dx, w * dy], dim=1)

    def sides(self, fn: Callable[[int], Tensor]) -> Tensor:
        return fn(0) + fn(1)

    # windows that confine a sheet's own motion to its aperture (exactly zero beyond)
    def above_upper_lid(self, reach: float) -> Tensor:
        return self.shape * (1.0 - smoothstep(0.0, reach * self.s, self.v_up - self.v_eye)) * \
            (1.0 - smoothstep(self.v_low + 0.05 * self.s, self.v_low + 0.2 * self.s, self.v_eye))

    def below_lower_lid(self, reach: float) -> Tensor:
        return self.shape * (1.0 - smoothstep(0.0, reach * self.s, self.v_eye - self.v_low)) * \
            (1.0 - smoothstep(0.02 * self.s, 0.15 * self.s, self.v_up - self.v_eye))

    def lips(self, reach: float) -> Tensor:
        return self.m_t * (1.0 - smoothstep(0.5 * reach * self.s, reach * self.s, self.vm.abs()))

    # ------------------------------------------------------------------ AU fields (upper, lower sheet)
    def au(self, code: str) -> tuple[Tensor, Tensor | None]:
        """The field of AU ``code`` at intensity 5 for the upper and lower sheet (None: same as upper)."""
        g, up, k = self.g, self.up, AU_NAMES.index(code)
        lm = g.lm
        lip = self.c.lip_gap
        if code == "AU01":      # frontalis, medial: the central forehead and inner brows pulled up
            mid = 0.5 * (g.p(21) + g.p(22))
            return self.pull(k, 0, mid + g.ey * (0.05 * g.s)[:, None], up, (0.45, 0.36), 0.07), None
        if code == "AU02":      # frontalis, lateral
            return self.sides(lambda side: self.pull(
                k, side, g.off((lm[:, 17:20] if side == 0 else lm[:, 24:27]).mean(1), side, 0.05, 0.02),
                up, (0.32, 0.38), 0.07)), None
        if code == "AU04":      # corrugators pull the inner brows in and down; procerus pulls the root down
            def corrugator(side: int) -> Tensor:
                brow = g.p(20 if side == 0 else 23)
                inward = -g.outward(side) + 0.45 * g.ey
                return self.pull(k, side, brow, inward, 0.24, 0.06)
            mid = 0.5 * (g.p(21) + g.p(22))
            procerus = self.pull(k, 2, mid - g.ey * (0.02 * g.s)[:, None], g.ey, 0.16, 0.035)
            return self.sides(corrugator) + procerus, None
        if code == "AU05":      # levator palpebrae: the upper lid retracts (upper sheet only)
            lift = 0.45 * self.hu * self.above_upper_lid(0.25)
            return self._vec(lift, up), torch.zeros_like(self._vec(lift, up))
        if code == "AU06":      # orbicularis oculi, orbital part (ring, mostly lateral) and the cheek lifted
            def side(sd: int) -> Tensor:
                ring = self.ring(k, sd, g.eye_c[:, sd], 0.4, 0.2, 0.05, lateral=sd)
                cheek = self.pull(k, 2 + sd, g.off(g.eye_c[:, sd], sd, 0.08, 0.55), up, (0.28, 0.22), 0.035)
                return ring + cheek
            return self.sides(side), None
        if code == "AU07":      # orbicularis oculi, palpebral: lower lid up (lower sheet), tight ring
            raise_ = self._vec(0.45 * self.hl * self.shape * self.below_lower_lid(0.25), up)
            ring = self.sides(lambda sd: self.ring(k, sd, g.eye_c[:, sd], 0.22, 0.1, 0.02))
            return ring, ring + raise_
        if code == "AU09":      # levator labii alaeque nasi: nose wings and nasal skin pulled up
            def side(sd: int) -> Tensor:
                ala = g.off(g.p(31 if sd == 0 else 35), sd, 0.04, -0.05)
                return self.towards(k, sd, ala, g.p(27), 0.2, 0.05)
            dorsum = self.towards(k, 2, g.p(29), g.p(27), (0.16, 0.2), 0.035)
            return self.sides(side) + dorsum, None
        if code == "AU10":      # levator labii superioris: upper lip raised (the lower lip follows half)
            def side(sd: int) -> Tensor:
                ins = 0.5 * (g.p(50 if sd == 0 else 52) + g.p(31 if sd == 0 else 35))
                return self.towards(k, sd, ins, g.off(g.eye_c[:, sd], sd, 0.02, 0.55), 0.17, 0.055)
            field = self.sides(side)
            return field, field * (1.0 - 0.5 * self.lips(0.45))[:, None]
        if code == "AU12":      # zygomaticus major: corners up and out to the zygoma; the cheek pushed up
            def side(sd: int) -> Tensor:
                corner = g.p(48 if sd == 0 else 54)
                zygoma = g.off(g.eye_c[:, sd], sd, 0.38, 0.42)
                cheek = self.pull(k, 2 + sd, g.off(g.eye_c[:, sd], sd, 0.14, 0.62), up + 0.3 * g.outward(sd),
                                  (0.3, 0.24), 0.04)
                return self.towards(k, sd, corner, zygoma, 0.26, 0.085) + cheek
            return self.sides(side), None
        if code == "AU14":      # buccinator: the corners drawn back
            return self.sides(lambda sd: self.pull(k, sd, g.p(48 if sd == 0 else 54), g.outward(sd), 0.14,
                                                   0.035)), None
        if code == "AU15":      # depressor anguli oris: the corners pulled down
            def side(sd: int) -> Tensor:
                corner = g.p(48 if sd == 0 else 54)
                return self.towards(k, sd, corner, g.off(corner, sd, 0.1, 0.45), 0.18, 0.05)
            return self.sides(side), None
        if code == "AU17":      # mentalis: the chin boss and the lower lip pushed up
            top, bottom = g.p(57), g.p(8)
            return self.pull(k, 0, top + 0.6 * (bottom - top), up, (0.3, 0.22), 0.05), None
        if code == "AU20":      # risorius: the corners pulled out to the sides
            def side(sd: int) -> Tensor:
                corner = g.p(48 if sd == 0 else 54)
                return self.towards(k, sd, corner, g.off(corner, sd, 0.6, 0.05), 0.2, 0.05)
            return self.sides(side), None
        if code == "AU23":      # orbicularis oris: ring round the lips
            centre = 0.5 * (g.p(62) + g.p(66))
            return self.ring(k, 0, centre, 0.28, 0.12, 0.035), None
        if code == "AU25":      # lips part: upper lip up a little, lower lip down
            open_ = self.lips(0.35)
            return self._vec(0.15 * lip * self.s * open_, up), self._vec(0.35 * lip * self.s * open_, g.ey)
        if code == "AU26":      # jaw drop: the lower face down, the upper lip stays
            lateral = (self.tm * _col(0.5 * g.mouth_w)).abs() / self.s
            jaw = smoothstep(-0.35 * self.s, 0.05 * self.s, self.vm) * (1.0 - smoothstep(0.55, 1.0, lateral))
            drop = self._vec(1.1 * lip * self.s * jaw, g.ey)
            return drop * (1.0 - self.lips(0.45))[:, None], drop
        if code == "AU45":      # blink: the upper lid closes onto the lower one
            close = 1.08 * (self.hu + self.hl) * self.above_upper_lid(0.1)
            return self._vec(close, g.ey), torch.zeros_like(self._vec(close, g.ey))
        raise KeyError(f"no strain field for {code}; fields exist for {', '.join(AU_NAMES)}")

    def fields(self) -> Tensor:
        """(B, K, 2 sheets, 2, H, W): every AU's field at intensity 5, upper and lower sheet."""
        out = []
        for code in AU_NAMES:
            upper, lower = self.au(code)
            out.append(torch.stack([upper, upper if lower is None else lower], dim=1))
        return torch.stack(out, dim=1)


# ---------------------------------------------------------------------------------------- strain

def strain(field: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Small-strain analysis of fields (B, 2, H, W) in layout units: the compressive principal strain
    ``max(0, -lambda_min)``, the stretch ``max(0, lambda_max)``, the area change (trace) and the angle of
    the compression direction (radians, 0 = along x), each (B, H, W). Central finite differences."""
    n = field.shape[-1]
    dux_dy, dux_dx = torch.gradient(field[:, 0], spacing=1.0 / n, dim=(-2, -1))
    duy_dy, duy_dx = torch.gradient(field[:, 1], spacing=1.0 / n, dim=(-2, -1))
    exx, eyy, exy = dux_dx, duy_dy, 0.5 * (dux_dy + duy_dx)
    mean, half = 0.5 * (exx + eyy), 0.5 * (exx - eyy)
    rad = torch.sqrt(half * half + exy * exy)
    angle = 0.5 * torch.atan2(exy, half) + 0.5 * math.pi      # eigenvector of lambda_min
    return (rad - mean).clamp_min(0.0), (mean + rad).clamp_min(0.0), 2.0 * mean, angle


def line_pattern(bank: Tensor, angle: Tensor) -> Tensor:
    """The identity's lines (B, H, W, -1 in a furrow .. 0) across the compression direction ``angle``:
    the bank (B, ORIENTATIONS, H, W) blended over the nearest orientations."""
    phi = torch.arange(ORIENTATIONS, dtype=bank.dtype) * (math.pi / ORIENTATIONS)
    w = torch.cos(2.0 * (angle[:, None] - phi.view(1, -1, 1, 1))).clamp_min(0.0) ** 16
    return (w * bank).sum(1) / w.sum(1).clamp_min(1e-6)


def _line_bank(params: Sequence[Identity], spacing: Tensor, size: int) -> Tensor:
    """Per identity, ORIENTATIONS maps of long parallel furrows (B, ORIENTATIONS, size, size) in -1..0:
    its own noise band-passed around one line frequency per orientation (analytic signal, so lines keep a
    regular profile and end where the band is weak). ``spacing`` (B,) in layout units."""
    g = BANK_GRID
    noise = torch.stack([torch.randn((g, g), generator=generator(p.seed, p.index, STREAM_STRAIN, 1))
                         for p in params])
    spec = torch.fft.fft2(noise.double())
    f = torch.fft.fftfreq(g, d=1.0 / g, dtype=torch.float64)
    fy, fx = f.view(-1, 1), f.view(1, -1)
    f0 = (1.0 / spacing.double()).view(-1, 1, 1)
    out = []
    for j in range(ORIENTATIONS):
        phi = j * math.pi / ORIENTATIONS
        along = fx * math.cos(phi) + fy * math.sin(phi)
        across = -fx * math.sin(phi) + fy * math.cos(phi)
        band = torch.exp(-0.5 * (((along - f0) / (0.16 * f0)) ** 2 + (across / (0.07 * f0)) ** 2))
        out.append(torch.fft.ifft2(spec * band))
    z = torch.stack(out, dim=1)
    z = torch.complex(*(_resize(part.float(), size) for part in (z.real, z.imag)))   # band-limited: resample
    amp = z.abs()
    rms = amp.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    cos = (z.real / amp.clamp_min(1e-12)).clamp(-1.0, 1.0)
    return furrows(torch.acos(cos) / (2.0 * math.pi)) * smoothstep(0.25, 0.8, amp / rms)


def _resize(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)


def _traits(params: Sequence[Identity], config: SynthConfig, s: Tensor) -> tuple[Tensor, Tensor]:
    """Per identity: (B, 3) threshold, depth and spacing (layout units), and the muscle draws (B, K, SLOTS, 3)."""
    sp = config.strain
    ages = age_factor(params)
    rows, jit = [], []
    for p, a, scale in zip(params, ages.tolist(), s.tolist(), strict=True):
        gen = generator(p.seed, p.index, STREAM_STRAIN, 0)
        u = torch.rand(3, generator=gen, dtype=torch.float64).tolist()
        threshold = (sp.threshold_min + (sp.threshold_max - sp.threshold_min) * u[0]) * (1.0 - 0.4 * a)
        depth = config.wrinkle_depth * (1.2 + 0.8 * u[1]) * (0.6 + 0.9 * a)
        spacing = (sp.spacing_min + (sp.spacing_max - sp.spacing_min) * u[2]) * scale
        rows.append([threshold, depth, spacing])
        offsets = torch.randn((NUM_AUS, SLOTS, 2), generator=gen)
        strength = 2.0 * torch.rand((NUM_AUS, SLOTS, 1), generator=gen) - 1.0
        jit.append(torch.cat([offsets, strength], dim=-1))
    return torch.tensor(rows, dtype=torch.float32), torch.stack(jit)


def wrinkle_depth(compression: Tensor, traits: Tensor, saturation: float) -> Tensor:
    """Line depth (B, H, W) in layout units: zero up to the identity's threshold, then a saturating tanh of
    the excess strain times the identity's depth."""
    threshold, depth = _col(traits[:, 0]), _col(traits[:, 1])
    return depth * torch.tanh((compression - threshold).clamp_min(0.0) / saturation)


def make_strain_identities(indices: Sequence[int], seed: int, config: SynthConfig) -> StrainIdentities:
    """Build identities ``indices`` of ``seed`` in the strain world (the same people as the default world:
    parameters, colouring and noise; their own muscles, wrinkle traits, lines and tracker error)."""
    params = tuple(sample_identity(i, seed, config) for i in indices)
    size = config.size
    anatomy = torch.as_tensor(np.stack([p.landmarks(config.layout) for p in params]), dtype=torch.float32)
    g = FaceGeometry(anatomy, (size, size))
    noise = _noise(params, size)
    mask = None if config.layout is None else config.layout.mask_at((size, size))
    face = g.face()
    detail = face if mask is None else face * mask
    pat = Patterns(g, torch.empty(0), noise["chin"], config)      # no footprints: its geometry helpers only
    eye = _eye_fields(g, pat.U)
    mouth = _mouth_fields(g)
    traits, jitter = _traits(params, config, g.s)
    fields_ = _Muscles(g, eye, mouth, jitter, config).fields()
    bank = _line_bank(params, traits[:, 2], size)

    # static detail: lid creases, the nasolabial fold, pores and the age lines of habitual expressions
    habit = torch.tensor([HABITUAL.get(c, 0.0) / 5.0 for c in AU_NAMES])
    habitual = torch.einsum("k,bkchw->bchw", habit, fields_[:, :, 0])
    compression, _, _, angle = strain(habitual)
    lines = wrinkle_depth(compression, traits, config.strain.saturation) * line_pattern(bank, angle)
    ages = _col(age_factor(params))
    pores, cheeks_nose, nose = neutral_pores(g, noise, detail)
    static = (config.fold_depth * 0.3 * pat.lid_crease()
              + config.age_lines * ages * (config.fold_depth * 0.7 * pat.nasolabial_groove() + lines)) * detail
    static = static + config.pore_depth * pores
    skin, lips, brows = neutral_skin(params, g, noise, static, pores, cheeks_nose, pat.V, config)
    flush = flush_regions(g, lips, brows, nose)

    # lid and lip sides (material): > 0 on the upper / lower sheet's skin, clamped so that they interpolate
    t, v, hu, hl = eye.unbind(1)
    shape = (1.0 - t * t).clamp_min(0.0)
    tm, vm = mouth.unbind(1)
    below_nose = ((g.X - _col(g.p(30)[:, 0])) * _col(g.ey[:, 0]) + (g.Y - _col(g.p(30)[:, 1])) * _col(g.ey[:, 1]))
    eye_region = (below_nose < 0).float()
    eps = 1.0 / size
    up_side = torch.where(eye_region > 0, -hu * shape - v, -vm).clamp(-eps, eps)
    low_side = torch.where(eye_region > 0, v - hl * shape, vm).clamp(-eps, eps)
    lash_win = smoothstep(0.1, 0.3, shape) * eye_region
    teeth_win = smoothstep(0.0, 0.3, 1.0 - tm.abs()) * (1.0 - eye_region)
    material = torch.cat([static[:, None], skin.clamp(0.0, 1.0), flush,
                          torch.stack([up_side, low_side, v + hu * shape, lash_win, vm, teeth_win], dim=1),
                          bank], dim=1)

    tracked = anatomy.clone()
    for b, p in enumerate(params):
        err = torch.randn((68, 2), generator=generator(p.seed, p.index, STREAM_TRACKER))
        tracked[b] = anatomy[b] + err * config.strain.tracker_sigma * float(g.s[b])
    return StrainIdentities(
        params=params, config=config, landmarks=tracked, anatomy=anatomy, scale=g.s.clone(),
        material=material.contiguous(), fields=fields_.contiguous(),
        eye=_eye_albedo(params, g, t).contiguous(), eye_region=eye_region[:, None].contiguous(),
        detail=detail[:, None].contiguous(),
        bound=(torch.ones_like(face) if mask is None else mask.expand_as(face))[:, None].contiguous(),
        traits=traits,
    )


# ---------------------------------------------------------------------------------------- render

def _sheet_fields(ids: StrainIdentities, u: Tensor, index: Tensor | None) -> tuple[Tensor, Tensor]:
    """The summed fields (B, 2, H, W) of the upper and lower sheet for unit AU amplitudes ``u`` (B, K)."""
    n, k = ids.fields.shape[:2]
    h, w = ids.fields.shape[-2:]
    basis = ids.fields.reshape(n, k, 4 * h * w)
    if index is None:
        total = torch.bmm(u[:, None], basis)[:, 0]
    else:
        total = torch.empty(u.shape[0], 4 * h * w)
        for row in torch.unique(index).tolist():
            sel = torch.nonzero(index == row).flatten()
            total[sel] = u[sel] @ basis[row]
    total = total.view(-1, 2, 2, h, w)
    return total[:, 0], total[:, 1]


def _sheet(ids: StrainIdentities, field: Tensor, weights: Tensor, parts: frozenset[str] = STRAIN_PARTS
           ) -> dict[str, Tensor]:
    """One sheet: its material sampled through ``field``, strain, lines, bulges, displacement and albedo."""
    cfg, sp = ids.config, ids.config.strain
    size = field.shape[-1]
    xs = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    base = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1)            # (H, W, 2) = (x, y)
    carry = field if "advection" in parts else torch.zeros_like(field)
    grid = (base[None] - carry.permute(0, 2, 3, 1)) * 2.0 - 1.0
    mat = F.grid_sample(ids.material, grid, mode="bilinear", padding_mode="border", align_corners=False)
    compression, stretch, area, angle = strain(field)
    static = mat[:, 0]
    carried = static * (1.0 + sp.deepen * torch.tanh(compression / sp.saturation)
                        - 0.5 * torch.tanh(stretch / sp.saturation)) if "deepening" in parts else static
    lines = wrinkle_depth(compression, ids.traits, sp.saturation) * line_pattern(mat[:, _BANK:], angle) \
        if "lines" in parts else torch.zeros_like(static)
    bulge = 0.5 * cfg.bulge_height * (torch.tanh((-area).clamp_min(0.0) / sp.bulge_saturation)
                                - 0.3 * torch.tanh(area.clamp_min(0.0) / sp.bulge_saturation)) \
        if "bulges" in parts else torch.zeros_like(static)
    change = (carried - static + lines + bulge) * ids.detail[:, 0]
    dh = (weights[:, :, None, None] * mat[:, _FLUSH]).sum(1, keepdim=True)
    albedo = mat[:, _SKIN] * torch.exp(-dh * torch.tensor(EPS_HAEMOGLOBIN).view(1, 3, 1, 1))
    crease = (-(change - bulge * ids.detail[:, 0])).clamp_min(0.0)
    albedo = albedo * (1.0 - cfg.crease_darkening * crease[:, None]).clamp_min(0.6)
    return {"disp": static + change, "albedo": albedo, "mat": mat}


@torch.no_grad()
def render_strain(ids: StrainIdentities, au: Tensor, emotion: Tensor, valence: Tensor,
                  index: Tensor | None = None, parts: frozenset[str] = STRAIN_PARTS) -> dict[str, Tensor]:
    """Maps of the strain world (see :func:`aucgan.data.synth.render.render`, which checks the arguments
    and calls this for strain-world identities). ``parts``: the parts of the change rendered
    (:data:`STRAIN_PARTS`, all by default; the benchmark always renders all)."""
    unknown = set(parts) - STRAIN_PARTS
    if unknown:
        raise SynthError(f"unknown strain-world parts {sorted(unknown)}; valid: {', '.join(sorted(STRAIN_PARTS))}")
    b, hw = au.shape[0], ids.size * ids.size
    step = max(1, CHUNK_PIXELS // hw)
    if b > step:    # sub-batches keep the per-sample intermediates small at large sizes (same results)
        index = torch.arange(b) if index is None else index
        chunks = [render_strain(ids, au[i:i + step], emotion[i:i + step], valence[i:i + step], index[i:i + step],
                                parts) for i in range(0, b, step)]
        return {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
    cfg = ids.config
    u = to_unit(au)
    up_field, low_field = _sheet_fields(ids, u, index)
    ident = ids if index is None else ids.take(index, include_basis=False)
    weights = flush_weights(emotion, valence, cfg)
    upper, lower = _sheet(ident, up_field, weights, parts), _sheet(ident, low_field, weights, parts)
    eps = 1.0 / cfg.size
    cover_up = smoothstep(-0.5 * eps, 0.5 * eps, upper["mat"][:, _UP_SIDE:_UP_SIDE + 1])
    cover_low = torch.minimum(smoothstep(-0.5 * eps, 0.5 * eps, lower["mat"][:, _LOW_SIDE:_LOW_SIDE + 1]),
                              1.0 - cover_up)
    opening = (1.0 - cover_up - cover_low).clamp_min(0.0)
    aperture, gap = opening * ident.eye_region, opening * (1.0 - ident.eye_region)

    disp = cover_up * upper["disp"][:, None] + (1.0 - cover_up) * lower["disp"][:, None]
    disp = disp - cfg.eye_recess * aperture - cfg.mouth_recess * gap
    neutral = ident.material[:, _STATIC]
    disp = neutral + ident.bound * (disp - neutral)        # nothing changes outside the layout's mask
    s = _col(ident.scale)[:, None]
    lash = (1.0 - (upper["mat"][:, _LASH:_LASH + 1] / (0.5 * eps + 0.003)) ** 2).clamp_min(0.0) ** 2
    lash = lash * upper["mat"][:, _LASH_WIN:_LASH_WIN + 1] * (cover_up + aperture)   # at the upper lid's margin
    teeth = gap * (1.0 - smoothstep(0.0, 0.06 * s, upper["mat"][:, _LIP:_LIP + 1]))
    teeth = teeth * upper["mat"][:, _TEETH_WIN:_TEETH_WIN + 1]
    interior = torch.tensor(MOUTH_INTERIOR).view(1, 3, 1, 1)
    interior = interior + teeth * (torch.tensor(TEETH).view(1, 3, 1, 1) - interior)
    albedo = (cover_up * upper["albedo"] + cover_low * lower["albedo"] + aperture * ident.eye + gap * interior)
    albedo = albedo * (1.0 - 0.75 * lash)
    return {
        "albedo": albedo.clamp(0.0, 1.0),
        "displacement": disp,
        "normal": displacement_to_normal(disp, cfg.normal_strength),
        "landmarks": ident.landmarks.clone(),
    }


WORLD_BUILDERS["strain"] = make_strain_identities
WORLD_RENDERERS["strain"] = render_strain
