"""MR degradations: field-strength SNR law, Rician background, source-noise difference, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mediqa_sdk.train.data.degrade import mr


def _disc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:256, :256] - 127.5
    r = np.hypot(xx, yy)
    return np.where(r < 90, 100.0, 0.0).astype(np.float32)[None].repeat(4, 0), r < 70, r > 110


@pytest.mark.parametrize("field", [0.5, 1.0, 1.5, 3.0])
def test_snr_follows_linear_field_law(field: float) -> None:
    img, roi, _ = _disc()
    out = mr.mr_field_strength(img, field, np.random.default_rng(0))
    snr = out[:, roi].mean() / out[:, roi].std()
    expected = mr.SNR_AT_3T * field / mr.REFERENCE_FIELD_T
    assert snr == pytest.approx(expected, rel=0.10)


def test_background_is_rician() -> None:
    img, _, bg = _disc()
    out = mr.mr_field_strength(img, 1.0, np.random.default_rng(0))
    sigma = mr.nominal_sigma(100.0, 1.0)
    assert out[:, bg].min() >= 0
    assert out[:, bg].mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.05)  # Rayleigh mean


def test_lower_field_from_a_noisy_source_adds_only_the_difference() -> None:
    img, roi, _ = _disc()
    at_3 = mr.mr_field_strength(img, 3.0, np.random.default_rng(1))
    sigma_src = mr.estimate_noise_sigma(at_3)
    assert sigma_src == pytest.approx(mr.nominal_sigma(100.0, 3.0), rel=0.15)
    to_1 = mr.mr_field_strength(
        at_3, 1.0, np.random.default_rng(2), source_field_t=3.0, source_sigma=sigma_src, signal=100.0
    )
    snr = to_1[:, roi].mean() / to_1[:, roi].std()
    assert snr == pytest.approx(mr.SNR_AT_3T / 3.0, rel=0.10)


@pytest.mark.parametrize(
    ("func", "param"),
    [
        (mr.mr_field_strength, 0.5),
        (mr.mr_motion, 3.0),
        (mr.mr_gibbs, 64),
        (mr.mr_undersampling, 3.0),
        (mr.mr_bias_field, 0.8),
    ],
)
def test_mr_degradations_are_deterministic(func, param) -> None:
    img, _, _ = _disc()
    a = func(img[:2], param, np.random.default_rng(3))
    b = func(img[:2], param, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, img[:2])


def test_undersampling_of_one_draw_keeps_nested_lines_so_a_higher_r_loses_more() -> None:
    masks = [mr.undersampling_mask(128, r, np.random.default_rng(7)) for r in (2.0, 3.0, 4.0, 5.5)]
    assert all(np.all(b <= a) and b.sum() < a.sum() for a, b in itertools.pairwise(masks))
    assert masks[0].sum() == pytest.approx(128 * (0.08 + 0.92 / 2), abs=2)  # the centre and half the rest
    assert masks[0][0] and masks[-1][0]  # the centre (DC) always
    img = _disc()[0][:1]  # the error over the whole field grows with R (where it lands varies)
    errors = [
        float(np.mean((mr.mr_undersampling(img, r, np.random.default_rng(7)) - img) ** 2))
        for r in (2.0, 3.0, 4.0, 5.5)
    ]
    assert all(a < b for a, b in itertools.pairwise(errors))
