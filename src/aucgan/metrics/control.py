"""``au_control``: does the generator produce the AUs it is asked for, as read by an independent judge?

The judge is an AU estimator trained separately (another seed and architecture) and never used as a
training signal, so it cannot have been fooled by the generator it scores.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from aucgan.au import from_unit, to_unit
from aucgan.metrics.agreement import icc31, mae, pearson, summarize
from aucgan.metrics.context import (
    EvalContext,
    extras_of,
    footprints_of,
    generate,
    judge_read,
    nanmean,
    per_au,
    pick_others,
    pick_sources,
    sample_ids,
    transfer_extras,
)
from aucgan.metrics.registry import register_metric

SWEEP_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
#: An AU counts as changed by an edit when its target differs from the source by at least this (0..5), and as
#: active when its target is at least ACTIVE_LEVEL: MAEs over all 17 AUs are dominated by inactive zeros.
CHANGED_BY, ACTIVE_LEVEL = 0.5, 1.0
SALT_SOURCES, SALT_TARGETS, SALT_SWEEP = 201, 202, 203


def pooled_agreement(target: np.ndarray, read: np.ndarray) -> dict[str, float | None]:
    """MAE, Pearson r and ICC(3,1) over a flat set of (target, read) intensity pairs (all AUs pooled)."""
    t, r = np.asarray(target, np.float64).reshape(-1, 1), np.asarray(read, np.float64).reshape(-1, 1)
    if t.size < 2:
        return {"mae": None, "pearson": None, "icc": None, "n": int(t.size)}
    out = {"mae": float(mae(t, r)[0]), "pearson": float(pearson(t, r)[0]), "icc": float(icc31(t, r)[0])}
    return {**{k: (None if not np.isfinite(v) else round(v, 5)) for k, v in out.items()}, "n": int(t.size)}


def sweep_targets(au_unit: torch.Tensor, k: int, levels=SWEEP_LEVELS) -> torch.Tensor:
    """The source AUs (K,) repeated per level with AU ``k`` set to each level (0..5) -> (L, K) unit scale."""
    t = au_unit.unsqueeze(0).repeat(len(levels), 1)
    t[:, k] = to_unit(torch.tensor(levels))
    return t


def monotonicity(levels: np.ndarray, read: np.ndarray) -> float:
    """Spearman rho between target levels and read intensities; 0 when the read never changes."""
    if np.ptp(read) <= 1e-9:
        return 0.0
    return float(stats.spearmanr(levels, read).statistic)


def sweep_response(ctx: EvalContext, sources: torch.Tensor, levels=SWEEP_LEVELS) -> np.ndarray:
    """Judge readings (S, K, L): for each source and AU k, AU k's read intensity along the sweep of AU k."""
    k_all = ctx.num_aus
    xs, targets, fps, srcs = [], [], [], []
    for i in sources.tolist():
        for k in range(k_all):
            t = sweep_targets(ctx.data.au[i], k, levels)
            targets.append(t)
            srcs.append(ctx.data.au[i:i + 1].expand(len(levels), -1))
            xs.append(ctx.data.x[i:i + 1].expand(len(levels), -1, -1, -1))
            fps.append(footprints_of(ctx, torch.tensor([i])).expand(len(levels), -1, -1, -1))
    out = generate(ctx, torch.cat(xs), torch.cat(targets), torch.cat(fps), torch.cat(srcs),
                   extras_of(ctx, sources, repeat=k_all * len(levels)))
    read = judge_read(ctx, out).numpy().reshape(len(sources), k_all, len(levels), k_all)
    return np.stack([read[:, k, :, k] for k in range(k_all)], axis=1)


@register_metric("au_control", needs=("judge",),
                 headline=(("mae_changed", "min"), ("icc_changed", "max"), ("mae_active", "min"),
                           ("mae", "min"), ("icc", "max"), ("pearson", "max"), ("sweep_spearman", "max")),
                 no_edit={"mae_changed": "noedit_mae_changed", "mae_active": "noedit_mae_active"},
                 truth={"mae_changed": "truth_mae_changed", "icc_changed": "truth_icc_changed",
                        "mae_active": "truth_mae_active"})
