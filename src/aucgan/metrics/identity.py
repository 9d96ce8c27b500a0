"""``identity``: does an edit keep the face it was given?

Outside the footprints of the AUs in play, an AU edit has no reason to change anything: the change there
is identity (and texture) drift. On the synthetic benchmark the identity's neutral render also exists, so
"remove every AU" can be scored against the truth.
"""

from __future__ import annotations

import torch

from aucgan.au import ACTIVE_UNIT
from aucgan.metrics.context import (
    EvalContext,
    decode,
    extras_of,
    footprints_of,
    generate,
    masked_mean,
    pick_others,
    pick_sources,
    sample_ids,
    union_mask,
)
from aucgan.metrics.registry import register_metric

SALT_SOURCES, SALT_TARGETS = 401, 402


@register_metric("identity", headline=(("l1_outside/displacement", "min"), ("l1_outside/albedo", "min"),
                                       ("l1_neutral/displacement", "min")))
def identity(ctx: EvalContext) -> dict:
    """L1 between source and edited maps outside all active footprints, reconstruction L1 and, on the
    synthetic benchmark, L1 of G(x, no AUs) against the identity's neutral ground truth (per map).

    Active: AUs above 0.1 intensity in the source or the target; the outside weight is 1 - their footprint
    union. Errors are in the maps' natural units (albedo 0..1, displacement in its own units).
    """
    idx = pick_sources(ctx, ctx.num_samples, SALT_SOURCES)
    src_au = ctx.data.au[idx]
    target = ctx.data.au[pick_others(ctx, idx, SALT_TARGETS)]
    fp = footprints_of(ctx, idx)
    x = ctx.data.x[idx]
    extra = extras_of(ctx, idx)
    edited = decode(ctx, generate(ctx, x, target, fp, src_au, extra))
    rec = decode(ctx, generate(ctx, x, src_au, fp, src_au, extra))
    source = decode(ctx, x)
    outside = 1.0 - union_mask(fp, (src_au > ACTIVE_UNIT) | (target > ACTIVE_UNIT))
    ones = torch.ones_like(outside)
    summary: dict[str, float] = {}
    per_map: dict[str, dict[str, float]] = {}
    for name, s in source.items():
        per_map[name] = {"l1_outside": masked_mean((edited[name] - s).abs(), outside),
                         "l1_reconstruction": masked_mean((rec[name] - s).abs(), ones)}
    if ctx.truth is not None:
        neutral_out = decode(ctx, generate(ctx, x, torch.zeros_like(src_au), fp, src_au, extra))
        neutral_gt = decode(ctx, ctx.truth.neutral(sample_ids(ctx, idx)).float().cpu())
        for name in per_map:
            per_map[name]["l1_neutral"] = masked_mean((neutral_out[name] - neutral_gt[name]).abs(), ones)
            per_map[name]["source_l1_neutral"] = masked_mean((source[name] - neutral_gt[name]).abs(), ones)
    for name, vals in per_map.items():
        for key, v in vals.items():
            summary[f"{key}/{name}"] = v
    return {"summary": summary, "per_map": per_map, "num_samples": int(idx.numel()),
            "outside_fraction": float(outside.mean())}
