"""AU-consistency losses: how far the AUs read from a generated map are from the requested ones.

Targets are unit-scale intensities (OpenFace 0..5 divided by 5, see :func:`aucgan.au.to_unit`).
Predictions come from a frozen AU estimator or a discriminator's AU head; ``pred_is_logits`` says
whether they are raw logits (``sigmoid`` maps them to 0..1) or already unit-scale intensities.

* ``bce`` — the existing design: binary cross-entropy between the predicted AU "features" and the
  unit targets (with logits: ``BCEWithLogits``). Its gradient w.r.t. the logit is ``sigmoid(z) - t``.
* ``mse`` / ``l1`` — regression on unit intensities (GANimation uses MSE).

Per-AU ``mask`` (which AUs a data set annotates) and ``weights`` (per-AU importance) are optional:
the loss is the weighted mean over the annotated entries only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from aucgan.au import AU_NAMES, au_indices, from_unit
from aucgan.losses.adversarial import LossError, select


def _bce(pred: Tensor, target: Tensor, logits: bool) -> Tensor:
    if logits:
        return F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    eps = 1e-6
    return F.binary_cross_entropy(pred.clamp(eps, 1.0 - eps), target, reduction="none")


def _mse(pred: Tensor, target: Tensor, logits: bool) -> Tensor:
    return (torch.sigmoid(pred) if logits else pred).sub(target).pow(2)


def _l1(pred: Tensor, target: Tensor, logits: bool) -> Tensor:
    return (torch.sigmoid(pred) if logits else pred).sub(target).abs()


AU_LOSSES: dict[str, Callable[[Tensor, Tensor, bool], Tensor]] = {"bce": _bce, "mse": _mse, "l1": _l1}


def au_mask(available: Iterable[str | int], au_names: Sequence[str] = AU_NAMES) -> Tensor:
    """A float (K,) mask with 1 at the AUs a data set annotates (by name, e.g. DISFA's 12) and 0 elsewhere."""
    mask = torch.zeros(len(au_names))
    mask[au_indices(available, au_names)] = 1.0
    return mask


def _per_au(t: Tensor | None, shape: torch.Size, what: str, like: Tensor) -> Tensor:
    """Broadcast a (K,) or (B, K) mask/weight tensor to ``shape`` (B, K); ones when absent."""
    if t is None:
        return torch.ones(shape, device=like.device, dtype=like.dtype)
    t = torch.as_tensor(t, device=like.device, dtype=like.dtype)
    if t.shape not in (shape, shape[1:]):
        raise LossError(f"au_loss: {what} has shape {tuple(t.shape)}; "
                        f"expected ({shape[1]},) or {tuple(shape)}")
    return t.expand(shape)


def au_loss(kind: str, pred: Tensor, target_unit: Tensor, *, pred_is_logits: bool, mask: Tensor | None = None,
            weights: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """AU-consistency loss between predictions (B, K) and unit-scale targets (B, K).

    ``mask`` (K,) or (B, K): 1 where the AU is annotated (see :func:`au_mask`); ``weights`` (K,) or (B, K):
    per-AU importance. The loss is ``sum(l * w * m) / sum(w * m)`` (0, still differentiable, when nothing
    is annotated). Scalars: ``au/<kind>`` and ``au/mae`` (mean absolute error in 0..5 intensity units).
    """
    fn = select(AU_LOSSES, kind, "AU-consistency")
    if pred.shape != target_unit.shape or pred.dim() != 2:
        raise LossError(f"au_loss: predictions {tuple(pred.shape)} and targets {tuple(target_unit.shape)} "
                        "must both be (batch, num_aus)")
    target = target_unit.to(pred.dtype)
    elem = fn(pred, target, pred_is_logits)
    w = _per_au(weights, pred.shape, "weights", pred) * _per_au(mask, pred.shape, "mask", pred)
    denom = w.sum()
    loss = (elem * w).sum() / denom.clamp_min(1e-12)
    with torch.no_grad():
        unit = torch.sigmoid(pred) if pred_is_logits else pred
        m = _per_au(mask, pred.shape, "mask", pred)
        mae = float(from_unit(((unit - target).abs() * m).sum() / m.sum().clamp_min(1e-12)))
    return loss, {f"au/{kind}": float(loss.detach()), "au/mae": mae}