def au_control(ctx: EvalContext) -> dict:
    """Judge-read AU intensities of edits vs the targets (MAE, Pearson, ICC(3,1)) and sweep monotonicity.

    Edits: ``num_samples`` sources, each towards the AU vector of another sample. Sweeps: ``num_sweep``
    sources, each AU set to 0..5 in turn (others kept); Spearman between level and read intensity per
    source, averaged. ``judge_on_real`` is the judge's own agreement on the unedited real maps: the ceiling
    the generated figures should be read against. ``*_changed`` pool the (edit, AU) pairs whose AU the edit
    changes by >= 0.5 and ``*_active`` those whose target is >= 1 (an MAE over all 17 mostly-zero AUs is
    dominated by the zeros); ``noedit_mae_*`` read the unedited sources against the targets (doing nothing);
    ``truth_*`` are the judge's readings of the ground-truth renders of the same edits
    (synthetic benchmark): what a perfect generator would score under this judge.
    """
    idx = pick_sources(ctx, ctx.num_samples, SALT_SOURCES)
    others = pick_others(ctx, idx, SALT_TARGETS)
    target = ctx.data.au[others]
    out = generate(ctx, ctx.data.x[idx], target, footprints_of(ctx, idx), ctx.data.au[idx],
                   transfer_extras(ctx, idx, others), extras_of(ctx, idx))
    read = judge_read(ctx, out).numpy()
    edits = summarize(from_unit(target.numpy()), read, ctx.au_names)
    source_read = judge_read(ctx, ctx.data.x[idx]).numpy()
    real = summarize(from_unit(ctx.data.au[idx].numpy()), source_read, ctx.au_names)

    sweep_src = pick_sources(ctx, ctx.num_sweep, SALT_SWEEP)
    resp = sweep_response(ctx, sweep_src)                          # (S, K, L)
    levels = np.asarray(SWEEP_LEVELS)
    rho = np.array([[monotonicity(levels, resp[s, k]) for k in range(ctx.num_aus)]
                    for s in range(resp.shape[0])])
    span = resp[:, :, -1] - resp[:, :, 0]
    source5 = from_unit(ctx.data.au[idx].numpy())
    target5 = from_unit(target.numpy())
    subsets = {"changed": np.abs(target5 - source5) >= CHANGED_BY, "active": target5 >= ACTIVE_LEVEL}
    truth_read = None
    if ctx.truth is not None:
        ids = sample_ids(ctx, idx)
        gt = ctx.truth.render(ids, from_unit(target), sample_ids(ctx, others))
        truth_read = judge_read(ctx, gt.float()).numpy()
    summary = {"mae": edits["mean"]["mae"], "pearson": edits["mean"]["pearson"], "icc": edits["mean"]["icc"],
               "sweep_spearman": nanmean(rho.mean(axis=0)), "sweep_span": nanmean(span.mean(axis=0)),
               "judge_real_mae": real["mean"]["mae"], "judge_real_icc": real["mean"]["icc"]}
    for name, sel in subsets.items():
        pooled = pooled_agreement(target5[sel], read[sel])
        summary.update({f"{k}_{name}": v for k, v in pooled.items()})
        noedit = pooled_agreement(target5[sel], source_read[sel])
        summary[f"noedit_mae_{name}"] = noedit["mae"]
        if truth_read is not None:
            ref = pooled_agreement(target5[sel], truth_read[sel])
            summary.update({f"truth_{k}_{name}": v for k, v in ref.items() if k != "n"})
    return {"summary": summary, "per_au": edits["per_au"],
            "sweep": {"levels": list(SWEEP_LEVELS), "spearman": per_au(rho.mean(axis=0), ctx.au_names),
                      "span": per_au(span.mean(axis=0), ctx.au_names),
                      "mean_read": {au: [round(float(v), 4) for v in resp[:, k].mean(axis=0)]
                                    for k, au in enumerate(ctx.au_names)}},
            "judge_on_real": real, "num_edits": int(idx.numel()), "num_sweep_sources": int(sweep_src.numel())}
