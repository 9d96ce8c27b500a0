"""A DECA-code world with exact truth: the synthetic benchmark's faces as DECA / EMOCA / OpenFace would see them.

Every image of the world is one (identity, AU vector) pair of the synthetic benchmark (:mod:`aucgan.data.synth`)
rendered in a UV layout (FLAME UV from ``aucgan layout flame``). The world writes what the real tools write for
such an image, so ``aucgan prepare-deca`` reads it through the same path as real data:

* **uv_z** - the benchmark's displacement in DECA's convention: metres (:data:`UV_Z_SCALE` metres per layout
  unit, the map width; a FLAME UV unit spans roughly a head's unwrapped width), clipped to DECA's +-1 cm,
  256 px by default. The lids and lips of DECA open with the coarse FLAME mesh, not with the detail map, so the
  benchmark's eye and mouth recesses are off (``eye_recess = mouth_recess = 0``).
* **codes** (EMOCA ``--save_codes``: ``emoca/<model>/<image><face index:02d>/{shape,exp,tex,pose,detail}.npy``),
  fitted to the image itself, with recorded knobs:

  - ``exp`` (50) and the jaw pose (``pose[3:6]``) are fixed linear maps of a *perceived* AU vector
    ``p = mu + sqrt(exp_info) (a - mu) + sqrt(1 - exp_info) C^(1/2) eps`` (``a``: the image's true AUs, ``mu``,
    ``C``: the mean and covariance of the benchmark's expressions, ``eps`` ~ N(0, I) per image). ``p`` has the
    AUs' own covariance, and the best linear read-out of ``a`` from ``p`` recovers exactly ``exp_info`` of every
    AU's variance. ``exp`` adds an identity offset and noise in the 33 dimensions the AU map leaves free, so a
    linear read-out of ``exp`` recovers ``exp_info`` whatever the offsets; the jaw opens with AU26 and AU25.
  - ``detail`` (128) = the identity's static detail code (a fixed random vector per identity: the decoder learns
    that person's static detail from it) + ``detail_leak`` x a code of this image's expression detail (a fixed
    random projection of the true expression change of uv_z, pooled to 16 x 16, in units of
    :data:`DETAIL_CODE_UNIT` metres) + noise: DECA's E_detail sees the image's wrinkles.
  - ``shape`` (100), ``tex`` (50): per identity, plus a little noise; ``pose[0:3]``: a small head rotation.
* **AUs** as OpenFace 2.x ``FaceLandmarkImg`` writes them (``openface/<image>.csv``, ``face, confidence,
  AUxx_r ..., AUxx_c ...``): the true AUs plus Gaussian noise, clipped to 0..5 and rounded to 0.01 as OpenFace
  writes (``AUxx_c`` = 1 from intensity 1); the noise's spread is set so that the readings' mean absolute error
  over the benchmark's expressions is ``au_noise`` intensity points (most AUs are absent, and clipping at 0
  halves their errors, so the spread is larger than ``au_noise``). Named levels: :data:`AU_NOISE_LEVELS`.
* optionally DECA ``--saveMat`` files (``deca/<image>/<image>.mat`` with ``displacement_map`` = uv_z + the
  world's own small fixed displacement, ``fixed_displacement_<S>.npy``: a stand-in, not DECA's file).
* the world's own record: ``world.json`` (every knob, the benchmark parameters, the code model's constants),
  ``layout.json``, ``samples.csv`` (image, identity, expression, split and the true AUs before the noise) and
  ``identities.csv`` (``name, identity``: ``prepare-deca --identities``).

The truth - the uv_z of any identity at any AU vector - is recomputed from the record by :class:`DecaWorld`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.au import AU_MAX, AU_MIN, AU_NAMES, NUM_AUS
from aucgan.data.synth import (
    IdentityBatch,
    SynthConfig,
    SynthError,
    identity_expressions,
    identity_name,
    make_identities,
    render,
    sample_name,
)
from aucgan.data.synth.config import config_from_card, generator, in_layout, mix_seed
from aucgan.data.synth.dataset import split_identities
from aucgan.data.synth.expression import sample_expressions
from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write, atomic_write_text, claim_folder
from aucgan.layout.landmarks import Layout, LayoutError, load_layout

if TYPE_CHECKING:
    from aucgan.deca.data import DecaData

FORMAT = "aucgan-deca-world"
FORMAT_VERSION = 1
CARD = "world.json"
SAMPLES = "samples.csv"
IDENTITIES = "identities.csv"
LAYOUT_FILE = "layout.json"
EMOCA_DIR, OPENFACE_DIR, MAT_DIR = "emoca", "openface", "deca"
OWNED = (CARD, SAMPLES, IDENTITIES, LAYOUT_FILE, EMOCA_DIR, OPENFACE_DIR, MAT_DIR)

#: Metres of uv_z per layout unit (the UV map's width).
UV_Z_SCALE = 0.25
#: DECA's uv_z lies within +-out_scale (0.01 m); the truth is clipped there as DECA's tanh would bound it.
UV_Z_LIMIT = 0.01
#: The expression-detail code is the projected, pooled change of uv_z in these metres (about unit scale).
DETAIL_CODE_UNIT = 2e-5
#: Side of the pooled change map the detail code projects.
DETAIL_POOL = 16
#: Named AU noise levels (mean absolute error, intensity points): aucgan's judge on real maps (held-out MAE
#: 0.182, docs/findings.md).
AU_NOISE_LEVELS = {"none": 0.0, "judge": 0.182}
#: Lengths of EMOCA's codes.
CODE_LENGTHS = {"shape": 100, "exp": 50, "tex": 50, "pose": 6, "detail": 128}
#: Expressions drawn for the AU mean and covariance the code model whitens with.
REFERENCE_DRAWS = 4096
#: The jaw opens by these radians per AU intensity point (FLAME's jaw pose, first axis).
JAW_OPENING = {"AU26": 0.05, "AU25": 0.015}
#: Code-model noise levels (standard deviations in code units; the pose's in radians).
EXP_IDENTITY_STD, EXP_NOISE_STD = 0.5, 0.2
JAW_IDENTITY_STD, JAW_NOISE_STD, HEAD_POSE_STD = 0.01, 0.005, 0.08
SHAPE_NOISE_STD = 0.05
OPENFACE_CONFIDENCE = 0.98

# random streams of the code model (apart from the benchmark's own tags 1..4)
_STREAM_MODEL, _STREAM_IDENTITY, _STREAM_IMAGE, _STREAM_REFERENCE, _STREAM_FIXED = 21, 22, 23, 24, 25
#: Salt of the images the metric asks the world to encode (targets that are not samples of the world).
QUERY_SALT = 1 << 20


class WorldError(AucganError, ValueError):
    """Bad DECA-world arguments, or a world folder whose record cannot be read."""


def au_noise_level(value: str | float) -> float:
    """An AU noise level from a number (mean absolute error, intensity points) or a name in
    :data:`AU_NOISE_LEVELS`."""
    if isinstance(value, str) and value.strip().lower() in AU_NOISE_LEVELS:
        return AU_NOISE_LEVELS[value.strip().lower()]
    try:
        level = float(value)
    except (TypeError, ValueError):
        raise WorldError(f"AU noise must be a number (mean absolute error, 0..5 scale) or one of "
                         f"{', '.join(AU_NOISE_LEVELS)}; got {value!r}") from None
    if not math.isfinite(level) or not 0.0 <= level <= AU_MAX:
        raise WorldError(f"AU noise must lie in 0..{AU_MAX:g} intensity points, got {value!r}")
    return level


@dataclass(frozen=True)
class WorldConfig:
    """The knobs of a DECA-code world (see the module notes); every one is recorded in ``world.json``."""

    identities: int = 40
    expressions: int = 24
    size: int = 256
    seed: int = 0
    exp_info: float = 0.9
    detail_leak: float = 0.5
    au_noise: float = 0.0
    detail_noise: float = 0.1
    test_fraction: float = 0.2
    model_name: str = "EMOCA"
    mat: bool = False

    def __post_init__(self) -> None:
        if self.identities < 1 or self.expressions < 1:
            raise WorldError(f"need at least one identity and one expression, got {self.identities} x "
                             f"{self.expressions}")
        if not DETAIL_POOL <= int(self.size) <= 2048:
            raise WorldError(f"size must be between {DETAIL_POOL} and 2048 pixels, got {self.size}")
        for name in ("exp_info", "detail_leak"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise WorldError(f"{name} must lie in 0..1, got {v}")
        au_noise_level(self.au_noise)
        if not 0.0 <= float(self.detail_noise) < 10.0:
            raise WorldError(f"detail_noise must lie in 0..10, got {self.detail_noise}")
        if not 0.0 <= float(self.test_fraction) < 1.0:
            raise WorldError(f"test_fraction must lie in [0, 1), got {self.test_fraction}")
        if not self.model_name or any(c in self.model_name for c in "/\\") or self.model_name in (".", ".."):
            raise WorldError(f"model_name must be a plain folder name, got {self.model_name!r}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def benchmark_config(layout: Layout | None, size: int, overrides: dict[str, object] | None = None) -> SynthConfig:
    """The benchmark's parameters in the world: ``layout`` (its identity jitter), ``size`` px, no eye or mouth
    recess (DECA opens lids and lips with the coarse mesh, not with the detail map), then ``overrides`` of
    other :class:`SynthConfig` fields (e.g. another world of the benchmark, or deeper wrinkles)."""
    cfg = replace(in_layout(layout), size=int(size), eye_recess=0.0, mouth_recess=0.0)
    valid = sorted(f.name for f in fields(SynthConfig) if f.name not in ("size", "layout"))
    unknown = [k for k in overrides or {} if k not in valid]
    if unknown:
        raise WorldError(f"unknown benchmark parameter(s) {', '.join(unknown)}; valid: {', '.join(valid)} "
                         "(size and layout have their own options)")
    try:
        return replace(cfg, **(overrides or {}))
    except (TypeError, ValueError) as exc:
        raise WorldError(f"benchmark parameters {overrides}: {exc}") from None


def image_name(identity: int, expression: int) -> str:
    """The world's image name (the stem of the image file DECA, EMOCA and OpenFace would read)."""
    return sample_name(identity, expression)


