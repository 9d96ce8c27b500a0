"""Sampling expressions: AU vectors (mostly sparse), an emotion label and a valence; the emotion flush table.

Each expression comes from its own random stream (seeded by ``(seed, j)``), so expression ``j`` of a seed
is the same however many are drawn. Three kinds are drawn:

* **neutral** (12 %): no AU, sometimes one faint AU;
* **prototype** (50 %): an emotion's AU set from :data:`aucgan.au.PROTOTYPES` at a random overall intensity
  with per-AU spread, a member dropped now and then and sometimes a weak extra AU;
* **free** (38 %): one to three random AUs at random intensities.

The emotion label is correlated with the AUs but not determined by them: a prototype expression keeps its
emotion 80 % of the time, a free one takes the best-matching prototype half of the time. Valence follows
the emotion (scaled by intensity) plus noise. Intensities and valence are rounded to 0.01 so that a
manifest written with two decimals holds the exact values that were rendered.
"""

from __future__ import annotations

import torch

from aucgan.au import AU_MAX, AU_MIN, AU_NAMES, EMOTIONS, NUM_AUS, PROTOTYPES
from aucgan.data.synth.config import STREAM_EXPRESSION, SynthError, generator

Tensor = torch.Tensor

#: Typical valence of each emotion (EMOTIONS order).
EMOTION_VALENCE: dict[str, float] = {"neutral": 0.0, "happiness": 0.75, "sadness": -0.55, "surprise": 0.2,
                                     "fear": -0.65, "anger": -0.7, "disgust": -0.6}

#: Blood-flow change (haemoglobin, + redder / - paler) per emotion on (forehead, cheeks, nose, chin), after
#: the distinct facial colour patterns of emotion (Benitez-Quiroz, Srinivasan & Martinez, PNAS 2018).
FLUSH_REGIONS: tuple[str, ...] = ("forehead", "cheeks", "nose", "chin")
EMOTION_FLUSH: dict[str, tuple[float, float, float, float]] = {
    "neutral": (0.0, 0.0, 0.0, 0.0),
    "happiness": (0.2, 1.0, 0.4, 0.3),
    "sadness": (-0.3, -0.4, 0.6, 0.5),
    "surprise": (0.3, 0.4, 0.1, 0.1),
    "fear": (-0.6, -0.8, -0.5, -0.5),
    "anger": (0.9, 0.9, 0.6, 0.7),
    "disgust": (0.1, -0.3, 0.5, 0.4),
}

_PROTO_INDEX = {e: [AU_NAMES.index(c) for c in PROTOTYPES[e] if c in AU_NAMES] for e in EMOTIONS}


def flush_table() -> Tensor:
    """(E, 4) flush weights in :data:`aucgan.au.EMOTIONS` order."""
    return torch.tensor([EMOTION_FLUSH[e] for e in EMOTIONS], dtype=torch.float32)


def _q(x: float) -> float:
    return round(float(x), 2)


def _one(seed: int, j: int) -> tuple[list[float], int, float]:
    g = generator(seed, j, STREAM_EXPRESSION)
    u = torch.rand(40, generator=g, dtype=torch.float64).tolist()
    order = torch.randperm(NUM_AUS, generator=g).tolist()
    au = [0.0] * NUM_AUS
    kind = u[0]
    if kind < 0.12:
        if u[1] < 0.3:
            au[order[0]] = 0.1 + 0.7 * u[2]
        emotion = 0 if u[3] < 0.85 else int(u[4] * len(EMOTIONS))
    elif kind < 0.62:
        proto = 1 + int(u[1] * (len(EMOTIONS) - 1))
        members = _PROTO_INDEX[EMOTIONS[proto]]
        level = 1.0 + 4.0 * u[2]
        dropped = int(u[3] * len(members)) if u[4] < 0.12 and len(members) > 1 else -1
        for i, k in enumerate(members):
            if i != dropped:
                au[k] = level * (0.6 + 0.6 * u[5 + i])
        if u[12] < 0.25:
            extra = next(k for k in order if k not in members)
            au[extra] = 0.3 + 1.7 * u[13]
        emotion = proto if u[14] < 0.8 else int(u[15] * len(EMOTIONS))
    else:
        count = 1 + int(u[1] * 3)
        for i, k in enumerate(order[:count]):
            au[k] = 0.3 + 4.7 * u[16 + i] ** 1.3
        active = {k for k in range(NUM_AUS) if au[k] > 0}
        protos = [set(_PROTO_INDEX[e]) for e in EMOTIONS]
        scores = [len(active & p) / max(1, len(active | p)) for p in protos]
        best = max(range(1, len(EMOTIONS)), key=lambda e: scores[e])
        if u[20] < 0.5 and scores[best] > 0:
            emotion = best
        else:
            emotion = 0 if u[21] < 0.5 else int(u[22] * len(EMOTIONS))
    au = [_q(min(max(a, AU_MIN), AU_MAX)) for a in au]
    active = [a for a in au if a > 0]
    strength = sum(active) / (AU_MAX * len(active)) if active else 0.0
    noise = (u[30] + u[31] + u[32] - 1.5) * 0.3         # ~N(0, 0.15)
    valence = EMOTION_VALENCE[EMOTIONS[emotion]] * (0.5 + 0.5 * strength) + noise
    return au, emotion, _q(min(max(valence, -1.0), 1.0))


def sample_expressions(n: int, seed: int, start: int = 0) -> dict[str, Tensor]:
    """Expressions ``start .. start + n - 1`` of ``seed``: ``au`` (n, 17) intensities 0..5 in AU_NAMES order,
    ``emotion`` (n,) long indices into :data:`aucgan.au.EMOTIONS`, ``valence`` (n,) in -1..1."""
    if n < 0:
        raise SynthError(f"number of expressions must be >= 0, got {n}")
    rows = [_one(seed, start + j) for j in range(int(n))]
    return {
        "au": torch.tensor([r[0] for r in rows], dtype=torch.float32).reshape(int(n), NUM_AUS),
        "emotion": torch.tensor([r[1] for r in rows], dtype=torch.long),
        "valence": torch.tensor([r[2] for r in rows], dtype=torch.float32),
    }
