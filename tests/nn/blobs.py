"""Test footprints: one truncated gaussian blob per AU (compact support, so locality can be exact)."""

from __future__ import annotations

import torch


def blob_footprints(batch: int, num_aus: int, size: int, seed: int = 0, sigma: float = 1.5,
                    radius: float = 3.0) -> torch.Tensor:
    """(batch, num_aus, size, size) in [0, 1]: blob k centred at a seeded random point inside a 4 px border,
    zero beyond ``radius * sigma`` pixels from its centre."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(batch, num_aus, 2, generator=gen) * (size - 8) + 4
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    d2 = (yy - centres[..., 0, None, None]) ** 2 + (xx - centres[..., 1, None, None]) ** 2
    fp = torch.exp(-d2 / (2 * sigma ** 2))
    return fp * (d2 <= (radius * sigma) ** 2)