def emoca_folder(name: str, face: int = 0) -> str:
    """EMOCA's output folder of face ``face`` in image ``name``: the name plus the two-digit face index."""
    return f"{name}{int(face):02d}"


def to_uv_z(displacement: torch.Tensor) -> torch.Tensor:
    """The benchmark's displacement (layout units) as DECA's uv_z (metres, within +-1 cm)."""
    return (displacement * UV_Z_SCALE).clamp(-UV_Z_LIMIT, UV_Z_LIMIT)


class CodeModel:
    """The fixed part of the world's encoder: the AU statistics, the linear maps and the detail projection,
    all drawn from ``seed``; per-identity and per-image draws come from their own streams."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        ref = sample_expressions(REFERENCE_DRAWS, mix_seed(seed, _STREAM_REFERENCE))["au"].double()
        self.au_mean = ref.mean(0)
        cov = torch.cov(ref.T)
        evals, evecs = torch.linalg.eigh(cov)
        self.cov_sqrt = evecs @ torch.diag(evals.clamp_min(1e-8).sqrt()) @ evecs.T
        self.au_std = cov.diagonal().clamp_min(1e-8).sqrt()
        self._reference = ref
        self._sigma: dict[float, float] = {}
        g = generator(seed, _STREAM_MODEL)
        n_exp = CODE_LENGTHS["exp"]
        self.exp_map = torch.randn(n_exp, NUM_AUS, generator=g, dtype=torch.float64) / math.sqrt(NUM_AUS)
        u, _, _ = torch.linalg.svd(self.exp_map, full_matrices=True)
        self.exp_free = u[:, NUM_AUS:].contiguous()                      # (50, 33): the complement of the AU map
        jaw = torch.randn(3, NUM_AUS, generator=g, dtype=torch.float64) * 0.004
        jaw[0] = 0.0
        for code, rad in JAW_OPENING.items():
            jaw[0, AU_NAMES.index(code)] = rad
        self.jaw_map = jaw
        self.detail_projection = (torch.randn(CODE_LENGTHS["detail"], DETAIL_POOL * DETAIL_POOL, generator=g,
                                              dtype=torch.float64) / DETAIL_POOL)

    def identity_codes(self, identity: int) -> dict[str, torch.Tensor]:
        """The identity's own codes: static detail, expression offset (in the free dimensions), jaw offset,
        shape and texture."""
        g = generator(self.seed, identity, _STREAM_IDENTITY)
        return {"detail": torch.randn(CODE_LENGTHS["detail"], generator=g, dtype=torch.float64),
                "exp_offset": EXP_IDENTITY_STD * torch.randn(self.exp_free.shape[1], generator=g, dtype=torch.float64),
                "jaw_offset": JAW_IDENTITY_STD * torch.randn(3, generator=g, dtype=torch.float64),
                "shape": torch.randn(CODE_LENGTHS["shape"], generator=g, dtype=torch.float64),
                "tex": torch.randn(CODE_LENGTHS["tex"], generator=g, dtype=torch.float64)}

    def expression_detail(self, change: torch.Tensor) -> torch.Tensor:
        """(B, 128) codes of the expression change of uv_z (B, 1, S, S) in metres."""
        pooled = F.adaptive_avg_pool2d(change.double(), DETAIL_POOL).flatten(1)
        return pooled @ self.detail_projection.T / DETAIL_CODE_UNIT

    def encode(self, identity: int, image: int, au: torch.Tensor, change: torch.Tensor, cfg: WorldConfig
               ) -> dict[str, np.ndarray]:
        """EMOCA's codes of image ``image`` of ``identity``: true AUs ``au`` (B, 17) (images ``image .. image + B
        - 1``) and its uv_z change against the neutral face ``change`` (B, 1, S, S); float32 arrays (B, n)."""
        b = au.shape[0]
        ident = self.identity_codes(identity)
        a = au.double()
        rho = float(cfg.exp_info)
        draws = [generator(self.seed, identity, image + j, _STREAM_IMAGE) for j in range(b)]

        def noise(n: int) -> torch.Tensor:
            return torch.stack([torch.randn(n, generator=g, dtype=torch.float64) for g in draws])

        eps = noise(NUM_AUS)
        perceived = self.au_mean + math.sqrt(rho) * (a - self.au_mean) + math.sqrt(1.0 - rho) * eps @ self.cov_sqrt.T
        free = ident["exp_offset"] + EXP_NOISE_STD * noise(self.exp_free.shape[1])
        exp = ((perceived - self.au_mean) / self.au_std) @ self.exp_map.T + free @ self.exp_free.T
        jaw = (perceived - self.au_mean) @ self.jaw_map.T + ident["jaw_offset"] + JAW_NOISE_STD * noise(3)
        head = HEAD_POSE_STD * noise(3)
        detail = ident["detail"] + float(cfg.detail_leak) * self.expression_detail(change) \
            + float(cfg.detail_noise) * noise(CODE_LENGTHS["detail"])
        shape = ident["shape"] + SHAPE_NOISE_STD * noise(CODE_LENGTHS["shape"])
        tex = ident["tex"] + SHAPE_NOISE_STD * noise(CODE_LENGTHS["tex"])
        out = {"shape": shape, "exp": exp, "tex": tex, "pose": torch.cat([head, jaw], dim=1), "detail": detail}
        return {k: v.float().numpy() for k, v in out.items()}

    def noise_sigma(self, level: float) -> float:
        """The standard deviation of the Gaussian AU noise whose readings, clipped to 0..5, are off by ``level``
        on average over the benchmark's expressions (bisection on the reference draws and a fixed noise draw)."""
        if level <= 0:
            return 0.0
        if level in self._sigma:
            return self._sigma[level]
        ref = self._reference
        z = torch.randn(ref.shape, generator=generator(self.seed, _STREAM_REFERENCE, 1), dtype=torch.float64)
        lo, hi = 0.0, 20.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            err = float(((ref + mid * z).clamp(AU_MIN, AU_MAX) - ref).abs().mean())
            lo, hi = (mid, hi) if err < level else (lo, mid)
        self._sigma[level] = 0.5 * (lo + hi)
        return self._sigma[level]

    def observe(self, identity: int, image: int, au: torch.Tensor, level: float) -> np.ndarray:
        """OpenFace's reading of true AUs ``au`` (B, 17): the true AUs plus Gaussian noise, clipped to 0..5 and
        rounded to 0.01, with a mean absolute error of ``level`` over the benchmark's expressions."""
        a = au.double().numpy()
        if level <= 0:
            return np.round(a, 2)
        sigma = self.noise_sigma(level)
        noise = np.stack([torch.randn(NUM_AUS, generator=generator(self.seed, identity, image + j, _STREAM_IMAGE,
                                                                    1), dtype=torch.float64).numpy()
                          for j in range(a.shape[0])])
        return np.round(np.clip(a + sigma * noise, AU_MIN, AU_MAX), 2)


