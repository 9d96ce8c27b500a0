"""Agreement between target and read AU intensities: MAE, Pearson r, ICC(3,1), Spearman rho.

All functions take ``(N, K)`` arrays (rows = samples, columns = AUs) and return per-AU arrays; an AU
whose values are constant in either array has an undefined correlation, returned as NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def mae(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Mean absolute error per AU."""
    return np.abs(np.asarray(target, np.float64) - np.asarray(pred, np.float64)).mean(axis=0)


def pearson(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pearson correlation per AU (NaN where either column is constant)."""
    t, p = np.asarray(target, np.float64), np.asarray(pred, np.float64)
    tc, pc = t - t.mean(0), p - p.mean(0)
    den = np.sqrt((tc**2).sum(0) * (pc**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (tc * pc).sum(0) / np.where(den > 1e-12, den, 1.0), np.nan)


def icc31(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """ICC(3,1) per AU: two-way mixed, consistency, single measures (Shrout & Fleiss 1979), raters = {target, pred}."""
    y = np.stack([np.asarray(target, np.float64), np.asarray(pred, np.float64)], axis=-1)  # (N, K, 2)
    n, k = y.shape[0], 2
    grand = y.mean(axis=(0, 2))
    ss_rows = k * ((y.mean(axis=2) - grand) ** 2).sum(axis=0)
    ss_cols = n * ((y.mean(axis=0) - grand[:, None]) ** 2).sum(axis=1)
    ss_total = ((y - grand[None, :, None]) ** 2).sum(axis=(0, 2))
    ms_rows = ss_rows / max(n - 1, 1)
    ms_err = (ss_total - ss_rows - ss_cols) / max((n - 1) * (k - 1), 1)
    den = ms_rows + (k - 1) * ms_err
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (ms_rows - ms_err) / np.where(den > 1e-12, den, 1.0), np.nan)


def spearman(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per AU (NaN where undefined)."""
    t, p = np.asarray(target, np.float64), np.asarray(pred, np.float64)
    out = np.full(t.shape[1], np.nan)
    for j in range(t.shape[1]):
        if np.ptp(t[:, j]) > 0 and np.ptp(p[:, j]) > 0:
            out[j] = stats.spearmanr(t[:, j], p[:, j]).statistic
    return out


def summarize(target: np.ndarray, pred: np.ndarray, au_names) -> dict:
    """Per-AU and mean MAE / Pearson / ICC(3,1) as a JSON-ready dict (NaN -> None; means skip NaN)."""
    per = {"mae": mae(target, pred), "pearson": pearson(target, pred), "icc": icc31(target, pred)}
    out: dict = {"per_au": {}, "mean": {}}
    for name, values in per.items():
        out["per_au"][name] = {au: (None if np.isnan(v) else round(float(v), 5)) for au, v in zip(au_names, values)}
        finite = values[np.isfinite(values)]
        out["mean"][name] = round(float(finite.mean()), 5) if finite.size else None
    return out
