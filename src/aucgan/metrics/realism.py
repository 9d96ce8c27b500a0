"""``realism``: are edited maps distributed like real maps?

The sliced Wasserstein distance on Laplacian pyramids (:mod:`aucgan.metrics.swd`) compares local
statistics at every scale, per map; FID and KID compare feature statistics and run only with a feature
extractor given as a local weights path (an AU estimator run dir: its penultimate activations). Nothing is
downloaded. Each distance comes with its real-vs-real floor: the same distance between the (real) source
maps and the reference, which a perfect generator would reach.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import linalg

from aucgan.data.codec import MapCodec
from aucgan.errors import AucganError
from aucgan.metrics.context import (
    CodecAdapter,
    EvalContext,
    FeatureExtractor,
    extras_of,
    footprints_of,
    generate,
    pick_others,
    pick_sources,
)
from aucgan.metrics.registry import register_metric
from aucgan.metrics.swd import swd
from aucgan.models.build import make_codec
from aucgan.runs import load_aunet

SALT_SOURCES, SALT_TARGETS, SALT_KID = 501, 502, 503
NO_FEATURES = ("FID/KID skipped: no feature extractor given (pass --features AUNET_RUN_DIR, a local "
               "`aucgan train-au` run whose penultimate activations serve as features; "
               "nothing is downloaded)")


def fid(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, F)."""
    mu_a, mu_b = feat_a.mean(axis=0), feat_b.mean(axis=0)
    cov_a, cov_b = np.cov(feat_a, rowvar=False), np.cov(feat_b, rowvar=False)
    covmean = np.real(linalg.sqrtm(np.atleast_2d(cov_a) @ np.atleast_2d(cov_b)))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def kid(feat_a: np.ndarray, feat_b: np.ndarray, seed: int = 0, subsets: int = 10,
        max_subset: int = 1000) -> float:
    """Kernel inception distance: unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets."""
    d = feat_a.shape[1]
    m = min(feat_a.shape[0], feat_b.shape[0], max_subset)
    if m < 2:
        return float("nan")
    rs = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = feat_b[rs.choice(feat_b.shape[0], m, replace=False)]
        y = feat_a[rs.choice(feat_a.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / subsets / m)


def aunet_features(run_dir: str | Path, codec: MapCodec,
                   device: torch.device | str = "cpu") -> FeatureExtractor:
    """A feature extractor from an AU estimator run dir: the input of its last linear layer (penultimate
    activations) for maps encoded with ``codec``. Weights load from safetensors; nothing is downloaded."""
    net, cfg = load_aunet(run_dir, device)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise AucganError(f"{run_dir}: the AU estimator has no linear head to read features before")
    adapter = CodecAdapter(net, codec, make_codec(cfg.data), cfg.data.size)
    captured: list[torch.Tensor] = []
    linears[-1].register_forward_hook(lambda mod, inp, out: captured.append(inp[0].detach()))

    @torch.no_grad()
    def extract(x: torch.Tensor) -> torch.Tensor:
        captured.clear()
        adapter(x.to(device))
        return captured[-1].flatten(1).float().cpu()

    return extract


def features_of(fn: FeatureExtractor, x: torch.Tensor, batch_size: int) -> np.ndarray:
    return torch.cat([fn(x[s:s + batch_size]) for s in range(0, x.shape[0], batch_size)]).double().numpy()


@register_metric("realism", needs=("reference",),
                 headline=(("swd", "min"), ("swd_excess", "min"), ("fid", "min")))
def realism(ctx: EvalContext) -> dict:
    """Multi-scale SWD (x 1e3) between edited and held-out real maps, per map, with the real-vs-real floor;
    FID/KID in the given feature space (skipped with a message when no extractor is given).

    n = min(num_samples, reference size) sources are edited towards other samples' AUs; the floor is the
    same distance between the unedited sources and the reference. ``swd_excess`` = swd - floor.
    """
    assert ctx.reference is not None
    n = min(ctx.num_samples, ctx.reference.shape[0], len(ctx.data))
    idx = pick_sources(ctx, n, SALT_SOURCES)
    n = idx.numel()
    ref = ctx.reference[:n].float().cpu()
    src = ctx.data.x[idx]
    fake = generate(ctx, src, ctx.data.au[pick_others(ctx, idx, SALT_TARGETS)], footprints_of(ctx, idx),
                    ctx.data.au[idx], extras_of(ctx, idx))
    per_map, floor_map = {}, {}
    for name, sl in ctx.codec.slices().items():
        per_map[name] = swd(ref[:, sl], fake[:, sl], seed=ctx.seed)
        floor_map[name] = swd(ref[:, sl], src[:, sl], seed=ctx.seed)
    swd_mean = float(np.mean([v["mean"] for v in per_map.values()]))
    floor = float(np.mean([v["mean"] for v in floor_map.values()]))
    summary = {"swd": swd_mean, "swd_floor": floor, "swd_excess": swd_mean - floor}
    for name in per_map:
        summary[f"swd/{name}"] = per_map[name]["mean"]
        summary[f"swd_floor/{name}"] = floor_map[name]["mean"]
    result = {"summary": summary, "swd": per_map, "swd_floor": floor_map, "num_images": int(n)}
    if ctx.features is None:
        result["fid_kid"] = NO_FEATURES
    else:
        f_ref = features_of(ctx.features, ref, ctx.batch_size)
        f_fake = features_of(ctx.features, fake, ctx.batch_size)
        f_src = features_of(ctx.features, src, ctx.batch_size)
        summary.update({"fid": fid(f_ref, f_fake), "fid_floor": fid(f_ref, f_src),
                        "kid": kid(f_ref, f_fake, seed=ctx.seed + SALT_KID),
                        "kid_floor": kid(f_ref, f_src, seed=ctx.seed + SALT_KID)})
        result["feature_dim"] = int(f_ref.shape[1])
    return result
