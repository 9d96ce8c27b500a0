"""Where a benchmark world's true change falls, measured against the atlas footprints the models are given.

For identities of a benchmark, the true change of an expression is its render minus the same identity's
neutral render (same emotion and valence, so only the AUs differ). The footprints are computed from the
landmarks the benchmark hands out (the manifest's; in the strain world they carry the tracker error), as a
model receives them. ``outside`` is the share of the summed |change| outside the footprints of the changed
AUs, soft-weighted by ``1 - footprint`` as ``paired_fidelity``'s ``outside`` figures are; ``beyond`` the
share where every changed AU's footprint is exactly 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from aucgan.au import AU_MAX, AU_NAMES, NUM_AUS
from aucgan.data.synth.config import SynthConfig, SynthError, config_from_card
from aucgan.data.synth.dataset import identity_expressions
from aucgan.data.synth.identity import make_identities
from aucgan.data.synth.render import render
from aucgan.layout.atlas import au_footprints

Tensor = torch.Tensor
MAPS = ("displacement", "albedo")


class _Share:
    """Running sums of |change|: in all, soft-weighted outside a mask, and where the mask is exactly 0."""

    def __init__(self) -> None:
        self.total = self.outside = self.beyond = 0.0

    def add(self, change: Tensor, mask: Tensor) -> None:
        """``change`` (B, C, H, W) |change|, ``mask`` (B, 1, H, W) footprint union in 0..1."""
        self.total += float(change.sum())
        self.outside += float((change * (1.0 - mask)).sum())
        self.beyond += float((change * (mask <= 0)).sum())

    def merge(self, other: _Share) -> None:
        self.total += other.total
        self.outside += other.outside
        self.beyond += other.beyond

    def figures(self) -> dict[str, float]:
        if self.total <= 0:
            return {"outside": float("nan"), "beyond": float("nan")}
        return {"outside": self.outside / self.total, "beyond": self.beyond / self.total}


def footprint_changes(seed: int, config: SynthConfig, identities: Sequence[int], expressions: int) -> dict:
    """The true change of ``identities`` against their footprints (rendered one identity at a time).

    Returns ``single`` (per AU alone at intensity 5: ``outside``/``beyond`` per map), ``expressions_share``
    (the benchmark's first ``expressions`` expressions of each identity from its neutral face, pooled, per
    map), ``overall`` (both pooled), and for figures the mean |displacement change| of each AU alone
    (``mean_change``, K x H x W) and the mean footprint (``mean_footprint``, K x H x W).
    """
    idx = [int(i) for i in identities]
    if not idx or expressions < 0:
        raise SynthError("footprint_changes needs at least one identity and expressions >= 0")
    size = config.size
    mask = None if config.layout is None else config.layout.mask_image
    single = {code: {m: _Share() for m in MAPS} for code in AU_NAMES}
    pooled = {m: _Share() for m in MAPS}
    mean_change = torch.zeros(NUM_AUS, size, size)
    mean_fp = torch.zeros(NUM_AUS, size, size)
    alone = torch.cat([torch.zeros(1, NUM_AUS), AU_MAX * torch.eye(NUM_AUS)])
    names = []
    for i in idx:
        ids = make_identities([i], seed, config)
        names.append(ids.params[0].name)
        fp = au_footprints(ids.landmarks, (size, size), AU_NAMES, mask=mask)[0]    # (K, H, W)
        mean_fp += fp / len(idx)
        out = render(ids, alone, index=torch.zeros(len(alone), dtype=torch.long))
        for m in MAPS:
            delta = (out[m][1:] - out[m][:1]).abs()                                  # (K, C, H, W)
            for k, code in enumerate(AU_NAMES):
                single[code][m].add(delta[k:k + 1], fp[k][None, None])
            if m == "displacement":
                mean_change += delta[:, 0] / len(idx)
        if not expressions:
            continue
        ex = identity_expressions(seed, i, expressions)
        active = ex["au"] > 0
        keep = active.any(dim=1)
        if not bool(keep.any()):
            continue
        rows = torch.zeros(int(keep.sum()), dtype=torch.long)
        au = ex["au"][keep]
        emotion, valence = ex["emotion"][keep], ex["valence"][keep]
        expr = render(ids, au, emotion, valence, index=rows)
        neutral = render(ids, torch.zeros_like(au), emotion, valence, index=rows)
        union = (fp[None] * active[keep][:, :, None, None]).amax(dim=1, keepdim=True)   # (N, 1, H, W)
        for m in MAPS:
            pooled[m].add((expr[m] - neutral[m]).abs(), union)
    overall = {}
    for m in MAPS:
        total = _Share()
        for code in AU_NAMES:
            total.merge(single[code][m])
        total.merge(pooled[m])
        overall[m] = total.figures()
    return {"world": config.world, "identities": names, "expressions": int(expressions),
            "single": {code: {m: v.figures() for m, v in per.items()} for code, per in single.items()},
            "expressions_share": {m: pooled[m].figures() for m in MAPS} if expressions else {},
            "overall": overall, "mean_change": mean_change, "mean_footprint": mean_fp}


def read_benchmark(folder: str | Path) -> tuple[int, SynthConfig, int, int]:
    """(seed, generator config, identities, expressions per identity) of a synthetic benchmark folder (its
    ``dataset.json`` and, when the card names one, ``layout.json``); a clear :class:`SynthError` naming the
    card otherwise."""
    from aucgan.data.errors import DataError, read_json
    from aucgan.data.folder import card_layout

    card_path = Path(folder) / "dataset.json"
    try:
        card = read_json(card_path, "benchmark card")
        if not isinstance(card, dict) or card.get("format") != "aucgan-synth":
            raise SynthError(f"{card_path}: not a synthetic benchmark card (format 'aucgan-synth' expected)")
        config = config_from_card(card, card_layout(card, card_path))
        return int(card["seed"]), config, int(card["identities"]), int(card["expressions"])
    except DataError as exc:
        raise SynthError(str(exc)) from None
    except SynthError as exc:
        raise SynthError(exc.args[0] if str(exc).startswith(str(card_path)) else f"{card_path}: {exc}") from None
    except KeyError as exc:
        raise SynthError(f"{card_path}: field {exc} missing (a synthetic benchmark card has seed, params, "
                         f"identities and expressions)") from None
    except (TypeError, ValueError) as exc:
        raise SynthError(f"{card_path}: a malformed field ({exc})") from None
