"""Where does an AU act? ``locality`` (change of single-AU edits) and ``sensitivity`` (dG/dAU_k by autograd).

Both compare what happens inside AU k's footprint (the atlas region where AU k acts, thresholded at
``FOOTPRINT_THRESHOLD``) with what happens outside it. Locality measures finite edits; sensitivity the
local derivative at the source's own AUs, which also reveals a generator that ignores a condition.
"""

from __future__ import annotations

import numpy as np
import torch

from aucgan.au import to_unit
from aucgan.inference import Editor
from aucgan.metrics.context import (
    EvalContext,
    editor_of,
    extras_of,
    footprints_of,
    generate,
    nanmean,
    per_au,
    pick_sources,
)
from aucgan.metrics.registry import register_metric
from aucgan.nn.layers import jvp

#: Footprint values above this are "inside" AU k's region.
FOOTPRINT_THRESHOLD = 0.05
#: Single-AU edit: AU k goes to ``EDIT_HIGH`` if the source is below ``EDIT_SWITCH``, else to 0 (0..5 scale).
EDIT_HIGH, EDIT_SWITCH = 4.0, 2.0
#: Mean change (network units) below which an edit counts as "no change" and its share is undefined.
MIN_CHANGE = 1e-6
SALT_LOCALITY, SALT_SENSITIVITY = 301, 302


def inside_region(fp: torch.Tensor, threshold: float = FOOTPRINT_THRESHOLD) -> torch.Tensor:
    """Binary region (float) where a footprint exceeds ``threshold``."""
    return (fp > threshold).float()


def single_au_edits(au_unit: torch.Tensor) -> torch.Tensor:
    """(K, K) targets: row k is the source AUs with AU k moved by at least 2 intensity points."""
    k = au_unit.numel()
    t = au_unit.unsqueeze(0).repeat(k, 1)
    diag = torch.where(au_unit < to_unit(EDIT_SWITCH), torch.full_like(au_unit, to_unit(EDIT_HIGH)),
                       torch.zeros_like(au_unit))
    t[torch.arange(k), torch.arange(k)] = diag
    return t


def inside_share(change: torch.Tensor, region: torch.Tensor) -> tuple[float, float]:
    """(share of the total ``change`` (H, W) inside ``region``, mean change); share NaN without change."""
    total = float(change.sum())
    mean = float(change.mean())
    if mean < MIN_CHANGE:
        return float("nan"), mean
    return float((change * region).sum()) / total, mean


@register_metric("locality", headline=(("leakage", "min"), ("change", "max")))
def locality(ctx: EvalContext) -> dict:
    """Share of the change of single-AU edits inside the edited AU's footprint; leakage = 1 - share.

    For ``num_sweep`` sources and every AU k: c = sum over channels of |G(x, a') - G(x, a)|, with a' = a and
    AU k moved (to 4 if below 2, else to 0); share_k = sum(c inside footprint k) / sum(c). ``change`` is the
    mean |c| per pixel (network units): a tiny change with perfect share is still a generator ignoring AU k.
    """
    src = pick_sources(ctx, ctx.num_sweep, SALT_LOCALITY)
    k_all = ctx.num_aus
    shares = np.full((src.numel(), k_all), np.nan)
    changes = np.zeros((src.numel(), k_all))
    for row, i in enumerate(src.tolist()):
        fp = footprints_of(ctx, torch.tensor([i]))
        x = ctx.data.x[i:i + 1]
        targets = torch.cat([ctx.data.au[i:i + 1], single_au_edits(ctx.data.au[i])])
        out = generate(ctx, x.expand(k_all + 1, -1, -1, -1), targets, fp.expand(k_all + 1, -1, -1, -1),
                       ctx.data.au[i:i + 1].expand(k_all + 1, -1), extras_of(ctx, torch.tensor([i]), k_all + 1))
        region = inside_region(fp[0])
        for k in range(k_all):
            c = (out[k + 1] - out[0]).abs().sum(dim=0)
            shares[row, k], changes[row, k] = inside_share(c, region[k])
    with np.errstate(invalid="ignore"):
        share_k = np.array([np.nanmean(col) if np.isfinite(col).any() else np.nan for col in shares.T])
    leak_k = 1.0 - share_k
    change_k = changes.mean(axis=0)
    coverage = float(inside_region(ctx.data.footprints).mean())
    return {"summary": {"leakage": nanmean(leak_k), "share": nanmean(share_k), "change": nanmean(change_k)},
            "per_au": {"leakage": per_au(leak_k, ctx.au_names), "share": per_au(share_k, ctx.au_names),
                       "change": per_au(change_k, ctx.au_names)},
            "unchanged_edits": int(np.isnan(shares).sum()), "num_sources": int(src.numel()),
            "footprint_coverage": coverage, "threshold": FOOTPRINT_THRESHOLD}


