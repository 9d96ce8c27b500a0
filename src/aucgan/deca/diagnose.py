"""Does a detail decoder follow the AUs? Figures for ``aucgan diagnose``.

On samples of a prepared DECA data set (their own latent codes and AUs), for a :class:`DetailDecoder`:

* **sensitivity** - ``|d uv_z / d AU_k|`` (metres per AU intensity point, by forward-mode autograd at the
  sample's own AUs) averaged inside AU k's footprint and outside it; ``focus`` = inside / (inside + outside)
  (1: acts only where AU k acts; 0.5: no spatial preference; undefined when AU k has no effect at all).
* **AU share** - how much of the output's variation the AUs explain against the expression code: per sample,
  the per-pixel variance of uv_z across other samples' AU vectors (latent kept), and across other samples'
  expression codes (jaw pose + expression; AUs and detail kept); share = var_AU / (var_AU + var_exp). The
  detail code's variance is reported beside them for scale.
* **pairs** - whether the AU edits are *right*, not only how much they move uv_z: on the user's own data the
  only truth about an AU edit is another image of the same person. For seeded pairs (A, B) of one identity,
  the edit is A's codes with B's AUs, not editing is A's codes with A's AUs, and the truth seen from it is
  ``not editing + (uv_z of B - uv_z of A)`` (the decoder's reconstruction error cancels, as in
  :mod:`aucgan.deca.truth`); explained / cosine / amplitude as there (:mod:`aucgan.deca.edits`), beside
  "codes only" (A's codes with B's jaw pose and expression code, A's AUs: what the expression code alone
  carries). The data's AUs are OpenFace's (noisy) and its uv_z DECA's reconstruction, so 1 is out of reach;
  0 is not editing. Meaningful on people the decoder did not train on.
* **sweeps** - each AU from 0 to 5 (others at the sample's own values): the change of uv_z against AU = 0.

The verdict reads "ignores the AUs" when the sensitivity is exactly zero for every AU (a decoder whose AU
input columns are zero, or an imported decoder whose new conditioning has not been trained yet), "barely
follows the AUs" below :data:`LOW_SHARE`, else "follows the AUs"; then the paired explained, and, when the AUs
are barely followed or the paired edits are no better than not editing, the likely cause it can see: a code
that moves uv_z much more than the AUs, or AUs that span little in the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from aucgan.deca.data import DecaData
from aucgan.deca.decoder import DetailDecoder
from aucgan.deca.edits import SCORES, Decoder, decode, edit_scores, masked_l1
from aucgan.nn.layers import jvp
from aucgan.progress import Progress

#: Footprint values above this count as "inside" AU k's footprint (as aucgan's sensitivity metric).
FOOTPRINT_THRESHOLD = 0.05
#: Below this share of the variation the AUs "barely" act.
LOW_SHARE = 0.05
SWEEP_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
#: Pairs of images of one person :func:`diagnose` scores the AU edits on by default.
NUM_PAIRS = 48
SALT_PAIRS = 301
#: Paired edits that explain at most this share of the change to another image of the person are taken as no
#: better than not editing (the same 5 % as :data:`LOW_SHARE`).
PAIRED_LOW = 0.05
#: A code is named as the likely cause when it moves uv_z (standard deviation) at least this many times as
#: much as the AUs do.
CAUSE_RATIO = 2.0
#: The data's AUs "span little" below this standard deviation per AU (mean over the AUs), in intensity points:
#: half of one FACS intensity grade (grades A..E are one point apart on the 0..5 scale), 10 % of the range. The
#: AUs then mostly stay within one grade of their mean, so the decoder sees little to learn an AU's effect
#: from; AUs written on a 0..1 scale into the 0..5 field also land below it (values in [0, 1] have a standard
#: deviation of at most 0.5).
AU_SPREAD_LOW = 0.5


def work_units(n_total: int, num_samples: int, num_pairs: int = NUM_PAIRS) -> int:
    """The units :func:`diagnose` reports to its ``progress``: per sample, its sensitivity and its AU share;
    one for the pairs (when ``num_pairs`` > 0)."""
    return 2 * max(1, min(num_samples, n_total)) + (1 if num_pairs > 0 else 0)


def pick(n_total: int, n: int, seed: int) -> np.ndarray:
    """``min(n, n_total)`` distinct sorted indices, seeded."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=gen)[: max(1, min(n, n_total))].sort().values.numpy()


