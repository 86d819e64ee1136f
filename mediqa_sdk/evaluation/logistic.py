"""The VQEG 4-parameter logistic that maps predictions onto the subjective scale before PLCC and RMSE.

``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``: ``b2`` and ``b1`` are the asymptotes (``b1 > b2``
for an increasing curve), ``b3`` the midpoint and ``|b4|`` the width. It is fitted by least squares with
Levenberg-Marquardt (internally ``b4 = exp(s)`` keeps the width positive) from several starting widths; the
best fit wins. Monotonic, so it leaves SRCC and KRCC unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MIN_FIT_POINTS", "Logistic4", "fit_logistic4"]

#: fewest distinct predictions a 4-parameter fit is attempted on
MIN_FIT_POINTS = 4
_DIAG = np.diag_indices(4)


@dataclass(frozen=True)
class Logistic4:
    """A fitted curve ``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2`` and its residual."""

    b1: float
    b2: float
    b3: float
    b4: float
    sse: float = math.nan

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """Evaluate the curve."""
        z = (np.asarray(x, dtype=np.float64) - self.b3) / abs(self.b4)
        return (self.b1 - self.b2) * _sigmoid(z) + self.b2

    def to_dict(self) -> dict[str, float]:
        """JSON-ready parameters."""
        return {"b1": self.b1, "b2": self.b2, "b3": self.b3, "b4": self.b4, "sse": self.sse}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # 1 / (1 + exp(-z)) without overflow


def _model(theta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curve values and Jacobian with respect to ``(b1, b2, b3, s)``, ``|b4| = exp(s)``."""
    b1, b2, b3, s = theta
    width = math.exp(s)
    z = (x - b3) / width
    g = _sigmoid(z)
    f = (b1 - b2) * g + b2
    slope = (b1 - b2) * g * (1.0 - g)
    jac = np.empty((x.size, 4))
    jac[:, 0] = g
    jac[:, 1] = 1.0 - g
    jac[:, 2] = -slope / width
    jac[:, 3] = -slope * z
    return f, jac


def _levenberg_marquardt(
    theta: np.ndarray, x: np.ndarray, y: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, float]:
    f, jac = _model(theta, x)
    sse = float(np.sum((y - f) ** 2))
    lam = 1e-3
    for _ in range(max_iter):
        r = y - f
        jtj = jac.T @ jac
        grad = jac.T @ r
        system = jtj.copy()
        system[_DIAG] += lam * (jtj[_DIAG] + 1e-12)
        try:
            step = np.linalg.solve(system, grad)
        except np.linalg.LinAlgError:
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        cand = theta + step
        cand[3] = float(np.clip(cand[3], -30.0, 30.0))
        f_new, jac_new = _model(cand, x)
        sse_new = float(np.sum((y - f_new) ** 2))
        if np.isfinite(sse_new) and sse_new < sse:
            gain = sse - sse_new
            theta, f, jac, sse = cand, f_new, jac_new, sse_new
            lam = max(lam / 10.0, 1e-12)
            if gain <= tol * (sse + 1e-300):
                break
        else:
            # a rejected step that no longer moves the parameters: converged
            if float(np.abs(step).max()) <= 1e-9 * (float(np.abs(theta).max()) + 1e-9):
                break
            lam *= 10.0
            if lam > 1e12:
                break
    return theta, sse


def fit_logistic4(
    pred: ArrayLike,
    true: ArrayLike,
    *,
    init: Logistic4 | None = None,
    max_iter: int = 500,
    tol: float = 1e-12,
) -> Logistic4 | None:
    """Least-squares fit of the 4-parameter logistic mapping ``pred`` onto ``true``.

    Starting points: asymptotes at the extremes of ``true`` (swapped when the relation is decreasing),
    midpoint at the median prediction, widths of 1/4, 1 and 4 prediction standard deviations, plus ``init``
    (e.g. the full-sample fit when bootstrapping, which is then the only start). Iterations stop when a
    step lowers the squared error by less than ``tol`` relative, or after ``max_iter``.

    Returns:
        The fit, or None with fewer than :data:`MIN_FIT_POINTS` distinct predictions or a constant truth.
    """
    x = np.asarray(pred, dtype=np.float64).ravel()
    y = np.asarray(true, dtype=np.float64).ravel()
    if x.shape != y.shape or np.unique(x).size < MIN_FIT_POINTS or np.ptp(y) == 0:
        return None
    starts: list[np.ndarray] = []
    if init is not None:
        starts.append(np.array([init.b1, init.b2, init.b3, math.log(abs(init.b4))]))
    else:
        increasing = float(np.dot(x - x.mean(), y - y.mean())) >= 0.0
        hi, lo = float(y.max()), float(y.min())
        b1, b2 = (hi, lo) if increasing else (lo, hi)
        spread = float(x.std())
        for k in (0.25, 1.0, 4.0):
            starts.append(np.array([b1, b2, float(np.median(x)), math.log(k * spread)]))
    best: tuple[np.ndarray, float] | None = None
    for theta0 in starts:
        theta, sse = _levenberg_marquardt(theta0.astype(np.float64), x, y, max_iter, tol)
        if np.isfinite(sse) and (best is None or sse < best[1]):
            best = (theta, sse)
    if best is None:
        return None
    b1, b2, b3, s = (float(v) for v in best[0])
    return Logistic4(b1, b2, b3, math.exp(s), best[1])
