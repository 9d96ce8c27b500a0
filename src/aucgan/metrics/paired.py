"""``paired_fidelity``: generated edits against the synthetic benchmark's exact ground truth.

On the synthetic benchmark every (identity, AU vector) pair has a true render, so an edit is scored like a
supervised prediction, inside the footprints of the AUs it changes, per map, against the score of not
editing at all:

* ``explained = 1 - L1(edit, truth) / L1(source, truth)``: the share of the true change the edit reproduces
  (0: no better than leaving the source as it is; 1: exact; negative: worse than not editing);
* ``cosine``: direction cosine of ``(edit - source)`` with ``(truth - source)`` (1: the right change up to
  its size; 0: an unrelated change, or none at all);
* ``amplitude``: ``|edit - source| / |truth - source|`` (1: the true amount of change; 0: none).

The footprints are the atlas's, a prior the generators share; the same three figures over the whole map
(``explained_whole``, ``cosine_whole``, ``amplitude_whole``) and ``locality_truth`` (the share of the
edit's change inside the region where the truth itself changes) do not assume them. In the strain world
(docs/benchmark.md), where much of the true change lies outside the footprints, the whole-map figures are
the headline.

Three edit sets: ``add`` (one inactive AU of a source set to 2..5, everything else kept), ``remove`` (one
active AU set to 0), and ``transfer`` (towards another sample's whole AU vector and emotion: a new
expression of the same identity). ``outside/<map>`` is the L1 against the truth outside the changed
footprints next to ``source_outside/<map>`` (the do-nothing score): an edit that paints where the truth
does not change scores worse there than not editing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from aucgan.au import ACTIVE_UNIT, from_unit, to_unit
from aucgan.metrics.context import (
    EvalContext,
    decode,
    extras_of,
    footprints_of,
    generate,
    masked_mean,
    pick_others,
    pick_sources,
    rng,
    sample_ids,
    transfer_extras,
    union_mask,
)
from aucgan.metrics.registry import register_metric

SALT_SOURCES, SALT_TARGETS, SALT_SINGLE, SALT_LEVELS = 101, 102, 103, 104
#: An AU below this intensity (0..5) can be added; at or above REMOVE_FROM it can be removed.
ADD_BELOW, REMOVE_FROM = 0.5, 1.0
#: Intensities (0..5) an added AU is set to (uniform draw).
ADD_LEVELS = (2.0, 5.0)
EDIT_SETS = ("add", "remove", "transfer")
#: The truth's changed region: summed |truth - source| above this share of its per-pair maximum (grown a pixel).
TRUTH_CHANGE = 0.05
#: Figures scored inside the changed AUs' footprints and also over the whole map (key suffix ``_whole``).
CHANGE_KEYS = ("explained", "cosine", "amplitude")


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


def _ratio(num: float, den: float) -> float:
    return num / den if den > 1e-20 else float("nan")


def _change(e: torch.Tensor, s: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> dict[str, float]:
    """explained, cosine, per-pair cosine, amplitude and L1 of edit ``e`` vs source ``s`` and truth ``t``
    (float64, B, C, H, W) under the weight ``w`` (expanded to their shape)."""
    d_edit, d_true = e - s, t - s
    l1_edit = float((w * (e - t).abs()).sum())
    l1_src = float((w * (s - t).abs()).sum())
    dot = (w * d_edit * d_true).flatten(1).sum(1)
    n_edit, n_true = (w * d_edit**2).flatten(1).sum(1), (w * d_true**2).flatten(1).sum(1)
    den = (n_edit * n_true).sqrt()
    per_pair = torch.where(den > 1e-30, dot / den.clamp_min(1e-30), torch.zeros_like(dot))
    return {
        "explained": 1.0 - _ratio(l1_edit, l1_src),
        "cosine": (0.0 if float(n_edit.sum()) <= 1e-30 and float(n_true.sum()) > 1e-30 else
                   _ratio(float(dot.sum()), math.sqrt(float(n_edit.sum()) * float(n_true.sum())))),
        "pair_cosine": float(per_pair.mean()),
        "amplitude": math.sqrt(_ratio(float(n_edit.sum()), float(n_true.sum()))),
        "l1": _ratio(l1_edit, float(w.sum())), "source_l1": _ratio(l1_src, float(w.sum())),
    }


def truth_region(source: torch.Tensor, truth: torch.Tensor, threshold: float = TRUTH_CHANGE) -> torch.Tensor:
    """Where the truth changes (B, 1, H, W, 0/1): summed |truth - source| over the channels above
    ``threshold`` times its per-pair maximum, grown by one pixel per 64 px of map size."""
    change = (truth.double() - source.double()).abs().sum(1, keepdim=True)
    peak = change.flatten(1).amax(1).view(-1, 1, 1, 1)
    region = ((change > threshold * peak) & (peak > 0)).double()
    r = max(1, round(change.shape[-1] / 64))
    return torch.nn.functional.max_pool2d(region, 2 * r + 1, stride=1, padding=r)


def change_scores(edit: torch.Tensor, source: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor
                  ) -> dict[str, float]:
    """``explained``, ``cosine`` and ``amplitude`` of one map's edits (B, C, H, W) inside ``mask`` (B, 1, H, W),
    pooled over the batch (sums before ratios, so pairs with tiny true changes cannot dominate); also
    the per-pair mean cosine and the L1 inside/outside the mask for the edit and for the source.

    Figures that do not assume the mask: ``explained_whole``, ``cosine_whole``, ``amplitude_whole`` over
    the whole map, and ``locality_truth``, the share of the edit's change (summed |edit - source|) inside
    the truth's own changed region (:func:`truth_region`; NaN when the edit changes nothing).
    """
    e, s, t = edit.double(), source.double(), truth.double()
    inside = _change(e, s, t, mask.expand_as(edit).double())
    whole = _change(e, s, t, torch.ones_like(e))
    out_w = (1.0 - mask).expand_as(edit).double()
    region = truth_region(source, truth)
    moved = (e - s).abs().sum(1, keepdim=True)
    return {
        **inside,
        "outside": _ratio(float((out_w * (e - t).abs()).sum()), float(out_w.sum())),
        "source_outside": _ratio(float((out_w * (s - t).abs()).sum()), float(out_w.sum())),
        **{f"{k}_whole": whole[k] for k in ("explained", "cosine", "amplitude")},
        "locality_truth": _ratio(float((moved * region).sum()), float(moved.sum())),
        "truth_region": float(region.mean()),
    }


def single_au_edits(ctx: EvalContext, idx: torch.Tensor, salt: int) -> dict[str, tuple[torch.Tensor, ...]]:
    """One-AU edits of the sources ``idx``: for every AU, ``add`` where it is inactive in the source (set to a
    seeded level in :data:`ADD_LEVELS`) and ``remove`` where it is active (set to 0). Returns per set
    ``(rows, au_index, target)``: source rows into ``idx``, the edited AU and the unit-scale target vectors."""
    au5 = from_unit(ctx.data.au[idx])
    g = rng(ctx, salt)
    levels = ADD_LEVELS[0] + (ADD_LEVELS[1] - ADD_LEVELS[0]) * torch.rand(au5.shape, generator=g)
    out = {}
    for name, pick, value in (("add", au5 < ADD_BELOW, levels), ("remove", au5 >= REMOVE_FROM,
                                                                torch.zeros_like(au5))):
        rows, ks = torch.nonzero(pick, as_tuple=True)
        target = ctx.data.au[idx][rows].clone()
        target[torch.arange(rows.numel()), ks] = to_unit(value[rows, ks])
        out[name] = (rows, ks, target)
    return out


#: ``edit(ctx, src_idx, target, others) -> maps``: how an edit set's edits are made (the generator, or a reference).
EditFn = Callable[[EvalContext, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def generator_edits(ctx: EvalContext, src_idx: torch.Tensor, target: torch.Tensor, others: torch.Tensor | None
                    ) -> torch.Tensor:
    """The run's generator's edits of the sources ``src_idx`` to ``target`` (unit AUs), with the expression
    (emotion, valence) of ``others`` when given."""
    fp = footprints_of(ctx, src_idx)
    extra = extras_of(ctx, src_idx) if others is None else transfer_extras(ctx, src_idx, others)
    return generate(ctx, ctx.data.x[src_idx], target, fp, ctx.data.au[src_idx], extra,
                    None if others is None else extras_of(ctx, src_idx))


def _score_set(ctx: EvalContext, idx: torch.Tensor, rows: torch.Tensor, target: torch.Tensor,
               others: torch.Tensor | None, ks: torch.Tensor | None, edit: EditFn = generator_edits) -> dict:
    """Make the edits with ``edit``, render the truth and score one edit set; per AU as well when ``ks`` names
    the edited AU. ``others``: the samples whose expression (emotion, valence) the targets take (None: the source
    keeps its)."""
    src_idx = idx[rows]
    fp = footprints_of(ctx, src_idx)
    src = ctx.data.x[src_idx]
    target_ids = None if others is None else sample_ids(ctx, others)
    out = edit(ctx, src_idx, target, others)
    ids = sample_ids(ctx, src_idx)
    gt = ctx.truth.render(ids, from_unit(target), target_ids if target_ids is not None else ids).float().cpu()
    if gt.shape != out.shape:
        raise ValueError(f"ground truth has shape {tuple(gt.shape)}, the generator writes {tuple(out.shape)}")
    mask = union_mask(fp, (target - ctx.data.au[src_idx]).abs() > ACTIVE_UNIT)
    edit_maps, src_maps, truth_maps = decode(ctx, out), decode(ctx, src), decode(ctx, gt)
    result: dict = {"num_pairs": int(rows.numel()), "maps": {}}
    for name in truth_maps:
        result["maps"][name] = change_scores(edit_maps[name], src_maps[name], truth_maps[name], mask)
        if ks is not None:
            per = {}
            for k in torch.unique(ks).tolist():
                sel = ks == k
                s = change_scores(edit_maps[name][sel], src_maps[name][sel], truth_maps[name][sel], mask[sel])
                per[ctx.au_names[k]] = {key: round_score(s[key]) for key in
                                        (*CHANGE_KEYS, *(f"{c}_whole" for c in CHANGE_KEYS), "locality_truth")}
                per[ctx.au_names[k]]["pairs"] = int(sel.sum())
            result["maps"][name]["per_au"] = per
    result["errors"] = map_errors(edit_maps, truth_maps, mask)
    result["source_errors"] = map_errors(src_maps, truth_maps, mask)
    return result


def score_edit_sets(ctx: EvalContext, edit: EditFn = generator_edits) -> dict[str, dict]:
    """The edit sets of :func:`paired_fidelity` (seeded from the context: the same sources, AUs and levels for
    every run and reference), made with ``edit`` and scored against the truth."""
    idx = pick_sources(ctx, ctx.num_samples, SALT_SOURCES)
    tgt = pick_others(ctx, idx, SALT_TARGETS)
    sets = {"transfer": _score_set(ctx, idx, torch.arange(idx.numel()), ctx.data.au[tgt], tgt, None, edit)}
    single_idx = pick_sources(ctx, max(8, ctx.num_samples // 4), SALT_SINGLE)
    for name, (rows, ks, target) in single_au_edits(ctx, single_idx, SALT_LEVELS).items():
        if rows.numel():
            sets[name] = _score_set(ctx, single_idx, rows, target, None, ks, edit)
    return sets


def round_score(v: float) -> float | None:
    """Six significant digits (not decimals: the error outside the footprints is ~1e-5, its ratio to not editing's
    must survive the rounding); None for a missing or non-finite figure."""
    return None if v is None or not np.isfinite(v) else float(f"{float(v):.6g}")


_EXPLAINED = tuple(f"explained/{m}/{s}" for s in EDIT_SETS for m in ("displacement", "albedo"))
#: The whole-map explained of the transfer edits: beside the footprint figures in the report's headline.
_WHOLE = tuple(f"explained_whole/{m}/transfer" for m in ("displacement", "albedo"))


@register_metric("paired_fidelity", needs=("truth",),
                 headline=(*((k, "max") for k in _EXPLAINED), *((k, "max") for k in _WHOLE),
                           ("outside/albedo/transfer", "min"),
                           ("l1_footprint/displacement", "min"), ("l1_footprint/albedo", "min")),
                 no_edit={**dict.fromkeys(_EXPLAINED, 0.0), **dict.fromkeys(_WHOLE, 0.0),
                          "outside/albedo/transfer": "source_outside/albedo/transfer",
                          "l1_footprint/displacement": "source_l1_footprint/displacement",
                          "l1_footprint/albedo": "source_l1_footprint/albedo"})
def paired_fidelity(ctx: EvalContext) -> dict:
    """Edits vs the ground-truth render of the same identity with the target AUs (synthetic benchmark only).

    ``add``/``remove``: every AU of ``num_samples // 4`` sources (at least 8) added where inactive and removed
    where active, one at a time. ``transfer``: ``num_samples`` sources towards the AU vector (and emotion) of
    another sample. Scores inside the union of the footprints of the AUs that change and, as ``*_whole``,
    over the whole map; ``locality_truth`` is the share of the edit's change inside the truth's own changed
    region. The do-nothing reference is explained = cosine = amplitude = 0 (footprint and whole map) and
    ``source_l1_footprint``/``source_outside``. ``world`` names the benchmark's world (in the strain world
    the whole-map figures are the headline).
    """
    assert ctx.truth is not None
    sets = score_edit_sets(ctx)
    summary: dict[str, float | None] = {}
    for set_name in EDIT_SETS:
        if set_name not in sets:
            continue
        for map_name, s in sets[set_name]["maps"].items():
            for key in ("explained", "cosine", "amplitude"):
                summary[f"{key}/{map_name}/{set_name}"] = round_score(s[key])
                summary[f"{key}_whole/{map_name}/{set_name}"] = round_score(s[f"{key}_whole"])
            summary[f"locality_truth/{map_name}/{set_name}"] = round_score(s["locality_truth"])
            summary[f"outside/{map_name}/{set_name}"] = round_score(s["outside"])
            summary[f"source_outside/{map_name}/{set_name}"] = round_score(s["source_outside"])
    transfer = sets["transfer"]
    for name, errs in transfer["errors"].items():
        summary[f"l1_footprint/{name}"] = errs["l1_footprint"]
        summary[f"psnr_footprint/{name}"] = errs["psnr_footprint"]
        summary[f"l1/{name}"] = errs["l1"]
        summary[f"psnr/{name}"] = errs["psnr"]
        summary[f"source_l1_footprint/{name}"] = transfer["source_errors"][name]["l1_footprint"]
    world = getattr(getattr(ctx.truth, "config", None), "world", "default")
    return {"summary": summary, "sets": sets, "per_map": transfer["errors"], "source": transfer["source_errors"],
            "num_pairs": {k: v["num_pairs"] for k, v in sets.items()},
            "reference": {"explained": 0.0, "cosine": 0.0, "amplitude": 0.0},
            "world": world}