def au_jacobian(dec: DetailDecoder, latent: torch.Tensor, au: torch.Tensor) -> torch.Tensor:
    """``d uv_z / d AU_k`` (K, S, S) at one sample's latent (D,) and AUs (K,), metres per intensity point."""
    k = au.numel()
    lat = latent.reshape(1, -1).expand(k, -1)
    a = au.reshape(1, k).repeat(k, 1)
    source = a.clone() if dec.needs_source_au else None
    tangent = torch.eye(k, dtype=a.dtype)

    def f(a_: torch.Tensor) -> torch.Tensor:
        return dec(lat, a_, source_au=source)

    return jvp(f, a, tangent)[:, 0]


@torch.no_grad()
def _variance(dec: DetailDecoder, latents: torch.Tensor, au: torch.Tensor, source: torch.Tensor | None) -> float:
    """Mean over pixels of the per-pixel variance of uv_z over the batch (one base sample, varied inputs)."""
    out = dec(latents, au, source_au=source)[:, 0].double()
    return float(out.var(dim=0, unbiased=False).mean())


def share_of_variation(dec: DetailDecoder, data: DecaData, bases: np.ndarray, others: int, seed: int,
                       progress: Progress | None = None) -> dict[str, float]:
    """Variance of uv_z when only the AUs, only the expression code or only the detail code vary
    (``progress`` advances by one per base sample)."""
    parts = data.parts
    expr = slice(parts["jaw"].start, parts["exp"].stop)
    gen = torch.Generator().manual_seed(seed + 1)
    lat_all = torch.from_numpy(np.array(data.latents, np.float32))
    au_all = torch.from_numpy(data.au)
    sums = {"au": 0.0, "expression": 0.0, "detail": 0.0}
    for i in bases.tolist():
        pool = torch.randperm(len(data), generator=gen)[:others]
        lat_i, au_i = lat_all[i].expand(len(pool), -1), au_all[i].expand(len(pool), -1)
        src = au_i if dec.needs_source_au else None
        sums["au"] += _variance(dec, lat_i, au_all[pool], src)
        mixed = lat_i.clone()
        mixed[:, expr] = lat_all[pool][:, expr]
        sums["expression"] += _variance(dec, mixed, au_i, src)
        mixed = lat_i.clone()
        mixed[:, parts["detail"]] = lat_all[pool][:, parts["detail"]]
        sums["detail"] += _variance(dec, mixed, au_i, src)
        if progress is not None:
            progress.update(postfix={"figure": "AU share"})
    var = {k: v / len(bases) for k, v in sums.items()}
    total = var["au"] + var["expression"]
    return {"var_au_m2": var["au"], "var_expression_m2": var["expression"], "var_detail_m2": var["detail"],
            "std_au_m": math.sqrt(var["au"]), "std_expression_m": math.sqrt(var["expression"]),
            "std_detail_m": math.sqrt(var["detail"]),
            "au_share": var["au"] / total if total > 0 else float("nan"), "others_per_sample": int(others)}


def pair_rows(data: DecaData, num_pairs: int, seed: int) -> list[tuple[int, int]]:
    """``num_pairs`` seeded pairs (A, B) of different images of one identity: each A a distinct image while
    there are enough (then the images are drawn again), B drawn among A's person's other images. Empty when
    no identity has two images."""
    ident = data.identity_index()
    groups: dict[int, list[int]] = {}
    for row, who in enumerate(ident.tolist()):
        groups.setdefault(who, []).append(row)
    rows = [r for r, who in enumerate(ident.tolist()) if len(groups[who]) > 1]
    if not rows or num_pairs < 1:
        return []
    gen = torch.Generator().manual_seed(seed * 1000 + SALT_PAIRS)
    sources: list[int] = []
    while len(sources) < num_pairs:
        order = torch.randperm(len(rows), generator=gen)[: num_pairs - len(sources)].tolist()
        sources += [rows[i] for i in order]
    pairs = []
    for a in sources:
        others = [r for r in groups[int(ident[a])] if r != a]
        pairs.append((a, others[int(torch.randint(len(others), (1,), generator=gen))]))
    return pairs


