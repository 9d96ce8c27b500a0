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
#: Mismatched AU vectors per source for the distance-stratified AUCs, and the strata (tertiles of distance).
MISMATCHES_PER_SOURCE, STRATA = 4, ("near", "mid", "far")


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


def stratified_auc(ctx: EvalContext, idx: torch.Tensor, s_match: np.ndarray) -> dict[str, dict]:
    """AUC of matched vs mismatched scores by the AU distance of the mismatch: each source is scored under
    :data:`MISMATCHES_PER_SOURCE` other samples' AUs (seeded), split into distance tertiles (L1 on the 0..5
    scale); near mismatches are hard (and partly legitimate), far ones must be told apart."""
    g = torch.Generator().manual_seed(int(ctx.seed) * 7919 + SALT_MISMATCH + 1)
    n = idx.numel()
    others = torch.randint(len(ctx.data) - 1, (n, MISMATCHES_PER_SOURCE), generator=g)
    others = others + (others >= idx[:, None]).long()                      # never the source itself
    rows = idx.repeat_interleave(MISMATCHES_PER_SOURCE)
    mis_au = ctx.data.au[others.flatten()]
    s_mis, _ = disc_outputs(ctx, ctx.data.x[rows], mis_au, extras_of(ctx, rows))
    dist = from_unit((mis_au - ctx.data.au[rows]).abs().sum(1)).numpy()
    edges = np.quantile(dist, [1 / 3, 2 / 3])
    bins = np.digitize(dist, edges)
    match_rep = np.repeat(s_match, MISMATCHES_PER_SOURCE)
    out = {}
    for b, name in enumerate(STRATA):
        sel = bins == b
        lo = 0.0 if b == 0 else float(edges[b - 1])
        hi = float(dist.max()) if b == len(STRATA) - 1 else float(edges[b])
        out[name] = {"auc": roc_auc(match_rep[sel], s_mis[sel]),
                     "paired_win": float(np.mean((match_rep[sel] > s_mis[sel]) + 0.5 * (match_rep[sel] == s_mis[sel]))),
                     "distance": [round(lo, 3), round(hi, 3)], "pairs": int(sel.sum())}
    return out


@register_metric("disc_awareness", needs=("D",),
                 headline=(("auc", "max"), ("auc_far", "max"), ("paired_win", "max"), ("aux_mae", "min")),
                 no_edit={"auc": 0.5, "auc_far": 0.5, "paired_win": 0.5})   # a D that does not read the AUs: chance
def disc_awareness(ctx: EvalContext) -> dict:
    """ROC AUC of D's score for (real, own AU) vs (real, another sample's AU); aux-head AU error on real maps.

    ``paired_win`` is the share of samples whose matching score beats their own mismatched score (free of
    the image-to-image variation of the score); ``auc_near`` / ``auc_mid`` / ``auc_far`` stratify by how far
    the mismatched AUs are from the true ones (:func:`stratified_auc`). Aux errors use the 0..5 scale.
    """
    idx = pick_sources(ctx, ctx.num_samples, SALT_SOURCES)
    other = pick_others(ctx, idx, SALT_MISMATCH)
    x, au = ctx.data.x[idx], ctx.data.au[idx]
    s_match, pred = disc_outputs(ctx, x, au, extras_of(ctx, idx))
    s_mis, _ = disc_outputs(ctx, x, ctx.data.au[other], extras_of(ctx, idx))
    win = float(np.mean((s_match > s_mis) + 0.5 * (s_match == s_mis)))
    summary = {"auc": roc_auc(s_match, s_mis), "paired_win": win,
               "score_gap": float(np.mean(s_match - s_mis))}
    strata = stratified_auc(ctx, idx, s_match)
    summary.update({f"auc_{name}": v["auc"] for name, v in strata.items()})
    result: dict = {"summary": summary, "num_pairs": int(idx.numel()), "strata": strata}
    if pred is None:
        result["aux"] = "the discriminator has no AU regression head"
    else:
        aux = summarize(from_unit(au.numpy()), from_unit(pred), ctx.au_names)
        summary.update({"aux_mae": aux["mean"]["mae"], "aux_icc": aux["mean"]["icc"]})
        result["aux"] = aux
    return result
