"""Regularisers: GANimation's attention mean + total variation, a sparse-displacement prior, and a locality
term that penalises change outside the footprints of the edited AUs.

Each returns ``(weighted loss, scalars)``; the scalars are the unweighted terms.
"""

from __future__ import annotations

from torch import Tensor

from aucgan.losses.adversarial import LossError, select
from aucgan.losses.reconstruction import masked_distance

TV_REDUCTIONS = ("mean", "sum")


def total_variation(x: Tensor, reduction: str = "mean") -> Tensor:
    """Anisotropic L1 total variation of (B, C, H, W) maps: horizontal plus vertical neighbour differences.

    ``mean`` averages each direction's absolute differences (independent of size and batch); ``sum`` adds
    them over the batch and all pixels, as GANimation's code does (its published weight 1e-5 assumes it).
    """
    select(dict.fromkeys(TV_REDUCTIONS), reduction, "total-variation reduction")
    if x.dim() != 4:
        raise LossError(f"total_variation: expected (B, C, H, W) maps, got {tuple(x.shape)}")
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
    if reduction == "sum":
        return dx.sum() + dy.sum()
    return dx.mean() + dy.mean()


def attention_loss(attention: Tensor, mean_weight: float, tv_weight: float, tv_reduction: str = "sum"
                   ) -> tuple[Tensor, dict[str, float]]:
    """GANimation's attention regulariser: ``mean_weight * mean(A) + tv_weight * TV(A)``.

    ``A`` (B, 1, H, W) in 0..1 weights the *source* (output = A * source + (1 - A) * colour); without the
    mean term A saturates to 1 and the generator stops editing; TV keeps the mask smooth. The default TV
    reduction is GANimation's ``sum`` so its weights (0.1, 1e-5) mean what they did in the paper.
    Scalars: ``G/att_mean``, ``G/att_tv``.
    """
    mean = attention.mean()
    tv = total_variation(attention, tv_reduction)
    loss = mean_weight * mean + tv_weight * tv
    return loss, {"G/att_mean": float(mean.detach()), "G/att_tv": float(tv.detach())}


def displacement_regularizer(disp: Tensor, weight: float) -> tuple[Tensor, dict[str, float]]:
    """``weight * mean|disp|``: an L1 prior that keeps (generated or edited) displacement detail sparse.
    Scalars: ``G/disp_reg``."""
    mag = disp.abs().mean()
    return weight * mag, {"G/disp_reg": float(mag.detach())}


def locality_loss(out: Tensor, source: Tensor, footprints_union: Tensor, weight: float
                  ) -> tuple[Tensor, dict[str, float]]:
    """``weight *`` mean ``|out - source|`` over the pixels *outside* ``footprints_union`` (B, 1, H, W).

    ``footprints_union`` is the (soft, 0..1) union of the footprints of the AUs being edited; the weight of
    a pixel is ``1 - union``, so change where the edited AUs act is free and change elsewhere is penalised
    (0 when the union covers every pixel). Scalars: ``G/locality``.
    """
    if footprints_union.dim() != 4 or footprints_union.shape[1] != 1:
        raise LossError("locality_loss: footprints_union must be (B, 1, H, W), "
                        f"got {tuple(footprints_union.shape)}")
    outside = (1.0 - footprints_union).clamp(0.0, 1.0)
    change = masked_distance(out, source.detach(), outside, "l1", "locality")
    return weight * change, {"G/locality": float(change.detach())}
