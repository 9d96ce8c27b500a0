"""Synthetic identities: sampled parameters (:class:`Identity`) and precomputed maps (:class:`IdentityBatch`).

Identity ``NNNN`` of seed ``S`` depends only on ``(S, NNNN)``: its parameters and noise come from random
streams seeded by :func:`~aucgan.data.synth.config.mix_seed` of both, never from a shared stream, so it is
the same whatever other identities are generated with it.

Skin colour follows a two-layer absorption model: ``albedo = R0 * exp(-(melanin * eps_m + haemoglobin *
eps_h))`` per RGB channel, with melanin (brown, absorbs blue most) and haemoglobin (red, absorbs green
most) as the two parameters; lips are skin with more haemoglobin, and the emotion flush of
:mod:`~aucgan.data.synth.render` changes haemoglobin only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.au import AU_NAMES
from aucgan.data.synth.config import STREAM_IDENTITY, STREAM_NOISE, SynthConfig, SynthError, generator
from aucgan.data.synth.patterns import Patterns
from aucgan.layout.atlas import FaceGeometry, footprints_on, local_coords, smoothstep, union
from aucgan.layout.landmarks import Layout, LayoutVariation, canonical_layout, vary_landmarks

if TYPE_CHECKING:
    from typing_extensions import Self

    from aucgan.data.synth.strain import StrainIdentities

Tensor = torch.Tensor

#: Skin absorption model (per RGB channel): base reflectance and melanin / haemoglobin extinction.
R0 = (0.94, 0.83, 0.64)
EPS_MELANIN = (0.87, 1.07, 1.22)
EPS_HAEMOGLOBIN = (0.05, 0.45, 0.3)

#: Iris colours (dark brown, brown, hazel, green, blue, grey); dark skin makes the first ones likelier.
IRIS_COLOURS = ((0.22, 0.12, 0.06), (0.38, 0.23, 0.11), (0.45, 0.37, 0.2), (0.3, 0.42, 0.26),
                (0.3, 0.45, 0.62), (0.45, 0.48, 0.52))
SCLERA = (0.92, 0.89, 0.86)
MOUTH_INTERIOR = (0.22, 0.07, 0.07)
TEETH = (0.85, 0.82, 0.74)


#: Identity builders of the worlds other than the default, ``world -> build(indices, seed, config)``; each
#: world's module registers its own (:mod:`aucgan.data.synth.strain`), and the package imports them all.
WORLD_BUILDERS: dict[str, Callable[[list[int], int, SynthConfig], object]] = {}


def identity_name(index: int) -> str:
    """The identity id used in datasets: ``id0003``."""
    return f"id{int(index):04d}"


@dataclass(frozen=True)
class Identity:
    """The sampled parameters of one synthetic face (all that is random about it, besides its noise seed)."""

    index: int
    seed: int
    age: float                    # years
    gender: float                 # 0 female, 1 male
    melanin: float                # ~0.05 (very light) .. 1.4 (very dark)
    haemoglobin: float
    lip_haemoglobin: float        # extra haemoglobin of the lips
    hair_darkness: float          # 0 blond .. 1 black (brows, beard)
    brow_thickness: float         # capsule radius in inter-ocular units
    brow_density: float
    beard_density: float          # 0 for most women
    freckles: float               # freckle density 0..1
    iris: int                     # index into IRIS_COLOURS
    variation: LayoutVariation = field(repr=False)

    @property
    def name(self) -> str:
        return identity_name(self.index)

    def landmarks(self, layout: Layout | None = None) -> np.ndarray:
        """The identity's 68 landmarks: ``layout``'s (default the canonical layout's) moved by its variation."""
        return vary_landmarks((layout or canonical_layout()).landmarks, self.variation)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "variation"}
        out["variation"] = {f.name: getattr(self.variation, f.name) for f in fields(self.variation)}
        return out


