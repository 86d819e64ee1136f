"""bench/token_probe.py: the pairwise design, the ranking, and a probe that finds a planted feature."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from token_probe import design, linear, rank


def _series(rng: np.random.Generator, sources: list[str]) -> dict:
    """Series whose feature ``f`` carries the severity in channel 0 (falling) under noise in channel 1."""
    return {
        (src, "2d", "mr_bias_field"): {
            s: {"f": np.array([-float(s) + rng.normal(0, 0.1), rng.normal(0, 3.0)]), "score": np.array([0.5])}
            for s in range(5)
        }
        for src in sources
    }


def test_the_design_is_antisymmetric_milder_minus_stronger() -> None:
    x, y = design(_series(np.random.default_rng(0), ["a"]), "mr_bias_field", ["f"])
    assert x.shape == (20, 2) and sorted(set(y)) == [-1.0, 1.0]  # 10 pairs of 5 levels, both orders
    np.testing.assert_array_equal(x[0::2], -x[1::2])
    assert (x[y > 0, 0] > 0).all()  # the milder version has the larger planted feature


def test_a_probe_fitted_on_training_series_ranks_unseen_ones_and_a_flat_score_does_not() -> None:
    rng = np.random.default_rng(1)
    train, val = _series(rng, ["a", "b", "c"]), _series(rng, ["d", "e"])
    x, y = design(train, "mr_bias_field", ["f"])
    w = np.linalg.solve(x.T @ x + np.eye(2), x.T @ y)
    srcc, wins, lost = rank(val, "mr_bias_field", linear(w, ["f"], np.ones(2)))
    assert srcc == pytest.approx(1.0) and (wins, lost) == (1.0, [])
    flat = rank(val, "mr_bias_field", lambda v: float(v["score"][0]))
    assert flat[1] == 0.0 and len(flat[2]) == 8  # a tie is not a win
