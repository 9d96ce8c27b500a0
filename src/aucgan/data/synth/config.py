"""Generator parameters of the synthetic UV face benchmark, its version, and seed derivation."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from aucgan.errors import AucganError
from aucgan.layout.landmarks import Layout

#: Bumped whenever the same (seed, parameters) would render different maps.
GENERATOR_VERSION = "1.0"
#: The worlds a benchmark can be rendered in: ``default`` (AU patterns inside the atlas footprints) and
#: ``strain`` (AU change from skin strain, :mod:`aucgan.data.synth.strain`; docs/benchmark.md).
WORLDS = ("default", "strain")
#: Bumped whenever the same (seed, parameters) would render a different strain world.
STRAIN_VERSION = "1.0"


class SynthError(AucganError, ValueError):
    """Bad synthetic-benchmark arguments (size, counts, AU vectors)."""


@dataclass(frozen=True)
class StrainParams:
    """Parameters of the strain world (docs/benchmark.md). Lengths in inter-ocular distances ``s``.

    Muscle anchors move per identity by ``anchor_jitter`` (standard deviation) and muscle strengths by up
    to ``strength_spread`` (fraction); wrinkles form where the skin's compressive strain exceeds the
    identity's threshold (drawn in ``threshold_min .. threshold_max``, lower with age), with a response
    that saturates at about ``saturation`` excess strain and lines ``spacing_min .. spacing_max`` apart;
    existing detail deepens by up to ``deepen`` times under compression; tissue bulges with the area it
    loses (saturating at ``bulge_saturation``). The landmarks the benchmark hands out are the anatomy plus
    a tracker error of ``tracker_sigma`` per landmark and axis.
    """

    tracker_sigma: float = 0.03
    anchor_jitter: float = 0.04
    strength_spread: float = 0.25
    threshold_min: float = 0.03
    threshold_max: float = 0.08
    saturation: float = 0.12
    spacing_min: float = 0.16
    spacing_max: float = 0.24
    deepen: float = 1.5
    bulge_saturation: float = 0.25

    def __post_init__(self) -> None:
        for f in fields(self):
            if not float(getattr(self, f.name)) >= 0:
                raise SynthError(f"StrainParams.{f.name} must be >= 0, got {getattr(self, f.name)}")
        for lo, hi in (("threshold_min", "threshold_max"), ("spacing_min", "spacing_max")):
            if getattr(self, lo) > getattr(self, hi):
                raise SynthError(f"StrainParams.{lo} must not exceed {hi}, got {getattr(self, lo)} > "
                                 f"{getattr(self, hi)}")
        if self.spacing_min <= 0 or self.saturation <= 0 or self.bulge_saturation <= 0:
            raise SynthError("StrainParams.spacing_min, saturation and bulge_saturation must be > 0")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the procedural generator. Depths are displacement in layout units (1.0 = map width).

    An AU at intensity 5 gives roughly ``wrinkle_depth`` deep lines, ``fold_depth`` deep folds and
    ``bulge_height`` high bulges; intermediate intensities scale them (``amp = u`` for the core of the
    pattern and ``u ** 2`` for its extension, ``u = intensity / 5``), so amplitude grows strictly with
    intensity and strong AUs also spread further.

    ``layout`` is the map space (None: aucgan's built-in layout): identities vary around its landmarks by
    ``layout_jitter``, and its face mask, if any, bounds every AU footprint and the static detail. It is
    not one of :meth:`to_dict`'s numbers: the benchmark folder stores it as its own ``layout.json``.

    ``world`` (:data:`WORLDS`) picks the renderer; ``strain`` holds the strain world's parameters. Neither
    is in :meth:`to_dict`: the card records them as ``world`` / ``world_params`` (:meth:`world_card`) only
    for a world other than the default, so a default-world folder is what earlier versions wrote.
    """

    size: int = 128
    wrinkle_depth: float = 0.004
    fold_depth: float = 0.006
    bulge_height: float = 0.004
    pore_depth: float = 0.0004
    age_lines: float = 0.55           # static line depth at the oldest age, relative to the AU patterns at 5
    layout_jitter: float = 1.0        # scale of the per-identity landmark variation
    flush_strength: float = 0.3       # haemoglobin change of a full emotion flush
    crease_darkening: float = 18.0    # albedo darkening per unit of negative (creased) displacement
    lip_gap: float = 0.1              # largest half-opening of the lips, in inter-ocular distances
    eye_recess: float = 0.002         # the open eye lies this far behind the lid surface
    mouth_recess: float = 0.008       # depth of the open mouth
    normal_strength: float = 1.0      # slope multiplier of the normal maps written with the data
    disp_scale: float = 0.1           # 16-bit PNG range of the displacement (v / 65535 * scale + offset)
    disp_offset: float = -0.05
    layout: Layout | None = None
    world: str = "default"
    strain: StrainParams = StrainParams()

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise SynthError(f"unknown world {self.world!r}; valid: {', '.join(WORLDS)}")
        if not isinstance(self.strain, StrainParams):
            raise SynthError(f"SynthConfig.strain must be StrainParams, got {type(self.strain).__name__}")
        if not 16 <= int(self.size) <= 2048:
            raise SynthError(f"size must be between 16 and 2048 pixels, got {self.size}")
        for name, value in self.to_dict().items():
            if name not in ("size", "disp_offset") and float(value) < 0:
                raise SynthError(f"SynthConfig.{name} must be >= 0, got {value}")
        if self.disp_scale <= 0:
            raise SynthError(f"SynthConfig.disp_scale must be > 0, got {self.disp_scale}")
        if self.layout is not None and not isinstance(self.layout, Layout):
            raise SynthError(f"SynthConfig.layout must be a Layout or None, got {type(self.layout).__name__}")

    def to_dict(self) -> dict:
        """The generator's numbers (every field but ``layout``, ``world``, ``strain``), as the card's
        ``params`` record them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("layout", "world", "strain")}

    def world_card(self) -> dict[str, Any]:
        """The card fields of the world: none for the default world; ``world``, ``world_version`` and
        ``world_params`` otherwise."""
        if self.world == "default":
            return {}
        return {"world": self.world, "world_version": STRAIN_VERSION, "world_params": self.strain.to_dict()}


def config_from_card(card: dict, layout: Layout | None = None) -> SynthConfig:
    """The :class:`SynthConfig` a benchmark card records (``params``, and ``world`` / ``world_params``; a
    card without ``world`` is the default world). Unknown parameter names are ignored (older or newer
    cards); a bad value raises :class:`SynthError`; a missing ``params`` raises KeyError."""
    known = {f.name for f in fields(SynthConfig)} - {"layout", "world", "strain"}
    world = card.get("world", "default")
    strain_known = {f.name for f in fields(StrainParams)}
    strain = StrainParams(**{k: float(v) for k, v in card.get("world_params", {}).items() if k in strain_known})
    return SynthConfig(**{k: v for k, v in card["params"].items() if k in known}, layout=layout,
                       world=str(world), strain=strain)


def in_layout(layout: Layout | None, jitter: float | None = None, base: SynthConfig | None = None) -> SynthConfig:
    """``base`` (default parameters) rendered in ``layout``. The identity variation is ``jitter`` if given,
    else the layout's own ``identity_jitter`` (FLAME UV asks for little), else ``base``'s."""
    base = base or SynthConfig()
    if jitter is None:
        jitter = base.layout_jitter if layout is None or layout.identity_jitter is None else layout.identity_jitter
    return replace(base, layout=layout, layout_jitter=float(jitter))


_MASK = (1 << 64) - 1


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed depending on every part (order included): independent streams per (seed, index, use)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = _splitmix(h ^ (int(p) & _MASK))
    return h & ((1 << 63) - 1)


def generator(*parts: int) -> torch.Generator:
    """A CPU torch generator seeded with :func:`mix_seed` of ``parts``."""
    return torch.Generator().manual_seed(mix_seed(*parts))


#: Stream tags, so identity, noise, expression and split draws never share random numbers.
STREAM_IDENTITY, STREAM_NOISE, STREAM_EXPRESSION, STREAM_SPLIT = 1, 2, 3, 4
#: The strain world's own streams (muscles, wrinkle traits and lines; the tracker error of the landmarks).
STREAM_STRAIN, STREAM_TRACKER = 5, 6
