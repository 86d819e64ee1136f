"""--ct-noise-floor: CT phantoms given the noise of a routine dose, labelled with it, like a real scan."""

from __future__ import annotations

import numpy as np
import pytest
from mediqa_sdk.train.data.generator import NOISE_FLOOR_HU, iter_samples, make_phantom, with_noise_floor
from scipy.ndimage import binary_erosion


def _tissue_noise(image: np.ndarray, clean: np.ndarray) -> float:
    """Standard deviation of ``image - clean`` inside the body (HU > -500, away from its edges)."""
    body = (clean > -500).reshape(-1, *clean.shape[-2:])
    inside = np.stack([binary_erosion(m, iterations=4) for m in body]).reshape(clean.shape)
    return float(np.std((image - clean)[inside]))


def test_the_floor_has_the_noise_asked_for_and_the_dose_that_gives_it() -> None:
    src = make_phantom("ct_abdomen", 100, 4)
    assert src.noise_free and src.physics == {"ct_dose": 500.0}
    low = with_noise_floor(src, 8.0, np.random.default_rng(0))
    high = with_noise_floor(src, 2.0, np.random.default_rng(0))
    assert not low.noise_free and not high.noise_free
    assert _tissue_noise(low.volume, src.volume) == pytest.approx(8.0, rel=0.15)
    assert _tissue_noise(high.volume, src.volume) == pytest.approx(2.0, rel=0.15)
    # noise std ~ dose^-1/2: a quarter of the noise is 16 times the dose
    assert high.physics["ct_dose"] / low.physics["ct_dose"] == pytest.approx(16.0, rel=1e-6)
    # a later dose fault adds only the variance between the two doses
    assert low.context().source_dose_mas == low.physics["ct_dose"]


def test_the_floor_is_for_noise_free_ct_only() -> None:
    mr = make_phantom("mr_brain", 100, 4)
    with pytest.raises(ValueError, match="noise-free CT phantoms"):
        with_noise_floor(mr, 200.0, np.random.default_rng(0))


def test_the_stream_labels_clean_ct_with_the_floor_dose_and_leaves_other_draws_alone() -> None:
    kw = {"modalities": ["ct"], "n": 16, "real_fraction": 0.0, "samples_per_source": 4}
    plain = list(iter_samples("val", "2d", seed=2, **kw))
    floored = list(iter_samples("val", "2d", seed=2, ct_noise_floor=1.0, **kw))
    lo, hi = NOISE_FLOOR_HU
    for a, b in zip(plain, floored, strict=True):
        assert (a.source_id, a.degradation, a.slice_indices) == (b.source_id, b.degradation, b.slice_indices)
        if b.degradation == "clean":
            assert b.pseudo_mos == 1.0 and a.physics_raw["ct_dose"] == 500.0
            assert b.physics_raw["ct_dose"] != 500.0  # labelled with the floor's own dose
            # the clean version now carries the noise of a routine scan (edges make the estimate a bit high)
            assert 0.8 * lo <= _tissue_noise(b.image, a.image) <= 1.3 * hi
        elif "ct_dose" in b.degradation:
            assert b.physics_raw["ct_dose"] < a.physics_raw["ct_dose"] + 1e-9
    assert any(s.degradation == "clean" for s in floored)


def test_the_floor_range_is_the_one_asked_for() -> None:
    kw = {"modalities": ["ct"], "n": 24, "real_fraction": 0.0, "samples_per_source": 4, "ct_noise_floor": 1.0}
    quiet = list(iter_samples("val", "2d", seed=2, ct_noise_floor_hu=(1.0, 1.5), **kw))
    grainy = list(iter_samples("val", "2d", seed=2, ct_noise_floor_hu=(6.0, 8.0), **kw))
    plain = list(iter_samples("val", "2d", seed=2, **{**kw, "ct_noise_floor": 0.0}))
    clean = [i for i, s in enumerate(plain) if s.degradation == "clean"]
    assert clean
    for i in clean:
        assert 0.8 * 1.0 <= _tissue_noise(quiet[i].image, plain[i].image) <= 1.3 * 1.5
        assert 0.8 * 6.0 <= _tissue_noise(grainy[i].image, plain[i].image) <= 1.3 * 8.0
        # less noise is the label of a higher dose
        assert quiet[i].physics_raw["ct_dose"] > grainy[i].physics_raw["ct_dose"]


@pytest.mark.parametrize("bad", [(0.0, 4.0), (4.0, 1.0)])
def test_a_floor_range_must_be_positive_and_ordered(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="ct_noise_floor_hu"):
        next(iter_samples("val", "2d", seed=0, ct_noise_floor=1.0, ct_noise_floor_hu=bad))
