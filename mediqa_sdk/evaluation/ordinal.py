"""Score thresholds for ordered classes (EyeQ Reject < Usable < Good; non-diagnostic < diagnostic).

Classes are integers ``0..K-1`` in increasing quality; a score ``s`` is assigned class
``k = #{j : s >= t_j}`` for ascending thresholds ``t_1 <= ... <= t_{K-1}``. :func:`fit_thresholds` finds
the thresholds that maximise the (class-weighted) number of correct assignments exactly, by dynamic
programming over the cut points between consecutive distinct scores: with ``C_k(i)`` the weight of class-k
samples below cut ``i``, ``best_k(j) = C_k(j) + max_{i <= j} (best_{k-1}(i) - C_k(i))``, O(K n log n).
``balanced=True`` weights each class by ``1 / n_k`` (maximises balanced accuracy; for two classes that is
Youden's J = sensitivity + specificity - 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "OrdinalResult",
    "classes_from_scores",
    "cross_calibrated_accuracy",
    "fit_thresholds",
    "predict_classes",
]


def classes_from_scores(scores: ArrayLike) -> tuple[np.ndarray, tuple[float, ...]]:
    """Ordinal labels given as scores (e.g. 0, 0.5, 1) -> class indices ``0..K-1`` and the K levels."""
    levels, classes = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
    return classes.astype(np.int64), tuple(float(v) for v in levels)


def fit_thresholds(
    scores: ArrayLike, classes: ArrayLike, n_classes: int | None = None, *, balanced: bool = False
) -> tuple[float, ...]:
    """The ``K - 1`` ascending thresholds that best separate ordered classes (see the module docstring).

    A threshold sits midway between the two distinct scores it separates; ``-inf``/``inf`` when every
    sample is put above/below it. Ties in the objective go to the lowest cut.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    c = np.asarray(classes, dtype=np.int64).ravel()
    if s.shape != c.shape or s.size == 0:
        raise ValueError("scores and classes must be non-empty and of equal length")
    k_count = int(n_classes if n_classes is not None else c.max() + 1)
    if c.min() < 0 or c.max() >= k_count:
        raise ValueError(f"classes must lie in 0..{k_count - 1}")
    if k_count < 2:
        return ()
    values, position = np.unique(s, return_inverse=True)
    m = values.size
    counts = np.bincount(c, minlength=k_count).astype(np.float64)
    weight = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0) if balanced else np.ones(k_count)
    # cum[k, i]: weight of class-k samples whose score index is below cut i (cuts 0..m)
    per_value = np.zeros((k_count, m))
    np.add.at(per_value, (c, position), weight[c])
    cum = np.concatenate([np.zeros((k_count, 1)), np.cumsum(per_value, axis=1)], axis=1)
    best = cum[0].copy()
    back = np.zeros((k_count, m + 1), dtype=np.int64)
    cuts = np.arange(m + 1)
    for k in range(1, k_count):
        gain = best - cum[k]
        running = np.maximum.accumulate(gain)
        # the first cut reaching the running maximum (lowest threshold on ties)
        is_new = np.r_[True, gain[1:] > running[:-1]]
        back[k] = np.maximum.accumulate(np.where(is_new, cuts, 0))
        best = cum[k] + running
    chosen = [m]
    for k in range(k_count - 1, 0, -1):
        chosen.append(int(back[k][chosen[-1]]))
    cut_points = chosen[1:][::-1]  # i_1 <= ... <= i_{K-1}
    return tuple(_threshold(values, i) for i in cut_points)


def _threshold(values: np.ndarray, cut: int) -> float:
    if cut <= 0:
        return -math.inf
    if cut >= values.size:
        return math.inf
    return float((values[cut - 1] + values[cut]) / 2.0)


def predict_classes(scores: ArrayLike, thresholds: Sequence[float]) -> np.ndarray:
    """Class of each score: the number of thresholds it reaches (``s >= t``)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    return (s[:, None] >= np.asarray(thresholds, dtype=np.float64)[None, :]).sum(axis=1).astype(np.int64)


@dataclass(frozen=True)
class OrdinalResult:
    """Accuracy of thresholded scores against ordered classes.

    Attributes:
        levels: the class labels on the normalised scale, lowest quality first.
        thresholds: thresholds fitted on all pairs (for reporting; the accuracy is cross-calibrated).
        accuracy, balanced_accuracy: on held-out folds.
        confusion: ``[true class][predicted class]`` counts over the held-out folds.
        folds: number of folds (split by group).
    """

    levels: tuple[float, ...]
    thresholds: tuple[float, ...]
    accuracy: float
    balanced_accuracy: float
    confusion: tuple[tuple[int, ...], ...]
    folds: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (infinite thresholds become None)."""
        return {
            "levels": list(self.levels),
            "thresholds": [t if math.isfinite(t) else None for t in self.thresholds],
            "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
            "confusion": [list(r) for r in self.confusion],
            "folds": self.folds,
        }


def cross_calibrated_accuracy(
    scores: ArrayLike,
    labels: ArrayLike,
    groups: Sequence[str] | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    balanced: bool = False,
) -> OrdinalResult:
    """Accuracy with thresholds calibrated on a validation split, by group-wise cross-fitting.

    The groups (patients) are dealt into ``folds`` folds; each fold's classes are predicted with thresholds
    fitted on the other folds, so no threshold ever sees the image it classifies. With fewer groups than
    folds, each group is its own fold.

    Args:
        scores: predictions.
        labels: ordinal truth as scores (e.g. EyeQ Good 1.0, Usable 0.5, Reject 0.0).
        groups: patient of each pair (default: every pair its own group).
        balanced: fit thresholds for balanced accuracy instead of accuracy.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    classes, levels = classes_from_scores(labels)
    k_count = len(levels)
    group_ids = np.asarray(groups if groups is not None else [str(i) for i in range(s.size)])
    unique = np.unique(group_ids)
    rng = np.random.default_rng(seed)
    fold_of_group = dict(zip(rng.permutation(unique), np.arange(unique.size) % max(folds, 1), strict=True))
    n_folds = min(folds, unique.size)
    fold = np.array([fold_of_group[g] % n_folds for g in group_ids]) if n_folds > 0 else np.zeros(0, int)
    predicted = np.zeros(s.size, dtype=np.int64)
    for f in range(n_folds):
        test = fold == f
        train = ~test
        if not train.any():
            train = test
        th = fit_thresholds(s[train], classes[train], k_count, balanced=balanced)
        predicted[test] = predict_classes(s[test], th)
    confusion = np.zeros((k_count, k_count), dtype=np.int64)
    np.add.at(confusion, (classes, predicted), 1)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    present = confusion.sum(axis=1) > 0
    return OrdinalResult(
        levels=levels,
        thresholds=fit_thresholds(s, classes, k_count, balanced=balanced),
        accuracy=float(np.trace(confusion) / max(s.size, 1)),
        balanced_accuracy=float(per_class[present].mean()) if present.any() else math.nan,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        folds=n_folds,
    )
