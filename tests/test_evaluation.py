"""Evaluation metrics in numpy against scipy and against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from mediqa_sdk.evaluation import (
    bootstrap_ci,
    compute_metrics,
    cross_calibrated_accuracy,
    fit_logistic4,
    fit_thresholds,
    krcc,
    ldct_overall,
    plcc,
    predict_classes,
    rankdata,
    rmse,
    srcc,
    undefined_reason,
)


def _cases():
    rng = np.random.default_rng(7)
    for n in (3, 4, 9, 16, 33, 257):
        x = rng.normal(size=n)
        yield x, x + rng.normal(scale=0.7, size=n)  # continuous
        yield rng.integers(0, 4, n).astype(float), rng.integers(0, 3, n).astype(float)  # heavy ties
        yield np.round(x, 1), -np.round(x + rng.normal(scale=0.3, size=n), 1)  # ties, negative


@pytest.mark.parametrize("i", range(18))
def test_correlations_match_scipy(i):
    x, y = list(_cases())[i]
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        pytest.skip("constant draw")
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)  # tau-b
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    np.testing.assert_allclose(rankdata(x), stats.rankdata(x))


def test_hand_computed_ties():
    x = [1.0, 2.0, 2.0, 3.0]
    y = [1.0, 3.0, 2.0, 4.0]
    np.testing.assert_array_equal(rankdata(x), [1.0, 2.5, 2.5, 4.0])
    # pairs: 5 concordant, 0 discordant, 1 tied in x only -> tau-b = 5 / sqrt(5 * 6)
    assert krcc(x, y) == pytest.approx(5 / math.sqrt(30))
    # Pearson of ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4): 4.5 / sqrt(4.5 * 5)
    assert srcc(x, y) == pytest.approx(4.5 / math.sqrt(22.5))
    assert rmse([0.0, 1.0], [1.0, 1.0]) == pytest.approx(math.sqrt(0.5))
    assert ldct_overall(x, y) == pytest.approx(abs(plcc(x, y)) + abs(srcc(x, y)) + abs(krcc(x, y)))
    assert krcc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_undefined_correlations_are_nan_with_a_reason():
    assert math.isnan(srcc([1, 1, 1, 1], [1, 2, 3, 4]))
    assert math.isnan(krcc([1, 2, 3, 4], [5, 5, 5, 5]))
    assert "predictions are constant" in undefined_reason([1, 1, 1], [1, 2, 3])
    assert "true scores are constant" in undefined_reason([1, 2, 3], [2, 2, 2])
    # two points always correlate perfectly: reported as undefined, not as 1
    assert math.isnan(plcc([1, 2], [3, 4])) and "fewer than 3 pairs (2)" in undefined_reason([1, 2], [3, 4])
    with pytest.raises(ValueError, match="differ in length"):
        srcc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        plcc([1, 2, float("nan")], [1, 2, 3])


def _logistic(x, b1, b2, b3, b4):
    return (b1 - b2) / (1 + np.exp(-(x - b3) / np.abs(b4))) + b2


def test_logistic_fit_recovers_a_curve_and_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 200)
    y = _logistic(x, 4.5, 0.5, 0.45, 0.08) + rng.normal(0, 0.1, x.size)
    fit = fit_logistic4(x, y)
    assert fit is not None
    assert (fit.b1, fit.b2, fit.b3, abs(fit.b4)) == pytest.approx((4.5, 0.5, 0.45, 0.08), rel=0.1)
    ref, _ = optimize.curve_fit(_logistic, x, y, p0=[y.max(), y.min(), x.mean(), 0.1], maxfev=10000)
    ref_sse = float(np.sum((y - _logistic(x, *ref)) ** 2))
    assert fit.sse <= ref_sse * (1 + 1e-6)
    np.testing.assert_allclose(fit(x), _logistic(x, fit.b1, fit.b2, fit.b3, fit.b4))
    # decreasing relations get a decreasing curve; PLCC after the fit is at least the raw one
    down = fit_logistic4(x, -y)
    assert down is not None and down.b1 < down.b2
    assert plcc(down(x), -y) >= abs(plcc(x, -y)) - 1e-9


def test_logistic_fit_refuses_too_few_points():
    assert fit_logistic4([0.1, 0.2, 0.3], [1, 2, 3]) is None  # 3 distinct predictions
    assert fit_logistic4([0.1, 0.2, 0.3, 0.3, 0.1], [1, 2, 3, 4, 5]) is None
    assert fit_logistic4([0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1]) is None


def test_bootstrap_interval_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(3)
    x = rng.normal(size=80)
    y = x + rng.normal(size=80)
    a = bootstrap_ci(srcc, x, y, n_resamples=300, seed=5)
    assert a == bootstrap_ci(srcc, x, y, n_resamples=300, seed=5)
    assert a != bootstrap_ci(srcc, x, y, n_resamples=300, seed=6)
    assert a[0] < srcc(x, y) < a[1] and a[1] - a[0] < 0.5
    narrow = bootstrap_ci(srcc, x, y, n_resamples=300, seed=5, level=0.5)
    assert a[0] < narrow[0] < narrow[1] < a[1]
    assert all(math.isnan(v) for v in bootstrap_ci(srcc, [1, 2], [1, 2], n_resamples=50))  # never defined


def test_compute_metrics_reports_everything_and_explains_gaps():
    rng = np.random.default_rng(1)
    true = rng.uniform(0, 1, 60)
    pred = np.clip(true**2 + rng.normal(0, 0.05, 60), 0, 1)
    m = compute_metrics(pred, true, n_resamples=200, seed=0)
    assert m.n == 60 and not m.notes
    assert m["srcc"] == pytest.approx(stats.spearmanr(pred, true).statistic)
    assert m["plcc_fitted"] >= m["plcc"] and m["rmse_fitted"] <= m["rmse"]
    assert m["overall"] == pytest.approx(abs(m["plcc"]) + abs(m["srcc"]) + abs(m["krcc"]))
    for name, (lo, hi) in m.ci.items():
        assert lo <= m[name] <= hi, name
    d = m.to_dict()
    assert set(d) == {"n", "metrics", "ci95", "logistic", "notes"} and len(d["ci95"]["srcc"]) == 2

    flat = compute_metrics([0.5] * 5, [0.1, 0.2, 0.3, 0.4, 0.5], n_resamples=50)
    assert math.isnan(flat["srcc"]) and flat.ci == {} and "predictions are constant" in flat.notes[0]
    assert flat.to_dict()["metrics"]["srcc"] is None  # JSON has no NaN
    few = compute_metrics([0.1, 0.2, 0.3], [0.3, 0.1, 0.2], n_resamples=0)
    assert math.isfinite(few["srcc"]) and math.isnan(few["plcc_fitted"]) and "logistic fit" in few.notes[0]


def test_ordinal_thresholds_are_optimal_and_cross_calibrated():
    scores = np.array([0.1, 0.2, 0.3, 0.45, 0.5, 0.7, 0.8, 0.9])
    classes = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    th = fit_thresholds(scores, classes)
    assert th == pytest.approx((0.375, 0.6))
    np.testing.assert_array_equal(predict_classes(scores, th), classes)
    # one outlier: the best cut accepts one error rather than three
    th = fit_thresholds([0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 0, 1, 1])
    assert th == pytest.approx((0.15,)) or th == pytest.approx((0.35,))
    # balanced weighting moves the cut to protect the rare class
    s = np.r_[np.linspace(0, 0.6, 20), [0.5, 0.55]]
    c = np.r_[np.zeros(20, int), [1, 1]]
    assert fit_thresholds(s, c) == (math.inf,)  # plain accuracy: call everything class 0
    assert fit_thresholds(s, c, balanced=True)[0] < 0.5

    rng = np.random.default_rng(0)
    labels = np.repeat([0.0, 0.5, 1.0], 40)  # EyeQ Reject, Usable, Good
    pred = labels * 0.6 + 0.2 + rng.normal(0, 0.06, labels.size)
    groups = [f"p{i // 2}" for i in range(labels.size)]
    res = cross_calibrated_accuracy(pred, labels, groups, folds=5)
    assert res.levels == (0.0, 0.5, 1.0) and res.folds == 5
    assert res.accuracy > 0.9 and sum(map(sum, res.confusion)) == labels.size
    assert res.to_dict()["thresholds"][0] == pytest.approx(res.thresholds[0])
    noise = cross_calibrated_accuracy(rng.uniform(size=120), labels, groups)
    assert noise.accuracy < 0.55  # chance is 1/3: no threshold sees its own fold
