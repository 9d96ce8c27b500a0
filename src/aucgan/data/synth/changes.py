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


def _shares(change: Tensor, mask: Tensor) -> tuple[float, float]:
    """(soft outside share, share where the mask is exactly 0) of |change| (B, C, H, W), mask (B, 1, H, W)."""
    total = float(change.sum())
    if total <= 0:
        return float("nan"), float("nan")
    return float((change * (1.0 - mask)).sum()) / total, float((change * (mask <= 0)).sum()) / total


def footprint_changes(seed: int, config: SynthConfig, identities: Sequence[int], expressions: int) -> dict:
    """The true change of ``identities`` against their footprints.

    Returns ``single`` (per AU alone at intensity 5: ``outside``/``beyond`` per map), ``expressions`` (the
    benchmark's first ``expressions`` expressions of each identity: the same per map, pooled), ``overall``
    (the pooled figures of both), the mean |displacement change| of each AU alone (K, H, W) and the mean
    footprint (K, H, W) for figures, as tensors under ``mean_change`` and ``mean_footprint``.
    """
    idx = [int(i) for i in identities]
    if not idx or expressions < 0:
        raise SynthError("footprint_changes needs at least one identity and expressions >= 0")
    ids = make_identities(idx, seed, config)
    size = config.size
    mask = None if config.layout is None else config.layout.mask_image
    fp = au_footprints(ids.landmarks, (size, size), AU_NAMES, mask=mask)          # (B, K, H, W)
    n = len(idx)
    cols = NUM_AUS + 1
    au = torch.zeros(cols, NUM_AUS)
    au[1:] = AU_MAX * torch.eye(NUM_AUS)
    index = torch.arange(n).repeat_interleave(cols)
    out = render(ids, au.repeat(n, 1), index=index)
    single: dict[str, dict[str, dict[str, float]]] = {}
    pooled: dict[str, list[Tensor]] = {m: [] for m in MAPS}
    masks: list[Tensor] = []
    mean_change = torch.zeros(NUM_AUS, size, size)
    for m in MAPS:
        maps = out[m].view(n, cols, -1, size, size)
        delta = (maps[:, 1:] - maps[:, :1]).abs()                                    # (B, K, C, H, W)
        for k, code in enumerate(AU_NAMES):
            o, b = _shares(delta[:, k], fp[:, k:k + 1])
            single.setdefault(code, {})[m] = {"outside": o, "beyond": b}
        pooled[m].append(delta.flatten(0, 1))
        if m == "displacement":
            mean_change = delta[:, :, 0].mean(0)
    masks.append(fp.flatten(0, 1)[:, None])

    ex_figures: dict[str, dict[str, float]] = {}
    if expressions:
        ex = [identity_expressions(seed, i, expressions) for i in idx]
        au_ex = torch.cat([e["au"] for e in ex])
        emotion = torch.cat([e["emotion"] for e in ex])
        valence = torch.cat([e["valence"] for e in ex])
        rows = torch.arange(n).repeat_interleave(expressions)
        expr = render(ids, au_ex, emotion, valence, index=rows)
        neutral = render(ids, torch.zeros_like(au_ex), emotion, valence, index=rows)
        active = au_ex > 0
        union = (fp[rows] * active[:, :, None, None]).amax(dim=1, keepdim=True)   # (N, 1, H, W)
        keep = active.any(dim=1)
        for m in MAPS:
            delta = (expr[m] - neutral[m]).abs()[keep]
            o, b = _shares(delta, union[keep])
            ex_figures[m] = {"outside": o, "beyond": b}
            pooled[m].append(delta)
        masks.append(union[keep])
    overall = {}
    for m in MAPS:
        o, b = _shares(torch.cat([p.sum(1, keepdim=True) for p in pooled[m]]), torch.cat(masks))
        overall[m] = {"outside": o, "beyond": b}
    return {"world": config.world, "identities": [ids.params[i].name for i in range(n)],
            "expressions": int(expressions), "single": single, "expressions_share": ex_figures,
            "overall": overall, "mean_change": mean_change, "mean_footprint": fp.mean(0)}


def read_benchmark(folder: str | Path) -> tuple[int, SynthConfig, dict]:
    """(seed, generator config, card) of a synthetic benchmark folder (its ``dataset.json`` and, when the card
    names one, ``layout.json``); a clear :class:`SynthError` naming the card otherwise."""
    from aucgan.data.errors import DataError, read_json
    from aucgan.data.folder import card_layout

    card_path = Path(folder) / "dataset.json"
    try:
        card = read_json(card_path, "benchmark card")
        if not isinstance(card, dict) or card.get("format") != "aucgan-synth":
            raise SynthError(f"{card_path}: not a synthetic benchmark card (format 'aucgan-synth' expected)")
        return int(card["seed"]), config_from_card(card, card_layout(card, card_path)), card
    except DataError as exc:
        raise SynthError(str(exc)) from None
    except SynthError as exc:
        raise SynthError(exc.args[0] if str(exc).startswith(str(card_path)) else f"{card_path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SynthError(f"{card_path}: field {exc} missing or malformed (a synthetic benchmark card has seed, "
                         f"size, expressions and params)") from None
