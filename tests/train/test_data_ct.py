"""CT degradations: dose law, source-dose difference, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from mediqa_sdk.train.data.degrade import ct

N = 256


def _water_cylinder(batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:N, :N] - (N - 1) / 2
    r = np.hypot(xx, yy)
    img = np.where(r < 100, 0.0, -1000.0).astype(np.float32)
    return np.repeat(img[None], batch, axis=0), r < 60


def test_noise_scales_as_inverse_sqrt_dose() -> None:
    imgs, roi = _water_cylinder()
    doses = np.array([20.0, 40.0, 70.0, 100.0, 200.0])  # 10 .. 100 % of 200 mAs
    stds = [ct.ct_dose(imgs, d, np.random.default_rng(1), pixel_mm=1.6)[:, roi].std() for d in doses]
    slope = np.polyfit(np.log(doses), np.log(stds), 1)[0]
    assert abs(slope + 0.5) <= 0.05, slope


def test_source_noise_is_not_stacked() -> None:
    imgs, roi = _water_cylinder()
    at_200 = ct.ct_dose(imgs, 200.0, np.random.default_rng(2), pixel_mm=1.6)
    to_50 = ct.ct_dose(at_200, 50.0, np.random.default_rng(3), source_dose_mas=200.0, pixel_mm=1.6)
    direct = ct.ct_dose(imgs, 50.0, np.random.default_rng(4), pixel_mm=1.6)
    assert to_50[:, roi].std() == pytest.approx(direct[:, roi].std(), rel=0.1)
    same = ct.ct_dose(at_200, 300.0, np.random.default_rng(5), source_dose_mas=200.0)
    np.testing.assert_array_equal(same, at_200)  # a higher dose cannot remove noise


@pytest.mark.parametrize(
    ("func", "param"),
    [(ct.ct_dose, 30.0), (ct.ct_sparse_views, 40), (ct.ct_motion, 4.0)],
)
def test_ct_degradations_are_deterministic(func, param) -> None:
    imgs, _ = _water_cylinder(2)
    a = func(imgs, param, np.random.default_rng(7))
    b = func(imgs, param, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, imgs)


def test_full_view_set_and_thin_slices_are_identity() -> None:
    imgs, _ = _water_cylinder(1)
    out = ct.ct_sparse_views(imgs, ct.DEFAULT_VIEWS, np.random.default_rng(0))
    np.testing.assert_allclose(out, imgs, atol=1e-2)
    vol = np.random.default_rng(0).normal(size=(6, 8, 8)).astype(np.float32)
    same = ct.ct_slice_thickness(vol, 2.0, spacing_mm=2.0, source_thickness_mm=3.0)
    np.testing.assert_array_equal(same, vol)


def test_slice_thickness_is_a_through_plane_average() -> None:
    vol = np.zeros((9, 4, 4), np.float32)
    vol[4] = 100.0  # a thin structure in one 2 mm slice
    out = ct.ct_slice_thickness(vol, 6.0, spacing_mm=2.0, source_thickness_mm=2.0)
    np.testing.assert_allclose(out[3:6, 0, 0], [100 / 3] * 3, rtol=1e-5)  # 6 mm slab = 3 slices
    assert out[2, 0, 0] == 0.0 and out.sum() == pytest.approx(vol.sum())


def test_motion_of_a_uniform_disc_leaves_its_interior_flat() -> None:
    imgs, roi = _water_cylinder(1)
    inner = np.hypot(*(np.mgrid[:N, :N] - (N - 1) / 2)) < 50
    out = ct.ct_motion(imgs, 3.0, np.random.default_rng(1))
    assert out[0][inner].std() < 3.0  # no projector crosshatch inside (was ~10 HU with linear splatting)
    del roi
