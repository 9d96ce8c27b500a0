"""Adversarial losses (WGAN, hinge, non-saturating) and the gradient penalties that go with them.

Every function returns ``(loss, scalars)``: a scalar tensor to back-propagate and a dict of plain floats
for logging (as stargan-v2's solver does). Scalars are the *unweighted* terms; the returned loss includes
the weight when the function takes one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from aucgan.errors import AucganError

T = TypeVar("T")


class LossError(AucganError, ValueError):
    """An unknown loss kind or inputs whose shapes do not fit a loss."""


def select(table: Mapping[str, T], kind: str, family: str) -> T:
    """``table[kind]``, or a :class:`LossError` listing the valid kinds of this ``family``."""
    if kind not in table:
        raise LossError(f"unknown {family} loss {kind!r}; valid: {', '.join(table)}")
    return table[kind]


def _d_wgan(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def _d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _d_nsgan(real: Tensor, fake: Tensor) -> Tensor:
    # -log(sigmoid(real)) - log(1 - sigmoid(fake)), written stably
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _g_wgan(fake: Tensor) -> Tensor:
    return -fake.mean()


def _g_nsgan(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()


# kind -> (discriminator loss, generator loss); hinge's generator term is WGAN's (Lim & Ye 2017, BigGAN)
ADVERSARIAL_LOSSES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "wgan": (_d_wgan, _g_wgan),
    "hinge": (_d_hinge, _g_wgan),
    "nsgan": (_d_nsgan, _g_nsgan),
}


def d_adv_loss(kind: str, real_scores: Tensor, fake_scores: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Discriminator loss for raw scores (logits) of real and fake inputs.

    wgan: E[D(fake)] - E[D(real)]; hinge: E[relu(1 - D(real))] + E[relu(1 + D(fake))];
    nsgan: E[softplus(-D(real))] + E[softplus(D(fake))] (binary cross-entropy on logits).
    Scalars: ``D/adv``, ``D/real_score``, ``D/fake_score`` (mean raw scores).
    """
    d_fn, _ = select(ADVERSARIAL_LOSSES, kind, "adversarial")
    loss = d_fn(real_scores, fake_scores)
    return loss, {"D/adv": float(loss.detach()), "D/real_score": float(real_scores.detach().float().mean()),
                  "D/fake_score": float(fake_scores.detach().float().mean())}


def g_adv_loss(kind: str, fake_scores: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Generator loss: -E[D(fake)] for wgan and hinge, E[softplus(-D(fake))] (non-saturating) for nsgan.

    Scalars: ``G/adv``.
    """
    _, g_fn = select(ADVERSARIAL_LOSSES, kind, "adversarial")
    loss = g_fn(fake_scores)
    return loss, {"G/adv": float(loss.detach())}


def _grad_sq_norm(outputs: Tensor, inputs: Tensor) -> Tensor:
    """Per-sample squared norm of d(sum outputs)/d(inputs), kept in the graph (double backward)."""
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
    """WGAN-GP (Gulrajani et al. 2017): ``weight * E[(||grad_x critic(x)|| - 1)^2]`` on random interpolates.

    ``x = a * real + (1 - a) * fake`` with one ``a ~ U(0, 1)`` per sample drawn from ``generator`` (on the
    generator's device, then moved), so a seeded generator gives the same penalty every time. ``critic``
    maps a batch to scores (close over the condition, e.g. ``lambda x: D(x, au).score``).
    Scalars: ``D/gp`` (unweighted penalty), ``D/grad_norm`` (mean gradient norm).
    """
    if real.shape != fake.shape:
        raise LossError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} "
                        "differ in shape")
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha_device = generator.device if generator is not None else real.device
    alpha = torch.rand(shape, generator=generator, device=alpha_device)
    alpha = alpha.to(device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    norm = _grad_sq_norm(critic(mixed), mixed).add(1e-12).sqrt()
    penalty = (norm - 1.0).pow(2).mean()
    return weight * penalty, {"D/gp": float(penalty.detach()), "D/grad_norm": float(norm.detach().mean())}


def r1_penalty(real_scores: Tensor, real_inputs: Tensor, gamma: float) -> tuple[Tensor, dict[str, float]]:
    """R1 (Mescheder et al. 2018): ``gamma / 2 * E[||grad_x D(x)||^2]`` on real inputs.

    ``real_inputs`` must have had ``requires_grad_(True)`` before ``real_scores`` were computed from them.
    For lazy regularisation (StyleGAN2) compute it only every ``k`` discriminator steps and multiply the
    returned loss by ``k`` yourself, so its average strength is unchanged.
    Scalars: ``D/r1`` (the unweighted mean squared gradient norm).
    """
    if not real_inputs.requires_grad:
        raise LossError("r1_penalty: real_inputs do not require grad; call real.requires_grad_(True) "
                        "before scoring them with the discriminator")
    penalty = _grad_sq_norm(real_scores, real_inputs).mean()
    return 0.5 * gamma * penalty, {"D/r1": float(penalty.detach())}


def fake_term(kind: str, scores: Tensor, weight: Tensor | None = None) -> Tensor:
    """The discriminator's "this is fake" term alone: used for real maps paired with mismatched AUs
    (matching-aware discriminator, Reed et al. 2016), which forces D to check AU-map consistency.
    ``weight`` (B,) weighs each sample (vicinal weighting); the result is the weighted mean."""
    if kind == "hinge":
        per = torch.relu(1.0 + scores)
    elif kind == "nsgan":
        per = F.softplus(scores)
    else:
        per = scores
    if weight is None:
        return per.mean()
    return (per * weight).sum() / weight.sum().clamp_min(1e-8)
