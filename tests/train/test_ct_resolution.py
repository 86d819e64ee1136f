"""--ct-resolution: the opt-in CT family ``ct_resolution`` (in-plane blur, a softer reconstruction kernel)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mediqa_sdk.export.heldout import LEVELS
from mediqa_sdk.train.data import labels
from mediqa_sdk.train.data.degrade.ct import ct_resolution
from mediqa_sdk.train.data.degrade.registry import FAMILIES, Context, apply_degradation
from mediqa_sdk.train.data.generator import iter_samples, make_phantom, make_sample


def _fwhm_px(profile: np.ndarray) -> float:
    """Full width at half maximum of a peaked profile, in pixels (linear interpolation at the half level)."""
    half = profile.max() / 2.0
    above = np.flatnonzero(profile >= half)
    lo, hi = above[0], above[-1]
    left = lo - 1 + (half - profile[lo - 1]) / (profile[lo] - profile[lo - 1])
    right = hi + (profile[hi] - half) / (profile[hi] - profile[hi + 1])
    return float(right - left)


def test_a_point_spreads_to_the_fwhm_asked_for_in_millimetres() -> None:
    point = np.zeros((1, 65, 65), np.float32)
    point[0, 32, 32] = 1000.0
    for fwhm_mm, pixel_mm in [(3.0, 0.75), (6.0, 1.5), (4.5, 1.0)]:
        out = ct_resolution(point, fwhm_mm, pixel_mm=pixel_mm)
        assert out.shape == point.shape and out.dtype == np.float32
        assert out.sum() == pytest.approx(1000.0, rel=1e-3)  # HU are kept: a blur, not a gain
        assert _fwhm_px(out[0, 32]) * pixel_mm == pytest.approx(fwhm_mm, rel=0.05)
        assert _fwhm_px(out[0, :, 32]) * pixel_mm == pytest.approx(fwhm_mm, rel=0.05)


def test_the_registry_applies_it_per_slice_with_the_sources_pixel() -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 20.0, (3, 32, 32)).astype(np.float32)
    out = apply_degradation("ct_resolution", images, 3.0, rng, Context(pixel_mm=1.0))
    assert np.array_equal(out, ct_resolution(images, 3.0, pixel_mm=1.0))
    # slices are blurred in-plane only: each one's mean stays its own, and the grain falls with the width
    assert np.allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=0.5)
    assert np.std(ct_resolution(images, 4.0, pixel_mm=1.0)) < np.std(out) < np.std(images)


def test_it_is_opt_in_and_outside_the_heldout_benchmark() -> None:
    spec = FAMILIES["ct_resolution"]
    assert spec.opt_in and spec.modality == "ct" and spec.worse == "high" and spec.physics is None
    assert "ct_resolution" not in LEVELS
    assert [f for f, d in FAMILIES.items() if d.opt_in] == ["ct_resolution"]
    # a default stream never draws it, so the recipes of the shipped models draw what they drew
    kw = {"modalities": ["ct"], "n": 64, "real_fraction": 0.0, "samples_per_source": 4}
    assert not any("ct_resolution" in s.degradation for s in iter_samples("val", "2d", seed=5, **kw))
    asked = list(iter_samples("val", "2d", seed=5, ct_resolution=True, **kw))
    assert any("ct_resolution" in s.degradation for s in asked)
    assert not any(
        "ct_resolution" in s.degradation
        for s in iter_samples("val", "2d", seed=5, **kw, families=["ct_dose"])
    )


def test_its_pseudo_mos_falls_with_the_width_from_its_anchors() -> None:
    for key in ["ct_resolution", *(f"ct_resolution:{w}" for w in labels.CT_WINDOWS)]:
        cal = labels.CALIBRATION[key]
        assert (cal.p_jnd, cal.p_nd) == (1.5, 5.0) and cal.d_nd > cal.d_jnd > 0
    src = make_phantom("ct_abdomen", 100, 4)
    mos = [
        make_sample(src, "2d", "ct_resolution", np.random.default_rng(0), param=p, indices=(2,)).pseudo_mos
        for p in (1.0, 1.5, 3.0, 5.0, 6.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(mos))
    assert 0.0 < mos[-1] < 0.5 < mos[0] < 1.0
