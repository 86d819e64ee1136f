"""--family-weights: drawing some degradation families more often, and the default draws left as they were."""

from __future__ import annotations

from collections import Counter

import pytest
from mediqa_sdk.train.data.generator import check_family_weights, iter_samples


def _families(n: int, **kw) -> list[str]:
    """First family of each degraded sample among the first ``n`` of a seeded MR phantom stream."""
    stream = iter_samples(
        "val", "2d", seed=5, n=n, modalities=["mr"], real_fraction=0.0, samples_per_source=4, **kw
    )
    return [s.degradations[0][0] for s in stream if s.degradations]


def test_a_weighted_family_is_drawn_in_proportion() -> None:
    uniform = Counter(_families(160))
    weighted = Counter(_families(160, family_weights={"mr_bias_field": 12.0}))
    assert "mr_bias_field" in uniform and len(uniform) == 5
    assert uniform["mr_bias_field"] / sum(uniform.values()) < 0.35  # one in five
    assert weighted["mr_bias_field"] / sum(weighted.values()) > 0.6  # twelve in sixteen


def test_a_weighted_series_is_drawn_in_proportion() -> None:
    def series_families(**kw) -> Counter[str]:
        stream = iter_samples(
            "val", "2d", seed=5, n=240, modalities=["mr"], real_fraction=0.0, samples_per_source=3,
            paired_fraction=1.0, series_fraction=1.0, **kw,
        )  # fmt: skip
        return Counter(s.degradations[0][0] for i, s in enumerate(stream) if i % 3 == 1)

    assert series_families(family_weights={"mr_gibbs": 12.0})["mr_gibbs"] / 80 > 0.6
    assert series_families()["mr_gibbs"] / 80 < 0.35


def test_without_weights_the_stream_draws_what_it_always_drew() -> None:
    # the degraded samples among the first 24 of this stream, as drawn before the option existed
    drawn = (
        "bias_field gibbs motion bias_field bias_field bias_field bias_field undersampling gibbs bias_field "
        "field_strength undersampling undersampling field_strength undersampling bias_field bias_field gibbs"
    )
    assert _families(24) == [f"mr_{name}" for name in drawn.split()]
    assert _families(40, family_weights={}) == _families(40)
    assert _families(40, family_weights={"ct_dose": 5.0}) != _families(40)  # a weighted draw, other numbers


@pytest.mark.parametrize(
    ("weights", "problem"),
    [({"mr_gibs": 2.0}, "unknown degradation family 'mr_gibs'"), ({"mr_gibbs": 0.0}, "must be > 0")],
)
def test_bad_weights_are_refused(weights: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_family_weights(weights)
    with pytest.raises(ValueError, match=problem):
        next(iter_samples("val", "2d", seed=0, family_weights=weights))
