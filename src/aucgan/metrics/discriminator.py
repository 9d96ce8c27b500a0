"""``disc_awareness``: does the discriminator check that the maps show the AUs it is told?

A conditional discriminator that ignores its AU input cannot teach the generator to follow AUs. Shown the
same real maps with their own AU vector and with another sample's, an AU-aware discriminator scores the
matching pairs higher: the ROC AUC of that separation is 0.5 for a discriminator blind to AUs, 1 for a
perfect checker. An AU regression head (aux) is also scored on the real maps when present.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from aucgan.au import from_unit
from aucgan.metrics.agreement import summarize
from aucgan.metrics.context import EvalContext, extra_kwargs, extras_of, pick_others, pick_sources
from aucgan.metrics.registry import register_metric

SALT_SOURCES, SALT_MISMATCH = 601, 602


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting 1/2 (Mann-Whitney U / (n_p n_n))."""
    pos, neg = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


@torch.no_grad()
def disc_outputs(ctx: EvalContext, x: torch.Tensor, au_unit: torch.Tensor, extra: torch.Tensor | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores (N,) and aux AU predictions (N, K) in unit scale (or None) of ``ctx.D`` in batches."""
    assert ctx.D is not None
    ctx.D.eval()
    scores, preds = [], []
    for s in range(0, x.shape[0], ctx.batch_size):
        out = ctx.D(x[s:s + ctx.batch_size].to(ctx.device), au_unit[s:s + ctx.batch_size].to(ctx.device),
                    **extra_kwargs(extra, slice(s, s + ctx.batch_size), ctx.device))
        scores.append(out.score.float().reshape(-1).cpu())
        if out.au_pred is not None:
            preds.append(out.au_pred.float().cpu())
    return torch.cat(scores).numpy(), (torch.cat(preds).numpy() if preds else None)


@register_metric("disc_awareness", needs=("D",),
                 headline=(("auc", "max"), ("paired_win", "max"), ("aux_mae", "min")))
def disc_awareness(ctx: EvalContext) -> dict:
    """ROC AUC of D's score for (real, own AU) vs (real, another sample's AU); aux-head AU error on real maps.

    ``paired_win`` is the share of samples whose matching score beats their own mismatched score (free of
    the image-to-image variation of the score). Aux errors use the 0..5 scale.
    """
    idx = pick_sources(ctx, ctx.num_samples, SALT_SOURCES)
    other = pick_others(ctx, idx, SALT_MISMATCH)
    x, au = ctx.data.x[idx], ctx.data.au[idx]
    s_match, pred = disc_outputs(ctx, x, au, extras_of(ctx, idx))
    s_mis, _ = disc_outputs(ctx, x, ctx.data.au[other], extras_of(ctx, idx))
    win = float(np.mean((s_match > s_mis) + 0.5 * (s_match == s_mis)))
    summary = {"auc": roc_auc(s_match, s_mis), "paired_win": win,
               "score_gap": float(np.mean(s_match - s_mis))}
    result: dict = {"summary": summary, "num_pairs": int(idx.numel())}
    if pred is None:
        result["aux"] = "the discriminator has no AU regression head"
    else:
        aux = summarize(from_unit(au.numpy()), from_unit(pred), ctx.au_names)
        summary.update({"aux_mae": aux["mean"]["mae"], "aux_icc": aux["mean"]["icc"]})
        result["aux"] = aux
    return result
