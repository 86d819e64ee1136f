"""Salient-slice selection follows the paper's rule exactly."""

from __future__ import annotations

import numpy as np

from mediqa_sdk.registry import SalientSpec
from mediqa_sdk.scan import Scan
from mediqa_sdk.slices import foreground_fractions, select_from_valid, select_salient_slices

from .synthetic import ct_volume, mr_slice


def test_seven_equal_regions_and_their_middle_slices():
    valid = np.ones(70, bool)
    indices, warnings, reliable = select_from_valid(valid, 7)
    assert indices == (5, 15, 25, 35, 45, 55, 65)
    assert warnings == () and reliable


def test_background_slices_are_dropped_before_splitting():
    valid = np.zeros(100, bool)
    valid[10:80] = True
    indices, _, _ = select_from_valid(valid, 7)
    assert indices == (15, 25, 35, 45, 55, 65, 75)


def test_uneven_regions_take_floor_of_half():
    # 9 valid slices split 2,1,1,1,1,1,1... numpy array_split gives sizes 2,2,1,1,1,1,1
    indices, _, _ = select_from_valid(np.ones(9, bool), 7)
    assert indices == (1, 3, 4, 5, 6, 7, 8)


def test_fewer_valid_slices_than_seven_repeat_the_nearest_and_warn():
    valid = np.zeros(20, bool)
    valid[[4, 5, 6]] = True
    indices, warnings, reliable = select_from_valid(valid, 7)
    assert len(indices) == 7 and set(indices) == {4, 5, 6}
    assert list(indices) == sorted(indices)
    assert "only 3 slice(s)" in warnings[0] and reliable


def test_all_background_warns_and_marks_unreliable():
    indices, warnings, reliable = select_from_valid(np.zeros(30, bool), 7)
    assert len(indices) == 7 and not reliable
    assert "no slice has enough foreground" in warnings[0]


def test_ct_rule_finds_the_body_and_skips_air_slices():
    vol = ct_volume(n_slices=24)
    fractions = foreground_fractions(vol, SalientSpec())
    assert (fractions[:3] == 0).all() and (fractions[-3:] == 0).all()
    assert (fractions[3:-3] > 0.2).all()  # body minus lungs
    scan = Scan(slices=vol, spacing=(2, 1, 1), dim="3d", axis="axial", source=None)
    sel = select_salient_slices(scan, SalientSpec())
    assert len(sel.indices) == 7 and min(sel.indices) >= 3 and max(sel.indices) <= 20
    assert sel.n_valid == 18 and sel.n_total == 24


def test_relative_rule_for_mr_and_constant_volume_has_no_foreground():
    vol = np.stack([mr_slice(seed=i) for i in range(5)] + [np.zeros((128, 128), np.float32)] * 2)
    fractions = foreground_fractions(vol, SalientSpec())
    assert (fractions[:5] > 0.3).all() and (fractions[5:] == 0).all()
    assert (foreground_fractions(np.full((4, 8, 8), 7.0), SalientSpec()) == 0).all()


def test_two_d_input_is_a_single_slice():
    scan = Scan(slices=mr_slice()[None], spacing=(np.nan,) * 3, dim="2d", axis="none", source=None)
    assert select_salient_slices(scan, SalientSpec()).indices == (0,)
