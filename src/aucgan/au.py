"""FACS Action Unit vocabulary: canonical order, anatomy, named subsets, parsing and scaling.

AU intensities follow OpenFace 2.x: floats in 0..5. The canonical order is OpenFace's 17
intensity AUs (GANimation's 17). Other AU sets are chosen *by name*, never by column index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aucgan.errors import AucganError

AU_MIN = 0.0
AU_MAX = 5.0
#: A unit-scale (0..1) AU intensity, or change of intensity, above this counts as active (0.1 on the 0..5 scale):
#: the AUs an edit touches (the locality loss, the metrics' masks).
ACTIVE_UNIT = 0.02


class AUError(AucganError, ValueError):
    """A malformed AU name, spec or value."""


@dataclass(frozen=True)
class AUInfo:
    """One Action Unit: its FACS name, muscle, where it acts and what it changes."""

    code: str
    number: int
    name: str
    muscle: str
    region: str
    visible: str


_CATALOGUE: tuple[AUInfo, ...] = (
    AUInfo("AU01", 1, "inner brow raiser", "frontalis, pars medialis", "central forehead, inner brows",
           "horizontal lines in the centre of the forehead"),
    AUInfo("AU02", 2, "outer brow raiser", "frontalis, pars lateralis", "lateral forehead, outer brows",
           "lateral horizontal forehead lines"),
    AUInfo("AU04", 4, "brow lowerer", "corrugator, depressor supercilii, procerus", "glabella, brows",
           "vertical/oblique glabellar furrows, horizontal lines at the nasal root"),
    AUInfo("AU05", 5, "upper lid raiser", "levator palpebrae superioris", "upper lids",
           "wider eye aperture, no wrinkles"),
    AUInfo("AU06", 6, "cheek raiser", "orbicularis oculi, pars orbitalis", "lateral eye corners, upper cheeks",
           "crow's feet, cheek raised, bagging under the lower lid"),
    AUInfo("AU07", 7, "lid tightener", "orbicularis oculi, pars palpebralis", "lower lids",
           "lower-lid bulge, narrowed eye"),
    AUInfo("AU09", 9, "nose wrinkler", "levator labii superioris alaeque nasi", "nose bridge and sides",
           "wrinkles across the nose, upper nasolabial furrow deepened"),
    AUInfo("AU10", 10, "upper lip raiser", "levator labii superioris", "upper lip, upper nasolabial fold",
           "upper lip raised, nasolabial furrow deepened"),
    AUInfo("AU12", 12, "lip corner puller", "zygomaticus major", "mouth corners, cheeks",
           "nasolabial fold deepened, cheeks raised; strong: crow's feet too"),
    AUInfo("AU14", 14, "dimpler", "buccinator", "beside the mouth corners",
           "dimple / short fold lateral to the corners"),
    AUInfo("AU15", 15, "lip corner depressor", "depressor anguli oris", "below the mouth corners",
           "corners down, marionette folds"),
    AUInfo("AU17", 17, "chin raiser", "mentalis", "chin",
           "orange-peel chin texture, deeper mentolabial furrow"),
    AUInfo("AU20", 20, "lip stretcher", "risorius, platysma", "mouth, lower cheeks",
           "lips stretched sideways, lower folds pulled out"),
    AUInfo("AU23", 23, "lip tightener", "orbicularis oris", "lips",
           "narrowed lips, fine lines at the lip margins"),
    AUInfo("AU24", 24, "lip pressor", "orbicularis oris", "lips",
           "lips pressed together, bulging above and below the red parts"),
    AUInfo("AU25", 25, "lips part", "depressor labii, relaxed mentalis", "lips",
           "lips apart (dark gap in albedo), little skin change"),
    AUInfo("AU26", 26, "jaw drop", "masseter relaxed", "mouth, chin",
           "lower face stretched, folds flattened"),
    AUInfo("AU28", 28, "lip suck", "orbicularis oris", "lips", "lips pulled into the mouth"),
    AUInfo("AU45", 45, "blink", "levator relaxed, orbicularis oculi", "lids",
           "lids closed, lid skin covers the eye"),
)

#: Every AU aucgan knows, by canonical code ("AU06").
AU_CATALOGUE: dict[str, AUInfo] = {info.code: info for info in _CATALOGUE}

#: OpenFace 2.x intensity AUs, in OpenFace's (and GANimation's) order. The default AU set.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
NUM_AUS = len(AU_NAMES)

#: Named AU sets of common data sets. Chosen by name; members are canonical codes.
AU_SETS: dict[str, tuple[str, ...]] = {
    "openface17": AU_NAMES,
    "disfa12": ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26"),
    "bp4d12": ("AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24"),
    "fera2015": ("AU06", "AU10", "AU12", "AU14", "AU17"),
}

_AU_RE = re.compile(r"^\s*(?:AU)?\s*0*(\d{1,2})\s*(?:_[rc])?\s*$", re.IGNORECASE)


def canonical_au(name: str | int) -> str:
    """Return the canonical code for an AU spelled ``AU06``, ``AU6``, ``au6``, ``6``, ``AU06_r`` or 6."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        text = str(int(name))
    elif isinstance(name, str):
        text = name
    else:
        raise AUError(f"AU name must be a string or an integer, got {type(name).__name__}")
    match = _AU_RE.match(text)
    if not match:
        raise AUError(f"not an AU name: {name!r} (expected e.g. 'AU12', 'AU6', '6')")
    code = f"AU{int(match.group(1)):02d}"
    if code not in AU_CATALOGUE:
        raise AUError(f"unknown AU {name!r}; known AUs: {', '.join(AU_CATALOGUE)}")
    return code