def paired_scores(dec: Decoder, data: DecaData, mask: torch.Tensor | None, *, num_pairs: int = NUM_PAIRS,
                  seed: int = 0, batch_size: int = 16, progress: Progress | None = None) -> dict:
    """The AU edits against another image of the same person (module notes), inside ``mask`` ((S, S) or
    (1, 1, S, S) weights; None: the whole map). JSON-ready: ``edit``, ``codes_only`` and ``no_edit`` (0) each
    with :data:`SCORES`, the number of pairs, sources and people, and L1 figures (metres); without two images
    of any identity, ``pairs`` 0 and ``absent`` saying why. ``progress`` advances by one."""
    pairs = pair_rows(data, num_pairs, seed)
    if not pairs:
        if progress is not None:
            progress.update(postfix={"figure": "pairs"})
        people = len(set(data.identities))
        return {"pairs": 0, "absent": f"no identity has two images ({len(data)} images of {people} identities): "
                                      "prepare the data set with identities (prepare-deca --identities CSV)"}
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    lat_a = torch.from_numpy(np.array(data.latents[a], np.float32))
    codes_lat = lat_a.clone()
    expr = slice(data.parts["jaw"].start, data.parts["exp"].stop)
    codes_lat[:, expr] = torch.from_numpy(np.array(data.latents[b][:, expr], np.float32))
    au_a, au_b = torch.from_numpy(data.au[a]), torch.from_numpy(data.au[b])
    uv_a = torch.from_numpy(np.array(data.uv_z[a], np.float32)).double()
    uv_b = torch.from_numpy(np.array(data.uv_z[b], np.float32)).double()
    source = decode(dec, lat_a, au_a, au_a, batch_size)
    edit = decode(dec, lat_a, au_b, au_a, batch_size)
    codes = decode(dec, codes_lat, au_a, au_a, batch_size)
    truth = source + (uv_b - uv_a)
    size = source.shape[-1]
    m = (torch.ones(size, size) if mask is None else mask.reshape(size, size)).double()
    m = m.expand(len(pairs), 1, size, size)
    ident = data.identity_index()
    if progress is not None:
        progress.update(postfix={"figure": "pairs"})
    return {"pairs": len(pairs), "sources": len(set(a.tolist())), "people": len(set(ident[a].tolist())),
            "edit": edit_scores(edit, source, truth, m), "codes_only": edit_scores(codes, source, truth, m),
            "no_edit": dict.fromkeys(SCORES, 0.0),
            "mask": "the whole map" if mask is None else "the layout's face mask",
            "au_change": float(np.abs(data.au[b] - data.au[a]).mean()),
            "true_change_l1": masked_l1(uv_b, uv_a, m), "reconstruction_l1": masked_l1(source, uv_a, m),
            "seed": int(seed)}


def au_spread(data: DecaData) -> dict:
    """The data's AU standard deviation per AU (intensity points, 0..5) and its mean over the AUs."""
    std = np.asarray(data.au, np.float64).std(axis=0)
    return {"mean": float(std.mean()), "per_au": {a: float(v) for a, v in zip(data.au_names, std)}}


@torch.no_grad()
def sweep(dec: DetailDecoder, latent: torch.Tensor, au: torch.Tensor, levels: Sequence[float] = SWEEP_LEVELS
          ) -> torch.Tensor:
    """(K, L, S, S): uv_z with AU k at each level (other AUs at the sample's own values), metres."""
    k, n = au.numel(), len(levels)
    a = au.reshape(1, 1, k).repeat(k, n, 1)
    for j in range(k):
        a[j, :, j] = torch.tensor(levels, dtype=a.dtype)
    a = a.reshape(k * n, k)
    lat = latent.reshape(1, -1).expand(k * n, -1)
    src = au.reshape(1, k).expand(k * n, -1) if dec.needs_source_au else None
    return dec(lat, a, source_au=src)[:, 0].reshape(k, n, dec.output_size, dec.output_size)


def percent(share: float) -> str:
    """A share as a percentage with two significant digits below 1 % (0.0035 % rather than 0.0 %)."""
    if not math.isfinite(share):
        return "undefined"
    return f"{share:.1%}" if share >= 0.01 or share == 0 else f"{share * 100:.2g}%"


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def causes(variation: dict, spread: float | None) -> list[str]:
    """The likely causes of weak AU control the figures show: a code (expression, detail) that moves uv_z at
    least :data:`CAUSE_RATIO` times as much as the AUs (standard deviations, from :func:`share_of_variation`),
    and AUs whose mean standard deviation ``spread`` is below :data:`AU_SPREAD_LOW`."""
    found = []
    var_au = variation["var_au_m2"]
    for key, name in (("var_expression_m2", "expression code"), ("var_detail_m2", "detail code")):
        var = variation[key]
        if var <= 0:
            continue
        if var_au <= 0:
            found.append(f"the {name} moves uv_z and the AUs do not")
        elif var >= CAUSE_RATIO ** 2 * var_au:
            found.append(f"the {name} moves uv_z {_times(math.sqrt(var / var_au))} as much as the AUs")
    if spread is not None and spread < AU_SPREAD_LOW:
        found.append(f"the data's AUs span little (standard deviation {spread:.2g} intensity points per AU on "
                     f"average, under {AU_SPREAD_LOW:g}: half a FACS grade)")
    return found


