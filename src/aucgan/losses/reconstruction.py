"""Reconstruction-type losses: identity (G(x, AU_x) ~ x), cycle (G(G(x, a), AU_x) ~ x) and DECA's
detail consistency. All share one masked distance; each reports under its own scalar name.

A mask (B, 1, H, W) or (B, C, H, W) in 0..1 restricts the loss to the face (or any region): the loss is
the mask-weighted mean of the per-pixel distance over the masked pixels and channels.
"""

from __future__ import annotations

from torch import Tensor

from aucgan.losses.adversarial import LossError, select

DISTANCES = {"l1": lambda d: d.abs(), "mse": lambda d: d.pow(2)}


def masked_distance(out: Tensor, target: Tensor, mask: Tensor | None = None, kind: str = "l1",
                    what: str = "reconstruction") -> Tensor:
    """Mean ``|out - target|`` (l1) or ``(out - target)^2`` (mse) weighted by a broadcast ``mask``."""
    fn = select(DISTANCES, kind, what)
    if out.shape != target.shape:
        raise LossError(f"{what} loss: output {tuple(out.shape)} and target {tuple(target.shape)} "
                        "differ in shape")
    elem = fn(out - target.to(out.dtype))
    if mask is None:
        return elem.mean()
    if mask.dim() != out.dim() or mask.shape[2:] != out.shape[2:] or mask.shape[0] not in (1, out.shape[0]) \
            or mask.shape[1] not in (1, out.shape[1]):
        raise LossError(f"{what} loss: mask {tuple(mask.shape)} does not broadcast to the maps "
                        f"{tuple(out.shape)}; expected (B, 1, H, W)")
    m = mask.to(out.dtype).expand_as(out)
    return (elem * m).sum() / m.sum().clamp_min(1e-12)


def reconstruction_loss(out: Tensor, target: Tensor, mask: Tensor | None = None, kind: str = "l1"
                        ) -> tuple[Tensor, dict[str, float]]:
    """Identity/reconstruction: the generator given the source's own AUs must return the source.
    Scalars: ``G/rec``."""
    loss = masked_distance(out, target, mask, kind, "reconstruction")
    return loss, {"G/rec": float(loss.detach())}


def cycle_loss(back: Tensor, source: Tensor, mask: Tensor | None = None, kind: str = "l1"
               ) -> tuple[Tensor, dict[str, float]]:
    """Cycle consistency (StarGAN/GANimation): ``back = G(G(x, a), AU_x)`` must return ``x``.
    Scalars: ``G/cycle``."""
    loss = masked_distance(back, source, mask, kind, "cycle")
    return loss, {"G/cycle": float(loss.detach())}


def detail_consistency_loss(out_swapped: Tensor, target: Tensor, mask: Tensor | None = None, kind: str = "l1"
                            ) -> tuple[Tensor, dict[str, float]]:
    """DECA's detail consistency: the maps decoded from *another* sample's detail code of the same identity,
    with this sample's AUs, must still match this sample's maps, so expression detail has to come from
    the AU condition rather than the code. Scalars: ``G/detail``."""
    loss = masked_distance(out_swapped, target, mask, kind, "detail-consistency")
    return loss, {"G/detail": float(loss.detach())}