def au_set(name_or_names: str | Sequence[str]) -> tuple[str, ...]:
    """Resolve a named AU set (``"disfa12"``) or a list of AU names to canonical codes, in order."""
    if isinstance(name_or_names, str):
        key = name_or_names.lower()
        if key not in AU_SETS:
            raise AUError(f"unknown AU set {name_or_names!r}; valid sets: {', '.join(AU_SETS)}")
        return AU_SETS[key]
    codes = tuple(canonical_au(n) for n in name_or_names)
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise AUError(f"AU set lists {', '.join(dupes)} more than once")
    return codes


def au_indices(names: Iterable[str | int], au_names: Sequence[str] = AU_NAMES) -> list[int]:
    """Positions of ``names`` inside ``au_names`` (by name, never by index)."""
    order = {code: i for i, code in enumerate(au_names)}
    out = []
    for n in names:
        code = canonical_au(n)
        if code not in order:
            raise AUError(f"{code} is not in this AU set ({', '.join(au_names)})")
        out.append(order[code])
    return out


def check_intensity(value: float, where: str = "AU value") -> float:
    """Validate one AU intensity (finite, within 0..5) and return it as float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise AUError(f"{where}: {value!r} is not a number (expected an intensity 0..5)") from None
    if not math.isfinite(v):
        raise AUError(f"{where}: {value!r} is not finite (expected an intensity 0..5)")
    if v < AU_MIN or v > AU_MAX:
        raise AUError(f"{where}: {v:g} is outside 0..5")
    return v


def au_vector(values: Mapping[str | int, float] | None = None, au_names: Sequence[str] = AU_NAMES,
              base: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Build a float32 intensity vector in ``au_names`` order; unnamed AUs come from ``base`` (or 0)."""
    vec = np.zeros(len(au_names), np.float32) if base is None else np.array(base, np.float32).copy()
    if vec.shape != (len(au_names),):
        raise AUError(f"base AU vector has shape {vec.shape}, expected ({len(au_names)},)")
    for name, value in (values or {}).items():
        idx = au_indices([name], au_names)[0]
        vec[idx] = check_intensity(value, where=canonical_au(name))
    return vec


def parse_au_spec(spec: str) -> dict[str, float]:
    """Parse ``"AU12=3.5,AU6=2"`` (also ``"12:3.5 6:2"``) into ``{"AU12": 3.5, "AU06": 2.0}``."""
    out: dict[str, float] = {}
    items = [p for p in re.split(r"[,\s;]+", spec.strip()) if p]
    if not items:
        raise AUError("empty AU spec (expected e.g. 'AU12=3,AU06=2')")
    for item in items:
        parts = re.split(r"[=:]", item)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise AUError(f"bad AU spec item {item!r} (expected NAME=VALUE, e.g. 'AU12=3')")
        code = canonical_au(parts[0])
        if code in out:
            raise AUError(f"{code} given twice in AU spec {spec!r}")
        out[code] = check_intensity(parts[1], where=code)
    return out


def format_au(vec: Sequence[float] | np.ndarray, au_names: Sequence[str] = AU_NAMES, min_value: float = 0.05) -> str:
    """Format the active AUs of a vector as a spec string (``"AU06=2.0,AU12=3.5"``); ``"neutral"`` if none."""
    arr = np.asarray(vec, np.float64).reshape(-1)
    if arr.shape[0] != len(au_names):
        raise AUError(f"AU vector has {arr.shape[0]} values, expected {len(au_names)}")
    parts = [f"{code}={v:.2f}".rstrip("0").rstrip(".") for code, v in zip(au_names, arr) if v >= min_value]
    return ",".join(parts) if parts else "neutral"


def to_unit(intensity):
    """Scale intensities 0..5 to the networks' unit scale 0..1 (floats, numpy arrays and tensors): the one place
    AU scaling happens (generators, discriminators and AU estimators take and give unit scale)."""
    return intensity / AU_MAX


def from_unit(unit):
    """Scale unit-scale values 0..1 back to intensities 0..5 (floats, numpy arrays and tensors)."""
    return unit * AU_MAX


#: Prototypical AU combinations of the basic emotions (EMFACS-style), used by the synthetic benchmark
#: and for editing targets.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "neutral": (),
    "happiness": ("AU06", "AU12"),
    "sadness": ("AU01", "AU04", "AU15"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU20", "AU26"),
    "anger": ("AU04", "AU05", "AU07", "AU23"),
    "disgust": ("AU09", "AU10", "AU17"),
}
EMOTIONS: tuple[str, ...] = tuple(PROTOTYPES)


def prototype_vector(emotion: str, intensity: float = 3.0, au_names: Sequence[str] = AU_NAMES) -> np.ndarray:
    """The AU vector of an emotion prototype with every member AU at ``intensity``."""
    if emotion not in PROTOTYPES:
        raise AUError(f"unknown emotion {emotion!r}; valid: {', '.join(PROTOTYPES)}")
    return au_vector({code: intensity for code in PROTOTYPES[emotion] if code in au_names}, au_names)
