import numpy as np
import pytest

from aucgan.metrics import agreement


def test_perfect_agreement():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 5, (200, 3))
    assert np.allclose(agreement.mae(t, t), 0)
    assert np.allclose(agreement.pearson(t, t), 1)
    assert np.allclose(agreement.icc31(t, t), 1)


def test_icc_consistency_ignores_offset_but_pearson_and_mae_see_it():
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 5, (500, 2))
    p = t + 1.0  # consistent, not absolute agreement
    assert np.allclose(agreement.icc31(t, p), 1)
    assert np.allclose(agreement.mae(t, p), 1)


def test_ignoring_predictor_scores_zero_or_nan():
    rng = np.random.default_rng(2)
    t = rng.uniform(0, 5, (2000, 2))
    noise = rng.uniform(0, 5, (2000, 2))
    assert np.all(np.abs(agreement.icc31(t, noise)) < 0.1)
    const = np.full_like(t, 2.0)
    assert np.isnan(agreement.pearson(t, const)).all()
    assert np.allclose(agreement.icc31(t, const), 0, atol=1e-9)


def test_icc_known_value():
    # Shrout & Fleiss style check against a hand computation for two raters.
    t = np.array([[1.0], [2.0], [3.0], [4.0]])
    p = np.array([[2.0], [2.0], [4.0], [4.0]])
    y = np.hstack([t, p])
    n, k = y.shape
    grand = y.mean()
    msr = k * ((y.mean(1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((y.mean(0) - grand) ** 2).sum()
    mse = (((y - grand) ** 2).sum() - msr * (n - 1) - msc) / ((n - 1) * (k - 1))
    assert agreement.icc31(t, p)[0] == pytest.approx((msr - mse) / (msr + mse))


def test_summary_is_json_ready():
    t = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    out = agreement.summarize(t, t, ["AU01", "AU02"])
    assert out["per_au"]["pearson"]["AU02"] is None
    assert out["mean"]["pearson"] == 1.0
    assert np.isclose(agreement.spearman(t, t)[0], 1.0)