def sample_identity(index: int, seed: int, config: SynthConfig | None = None) -> Identity:
    """Identity ``index`` of ``seed``: its own random stream, so it does not depend on other identities."""
    config = config or SynthConfig()
    if int(index) < 0:
        raise SynthError(f"identity index must be >= 0, got {index}")
    u = torch.rand(24, generator=generator(seed, index, STREAM_IDENTITY), dtype=torch.float64).tolist()

    def rng(i: int, lo: float, hi: float) -> float:
        return lo + (hi - lo) * u[i]

    male = 1.0 if u[0] < 0.5 else 0.0
    age = round(rng(1, 18.0, 80.0), 1)
    melanin = rng(2, 0.05, 1.4)
    j = config.layout_jitter
    variation = LayoutVariation(
        face_width=1.0 + j * (rng(3, -0.045, 0.045) + 0.02 * male),
        face_height=1.0 + j * rng(4, -0.04, 0.04),
        eye_distance=j * rng(5, -0.012, 0.012),
        mouth_width=1.0 + j * rng(6, -0.09, 0.09),
        brow_raise=j * (rng(7, -0.012, 0.012) - 0.004 * male),
        nose_length=j * rng(8, -0.015, 0.015),
        mouth_drop=j * rng(9, -0.012, 0.012),
        offset=(j * rng(10, -0.012, 0.012), j * rng(11, -0.01, 0.01)),
    )
    light = 1.4 - melanin
    iris_weights = np.array([1 + 3 * melanin, 1 + 2 * melanin, 0.8, 0.6 * light, light, 0.4 * light])
    iris = int(np.searchsorted(np.cumsum(iris_weights) / iris_weights.sum(), u[12], side="right"))
    return Identity(
        index=int(index), seed=int(seed), age=age, gender=male, melanin=melanin,
        haemoglobin=rng(13, 0.2, 0.5), lip_haemoglobin=rng(14, 0.8, 1.4),
        hair_darkness=float(np.clip(0.25 + 0.55 * u[15] + 0.35 * melanin, 0.0, 1.0)),
        brow_thickness=(0.065 if male else 0.048) * rng(16, 0.8, 1.25),
        brow_density=rng(17, 0.6, 0.95),
        beard_density=rng(18, 0.2, 0.75) if male and u[19] > 0.15 else 0.0,
        freckles=float(u[20] ** 3 * max(0.0, 1.1 - melanin)),
        iris=min(iris, len(IRIS_COLOURS) - 1),
        variation=variation,
    )


class IdentityRows:
    """What every world's batch of identities answers from its ``params`` (the identities' parameters) and
    ``config``: how many, their map size, their names and their attributes."""

    params: tuple[Identity, ...]
    config: SynthConfig
    #: The large per-AU tensor ``take(..., include_basis=False)`` leaves as it is (callers that index it).
    basis_field: ClassVar[str] = "basis"

    def take(self, index: Sequence[int] | Tensor, include_basis: bool = True) -> Self:
        """The identities at ``index`` (repeats allowed: pair one identity with many AU vectors).

        ``include_basis=False`` leaves the (large) AU bases (:attr:`basis_field`) as they are, for callers that
        index them.
        """
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise SynthError(f"identity positions must lie in 0..{len(self) - 1}, got {idx.tolist()}")
        tensors = {f.name: getattr(self, f.name).index_select(0, idx) for f in fields(self)
                   if isinstance(getattr(self, f.name), Tensor) and (include_basis or f.name != self.basis_field)}
        return replace(self, params=tuple(self.params[i] for i in idx.tolist()), **tensors)

    def __len__(self) -> int:
        return len(self.params)

    @property
    def size(self) -> int:
        return self.config.size

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def attributes(self) -> dict[str, Tensor]:
        """Per-identity ``age`` (years) and ``gender`` (0 female, 1 male) as (B,) tensors."""
        return {"age": torch.tensor([p.age for p in self.params]),
                "gender": torch.tensor([p.gender for p in self.params])}


@dataclass(frozen=True, eq=False)
class IdentityBatch(IdentityRows):
    """B identities with everything :func:`~aucgan.data.synth.render.render` needs, precomputed at one size.

    Maps are (B, C, H, W) float32: ``skin`` albedo without the eye interior, ``eye`` interior albedo
    (sclera, iris, pupil), ``static`` displacement (lid creases, pores, age lines), ``basis`` the AU
    patterns (B, K, 2, H, W), ``eye_fields`` (t, v, upper-lid height, lower-lid height in layout units,
    window), ``mouth_fields`` (t, v along the lip line, window), ``flush`` the blood-flow regions (forehead,
    cheeks, nose, chin) on skin. The windows are 1 where every AU that moves the lids (AU05, AU07, AU45) or
    opens the lips (AU25, AU26) has a non-zero footprint and 0 elsewhere, so those AUs never change pixels
    outside their footprints, even at coarse resolutions.
    """

    params: tuple[Identity, ...]
    config: SynthConfig
    landmarks: Tensor
    scale: Tensor
    skin: Tensor
    eye: Tensor
    static: Tensor
    basis: Tensor
    eye_fields: Tensor
    mouth_fields: Tensor
    flush: Tensor