def au_jacobian(editor: Editor, x: torch.Tensor, au_unit: torch.Tensor, fp: torch.Tensor,
                extra: torch.Tensor | None = None) -> torch.Tensor:
    """d G(x, a, fp)["out"] / d a_k for every AU k at ``a = au_unit`` (the source's own AUs, also passed as
    ``source_au``) of the editor's generator: (K, C, H, W), by forward-mode autograd.

    One forward pass over K copies of the sample with the K unit tangents (falls back to the double-backward
    JVP where a layer lacks forward-mode support).
    """
    k = au_unit.numel()
    xs, fps = x.expand(k, -1, -1, -1), fp.expand(k, -1, -1, -1)
    a = au_unit.reshape(1, k).repeat(k, 1)
    source = a.clone()
    extras = None if extra is None else extra.reshape(1, -1).expand(k, -1)
    tangent = torch.eye(k, dtype=a.dtype, device=a.device)

    def f(a_: torch.Tensor) -> torch.Tensor:
        return editor.forward(xs, a_, fps, source, extras)["out"]

    return jvp(f, a, tangent)


@register_metric("sensitivity", headline=(("inside", "max"), ("focus", "max")))
def sensitivity(ctx: EvalContext) -> dict:
    """Mean |dG/dAU_k| inside vs outside footprint k (network units per unit AU) and the maps of it.

    Averaged over ``num_sweep`` sources at their own AUs. ``focus`` = inside / (inside + outside): 1 when AU k
    acts only inside its footprint, 0.5 with no spatial preference, undefined (None) for a generator that
    ignores AU k (inside = outside = 0). ``arrays``: ``sensitivity`` (K, H, W) mean
    |dG/dAU_k| over channels and sources, ``footprints`` (K, H, W) the mean footprints, for the report.
    """
    src = pick_sources(ctx, ctx.num_sweep, SALT_SENSITIVITY)
    ctx.G.eval()
    editor = editor_of(ctx)
    k_all, size = ctx.num_aus, ctx.size
    maps = torch.zeros(k_all, size, size)
    fps = torch.zeros(k_all, size, size)
    inside = np.zeros((src.numel(), k_all))
    outside = np.zeros((src.numel(), k_all))
    for row, i in enumerate(src.tolist()):
        fp = footprints_of(ctx, torch.tensor([i]))
        extra = extras_of(ctx, torch.tensor([i]))
        jac = au_jacobian(editor, ctx.data.x[i:i + 1].to(ctx.device), ctx.data.au[i].to(ctx.device),
                          fp.to(ctx.device), None if extra is None else extra.to(ctx.device)).float().cpu()
        mag = jac.abs().mean(dim=1)                                  # (K, H, W)
        region = inside_region(fp[0])
        for k in range(k_all):
            r = region[k]
            inside[row, k] = float((mag[k] * r).sum() / r.sum().clamp_min(1))
            outside[row, k] = float((mag[k] * (1 - r)).sum() / (1 - r).sum().clamp_min(1))
        maps += mag
        fps += fp[0]
    maps /= src.numel()
    fps /= src.numel()
    in_k, out_k = inside.mean(axis=0), outside.mean(axis=0)
    total_k = in_k + out_k
    with np.errstate(invalid="ignore", divide="ignore"):
        focus_k = np.where(total_k > 0, in_k / np.where(total_k > 0, total_k, 1.0), np.nan)
    return {"summary": {"inside": nanmean(in_k), "outside": nanmean(out_k), "focus": nanmean(focus_k)},
            "per_au": {"inside": per_au(in_k, ctx.au_names), "outside": per_au(out_k, ctx.au_names),
                       "focus": per_au(focus_k, ctx.au_names)},
            "num_sources": int(src.numel()), "threshold": FOOTPRINT_THRESHOLD,
            "au_names": list(ctx.au_names), "arrays": {"sensitivity": maps, "footprints": fps}}
