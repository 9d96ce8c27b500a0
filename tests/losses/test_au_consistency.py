"""AU-consistency losses: known answers, masks, weights and the BCE-vs-MSE sensitivity near 0."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aucgan.au import AU_NAMES, au_set
from aucgan.errors import AucganError
from aucgan.losses.au_consistency import AU_LOSSES, au_loss, au_mask


def test_each_kind_matches_its_formula():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 17, generator=gen)
    target = torch.rand(4, 17, generator=gen)
    bce, s = au_loss("bce", logits, target, pred_is_logits=True)
    assert float(bce) == pytest.approx(float(F.binary_cross_entropy_with_logits(logits, target)), rel=1e-6)
    assert s["au/bce"] == pytest.approx(float(bce))
    mse, _ = au_loss("mse", logits, target, pred_is_logits=True)
    assert float(mse) == pytest.approx(float((torch.sigmoid(logits) - target).pow(2).mean()), rel=1e-6)
    unit = torch.sigmoid(logits)
    l1, s = au_loss("l1", unit, target, pred_is_logits=False)
    assert float(l1) == pytest.approx(float((unit - target).abs().mean()), rel=1e-6)
    assert s["au/mae"] == pytest.approx(5 * float((unit - target).abs().mean()), rel=1e-5)
    bce_p, _ = au_loss("bce", unit, target, pred_is_logits=False)
    assert float(bce_p) == pytest.approx(float(bce), rel=1e-4)


def test_perfect_regression_is_zero_and_logit_convention_matters():
    target = torch.tensor([[0.0, 0.2, 0.6, 1.0]])
    assert float(au_loss("mse", target, target, pred_is_logits=False)[0]) == 0.0
    # the same numbers read as logits are sigmoid(0) = 0.5 etc., far from the target
    assert float(au_loss("mse", target, target, pred_is_logits=True)[0]) > 0.05


def test_mask_ignores_unannotated_aus_and_weights_reweight():
    target = torch.zeros(2, 17)
    pred = torch.zeros(2, 17)
    pred[:, AU_NAMES.index("AU45")] = 1.0  # a big error on an AU the data set does not annotate
    mask = au_mask(au_set("disfa12"))
    assert "AU45" not in au_set("disfa12") and float(mask.sum()) == 12
    masked, s = au_loss("l1", pred, target, pred_is_logits=False, mask=mask)
    assert float(masked) == 0.0 and s["au/mae"] == 0.0
    assert float(au_loss("l1", pred, target, pred_is_logits=False)[0]) == pytest.approx(1 / 17)
    weights = torch.ones(17)
    weights[AU_NAMES.index("AU45")] = 3.0
    weighted, _ = au_loss("l1", pred, target, pred_is_logits=False, weights=weights)
    assert float(weighted) == pytest.approx(3.0 / 19.0)
    per_sample = torch.ones(2, 17)
    per_sample[0] = 0.0
    half, _ = au_loss("l1", pred, target, pred_is_logits=False, mask=per_sample)
    assert float(half) == pytest.approx(1 / 17)


def test_empty_mask_gives_zero_with_a_gradient_path():
    pred = torch.randn(2, 17, requires_grad=True)
    loss, _ = au_loss("bce", pred, torch.rand(2, 17), pred_is_logits=True, mask=torch.zeros(17))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(pred.grad, torch.zeros(2, 17))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(AucganError, match="bce, mse, l1"):
        au_loss("huber", torch.zeros(1, 17), torch.zeros(1, 17), pred_is_logits=True)
    with pytest.raises(AucganError, match="batch, num_aus"):
        au_loss("mse", torch.zeros(2, 17), torch.zeros(2, 12), pred_is_logits=True)
    with pytest.raises(AucganError, match="mask"):
        au_loss("mse", torch.zeros(2, 17), torch.zeros(2, 17), pred_is_logits=True, mask=torch.ones(12))
    with pytest.raises(AucganError, match="AU99"):
        au_mask(["AU99"])


def test_sensitivity_to_a_small_intensity_error_near_zero():
    """For a target near 0 (most AUs of most faces) compare the gradient each loss sends back.

    With the estimator's logit z and p = sigmoid(z): d BCE/dz = p - t, d MSE/dz = 2 (p - t) p (1 - p).
    Per unit of intensity error, BCE's logit gradient is 1 while MSE's is 2 p (1 - p) ~ 0.06 at p = 0.03:
    MSE through a sigmoid is ~17x *less* sensitive near 0. With respect to the intensity p itself BCE is
    the more sensitive one too: d BCE/dp = (p - t) / (p (1 - p)) ~ 34 (p - t) against d MSE/dp = 2 (p - t).
    """
    t, p = 0.02, 0.03
    z = torch.tensor([[math.log(p / (1 - p))]], requires_grad=True)
    target = torch.tensor([[t]])
    au_loss("bce", z, target, pred_is_logits=True)[0].backward()
    g_bce_z = float(z.grad)
    z.grad = None
    au_loss("mse", z, target, pred_is_logits=True)[0].backward()
    g_mse_z = float(z.grad)
    assert g_bce_z == pytest.approx(p - t, rel=1e-4)
    assert g_mse_z == pytest.approx(2 * (p - t) * p * (1 - p), rel=1e-4)
    assert g_bce_z / g_mse_z == pytest.approx(1 / (2 * p * (1 - p)), rel=1e-3)
    assert g_bce_z > 10 * g_mse_z

    q = torch.tensor([[p]], requires_grad=True)
    au_loss("bce", q, target, pred_is_logits=False)[0].backward()
    g_bce_p = float(q.grad)
    q.grad = None
    au_loss("mse", q, target, pred_is_logits=False)[0].backward()
    g_mse_p = float(q.grad)
    assert g_bce_p == pytest.approx((p - t) / (p * (1 - p)), rel=1e-4)
    assert g_mse_p == pytest.approx(2 * (p - t), rel=1e-4)
    assert g_bce_p > g_mse_p


def test_registry_holds_the_documented_kinds():
    assert set(AU_LOSSES) == {"bce", "mse", "l1"}
