"""Correlation and error metrics for validation, early stopping and the held-out benchmark.

The runtime's numpy implementations (:mod:`mediqa_sdk.evaluation.correlation`: SRCC = Pearson correlation of
ranks, PLCC, KRCC = Kendall's tau-b, RMSE = sqrt(mean((pred - true)^2))), with one difference for training:
an undefined correlation (constant input, fewer than 3 pairs, a non-finite prediction of a diverged model)
is 0, never nan, so an early-stopping comparison always has a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mediqa_sdk.evaluation import correlation

__all__ = ["krcc", "plcc", "rmse", "srcc"]


def _defined(metric: Callable[[np.ndarray, np.ndarray], float], pred: np.ndarray, true: np.ndarray) -> float:
    p, t = np.asarray(pred, np.float64).ravel(), np.asarray(true, np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"prediction and truth differ in length: {p.shape} vs {t.shape}")
    if not p.size or not (np.isfinite(p).all() and np.isfinite(t).all()):
        return 0.0
    value = metric(p, t)
    return 0.0 if math.isnan(value) else float(value)


def srcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank-order correlation (0 when undefined)."""
    return _defined(correlation.srcc, pred, true)


def plcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson linear correlation (0 when undefined)."""
    return _defined(correlation.plcc, pred, true)


def krcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Kendall rank correlation, tau-b (0 when undefined)."""
    return _defined(correlation.krcc, pred, true)


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error (0 for no pairs or non-finite values)."""
    return _defined(correlation.rmse, pred, true)