def verdict(per_au_inside: np.ndarray, per_au_outside: np.ndarray, share: float, au_names: Sequence[str], *,
            variation: dict | None = None, pairs: dict | None = None, spread: float | None = None) -> str:
    """One line: whether the decoder follows the AUs, from the sensitivities and the AU share; then the paired
    explained (``pairs``, :func:`paired_scores`), and the likely :func:`causes` (from ``variation`` and the
    AUs' ``spread``; or that none shows) when the AUs are barely followed or the paired edits are no better than
    not editing."""
    total = per_au_inside + per_au_outside
    if not np.any(total > 0):
        return "ignores the AUs: d uv_z / d AU is exactly 0 for every AU (the output does not depend on them)"
    ignored = [a for a, t in zip(au_names, total) if t == 0]
    head = f"ignores {', '.join(ignored)}; " if ignored else ""
    explained = None if pairs is None or not pairs.get("pairs") else pairs["edit"]["explained"]
    tail = ""
    if explained is not None:
        tail = (f"; its AU edits explain {round(explained, 2) + 0.0:.2f} of the change to another image of the "
                f"same person (0: not editing)")                              # + 0.0: no "-0.00"
    barely = math.isfinite(share) and share < LOW_SHARE
    if (barely or (explained is not None and explained <= PAIRED_LOW)) and variation is not None:
        found = causes(variation, spread)
        tail += (f"; likely cause: {' and '.join(found)}" if found else
                 f"; no likely cause in these figures (neither code moves uv_z {CAUSE_RATIO:g}x as much as the AUs, "
                 "the data's AUs span enough)")
    if barely:
        return (f"{head}barely follows the AUs: they explain {percent(share)} of the output's variation against "
                f"the expression code{tail}")
    with np.errstate(invalid="ignore", divide="ignore"):
        focus = np.nanmean(np.where(total > 0, per_au_inside / np.where(total > 0, total, 1), np.nan))
    return (f"{head}follows the AUs: they explain {percent(share)} of the output's variation against the "
            f"expression code; {float(focus):.0%} of their effect per pixel falls inside their footprints{tail}")


