"""Fundus degradations: determinism and pseudo-MOS decreasing with severity."""

from __future__ import annotations

import numpy as np
import pytest
from mediqa_sdk.train.data import labels
from mediqa_sdk.train.data.degrade import fundus as fd
from mediqa_sdk.train.data.phantoms import fundus_photo

CASES = [
    (fd.fundus_defocus, (1.0, 3.0, 6.0)),
    (fd.fundus_motion_blur, (3.0, 8.0, 16.0)),
    (fd.fundus_illumination, (0.2, 0.5, 0.9)),
    (fd.fundus_exposure, (-0.5, -1.5, -3.0)),
    (fd.fundus_haze, (0.1, 0.4, 0.8)),
    (fd.fundus_jpeg, (60.0, 20.0, 5.0)),
    (fd.fundus_noise, (3.0, 10.0, 25.0)),
]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return fundus_photo(900_123).volume[0]


@pytest.mark.parametrize(("func", "params"), CASES)
def test_fundus_deterministic_and_monotonic(photo: np.ndarray, func, params) -> None:
    np.testing.assert_array_equal(
        func(photo, params[1], np.random.default_rng(0)), func(photo, params[1], np.random.default_rng(0))
    )
    scores = [
        labels.pseudo_mos(func(photo, p, np.random.default_rng(0)), photo, "fundus", "color") for p in params
    ]
    assert all(s < 1.0 for s in scores)
    assert scores[0] > scores[1] > scores[2], scores
