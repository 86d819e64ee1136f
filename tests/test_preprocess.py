"""Preprocessing stages: windows, percentile normalisation, padding, resizing, channels, mean/std."""

from __future__ import annotations

import numpy as np
import pytest

from mediqa_sdk.preprocess import (
    apply_window,
    crop_to_field,
    normalise_percentiles,
    pad_square,
    percentile_range,
    prepare_color,
    prepare_gray,
    resize_area,
)

from .synthetic import ct_volume, fundus_photo, mr_slice


def test_window_maps_its_edges_to_zero_and_one():
    hu = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0], np.float32)
    out = apply_window(hu, 40.0, 400.0)  # soft tissue: -160..240 HU
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert out.dtype == np.float32


def test_percentile_normalisation_is_robust_and_constant_images_map_to_zero():
    img = np.concatenate([np.linspace(0, 100, 1000), [1e6]]).astype(np.float32)
    a, b = percentile_range(img, 0.5, 99.5)
    assert b < 1000  # the single outlier does not set the scale
    assert normalise_percentiles(img, (a, b)).max() == 1.0
    assert not normalise_percentiles(np.full((4, 4), 3.0), (3.0, 3.0)).any()


def test_pad_square_centres_the_image():
    img = np.ones((4, 8), np.float32)
    sq = pad_square(img, 0.0)
    assert sq.shape == (8, 8)
    assert sq[:2].sum() == 0 and sq[2:6].sum() == 32 and sq[6:].sum() == 0


def test_area_resize_keeps_the_mean_of_a_smooth_image():
    img = np.tile(np.linspace(0, 1, 512, dtype=np.float32), (512, 1))
    small = resize_area(img, 224)
    assert small.shape == (224, 224)
    assert small.mean() == pytest.approx(img.mean(), abs=1e-3)


def test_gray_ct_in_soft_window_fills_three_identical_channels(registry):
    pre = registry.get(None, "scorer").preprocess
    vol = ct_volume(n_slices=9, size=96)[3:6]
    x = prepare_gray(vol, pre, window="soft_window")
    assert x.shape == (3, 3, 224, 224) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], x[:, 1])
    assert x.min() >= -1.0 and x.max() <= 1.0  # (0..1 - 0.5) / 0.5
    assert x[0, 0, 0, 0] == -1.0  # padded corner / air is black in the soft window


def test_classifier_channels_carry_absolute_hu(registry):
    pre = registry.get(None, "classifier").preprocess
    assert pre.gray_channels == ("percentile", "hu_wide", "percentile")
    ct = prepare_gray(ct_volume(n_slices=7, size=64)[3:4], pre, window=None)
    mr = prepare_gray(mr_slice(size=64)[None, :, :40], pre, window=None)  # non-square: padded
    assert ct[0, 1].min() == pytest.approx(-1.0, abs=0.02)  # air at -1024..-1000 HU
    assert mr[0, 1].min() > -0.6  # MR background 0 is far above air in HU terms


def test_fundus_is_cropped_to_its_field_and_scaled_by_bit_depth(registry):
    pre = registry.get(None, "scorer").preprocess
    photo = np.zeros((200, 300, 3), np.float32)
    photo[50:150, 100:200] = fundus_photo(100)
    cropped = crop_to_field(photo / 255.0)
    assert cropped.shape[:2] == (90, 90)  # the disc of radius 0.45 * 100
    x = prepare_color(photo[None], pre)
    assert x.shape == (1, 3, 224, 224)
    x16 = prepare_color(photo[None] * 257.0, pre)  # the same photo as 16-bit
    np.testing.assert_allclose(x, x16, atol=1e-5)
