"""``paired_fidelity``: generated edits against the synthetic benchmark's ground truth.

On the synthetic benchmark every (identity, AU vector) pair has a true render, so an edit can be scored
like a supervised prediction: L1 and PSNR overall and inside the footprints of the edited AUs, per map.
"""

from __future__ import annotations

import math

import torch

from aucgan.au import from_unit
from aucgan.metrics.context import (
    ACTIVE_UNIT,
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

SALT_SOURCES, SALT_TARGETS = 101, 102


def psnr(mse: float, peak: float) -> float:
    """Peak signal-to-noise ratio in dB (inf for an exact match, NaN when undefined)."""
    if not math.isfinite(mse) or peak <= 0:
        return float("nan")
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


def map_errors(pred: dict[str, torch.Tensor], truth: dict[str, torch.Tensor], mask: torch.Tensor
               ) -> dict[str, dict[str, float]]:
    """Per map: L1 and PSNR overall and inside ``mask`` (B, 1, H, W). PSNR peak: 1 for albedo-like maps,
    the ground truth's peak-to-peak range for displacement."""
    out = {}
    for name, t in truth.items():
        p = pred[name]
        diff = (p - t).abs()
        peak = float(t.max() - t.min()) if name == "displacement" else 1.0
        ones = torch.ones_like(mask)
        out[name] = {
            "l1": masked_mean(diff, ones), "psnr": psnr(masked_mean(diff**2, ones), peak),
            "l1_footprint": masked_mean(diff, mask), "psnr_footprint": psnr(masked_mean(diff**2, mask), peak),
        }
    return out


@register_metric("paired_fidelity", needs=("truth",),
                 headline=(("l1_footprint/displacement", "min"), ("l1_footprint/albedo", "min")))
def paired_fidelity(ctx: EvalContext) -> dict:
    """Edited maps vs the ground-truth render of the same identity with the target AUs (synthetic only).

    Sources: ``num_samples`` evaluation samples; targets: the AU vectors (and emotion) of other samples.
    The footprint region is the union of the footprints of the AUs whose intensity changes. ``source``
    holds the same errors for the unedited source maps: the score of a generator that does nothing.
    """
    assert ctx.truth is not None
    idx = pick_sources(ctx, ctx.num_samples, SALT_SOURCES)
    tgt = pick_others(ctx, idx, SALT_TARGETS)
    target = ctx.data.au[tgt]
    fp = footprints_of(ctx, idx)
    src = ctx.data.x[idx]
    out = generate(ctx, src, target, fp, ctx.data.au[idx], extras_of(ctx, idx))
    gt = ctx.truth.render(sample_ids(ctx, idx), from_unit(target), sample_ids(ctx, tgt)).float().cpu()
    if gt.shape != out.shape:
        raise ValueError(f"ground truth has shape {tuple(gt.shape)}, the generator writes {tuple(out.shape)}")
    mask = union_mask(fp, (target - ctx.data.au[idx]).abs() > ACTIVE_UNIT)
    truth_maps = decode(ctx, gt)
    per_map = map_errors(decode(ctx, out), truth_maps, mask)
    source = map_errors(decode(ctx, src), truth_maps, mask)
    summary = {}
    for name, errs in per_map.items():
        for key in ("l1_footprint", "psnr_footprint", "l1", "psnr"):
            summary[f"{key}/{name}"] = errs[key]
        summary[f"source_l1_footprint/{name}"] = source[name]["l1_footprint"]
    return {"summary": summary, "per_map": per_map, "source": source, "num_pairs": int(idx.numel()),
            "footprint_coverage": float(mask.mean())}
