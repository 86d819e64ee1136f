"""Classical no-reference measures track the degradation they are meant to measure, on smooth phantoms."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mediqa_sdk.evaluation.classical import (
    ct_noise_level,
    efc,
    foreground_mask,
    mr_measures,
    otsu_threshold,
    sharpness,
)

N = 160


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:N, 0:N] / N - 0.5
    return yy, xx


def _ct_phantom() -> np.ndarray:
    """Air, a body of soft tissue with a gentle gradient (30..50 HU), a bone insert."""
    yy, xx = _grid()
    img = np.where((xx / 0.45) ** 2 + (yy / 0.35) ** 2 < 1, 40.0 + 20.0 * xx, -1000.0)
    img[((xx - 0.15) / 0.08) ** 2 + (yy / 0.08) ** 2 < 1] = 700.0
    return img


def _mr_phantom() -> np.ndarray:
    """A head: grey matter 400, white matter 600, ventricles 150, air 0."""
    yy, xx = _grid()
    img = np.where((xx / 0.38) ** 2 + (yy / 0.45) ** 2 < 1, 400.0, 0.0)
    img[(xx / 0.25) ** 2 + (yy / 0.32) ** 2 < 1] = 600.0
    img[(xx / 0.06) ** 2 + (yy / 0.12) ** 2 < 1] = 150.0
    return img


def _rician(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.abs(img + rng.normal(0, sigma, img.shape) + 1j * rng.normal(0, sigma, img.shape))


def test_ct_noise_level_tracks_added_noise_within_15_percent():
    rng = np.random.default_rng(0)
    clean = _ct_phantom()
    estimates = []
    for sigma in (5.0, 10.0, 20.0, 40.0, 80.0):
        est = ct_noise_level(clean + rng.normal(0, sigma, clean.shape))
        assert est == pytest.approx(sigma, rel=0.15)
        estimates.append(est)
    assert np.all(np.diff(estimates) > 0)
    # a volume pools its slices; an image without soft tissue has no estimate
    vol = np.stack([clean + rng.normal(0, 10.0, clean.shape) for _ in range(3)])
    assert ct_noise_level(vol) == pytest.approx(10.0, rel=0.15)
    assert math.isnan(ct_noise_level(np.full((64, 64), -1000.0)))
    with pytest.raises(ValueError, match="odd"):
        ct_noise_level(clean, kernel=4)


def test_mr_snr_and_cnr_fall_and_cjv_rises_with_noise():
    clean = _mr_phantom()
    measures = [mr_measures(_rician(clean, s)) for s in (5.0, 10.0, 20.0, 40.0)]
    for key in ("snr", "snr_dietrich", "cnr", "fber"):
        values = [getattr(m, key) for m in measures]
        assert np.all(np.diff(values) < 0), (key, values)
    assert np.all(np.diff([m.cjv for m in measures]) > 0)
    # Dietrich's SNR corrects the Rayleigh air: mean tissue signal / noise sigma, about (150+400+600)/3/sigma
    assert measures[1].snr_dietrich == pytest.approx(1150 / 3 / 10.0, rel=0.15)
    # CJV of the two tissues (400, 600): (sigma + sigma) / 200
    assert measures[1].cjv == pytest.approx(2 * 10.0 / 200.0, rel=0.25)


def test_efc_rises_with_blur_and_ghosting():
    clean = _mr_phantom()
    base = _rician(clean, 10.0)
    blurred = [efc(cv2.GaussianBlur(base, (0, 0), s)) for s in (0.5, 2.0, 4.0)]
    assert efc(base) < blurred[0] < blurred[1] < blurred[2]
    ghosts = [
        efc(_rician(clean + g * np.roll(clean, N // 3, axis=0) + g * np.roll(clean, -N // 3, axis=0), 10.0))
        for g in (0.0, 0.1, 0.3)
    ]
    assert ghosts[0] < ghosts[1] < ghosts[2]
    assert efc(np.pad(np.ones((1, 1)), 5)) == pytest.approx(0.0, abs=1e-9)  # all energy in one pixel
    assert efc(np.ones((8, 8))) == pytest.approx(1.0)  # energy spread evenly: the maximum


def test_sharpness_drops_with_blur_and_ignores_the_intensity_unit():
    img = _mr_phantom()
    for method in ("laplacian", "tenengrad"):
        values = [sharpness(cv2.GaussianBlur(img, (0, 0), s) if s else img, method) for s in (0, 1, 2, 4)]
        assert np.all(np.diff(values) < 0), (method, values)
        assert sharpness(img * 7.5 + 3, method) == pytest.approx(sharpness(img, method))
    assert sharpness(np.zeros((16, 16))) == 0.0
    rgb = np.repeat(img[..., None], 3, axis=2)
    assert sharpness(rgb) == pytest.approx(sharpness(img))
    with pytest.raises(ValueError, match="method"):
        sharpness(img, "fft")


def test_masks_find_the_head_and_otsu_splits_two_populations():
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(10, 2, 500), rng.normal(100, 5, 500)]
    assert 20 < otsu_threshold(values) < 90
    fg = foreground_mask(_rician(_mr_phantom(), 10.0))
    yy, xx = _grid()
    head = (xx / 0.38) ** 2 + (yy / 0.45) ** 2 < 1
    assert (fg == head).mean() > 0.98  # ventricles filled, air speckle opened away
    with pytest.raises(ValueError, match="too little foreground"):
        mr_measures(np.zeros((32, 32)))