def _noise(params: Sequence[Identity], size: int) -> dict[str, Tensor]:
    """Per-identity noise fields (B, H, W), each from the identity's own stream, in a fixed order.

    Coarse fields are drawn on fixed grids and upsampled, so they look the same at every map size; pores
    and stubble are drawn at the map size.
    """
    grids = {"mottle": (12, 12), "freckle": (64, 64), "chin": (72, 72), "streak": (48, 10)}
    fine = ("pores", "stubble")
    out: dict[str, list[Tensor]] = {k: [] for k in (*grids, *fine)}
    for p in params:
        g = generator(p.seed, p.index, STREAM_NOISE)
        for name, hw in grids.items():
            out[name].append(torch.randn(hw, generator=g))
        for name in fine:
            out[name].append(torch.randn((size, size), generator=g))
    res = {}
    for name in grids:
        stack = torch.stack(out[name])[:, None]
        up = F.interpolate(stack, size=(size, size), mode="bicubic", align_corners=False)[:, 0]
        res[name] = up / up.flatten(1).std(dim=1).clamp_min(1e-6)[:, None, None]
    for name in fine:
        res[name] = torch.stack(out[name])
    return res


def _vec(values: Sequence[float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1)


def _per(params: Sequence[Identity], name: str) -> Tensor:
    return torch.tensor([float(getattr(p, name)) for p in params], dtype=torch.float32).view(-1, 1, 1)


def skin_reflectance(melanin: Tensor, haemoglobin: Tensor) -> Tensor:
    """Albedo (B, 3, H, W) of skin with melanin and haemoglobin maps (B, H, W)."""
    m, h = melanin[:, None], haemoglobin[:, None]
    return _vec(R0) * torch.exp(-(m * _vec(EPS_MELANIN) + h * _vec(EPS_HAEMOGLOBIN)))


def _lid_height(pts: Tensor, centre: Tensor, axis: Tensor, half: Tensor, sign: float) -> Tensor:
    """Height (B,) of the parabola ``h (1 - t^2)`` through lid points (B, P, 2), above (-1) or below (+1)."""
    d = pts - centre[:, None]
    pu = (d * axis[:, None]).sum(-1) / half[:, None]
    pv = d[..., 1] * axis[:, None, 0] - d[..., 0] * axis[:, None, 1]
    return (sign * pv / (1.0 - pu * pu).clamp_min(0.2)).mean(1).clamp_min(1e-3)


def _eye_fields(g: FaceGeometry, U: Tensor) -> Tensor:
    """Per-pixel eye coordinates of the nearer eye: t (-1..1 corner to corner), v (down), and lid heights."""
    per_side = []
    for i0, i1, up, low in ((36, 39, [37, 38], [41, 40]), (42, 45, [43, 44], [47, 46])):
        a, b = g.p(i0), g.p(i1)
        centre, axis = 0.5 * (a + b), g.axis(a, b)
        half = 0.5 * (b - a).norm(dim=-1)
        u, v = local_coords(g.X, g.Y, centre, axis)
        hu = _lid_height(g.lm[:, up], centre, axis, half, -1.0).view(-1, 1, 1).expand_as(u)
        hl = _lid_height(g.lm[:, low], centre, axis, half, 1.0).view(-1, 1, 1).expand_as(u)
        per_side.append(torch.stack([u / half.view(-1, 1, 1), v, hu, hl], dim=1))
    return torch.where((U < 0).unsqueeze(1), per_side[0], per_side[1])


def _mouth_fields(g: FaceGeometry) -> Tensor:
    a, b = g.p(60), g.p(64)
    centre, axis = 0.5 * (a + b), g.axis(a, b)
    half = 0.5 * (b - a).norm(dim=-1)
    u, v = local_coords(g.X, g.Y, centre, axis)
    mid = 0.5 * (g.p(62) + g.p(66)) - centre
    bow = mid[:, 1] * axis[:, 0] - mid[:, 0] * axis[:, 1]
    t = u / half.view(-1, 1, 1)
    return torch.stack([t, v - bow.view(-1, 1, 1) * (1.0 - t * t).clamp_min(0.0)], dim=1)


def _eye_albedo(params: Sequence[Identity], g: FaceGeometry, t: Tensor) -> Tensor:
    """Sclera (pinker towards the corners), iris with a darker limbal ring, and pupil, for both eyes."""
    iris_col = torch.tensor([IRIS_COLOURS[p.iris] for p in params], dtype=torch.float32).view(-1, 3, 1, 1)
    corner = smoothstep(0.6, 1.0, t.abs())[:, None]
    out = _vec(SCLERA) * (1.0 - 0.25 * corner * _vec((0.0, 1.0, 0.8)))
    for k in range(2):
        w = g.eye_w[:, k].view(-1, 1, 1)
        c = g.eye_c[:, k]
        r = torch.sqrt((g.X - c[:, 0].view(-1, 1, 1)) ** 2 + (g.Y - c[:, 1].view(-1, 1, 1)) ** 2) / w
        iris = (1.0 - smoothstep(0.17, 0.2, r))[:, None]
        ring = smoothstep(0.14, 0.19, r)[:, None]
        pupil = (1.0 - smoothstep(0.065, 0.085, r))[:, None]
        colour = iris_col * (1.0 - 0.45 * ring)
        out = out * (1 - iris) + iris * colour
        out = out * (1 - pupil) + pupil * 0.03
    return out


def neutral_pores(g: FaceGeometry, noise: dict[str, Tensor], detail: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pores (B, H, W, unit depth, denser on cheeks and nose) and the cheek/nose and nose masks they use."""
    hp = noise["pores"] - F.avg_pool2d(noise["pores"][:, None], 3, 1, 1, count_include_pad=False)[:, 0]
    cheeks_nose = torch.maximum(g.ellipse(g.off(g.eye_c[:, 0], 0, 0.1, 0.62), 0.35 * g.s, 0.35 * g.s),
                                g.ellipse(g.off(g.eye_c[:, 1], 1, 0.1, 0.62), 0.35 * g.s, 0.35 * g.s))
    nose = torch.maximum(g.capsule(g.lm[:, 27:31], 0.13 * g.s), g.ellipse(g.p(33), 0.25 * g.s, 0.15 * g.s))
    cheeks_nose = torch.maximum(cheeks_nose, nose)
    pores = -(hp - 1.0).clamp_min(0.0) * (0.6 + 0.6 * cheeks_nose) * detail
    return pores, cheeks_nose, nose


def neutral_skin(params: Sequence[Identity], g: FaceGeometry, noise: dict[str, Tensor], static: Tensor,
                 pores: Tensor, cheeks_nose: Tensor, face_v: Tensor, config: SynthConfig
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Skin albedo (B, 3, H, W) of the neutral face over its ``static`` displacement, with the lip and brow
    masks: melanin / haemoglobin maps, lips, freckles, brows, beard shadow, nostrils, crease and pore shading.
    ``face_v`` is the face-frame height (inter-ocular units, down) that places the beard."""
    face = g.face()
    lm = g.lm
    mel = _per(params, "melanin") * (1.0 + 0.07 * noise["mottle"])
    freckle = smoothstep(1.7, 2.5, noise["freckle"]) * _per(params, "freckles") * (0.4 + 0.6 * cheeks_nose)
    mel = mel + 0.5 * freckle
    lips = g.mouth(0.0)
    hae = _per(params, "haemoglobin") * (1.0 + 0.3 * cheeks_nose + 0.08 * noise["mottle"])
    hae = hae + _per(params, "lip_haemoglobin") * lips
    mel = mel * (1.0 + 0.1 * lips)
    skin = skin_reflectance(mel, hae)
    skin = skin * (1.0 - config.crease_darkening * (-static).clamp_min(0.0).unsqueeze(1)).clamp_min(0.6)

    dark = _per(params, "hair_darkness")[:, None]
    grey = torch.tensor([min(max((p.age - 50.0) / 60.0, 0.0), 0.5) for p in params]).view(-1, 1, 1, 1)
    hair = _vec((0.55, 0.42, 0.28)) * (1 - dark) + _vec((0.07, 0.05, 0.04)) * dark
    hair = hair * (1 - grey) + grey * 0.6
    thick = _per(params, "brow_thickness")[:, 0, 0]
    r = thick * g.s
    brows = union(g.capsule(lm[:, 17:22], r), g.capsule(lm[:, 22:27], r), g.capsule(lm[:, 19:22], 1.3 * r),
                  g.capsule(lm[:, 22:25], 1.3 * r))
    streak = 0.75 + 0.25 * noise["streak"].clamp(-1, 1)
    brow_alpha = (brows * _per(params, "brow_density") * streak)[:, None]
    skin = skin * (1 - brow_alpha) + hair * brow_alpha

    lower_face = smoothstep(0.55, 0.8, face_v) * (1.0 - g.mouth(0.02)) * face
    stubble = (0.6 + 0.4 * noise["stubble"].clamp(-1.5, 1.5) / 1.5).clamp(0, 1)
    beard = (lower_face * stubble * _per(params, "beard_density"))[:, None]
    skin = skin * (1 - 0.35 * beard * _vec((1.0, 0.95, 0.8)))
    nostrils = torch.maximum(g.ellipse(g.p(32) + g.ey * (0.02 * g.s)[:, None], 0.05 * g.s, 0.028 * g.s),
                             g.ellipse(g.p(34) + g.ey * (0.02 * g.s)[:, None], 0.05 * g.s, 0.028 * g.s))
    skin = skin * (1 - 0.55 * nostrils[:, None])
    skin = skin * (1.0 - 2.0 * config.crease_darkening * (-pores * config.pore_depth).clamp_min(0.0))[:, None]
    return skin, lips, brows


def flush_regions(g: FaceGeometry, lips: Tensor, brows: Tensor, nose: Tensor) -> Tensor:
    """Blood-flow regions (B, 4, H, W): forehead, cheeks, nose, chin, on skin (not on lips or brows)."""
    face, s = g.face(), g.s.view(-1, 1, 1)
    on_skin = (1.0 - lips) * (1.0 - brows)
    regions = {
        "forehead": smoothstep(0.05, 0.25, g.brow_height() / s) * face,
        "cheeks": g.ellipse(g.off(g.eye_c[:, 0], 0, 0.1, 0.65), 0.4 * g.s, 0.35 * g.s, soft=0.6)
        + g.ellipse(g.off(g.eye_c[:, 1], 1, 0.1, 0.65), 0.4 * g.s, 0.35 * g.s, soft=0.6),
        "nose": nose,
        "chin": g.chin(1.15) * face,
    }
    return torch.stack([r.clamp(0, 1) * on_skin for r in regions.values()], dim=1)


def age_factor(params: Sequence[Identity]) -> Tensor:
    """(B,) depth factor of the static age lines: ``((age - 22) / 55) ** 1.3`` clamped to 0..1."""
    return torch.tensor([min(max((p.age - 22.0) / 55.0, 0.0), 1.0) ** 1.3 for p in params])


def make_identities(indices: Sequence[int], seed: int, config: SynthConfig | None = None
                    ) -> IdentityBatch | StrainIdentities:
    """Build identities ``indices`` of ``seed`` at ``config.size``: parameters, landmarks and all maps.

    Returns an :class:`IdentityBatch` for the default world and a
    :class:`~aucgan.data.synth.strain.StrainIdentities` for ``config.world == "strain"``.
    """
    config = config or SynthConfig()
    idx = [int(i) for i in indices]
    if not idx:
        raise SynthError("make_identities needs at least one identity index")
    if config.world != "default":
        if config.world not in WORLD_BUILDERS:
            raise SynthError(f"no identity builder for world {config.world!r}; registered: "
                             f"{', '.join(sorted(WORLD_BUILDERS))}")
        return WORLD_BUILDERS[config.world](idx, seed, config)
    params = tuple(sample_identity(i, seed, config) for i in idx)
    size = config.size
    lm = torch.as_tensor(np.stack([p.landmarks(config.layout) for p in params]), dtype=torch.float32)
    g = FaceGeometry(lm, (size, size))
    noise = _noise(params, size)
    fp = footprints_on(g, AU_NAMES)
    mask = None if config.layout is None else config.layout.mask_at((size, size))
    if mask is not None:  # the map space's face mask bounds every AU (as the atlas footprints are bounded)
        fp = fp * mask
    pat = Patterns(g, fp, noise["chin"], config)
    face = g.face()
    detail = face if mask is None else face * mask   # where static displacement (lines, pores) may be

    # ---- displacement: AU bases and static (lid creases, age lines, pores)
    basis = pat.bases()
    pores, cheeks_nose, nose = neutral_pores(g, noise, detail)
    static = pat.static(age_factor(params), detail) + config.pore_depth * pores

    # ---- albedo, eye and mouth fields, blood-flow regions
    skin, lips, brows = neutral_skin(params, g, noise, static, pores, cheeks_nose, pat.V, config)

    def window(*codes: str) -> Tensor:
        return torch.stack([fp[:, AU_NAMES.index(c)] > 0 for c in codes]).all(dim=0).float()[:, None]

    eye_fields = torch.cat([_eye_fields(g, pat.U), window("AU05", "AU07", "AU45")], dim=1)
    mouth_fields = torch.cat([_mouth_fields(g), window("AU25", "AU26")], dim=1)
    eye = _eye_albedo(params, g, eye_fields[:, 0])
    flush = flush_regions(g, lips, brows, nose)
    return IdentityBatch(
        params=params, config=config, landmarks=lm, scale=g.s.clone(), skin=skin.clamp(0.0, 1.0).contiguous(),
        eye=eye.contiguous(), static=static[:, None].contiguous(), basis=basis.contiguous(),
        eye_fields=eye_fields.contiguous(), mouth_fields=mouth_fields.contiguous(),
        flush=flush.contiguous(),
    )
