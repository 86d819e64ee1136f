"""Percentile bootstrap confidence intervals of paired statistics.

Pairs are resampled with replacement ``n_resamples`` times from a seeded generator; the interval is the
``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the statistic over the resamples where it is
defined. All statistics of one call see the same resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Statistic", "bootstrap_ci", "bootstrap_cis"]

Statistic = Callable[[np.ndarray, np.ndarray], float]


def bootstrap_cis(
    statistics: Mapping[str, Statistic] | Callable[[np.ndarray, np.ndarray], Mapping[str, float]],
    pred: ArrayLike,
    true: ArrayLike,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of several statistics over the same resamples.

    Args:
        statistics: name -> function of ``(pred, true)``, or one function returning name -> value (for
            statistics that share work, e.g. a logistic fit).

    Returns:
        name -> ``(low, high)``; ``(nan, nan)`` where fewer than half of the resamples define the statistic
        (e.g. too few pairs or mostly constant resamples).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    evaluate: Callable[[np.ndarray, np.ndarray], Mapping[str, float]]
    if isinstance(statistics, Mapping):
        named = dict(statistics)
        evaluate = lambda p, t: {name: fn(p, t) for name, fn in named.items()}  # noqa: E731
    else:
        evaluate = statistics
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.size < 2 or n_resamples < 1:
        return {}
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for b in range(n_resamples):
        idx = rng.integers(0, p.size, p.size)
        for name, v in evaluate(p[idx], t[idx]).items():
            values.setdefault(name, np.full(n_resamples, np.nan))[b] = v
    out: dict[str, tuple[float, float]] = {}
    q = (100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0)
    for name, samples in values.items():
        ok = samples[np.isfinite(samples)]
        if ok.size < max(1, n_resamples // 2):
            out[name] = (math.nan, math.nan)
        else:
            lo, hi = np.percentile(ok, q)
            out[name] = (float(lo), float(hi))
    return out


def bootstrap_ci(
    statistic: Statistic,
    pred: ArrayLike,
    true: ArrayLike,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of one statistic (see :func:`bootstrap_cis`)."""
    return bootstrap_cis({"s": statistic}, pred, true, n_resamples=n_resamples, level=level, seed=seed)["s"]
