"""Known-answer tests for the adversarial losses and gradient penalties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aucgan.errors import AucganError
from aucgan.losses.adversarial import ADVERSARIAL_LOSSES, d_adv_loss, g_adv_loss, gradient_penalty, r1_penalty


def test_hinge_is_zero_beyond_the_margins_and_linear_inside():
    real, fake = torch.tensor([1.0, 2.0, 5.0]), torch.tensor([-1.0, -3.0])
    loss, scalars = d_adv_loss("hinge", real, fake)
    assert float(loss) == 0.0
    assert scalars["D/adv"] == 0.0
    loss, _ = d_adv_loss("hinge", torch.tensor([0.5, 1.5]), torch.tensor([0.0, -2.0]))
    assert float(loss) == pytest.approx(0.25 + 0.5)  # mean(relu(1 - [0.5, 1.5])) + mean(relu(1 + [0, -2]))
    g, s = g_adv_loss("hinge", torch.tensor([2.0, 4.0]))
    assert float(g) == pytest.approx(-3.0) and s["G/adv"] == pytest.approx(-3.0)


def test_nsgan_equals_the_softplus_form_of_binary_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, generator=gen) * 3, torch.randn(16, generator=gen) * 3
    loss, _ = d_adv_loss("nsgan", real, fake)
    bce = F.binary_cross_entropy_with_logits(real, torch.ones(16)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros(16))
    assert float(loss) == pytest.approx(float(bce), rel=1e-6)
    g, _ = g_adv_loss("nsgan", fake)
    assert float(g) == pytest.approx(float(-torch.log(torch.sigmoid(fake)).mean()), rel=1e-5)


def test_wgan_is_the_score_difference_and_reports_mean_scores():
    loss, s = d_adv_loss("wgan", torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5]))
    assert float(loss) == pytest.approx(0.0 - 2.0)
    assert s["D/real_score"] == pytest.approx(2.0) and s["D/fake_score"] == pytest.approx(0.0)
    assert float(g_adv_loss("wgan", torch.tensor([1.0, 2.0]))[0]) == pytest.approx(-1.5)


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(AucganError, match="wgan, hinge, nsgan"):
        d_adv_loss("lsgan", torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError):
        g_adv_loss("LSGAN", torch.zeros(2))
    assert set(ADVERSARIAL_LOSSES) == {"wgan", "hinge", "nsgan"}


def _linear_critic(w: torch.Tensor):
    return lambda x: (x.flatten(1) * w.flatten()).sum(dim=1)


def test_wgan_gp_is_zero_for_a_unit_norm_linear_critic_and_positive_otherwise():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(2, 4, 4, generator=gen)
    real, fake = torch.randn(5, 2, 4, 4, generator=gen), torch.randn(5, 2, 4, 4, generator=gen)
    gp, s = gradient_penalty(_linear_critic(w / w.norm()), real, fake, weight=10.0, generator=gen)
    assert float(gp) == pytest.approx(0.0, abs=1e-8)
    assert s["D/grad_norm"] == pytest.approx(1.0, rel=1e-5)
    gp, s = gradient_penalty(_linear_critic(3 * w / w.norm()), real, fake, weight=10.0, generator=gen)
    assert float(gp) == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)
    assert s["D/gp"] == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_is_deterministic_with_a_seeded_generator_and_reaches_the_critic():
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(6, 1, 8, 8, generator=gen), torch.randn(6, 1, 8, 8, generator=gen)
    conv = torch.nn.Conv2d(1, 1, 3)

    def critic(x):
        return torch.tanh(conv(x)).flatten(1).sum(1)

    a, _ = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(9))
    b, _ = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(9))
    c, _ = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)  # the interpolates (hence the non-linear critic's gradient) differ
    a.backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_r1_of_a_linear_critic_is_its_weight_norm_squared():
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(3, 4, 4, generator=gen)
    real = torch.randn(7, 3, 4, 4, generator=gen).requires_grad_(True)
    loss, s = r1_penalty(_linear_critic(w)(real), real, gamma=2.0)
    assert s["D/r1"] == pytest.approx(float(w.pow(2).sum()), rel=1e-5)
    assert float(loss) == pytest.approx(float(w.pow(2).sum()), rel=1e-5)  # gamma / 2 * ||w||^2 with gamma = 2


def test_r1_needs_inputs_that_require_grad():
    x = torch.randn(2, 3)
    with pytest.raises(AucganError, match="requires_grad"):
        r1_penalty(x.sum(1), x, gamma=1.0)


def test_r1_penalty_trains_the_discriminator_towards_smaller_gradients():
    lin = torch.nn.Linear(4, 1)
    real = torch.randn(8, 4).requires_grad_(True)
    loss, _ = r1_penalty(lin(real).squeeze(1), real, gamma=1.0)
    loss.backward()
    # d/dw (1/2 ||w||^2) = w
    assert torch.allclose(lin.weight.grad, lin.weight.detach(), atol=1e-6)