def diagnose(dec: DetailDecoder, data: DecaData, footprints: torch.Tensor, *, num_samples: int = 8,
             others: int = 8, seed: int = 0, num_pairs: int = NUM_PAIRS, mask: torch.Tensor | None = None,
             pairs_data: DecaData | None = None, progress: Progress | None = None
             ) -> tuple[dict, dict[str, torch.Tensor]]:
    """The figures (JSON-ready) and the arrays for the pictures (mean |d uv_z / d AU| maps, footprints).
    ``num_pairs``: pairs of one person's images for :func:`paired_scores`, drawn from ``pairs_data`` (default:
    ``data``; e.g. held-out people) and scored inside ``mask`` (None: the whole map; 0 pairs: not measured).
    ``progress`` advances by one per sample and figure, and once for the pairs (:func:`work_units`)."""
    if tuple(data.au_names) != tuple(dec.au_names):
        raise ValueError("the data set must be opened with the decoder's AU names")
    dec.eval()
    k, size = dec.num_aus, dec.output_size
    region = (footprints > FOOTPRINT_THRESHOLD).float()
    bases = pick(len(data), num_samples, seed)
    maps = torch.zeros(k, size, size, dtype=torch.float64)
    inside = np.zeros((len(bases), k))
    outside = np.zeros((len(bases), k))
    for row, i in enumerate(bases.tolist()):
        jac = au_jacobian(dec, torch.from_numpy(np.array(data.latents[i], np.float32)),
                          torch.from_numpy(data.au[i])).abs().double()
        for j in range(k):
            r = region[j].double()
            inside[row, j] = float((jac[j] * r).sum() / r.sum().clamp_min(1))
            outside[row, j] = float((jac[j] * (1 - r)).sum() / (1 - r).sum().clamp_min(1))
        maps += jac
        if progress is not None:
            progress.update(postfix={"figure": "sensitivity"})
    maps /= len(bases)
    in_k, out_k = inside.mean(axis=0), outside.mean(axis=0)
    total = in_k + out_k
    with np.errstate(invalid="ignore", divide="ignore"):
        focus = np.where(total > 0, in_k / np.where(total > 0, total, 1.0), np.nan)
    share = share_of_variation(dec, data, bases, max(2, min(others, len(data))), seed, progress)
    if num_pairs > 0:
        pairs = paired_scores(dec, data if pairs_data is None else pairs_data, mask, num_pairs=num_pairs, seed=seed,
                              progress=progress)
    else:
        pairs = {"pairs": 0, "absent": "not measured (0 pairs asked for)"}
    spread = au_spread(data)

    def num(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    figures = {
        "samples": [data.names[i] for i in bases.tolist()],
        "au_names": list(dec.au_names),
        "sensitivity": {
            "unit": "metres of uv_z per AU intensity point (0..5 scale), mean |d uv_z / d AU_k|",
            "threshold": FOOTPRINT_THRESHOLD,
            "mean_inside": float(in_k.mean()), "mean_outside": float(out_k.mean()),
            "max_abs": float(maps.max()),
            "per_au": {a: {"inside": float(in_k[j]), "outside": float(out_k[j]), "focus": num(focus[j])}
                       for j, a in enumerate(dec.au_names)},
        },
        "variation": {key: (num(v) if isinstance(v, float) else v) for key, v in share.items()},
        "pairs": pairs,
        "au_spread": spread,
        "ignored_aus": [a for a, t in zip(dec.au_names, total) if t == 0],
        "verdict": verdict(in_k, out_k, share["au_share"], dec.au_names, variation=share, pairs=pairs,
                           spread=spread["mean"]),
    }
    return figures, {"sensitivity": maps.float(), "footprints": footprints.float()}


def sweep_picture(dec: DetailDecoder, data: DecaData, index: int, path: Path, levels: Sequence[float] = SWEEP_LEVELS,
                  cell: int = 64) -> Path:
    """A PNG: per AU (rows) the change of uv_z at each level (columns) against AU = 0 on one symmetric colour
    scale (red: outward, blue: inward); the first column is the sample's own uv_z in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from aucgan.nn.layers import resize_to

    latent = torch.from_numpy(np.array(data.latents[index], np.float32))
    au = torch.from_numpy(data.au[index])
    uv = sweep(dec, latent, au, levels)                                            # (K, L, S, S)
    with torch.no_grad():
        own = dec(latent[None], au[None], source_au=au[None] if dec.needs_source_au else None)[0, 0]
    small = resize_to(uv - uv[:, :1], (cell, cell)).numpy()
    base = resize_to(own[None, None], (cell, cell))[0, 0].numpy()
    lim = float(np.abs(small).max()) or 1e-12
    blim = float(np.abs(base).max()) or 1e-12
    div, grey = colormaps["RdBu_r"], colormaps["gray"]
    k, n = small.shape[:2]
    rows = [np.concatenate([grey(0.5 + 0.5 * base / blim)[..., :3]]
                           + [div(0.5 + 0.5 * small[j, c] / lim)[..., :3] for c in range(n)], axis=1)
            for j in range(k)]
    img = np.concatenate(rows, axis=0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * (n + 1), 0.8 + 0.9 * k))
    ax.imshow(img, interpolation="nearest")
    ax.set_yticks([(j + 0.5) * cell for j in range(k)], list(dec.au_names), fontsize=7)
    ax.set_xticks([(c + 0.5) * cell for c in range(n + 1)], ["uv_z"] + [f"{v:g}" for v in levels], fontsize=7)
    for j in range(1, k):
        ax.axhline(j * cell - 0.5, color="white", lw=0.5)
    for c in range(1, n + 1):
        ax.axvline(c * cell - 0.5, color="white", lw=0.5)
    ax.set_xlabel("AU intensity (columns after uv_z: change against intensity 0)", fontsize=8)
    ax.set_title(f"{data.names[index]}: change +-{lim * 1e6:.3g} um, uv_z +-{blim * 1e6:.3g} um", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
