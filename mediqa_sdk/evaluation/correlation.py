"""Correlation and error metrics of IQA papers, in numpy (no scipy at run time).

- SRCC: Spearman's rho, the Pearson correlation of average ranks (ties share the mean of their ranks).
- PLCC: Pearson's r, ``sum(dx dy) / sqrt(sum(dx^2) sum(dy^2))``.
- KRCC: Kendall's tau-b, ``(n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2))`` with ``n_0 = n(n-1)/2`` and
  ``n_1``, ``n_2`` the pairs tied in x and in y; O(n log^2 n).
- RMSE: ``sqrt(mean((pred - true)^2))``.
- LDCTIQAC2023 overall: ``|PLCC| + |SRCC| + |KRCC|`` (the challenge's ranking metric, on raw predictions).

A correlation is undefined (``nan``) for fewer than 3 pairs (two points always correlate perfectly) or when
either side is constant; :func:`undefined_reason` says which, for reports.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "MIN_PAIRS",
    "as_pairs",
    "krcc",
    "ldct_overall",
    "plcc",
    "rankdata",
    "rmse",
    "srcc",
    "undefined_reason",
]

#: fewest pairs for which a correlation is reported
MIN_PAIRS = 3


def as_pairs(pred: ArrayLike, true: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as flat float64 arrays of equal length and finite values.

    Raises:
        ValueError: lengths differ or a value is NaN/inf.
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"prediction and truth differ in length: {p.size} vs {t.size}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("prediction and truth must be finite (drop failed or missing entries first)")
    return p, t


def undefined_reason(pred: ArrayLike, true: ArrayLike) -> str | None:
    """Why correlations of these pairs are undefined, or None when they are defined."""
    p, t = as_pairs(pred, true)
    if p.size < MIN_PAIRS:
        return f"fewer than {MIN_PAIRS} pairs ({p.size})"
    if np.ptp(p) == 0:
        return f"the predictions are constant ({p[0]:g})"
    if np.ptp(t) == 0:
        return f"the true scores are constant ({t[0]:g})"
    return None


def rankdata(x: ArrayLike) -> np.ndarray:
    """Ranks 1..n; tied values get the average of the ranks they span (as ``scipy.stats.rankdata``)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    new = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], a.size]
    average = (starts + 1 + ends) / 2.0
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = average[group]
    return ranks


def _pearson(p: np.ndarray, t: np.ndarray) -> float:
    dp, dt = p - p.mean(), t - t.mean()
    den = math.sqrt(float(np.dot(dp, dp)) * float(np.dot(dt, dt)))
    if den == 0.0:
        return math.nan
    return float(np.clip(np.dot(dp, dt) / den, -1.0, 1.0))


def plcc(pred: ArrayLike, true: ArrayLike) -> float:
    """Pearson linear correlation coefficient; ``nan`` when undefined (see the module docstring)."""
    p, t = as_pairs(pred, true)
    return math.nan if undefined_reason(p, t) else _pearson(p, t)


def srcc(pred: ArrayLike, true: ArrayLike) -> float:
    """Spearman rank-order correlation (Pearson of average ranks); ``nan`` when undefined."""
    p, t = as_pairs(pred, true)
    return math.nan if undefined_reason(p, t) else _pearson(rankdata(p), rankdata(t))


def _tied_pairs(sorted_values: np.ndarray) -> int:
    """Pairs of equal values in an already sorted array: ``sum t(t-1)/2`` over runs of length t."""
    new = np.r_[True, sorted_values[1:] != sorted_values[:-1], True]
    runs = np.diff(np.flatnonzero(new))
    return int((runs * (runs - 1) // 2).sum())


def _strict_inversions(values: np.ndarray) -> int:
    """Pairs ``i < j`` with ``values[i] > values[j]``, by a vectorised bottom-up merge sort.

    At each level the array is a row of sorted blocks of width ``w``; for each element of a right block, the
    elements of its left partner that are strictly greater are counted with one ``searchsorted`` over all
    blocks at once (block ``b`` is shifted by ``b * span`` so the flattened left blocks stay sorted).
    """
    n = values.size
    if n < 2:
        return 0
    dense = np.unique(values, return_inverse=True)[1].astype(np.int64)
    size = 1 << (n - 1).bit_length()
    a = np.full(size, n + 1, dtype=np.int64)  # padding after the data, above every value: no inversions
    a[:n] = dense
    span = np.int64(n + 2)
    count, w = 0, 1
    while w < size:
        blocks = a.reshape(-1, 2 * w)
        offset = (np.arange(blocks.shape[0], dtype=np.int64) * span)[:, None]
        left = (blocks[:, :w] + offset).ravel()
        right = blocks[:, w:] + offset
        not_greater = np.searchsorted(left, right.ravel(), side="right").reshape(right.shape)
        not_greater -= (np.arange(blocks.shape[0], dtype=np.int64) * w)[:, None]
        count += int((w - not_greater).sum())
        a = np.sort(blocks, axis=1).ravel()
        w *= 2
    return count


def krcc(pred: ArrayLike, true: ArrayLike) -> float:
    """Kendall rank correlation, tau-b (ties in either variable handled); ``nan`` when undefined."""
    p, t = as_pairs(pred, true)
    if undefined_reason(p, t):
        return math.nan
    n = p.size
    n0 = n * (n - 1) // 2
    order = np.lexsort((t, p))  # by p, then t
    ps, ts = p[order], t[order]
    n1 = _tied_pairs(ps)
    n2 = _tied_pairs(np.sort(t))
    # pairs tied in both: runs of equal (p, t) in the lexsorted order
    both = np.r_[True, (ps[1:] != ps[:-1]) | (ts[1:] != ts[:-1]), True]
    runs = np.diff(np.flatnonzero(both))
    n3 = int((runs * (runs - 1) // 2).sum())
    discordant = _strict_inversions(ts)  # within equal p, t is sorted: only pairs with p_i < p_j count
    concordant_minus_discordant = n0 - n1 - n2 + n3 - 2 * discordant
    den = math.sqrt(float(n0 - n1) * float(n0 - n2))
    return float(np.clip(concordant_minus_discordant / den, -1.0, 1.0))


def rmse(pred: ArrayLike, true: ArrayLike) -> float:
    """Root mean squared error; ``nan`` for no pairs."""
    p, t = as_pairs(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2))) if p.size else math.nan


def ldct_overall(pred: ArrayLike, true: ArrayLike) -> float:
    """LDCTIQAC2023 overall metric ``|PLCC| + |SRCC| + |KRCC|`` (0..3); ``nan`` when undefined."""
    return abs(plcc(pred, true)) + abs(srcc(pred, true)) + abs(krcc(pred, true))
