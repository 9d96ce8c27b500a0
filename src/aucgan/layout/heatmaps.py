"""Landmark heatmaps: the face geometry as image channels (GC-GAN, Qiao et al. 2018, style conditioning).

Each channel is one landmark group (jaw, brows, nose, eyes, mouth): at every pixel the maximum over the
group's points of a Gaussian ``exp(-d^2 / (2 sigma^2))`` of the distance ``d`` in layout units (0..1).
Batched and differentiable with respect to the landmarks.
"""

from __future__ import annotations

import torch

from aucgan.layout.atlas import as_landmark_batch, pixel_grid

#: Landmark groups of the 68-point iBUG scheme, one heatmap channel each (in this order).
LANDMARK_GROUPS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17), "brows": (17, 27), "nose": (27, 36), "eyes": (36, 48), "mouth": (48, 68),
}
HEATMAP_CHANNELS = len(LANDMARK_GROUPS)
#: Landmark coordinates (68 x 2, flattened x0 y0 x1 y1 ...) as they travel in an ``extra`` vector.
LANDMARK_DIM = 136
DEFAULT_SIGMA = 0.015


def landmark_heatmaps(landmarks: torch.Tensor, size: tuple[int, int], sigma: float = DEFAULT_SIGMA) -> torch.Tensor:
    """Heatmaps (B, 5, H, W) in [0, 1] of landmarks (B, 68, 2) or (68, 2), or flattened (B, 136), in 0..1."""
    lm = torch.as_tensor(landmarks)
    if lm.dim() == 2 and lm.shape[1] == LANDMARK_DIM:
        lm = lm.reshape(-1, 68, 2)
    lm = as_landmark_batch(lm)
    X, Y = pixel_grid(size, lm.device, lm.dtype)                       # (1, 1, W), (1, H, 1)
    out = []
    for lo, hi in LANDMARK_GROUPS.values():
        pts = lm[:, lo:hi]                                             # (B, P, 2)
        dx = X[:, None] - pts[..., 0, None, None]                      # (B, P, 1, W)
        dy = Y[:, None] - pts[..., 1, None, None]                      # (B, P, H, 1)
        d2 = dx * dx + dy * dy                                         # (B, P, H, W)
        out.append(torch.exp(-d2.amin(dim=1) / (2.0 * sigma * sigma)))
    return torch.stack(out, dim=1)