class WorldRenderer:
    """uv_z of the world's identities (cached, one at a time) at any AU vectors."""

    def __init__(self, seed: int, bench: SynthConfig) -> None:
        self.seed, self.bench = int(seed), bench
        self._cache: tuple[int, IdentityBatch] | None = None

    def identity(self, identity: int) -> IdentityBatch:
        """The benchmark identity ``identity`` at the world's size (the last one asked for is kept)."""
        if self._cache is None or self._cache[0] != identity:
            self._cache = (identity, make_identities([identity], self.seed, self.bench))
        return self._cache[1]

    def uv_z(self, identity: int, au: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) float32 metres: ``identity`` showing each AU vector of ``au`` (B, 17), 0..5."""
        au = torch.as_tensor(au, dtype=torch.float32).clamp(AU_MIN, AU_MAX)
        index = torch.zeros(au.shape[0], dtype=torch.long)
        return to_uv_z(render(self.identity(identity), au, index=index)["displacement"])

    def change(self, identity: int, au: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uv_z at ``au`` and its change against the identity's neutral face."""
        uv = self.uv_z(identity, au)
        return uv, uv - self.uv_z(identity, torch.zeros(1, NUM_AUS))


def fixed_displacement(seed: int, size: int) -> np.ndarray:
    """The world's stand-in for DECA's ``fixed_displacement_256.npy``: a smooth seeded map of about +-0.2 mm
    (float64, as DECA's)."""
    g = generator(seed, _STREAM_FIXED)
    coarse = torch.randn(1, 1, 8, 8, generator=g, dtype=torch.float64)
    return (2e-4 * F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False))[0, 0].numpy()


