"""Labels: the registry mappings, clean inputs at the top of the scale, monotonic pseudo-MOS."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from mediqa_sdk.train.data import calibrate, labels
from mediqa_sdk.train.data.generator import make_phantom, make_sample, select_slices


def test_mappings_are_the_registry_ones() -> None:
    ct, mr = labels.PHYSICS["ct_dose"], labels.PHYSICS["mr_field_strength"]
    assert (ct.unit, ct.mapping, ct.lo, ct.hi) == ("mAs", "log", 5.0, 500.0)
    assert (mr.unit, mr.mapping, mr.lo, mr.hi) == ("T", "log", 0.1, 7.0)
    assert labels.normalise("ct_dose", 50.0) == pytest.approx(math.log(10) / math.log(100))
    assert labels.normalise("ct_dose", 1.0) == 0.0
    assert labels.normalise("mr_field_strength", 70.0) == 1.0
    for v in (7.0, 120.0, 480.0):
        assert labels.denormalise("ct_dose", labels.normalise("ct_dose", v)) == pytest.approx(v)


@pytest.mark.parametrize("kind", ["ct_chest", "mr_brain", "fundus"])
def test_clean_sample_is_top_of_scale(kind: str) -> None:
    src = make_phantom(kind, 900_010, 8)
    s = make_sample(src, "2d", None, np.random.default_rng(0))
    assert s.pseudo_mos == 1.0
    if src.modality == "ct":
        assert s.physics_raw["ct_dose"] == labels.PHANTOM_CT_DOSE_MAS and s.physics["ct_dose"] == 1.0
        assert s.physics_valid == {"ct_dose": True, "mr_field_strength": False}
    elif src.modality == "mr":
        assert s.physics["mr_field_strength"] == 1.0 and s.physics_valid["mr_field_strength"]
    else:
        assert not any(s.physics_valid.values())


def test_pseudo_mos_decreases_with_dose_and_field() -> None:
    ct_src = make_phantom("ct_abdomen", 900_011, 8)
    mos = [
        make_sample(
            ct_src, "2d", "ct_dose", np.random.default_rng(0), param=d, type_="soft_window", indices=(4,)
        ).pseudo_mos
        for d in (200.0, 50.0, 10.0)
    ]
    assert 1.0 > mos[0] > mos[1] > mos[2]
    mr_src = make_phantom("mr_brain", 900_012, 8)
    s3 = make_sample(mr_src, "3d", "mr_field_strength", np.random.default_rng(0), param=0.3)
    assert s3.image.shape == (7, 256, 256) and s3.physics_raw["mr_field_strength"] == pytest.approx(0.3)
    s1 = make_sample(mr_src, "3d", "mr_field_strength", np.random.default_rng(0), param=3.0)
    assert s1.pseudo_mos > s3.pseudo_mos
    other = make_sample(mr_src, "2d", "mr_gibbs", np.random.default_rng(0), param=64)
    assert other.physics_raw["mr_field_strength"] == labels.PHANTOM_MR_FIELD_T  # source's label kept


def test_pseudo_mos_ignores_background_and_hits_anchors() -> None:
    src = make_phantom("mr_brain", 900_013, 8)
    clean = src.volume[4]
    noisy_air = clean.copy()
    air = ~labels.foreground_mask(clean, "mr")
    noisy_air[air] += np.random.default_rng(0).rayleigh(0.05 * float(clean.max()), size=int(air.sum()))
    assert labels.pseudo_mos(noisy_air, clean, "mr", "t2", family="mr_field_strength") > 0.95
    unit = [labels.scored_unit(x, "mr", "t2", clean) for x in (noisy_air, clean)]
    assert labels.ssim(*unit) < 0.5  # the whole-image SSIM is dominated by the air
    cal = labels.CALIBRATION["mr_field_strength"]
    assert labels.mos_from_loss(cal.d_jnd, cal.d_jnd, cal.d_nd) == pytest.approx(0.9)
    assert labels.mos_from_loss(cal.d_nd, cal.d_jnd, cal.d_nd) == pytest.approx(0.3)
    assert labels.mos_from_loss(0.0, cal.d_jnd, cal.d_nd) == 1.0


def test_two_degradations_are_labelled_consistently() -> None:
    src = make_phantom("ct_abdomen", 900_014, 8)
    kw = {"type_": "soft_window", "indices": (4,)}
    dose = make_sample(src, "2d", "ct_dose", np.random.default_rng(0), param=30.0, **kw)
    both = make_sample(
        src, "2d", "ct_motion", np.random.default_rng(0), param=4.0, second="ct_dose", second_param=30.0, **kw
    )
    assert both.degradation == "ct_motion+ct_dose"  # stage order: object motion, then photon noise
    assert [d[0] for d in both.degradations] == ["ct_motion", "ct_dose"]
    assert both.physics_raw["ct_dose"] == pytest.approx(30.0) and both.physics_valid["ct_dose"]
    assert both.pseudo_mos < dose.pseudo_mos


@pytest.mark.parametrize("type_", ["brain_window", "bone_window"])
def test_head_slice_thickness_labels_are_graded_not_saturated(type_: str) -> None:
    # calibrated on the 7-slice stack the engine labels (on single mid slices every head level was ~0)
    src = make_phantom("ct_head", 800_000)
    idx = select_slices(src.valid, "3d", np.random.default_rng(0))
    mos = [
        make_sample(
            src, "3d", "ct_slice_thickness", np.random.default_rng(1), param=t, type_=type_, indices=idx
        ).pseudo_mos
        for t in (5.0, 7.0, 9.0, 12.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(mos))
    assert mos[0] > 0.5 and mos[-1] < 0.3  # 15 mm is the clearly non-diagnostic anchor (0.3)


def test_volume_families_are_calibrated_on_the_labelled_stack() -> None:
    # the table in labels.py is what calibrate measures now (two head phantoms: a few seconds)
    srcs = [make_phantom("ct_head", seed, 24) for seed in calibrate._SEEDS[:2]]
    measured = calibrate.measure("ct_slice_thickness", srcs)
    stored = labels.CALIBRATION["ct_slice_thickness:brain_window"]
    d_jnd, d_nd = measured["ct_slice_thickness:brain_window"]
    # the stored entry is the median over more sources (the real brain-window CTs too): same scale
    assert 0.5 < d_jnd / stored.d_jnd < 2.0 and 0.5 < d_nd / stored.d_nd < 2.0
