"""Multi-scale sliced Wasserstein distance on Laplacian pyramids (Karras et al., ICLR 2018, appendix D).

Per pyramid level (from the full resolution down to 16 px): 7x7 neighbourhoods at random positions, 128
per image, as descriptors; the distance between two descriptor sets is the mean over random unit directions
of the 1-D Wasserstein-1 distance between their projections (sorted and compared pointwise), x 1e3.
One deliberate difference: descriptors of both sets are standardised with the *reference* set's per-channel
mean and std (Karras standardised each set by its own), so a wrong overall amplitude is not normalised away.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
GAUSS5 = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0


@dataclass(frozen=True)
class SWDConfig:
    """Karras et al.'s settings: 7x7 neighbourhoods, 128 per image, 4 repeats of 128 directions, min 16 px."""

    nhood_size: int = 7
    nhoods_per_image: int = 128
    dir_repeats: int = 4
    dirs_per_repeat: int = 128
    min_resolution: int = 16


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    w = kernel.to(x).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), w, groups=c)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Gaussian blur and 2x decimation (as ``cv2.pyrDown``)."""
    return _filter(x, GAUSS5)[:, :, ::2, ::2]


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    """2x zero-insertion upsampling and blur (as ``cv2.pyrUp``)."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _filter(up, GAUSS5 * 4.0)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels, finest first; the last level is the low-pass residual."""
    pyramid = [x.float()]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


def num_levels(size: int, min_resolution: int = 16) -> int:
    """Pyramid levels from ``size`` halving down to ``min_resolution`` (at least 1)."""
    n, res = 0, size
    while res >= min_resolution:
        n, res = n + 1, res // 2
    return max(n, 1)


def descriptors(level: torch.Tensor, per_image: int, nhood: int, gen: torch.Generator) -> torch.Tensor:
    """``per_image`` random square neighbourhoods per image: (N * per_image, C, nhood, nhood)."""
    n, c, h, w = level.shape
    r = nhood // 2
    if h < nhood or w < nhood:
        raise ValueError(f"a {h}x{w} pyramid level is smaller than the {nhood}x{nhood} neighbourhood")
    img = torch.arange(n).repeat_interleave(per_image)
    ys = torch.randint(r, h - r, (img.numel(),), generator=gen)
    xs = torch.randint(r, w - r, (img.numel(),), generator=gen)
    off = torch.arange(-r, r + 1)
    patches = level[img[:, None, None], :, (ys[:, None] + off)[:, :, None], (xs[:, None] + off)[:, None, :]]
    return patches.permute(0, 3, 1, 2).contiguous()                  # (M, nhood, nhood, C) -> (M, C, nh, nh)


def standardise(desc: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(M, C, h, w) descriptors standardised per channel and flattened to (M, C*h*w)."""
    return ((desc - mean.view(1, -1, 1, 1)) / std.clamp_min(1e-8).view(1, -1, 1, 1)).flatten(1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, repeats: int, dirs: int,
                       gen: torch.Generator) -> float:
    """Mean 1-D Wasserstein-1 distance between ``a`` and ``b`` (M, D) projected on random unit directions."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    results = []
    for _ in range(repeats):
        d = torch.randn(a.shape[1], dirs, generator=gen)
        d = d / d.norm(dim=0, keepdim=True)
        pa = torch.sort(a.float() @ d, dim=0).values
        pb = torch.sort(b.float() @ d, dim=0).values
        results.append(float((pa - pb).abs().double().mean()))
    return sum(results) / len(results)


def swd(reference: torch.Tensor, other: torch.Tensor, seed: int = 0, config: SWDConfig = SWDConfig()) -> dict:
    """SWD (x 1e3) between image sets (N, C, H, W) per pyramid level and averaged.

    Both sets must hold the same number of images (the sorted projections are compared pointwise).
    Returns ``{"resolutions": [...], "per_level": [...], "mean": float}``.
    """
    if reference.shape != other.shape:
        raise ValueError(f"SWD needs equal-shaped sets, got {tuple(reference.shape)} "
                         f"and {tuple(other.shape)}")
    size = reference.shape[-1]
    levels = num_levels(size, config.min_resolution)
    pyr_ref, pyr_oth = laplacian_pyramid(reference, levels), laplacian_pyramid(other, levels)
    out, res = [], []
    for lvl, (lr, lo) in enumerate(zip(pyr_ref, pyr_oth)):
        gen = torch.Generator().manual_seed(seed * 1009 + lvl)
        dr = descriptors(lr, config.nhoods_per_image, config.nhood_size, gen)
        do = descriptors(lo, config.nhoods_per_image, config.nhood_size, gen)
        mean, std = dr.mean(dim=(0, 2, 3)), dr.std(dim=(0, 2, 3))
        dist = sliced_wasserstein(standardise(dr, mean, std), standardise(do, mean, std), config.dir_repeats,
                                  config.dirs_per_repeat, gen)
        out.append(dist * 1e3)
        res.append(int(lr.shape[-1]))
    return {"resolutions": res, "per_level": out, "mean": sum(out) / len(out)}