def _openface_csv(values: np.ndarray) -> str:
    """One FaceLandmarkImg CSV (one face): OpenFace's ``", "`` separators, AUxx_r then AUxx_c (with AU28_c)."""
    presence = [*AU_NAMES[:-1], "AU28", AU_NAMES[-1]]
    header = ["face", "confidence", *(f"{a}_r" for a in AU_NAMES), *(f"{a}_c" for a in presence)]
    value = dict(zip(AU_NAMES, values.tolist()))
    row = ["0", f"{OPENFACE_CONFIDENCE:.2f}", *(f"{v:.2f}" for v in values.tolist()),
           *("1" if value.get(a, 0.0) >= 1.0 else "0" for a in presence)]
    return ", ".join(header) + "\n" + ", ".join(row) + "\n"


def _save_npy(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda p: np.save(p, arr, allow_pickle=False))


def _csv_text(header: Sequence[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_world(out: str | Path, cfg: WorldConfig, layout: Layout | None = None, force: bool = False,
                progress: Callable[[int], None] | None = None, synth: dict[str, object] | None = None) -> dict:
    """Write the world ``cfg`` rendered in ``layout`` (None: aucgan's built-in layout, not FLAME UV) into
    ``out`` (see the module notes); ``synth`` overrides benchmark parameters (:func:`benchmark_config`);
    ``progress(n)`` after each identity's ``n`` images. Returns the card. Refuses a non-empty folder unless
    ``force`` (which replaces a previous world's own files only)."""
    out = Path(out)
    level = au_noise_level(cfg.au_noise)
    bench = benchmark_config(layout, cfg.size, synth)
    model = CodeModel(cfg.seed)
    renderer = WorldRenderer(cfg.seed, bench)
    splits = split_identities(cfg.identities, cfg.seed, cfg.test_fraction)
    split_of = {i: name for name, ids in splits.items() for i in ids}
    claim_folder(out, OWNED, force, "DECA world folder")
    codes_root = out / EMOCA_DIR / cfg.model_name
    fixed = fixed_displacement(cfg.seed, cfg.size) if cfg.mat else None
    if fixed is not None:
        _save_npy(out / f"fixed_displacement_{cfg.size}.npy", fixed)
    rows: list[list[str]] = []
    clipped, abs_err, n_err = 0, 0.0, 0
    for i in range(cfg.identities):
        au = identity_expressions(cfg.seed, i, cfg.expressions)["au"]
        uv, change = renderer.change(i, au)
        clipped += int((uv.abs() >= UV_Z_LIMIT).sum())
        codes = model.encode(i, 0, au, change, cfg)
        seen = model.observe(i, 0, au, level)
        abs_err += float(np.abs(seen - au.double().numpy()).sum())
        n_err += seen.size
        for j in range(cfg.expressions):
            name = image_name(i, j)
            folder = codes_root / emoca_folder(name)
            for key, arr in codes.items():
                _save_npy(folder / f"{key}.npy", arr[j])
            atomic_write_text(out / OPENFACE_DIR / f"{name}.csv", _openface_csv(seen[j]))
            if fixed is not None:
                _write_mat(out / MAT_DIR / name / f"{name}.mat", uv[j, 0].numpy() + fixed)
            rows.append([name, identity_name(i), str(j), split_of[i], *(f"{v:.2f}" for v in au[j].tolist())])
        if progress is not None:
            progress(cfg.expressions)
    atomic_write_text(out / SAMPLES, _csv_text(["name", "identity", "expression", "split", *AU_NAMES], rows))
    atomic_write_text(out / IDENTITIES, _csv_text(["name", "identity"], [r[:2] for r in rows]))
    card = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "world": cfg.to_dict(), "au_names": list(AU_NAMES),
        "au_noise_mae": level, "au_noise_sigma": model.noise_sigma(level),
        "au_noise_measured_mae": abs_err / max(1, n_err),
        "uv_z": {"units": "metres", "scale_m_per_layout_unit": UV_Z_SCALE, "limit_m": UV_Z_LIMIT,
                 "clipped_pixels": clipped},
        "codes": {"lengths": CODE_LENGTHS, "latent": "[pose[3:6], exp, detail] (181)",
                  "detail_code_unit_m": DETAIL_CODE_UNIT, "detail_pool": DETAIL_POOL,
                  "reference_draws": REFERENCE_DRAWS, "jaw_opening_rad_per_intensity": JAW_OPENING,
                  "exp_identity_std": EXP_IDENTITY_STD, "exp_noise_std": EXP_NOISE_STD,
                  "jaw_identity_std": JAW_IDENTITY_STD, "jaw_noise_std": JAW_NOISE_STD,
                  "head_pose_std": HEAD_POSE_STD, "shape_noise_std": SHAPE_NOISE_STD,
                  "au_mean": [round(float(v), 6) for v in model.au_mean],
                  "au_std": [round(float(v), 6) for v in model.au_std]},
        "benchmark": {"params": bench.to_dict(), **bench.world_card(),
                      "layout": None if layout is None else layout.name,
                      "layout_file": None if layout is None else LAYOUT_FILE},
        "splits": {k: [identity_name(i) for i in v] for k, v in splits.items()},
        "files": {"codes": f"{EMOCA_DIR}/{cfg.model_name}/<image><face:02d>/{{shape,exp,tex,pose,detail}}.npy",
                  "aus": f"{OPENFACE_DIR}/<image>.csv", "identities": IDENTITIES, "samples": SAMPLES,
                  "mat": f"{MAT_DIR}/<image>/<image>.mat" if cfg.mat else None,
                  "fixed_displacement": f"fixed_displacement_{cfg.size}.npy" if cfg.mat else None},
    }
    if layout is not None:
        atomic_write_text(out / LAYOUT_FILE, json.dumps(layout.to_json(), indent=1))
    atomic_write_text(out / CARD, json.dumps(card, indent=1))
    return card


def _write_mat(path: Path, displacement_map: np.ndarray) -> None:
    import scipy.io

    data = {"displacement_map": displacement_map.astype(np.float32)[None, None]}
    atomic_write(path, lambda p: scipy.io.savemat(str(p), data))


# ------------------------------------------------------------------------------------------------- reading
class DecaWorld:
    """A world folder read back: its knobs, images and true AUs, the codes and OpenFace AUs it wrote, and the
    truth - any identity's uv_z at any AU vector."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        card_path = self.folder / CARD
        if not card_path.is_file():
            raise WorldError(f"{self.folder}: not a DECA world (no {CARD}); write one with `aucgan synth-deca`")
        try:
            card = json.loads(card_path.read_text())
            found = (card.get("format"), card.get("format_version"))
        except (OSError, ValueError, AttributeError) as exc:
            raise WorldError(f"{card_path}: not a readable DECA world card ({type(exc).__name__}: {exc})") from None
        if found != (FORMAT, FORMAT_VERSION):
            raise WorldError(f"{card_path}: format must be {FORMAT!r} version {FORMAT_VERSION}, got {found[0]!r} "
                             f"version {found[1]!r}")
        try:
            self.config = WorldConfig(**card["world"])
            bench_card = dict(card["benchmark"])
            bench_card["params"] = dict(bench_card["params"])
            layout_file = bench_card.get("layout_file")
        except (KeyError, TypeError, ValueError) as exc:
            raise WorldError(f"{card_path}: not a readable DECA world card ({type(exc).__name__}: {exc})") from None
        try:
            self.layout = None if layout_file is None else load_layout(self.folder / layout_file)
        except LayoutError as exc:
            raise WorldError(f"{card_path}: its layout: {exc}") from None
        self.card = card
        try:
            self.bench = config_from_card(bench_card, self.layout)
        except SynthError as exc:
            raise WorldError(f"{card_path}: its benchmark parameters: {exc}") from None
        self.au_names = tuple(card.get("au_names", AU_NAMES))
        if self.au_names != AU_NAMES:
            raise WorldError(f"{card_path}: au_names must be OpenFace's 17 ({', '.join(AU_NAMES)})")
        self.model = CodeModel(self.config.seed)
        self.renderer = WorldRenderer(self.config.seed, self.bench)
        self.names, self.identities, self.expressions, self.splits, self.true_au = self._read_samples()
        self._row = {n: i for i, n in enumerate(self.names)}

    def _read_samples(self) -> tuple[list[str], list[int], list[int], list[str], np.ndarray]:
        path = self.folder / SAMPLES
        names, ids, exps, splits, aus = [], [], [], [], []
        try:
            with path.open(newline="") as fh:
                for line, r in enumerate(csv.DictReader(fh), 2):
                    try:
                        ident = r["identity"]
                        if not ident.startswith("id") or not ident[2:].isdigit():
                            raise ValueError(f"identity {ident!r} is not idNNNN")
                        ids.append(int(ident[2:]))
                        names.append(r["name"])
                        exps.append(int(r["expression"]))
                        splits.append(r["split"])
                        aus.append([float(r[a]) for a in AU_NAMES])
                    except (KeyError, ValueError, TypeError) as exc:
                        raise WorldError(f"{path}: line {line}: bad row ({type(exc).__name__}: {exc})") from None
        except OSError as exc:
            raise WorldError(f"{path}: unreadable ({exc})") from None
        if not names:
            raise WorldError(f"{path}: no images")
        return names, ids, exps, splits, np.asarray(aus, np.float32)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def size(self) -> int:
        return int(self.config.size)

    def row(self, name: str) -> int:
        try:
            return self._row[name]
        except KeyError:
            raise WorldError(f"{self.folder}: no image {name!r} in {SAMPLES}") from None

    def face_mask(self) -> torch.Tensor:
        """(S, S) the layout's face mask (DECA's uv_face_eye_mask for FLAME), or ones without one."""
        mask = None if self.layout is None else self.layout.mask_at((self.size, self.size))
        return torch.ones(self.size, self.size) if mask is None else mask.float()

    # ------------------------------------------------------------------------------------------- the truth
    def uv_z(self, identity: int, au: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The truth: (B, 1, S, S) float32 metres of ``identity`` at each AU vector of ``au`` (B, 17), 0..5."""
        return self.renderer.uv_z(int(identity), torch.as_tensor(np.asarray(au, np.float32)))

    def encode(self, identity: int, au: torch.Tensor | np.ndarray, query: int = 0) -> dict[str, np.ndarray]:
        """The codes the world's encoder gives images of ``identity`` showing ``au`` (B, 17) that are not
        samples of the world (query images ``query .. query + B - 1``, drawn apart from the world's own)."""
        au = torch.as_tensor(np.asarray(au, np.float32))
        _, change = self.renderer.change(int(identity), au)
        return self.model.encode(int(identity), QUERY_SALT + int(query), au, change, self.config)

    # --------------------------------------------------------------------------------- what the tools wrote
    def codes(self, name: str) -> dict[str, np.ndarray]:
        """The EMOCA codes written for image ``name`` (``np.load`` without pickles)."""
        folder = self.folder / EMOCA_DIR / self.config.model_name / emoca_folder(name)
        out = {}
        for key in CODE_LENGTHS:
            path = folder / f"{key}.npy"
            try:
                out[key] = np.load(path, allow_pickle=False).astype(np.float32)
            except (OSError, ValueError) as exc:
                raise WorldError(f"{path}: unreadable EMOCA code ({exc})") from None
        return out

    def latent(self, name: str) -> np.ndarray:
        """DECA's decoder input ``[pose[3:6], exp, detail]`` (181,) of image ``name``."""
        return latent_of(self.codes(name))

    def observed_au(self, name: str) -> np.ndarray:
        """The AUs (17,) OpenFace reported for image ``name`` (its CSV, read by aucgan's OpenFace reader)."""
        from aucgan.data.errors import DataError
        from aucgan.data.openface import read_openface_csv

        path = self.folder / OPENFACE_DIR / f"{name}.csv"
        try:
            table = read_openface_csv(path, AU_NAMES)
        except DataError as exc:
            raise WorldError(str(exc)) from None
        if len(table.records) != 1:
            raise WorldError(f"{path}: expected one face row, found {len(table.records)}")
        return table.records[0].au.astype(np.float32)

    def deca_data(self, au_names: Sequence[str] = AU_NAMES, split: str | None = None) -> DecaData:
        """The world as a prepared DECA data set in memory (:class:`aucgan.deca.data.DecaData`): each image's
        latent, OpenFace AUs (``au_names``) and its true uv_z, for ``diagnose`` without a prepared folder;
        ``split``: only the images of that split's people (None: all)."""
        from aucgan.au import au_indices
        from aucgan.deca.data import DecaData

        cols = au_indices(list(au_names), AU_NAMES)
        keep = [r for r in range(len(self)) if split is None or self.splits[r] == split]
        if not keep:
            raise WorldError(f"{self.folder}: no images in split {split!r} (splits: "
                             f"{', '.join(sorted(set(self.splits)))})")
        size = self.size
        uv = np.zeros((len(keep), 1, size, size), np.float32)
        ids = [self.identities[r] for r in keep]
        for ident in sorted(set(ids)):
            at = [j for j, i in enumerate(ids) if i == ident]
            uv[at] = self.uv_z(ident, self.true_au[[keep[j] for j in at]]).numpy()
        names = [self.names[r] for r in keep]
        card = {"format": "aucgan-deca", "latent_parts": [["jaw", 3], ["exp", 50], ["detail", 128]],
                "uv_size": size, "source": f"DECA world {self.folder}" + (f", split {split}" if split else "")}
        return DecaData(root=self.folder, names=names, identities=[identity_name(i) for i in ids],
                        au_names=tuple(au_names), au=np.stack([self.observed_au(m)[cols] for m in names]),
                        latents=np.stack([self.latent(m) for m in names]), uv_z=uv, card=card)


def latent_of(codes: dict[str, np.ndarray]) -> np.ndarray:
    """``[pose[3:6], exp, detail]`` of one image's codes, float32 (DECA's decoder input)."""
    return np.concatenate([codes["pose"][3:6], codes["exp"], codes["detail"]]).astype(np.float32)


def open_world(folder: str | Path) -> DecaWorld:
    """Read a world folder written by :func:`write_world`."""
    return DecaWorld(folder)
