"""Correlation and error metrics used for validation, early stopping and evaluation.

SRCC = Pearson correlation of ranks; PLCC = Pearson correlation of values; KRCC = Kendall's tau-b;
RMSE = sqrt(mean((pred - true)^2)). Undefined correlations (constant input) are reported as 0.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["krcc", "plcc", "rmse", "srcc"]


def _clean(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, np.float64).ravel(), np.asarray(true, np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"prediction and truth differ in length: {p.shape} vs {t.shape}")
    return p, t


def _finite(value: float) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)


def srcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank-order correlation."""
    p, t = _clean(pred, true)
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return 0.0
    return _finite(stats.spearmanr(p, t).statistic)


def plcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson linear correlation."""
    p, t = _clean(pred, true)
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return 0.0
    return _finite(stats.pearsonr(p, t).statistic)


def krcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Kendall rank correlation (tau-b)."""
    p, t = _clean(pred, true)
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return 0.0
    return _finite(stats.kendalltau(p, t).statistic)


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error."""
    p, t = _clean(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2))) if p.size else 0.0
